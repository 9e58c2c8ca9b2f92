"""The words of the out-of-hours auto-reply in English, Korean, Indonesian and Greek. Pure code.

A workspace may replace the sentence per language; it keeps two placeholders:
{when} ("09:00 tomorrow") in the business's time, and {your_time} (" (your time 10:00)"),
empty when the customer's clock shows the same time.
"""

from __future__ import annotations

from datetime import datetime

from mannerly.policy.calendar import zone

DEFAULT_AUTO_REPLY: dict[str, str] = {
    "en": "Thanks for your message. We're away right now; a person will answer from {when}{your_time}.",
    "ko": "메시지 감사합니다. 지금은 상담 시간이 아닙니다. {when}부터 상담원이 답변드리겠습니다{your_time}.",
    "id": "Terima kasih atas pesan Anda. Kami sedang tutup; tim kami akan membalas mulai {when}{your_time}.",
    "el": "Ευχαριστούμε για το μήνυμά σας. Τώρα είμαστε εκτός ωραρίου· θα σας απαντήσουμε από {when}{your_time}.",
}

WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "ko": ("월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일"),
    "id": ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"),
    "el": ("Δευτέρα", "Τρίτη", "Τετάρτη", "Πέμπτη", "Παρασκευή", "Σάββατο", "Κυριακή"),
}
_GREEK_ARTICLE = ("τη", "την", "την", "την", "την", "το", "την")  # "από τη Δευτέρα", "από το Σάββατο"
_YOUR_TIME = {"en": " (your time {time})", "ko": " (고객님 시간 {time})", "id": " (waktu Anda {time})",
              "el": " (ώρα σας {time})"}


def _day_word(language: str, moment: datetime, today_local: datetime) -> str:
    """'today', 'tomorrow' or the weekday name, as the moment's local date relates to today's."""
    days = (moment.date() - today_local.date()).days
    words = {
        "en": ("today", "tomorrow"), "ko": ("오늘", "내일"), "id": ("hari ini", "besok"), "el": ("σήμερα", "αύριο"),
    }[language]
    if days == 0:
        return words[0]
    if days == 1:
        return words[1]
    weekday = moment.weekday()
    name = WEEKDAYS[language][weekday]
    if language == "el":
        return f"{_GREEK_ARTICLE[weekday]} {name}"
    if language == "en":
        return f"on {name}"
    return name


def describe_moment(language: str, moment: datetime, now: datetime, zone_name: str) -> str:
    """'09:00 tomorrow' / '내일 09:00' / 'besok pukul 09:00' / 'αύριο στις 09:00' in a zone's local time."""
    local = moment.astimezone(zone(zone_name))
    today = now.astimezone(zone(zone_name))
    day = _day_word(language, local, today)
    clock = f"{local:%H:%M}"
    if language == "ko":
        return f"{day} {clock}"
    if language == "id":
        return f"{day} pukul {clock}"
    if language == "el":
        return f"{day} στις {clock}"
    return f"{clock} {day}"


def auto_reply_text(language: str, opens_at: datetime, now: datetime, business_zone: str,
                    customer_zone: str | None, template: str | None = None) -> str:
    """The out-of-hours reply in `language` (en, ko, id, el; others get English) naming when a person answers."""
    if language not in DEFAULT_AUTO_REPLY:
        language = "en"
    when = describe_moment(language, opens_at, now, business_zone)
    your_time = ""
    if customer_zone:
        business_local = opens_at.astimezone(zone(business_zone))
        customer_local = opens_at.astimezone(zone(customer_zone))
        if business_local.replace(tzinfo=None) != customer_local.replace(tzinfo=None):
            shown = f"{customer_local:%H:%M}"
            if customer_local.date() != business_local.date():
                shown = describe_moment(language, opens_at, now, customer_zone)
            your_time = _YOUR_TIME[language].format(time=shown)
    wording = template or DEFAULT_AUTO_REPLY[language]
    # Plain replacement rather than str.format: workspace wording may contain other braces.
    return wording.replace("{when}", when).replace("{your_time}", your_time)
