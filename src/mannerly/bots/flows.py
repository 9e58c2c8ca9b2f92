"""Two short conversations a bot can hold instead of collecting personal data by text (S6, L5).

- "call_time": asks when a call suits the customer, stores the answer on the contact's
  attributes (`call_time`), confirms.
- "branch_visit": offers the next free branch slots as "Reply 1/2/3", books the one picked,
  confirms.
An agent starts either from the inbox (`start_flow`); `suggested_flows` tells the UI to
offer them when the engine refused an agent's message for asking for personal data.
The customer's next replies go to `continue_flow` until the flow ends.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mannerly.business_hours.wording import WEEKDAYS
from mannerly.errors import invalid
from mannerly.inbox.common import bot_state, record_event, send_automatic, set_bot_state
from mannerly.models import Booking, BookingSlot, Contact, Conversation, Message, Workspace
from mannerly.policy.calendar import zone
from mannerly.policy.types import Source

CALL_TIME = "call_time"
BRANCH_VISIT = "branch_visit"
FLOWS = (CALL_TIME, BRANCH_VISIT)
SLOTS_OFFERED = 3
CALL_TIME_ATTRIBUTE = "call_time"

_CALL_WINDOWS = {
    "en": ("in the morning (9–12)", "in the afternoon (12–17)", "in the evening (17–20)"),
    "ko": ("오전(9–12시)", "오후(12–17시)", "저녁(17–20시)"),
    "id": ("pagi (09–12)", "siang (12–17)", "sore (17–20)"),
    "el": ("το πρωί (9–12)", "το απόγευμα (12–17)", "το βράδυ (17–20)"),
}
_CALL_QUESTION = {
    "en": "When is a good time to call you? Reply 1 for {0}, 2 for {1}, 3 for {2}, or write a time that suits you.",
    "ko": "언제 전화드리면 편하실까요? {0}는 1, {1}는 2, {2}은 3을 보내 주시거나 편하신 시간을 적어 주세요.",
    "id": "Kapan waktu yang tepat untuk kami telepon? Balas 1 untuk {0}, 2 untuk {1}, 3 untuk {2}, "
          "atau tulis waktu yang Anda inginkan.",
    "el": "Πότε σας βολεύει να σας καλέσουμε; Απαντήστε 1 για {0}, 2 για {1}, 3 για {2} ή γράψτε μια ώρα που σας βολεύει.",
}
_CALL_CONFIRM = {
    "en": "Thank you! We'll call you {window}.",
    "ko": "감사합니다! {window}에 전화드리겠습니다.",
    "id": "Terima kasih! Kami akan menelepon Anda {window}.",
    "el": "Ευχαριστούμε! Θα σας καλέσουμε {window}.",
}
_VISIT_OFFER = {
    "en": "You can sort this out in person at a branch. Reply {choices}.",
    "ko": "가까운 지점에 방문하시면 직접 도와드리겠습니다. {choices} 보내 주세요.",
    "id": "Anda bisa menyelesaikannya langsung di cabang kami. Balas {choices}.",
    "el": "Μπορείτε να το τακτοποιήσετε από κοντά σε κατάστημά μας. Απαντήστε {choices}.",
}
_VISIT_ITEM = {"en": "{key} for {slot}", "ko": "{slot}은(는) {key}", "id": "{key} untuk {slot}", "el": "{key} για {slot}"}
_VISIT_CONFIRM = {
    "en": "You're booked: {slot}. See you then!",
    "ko": "예약되었습니다: {slot}. 그때 뵙겠습니다!",
    "id": "Reservasi Anda tercatat: {slot}. Sampai jumpa!",
    "el": "Το ραντεβού σας κλείστηκε: {slot}. Σας περιμένουμε!",
}
_VISIT_NONE = {
    "en": "We have no free branch appointments right now; a person from our team will contact you here.",
    "ko": "지금은 예약 가능한 지점 방문 시간이 없습니다. 담당자가 이곳으로 연락드리겠습니다.",
    "id": "Saat ini belum ada jadwal kunjungan cabang yang kosong; petugas kami akan menghubungi Anda di sini.",
    "el": "Δεν υπάρχουν διαθέσιμα ραντεβού αυτή τη στιγμή· κάποιος από την ομάδα μας θα επικοινωνήσει μαζί σας εδώ.",
}
_CHOICE = re.compile(r"^\s*([1-9])\s*[.)!]?\s*$")


def _text(table: dict[str, str], language: str) -> str:
    """Wording in a language, English when missing."""
    return table.get(language) or table["en"]


def describe_slot(slot: BookingSlot, language: str) -> str:
    """'Gangnam, Tue 4 Mar 10:00' in the branch's local time and the customer's language."""
    local = slot.starts_at.astimezone(zone(slot.time_zone or "UTC"))
    weekday = WEEKDAYS.get(language, WEEKDAYS["en"])[local.weekday()]
    if language == "ko":
        when = f"{local.month}월 {local.day}일 {weekday} {local:%H:%M}"
    elif language == "en":
        when = f"{weekday[:3]} {local.day} {local:%b} {local:%H:%M}"
    else:
        when = f"{weekday} {local.day}/{local.month} {local:%H:%M}"
    return f"{slot.branch}, {when}"


def free_slots(session: Session, workspace_id: int, now: datetime, limit: int = SLOTS_OFFERED) -> list[BookingSlot]:
    """The next slots from now that still have room, earliest first."""
    booked = (select(Booking.slot_id, func.count(Booking.id).label("taken")).group_by(Booking.slot_id).subquery())
    rows = session.execute(
        select(BookingSlot).outerjoin(booked, booked.c.slot_id == BookingSlot.id)
        .where(BookingSlot.workspace_id == workspace_id, BookingSlot.starts_at > now,
               func.coalesce(booked.c.taken, 0) < BookingSlot.capacity)
        .order_by(BookingSlot.starts_at, BookingSlot.id).limit(limit)
    ).scalars().all()
    return list(rows)


def add_slot(session: Session, workspace_id: int, branch: str, starts_at: datetime, *, capacity: int = 1,
             time_zone: str = "UTC") -> BookingSlot:
    """A new branch-visit slot."""
    if not branch.strip():
        raise invalid("branch", "a slot needs a branch name")
    if capacity < 1:
        raise invalid("capacity", "capacity must be at least 1")
    slot = BookingSlot(workspace_id=workspace_id, branch=branch.strip(), starts_at=starts_at, capacity=capacity,
                       time_zone=time_zone)
    session.add(slot)
    session.flush()
    return slot


def suggested_flows(message: Message) -> list[str]:
    """The flows to offer the agent when the engine refused their message for asking for personal data."""
    lint = (message.decision or {}).get("lint", [])
    asked = any(item.get("check") == "pii_request" and item.get("severity") == "error" for item in lint)
    return list(FLOWS) if asked else []


def start_flow(session: Session, workspace: Workspace, conversation: Conversation, flow: str, *, language: str,
               actor: int | str | None, now: datetime) -> Message | None:
    """Begin a flow: send its first question and remember that the next replies belong to it."""
    if flow not in FLOWS:
        raise invalid("flow", f"flow must be one of {', '.join(FLOWS)}")
    state = bot_state(conversation)
    state.pop("menu_pending", None)
    if flow == CALL_TIME:
        text = _text(_CALL_QUESTION, language).format(*_CALL_WINDOWS.get(language, _CALL_WINDOWS["en"]))
        state["flow"] = {"name": CALL_TIME, "language": language}
    else:
        slots = free_slots(session, workspace.id, now)
        if not slots:
            state.pop("flow", None)
            set_bot_state(conversation, state)
            record_event(session, conversation, "flow", actor=actor, detail={"flow": flow, "step": "no_slots"}, now=now)
            return send_automatic(session, workspace, conversation, _text(_VISIT_NONE, language), source=Source.BOT,
                                  language=language, now=now)
        item = _text(_VISIT_ITEM, language)
        choices = ", ".join(item.format(key=index, slot=describe_slot(slot, language))
                            for index, slot in enumerate(slots, start=1))
        text = _text(_VISIT_OFFER, language).format(choices=choices)
        state["flow"] = {"name": BRANCH_VISIT, "language": language, "slot_ids": [slot.id for slot in slots]}
    set_bot_state(conversation, state)
    record_event(session, conversation, "flow", actor=actor, detail={"flow": flow, "step": "started"}, now=now)
    return send_automatic(session, workspace, conversation, text, source=Source.BOT, language=language, now=now)


def _end_flow(conversation: Conversation) -> None:
    """Forget the running flow."""
    state = bot_state(conversation)
    state.pop("flow", None)
    set_bot_state(conversation, state)


def continue_flow(session: Session, workspace: Workspace, conversation: Conversation, contact: Contact,
                  message: Message, now: datetime) -> bool:
    """Give the customer's reply to the running flow; False when there is none or the reply is not for it."""
    flow = bot_state(conversation).get("flow")
    if not flow:
        return False
    language = flow.get("language") or "en"
    if flow.get("name") == CALL_TIME:
        return _answer_call_time(session, workspace, conversation, contact, message, language, now)
    if flow.get("name") == BRANCH_VISIT:
        return _answer_branch_visit(session, workspace, conversation, contact, message, flow, language, now)
    _end_flow(conversation)
    return False


def _answer_call_time(session: Session, workspace: Workspace, conversation: Conversation, contact: Contact,
                      message: Message, language: str, now: datetime) -> bool:
    """Store the time window the customer gave and confirm it."""
    text = " ".join(message.body.split())
    choice = _CHOICE.match(text)
    windows = _CALL_WINDOWS.get(language, _CALL_WINDOWS["en"])
    if choice and 1 <= int(choice.group(1)) <= len(windows):
        window = windows[int(choice.group(1)) - 1]
    elif text and len(text) <= 80 and not message.redacted:
        window = text
    else:
        _end_flow(conversation)
        return False
    contact.attributes = {**(contact.attributes or {}), CALL_TIME_ATTRIBUTE: window}
    contact.updated_at = now
    _end_flow(conversation)
    record_event(session, conversation, "flow", actor="customer",
                 detail={"flow": CALL_TIME, "step": "answered", "call_time": window}, now=now)
    send_automatic(session, workspace, conversation, _text(_CALL_CONFIRM, language).format(window=window),
                   source=Source.BOT, language=language, now=now)
    return True


def _answer_branch_visit(session: Session, workspace: Workspace, conversation: Conversation, contact: Contact,
                         message: Message, flow: dict, language: str, now: datetime) -> bool:
    """Book the slot the customer picked and confirm it, or offer the free ones again if it filled up."""
    choice = _CHOICE.match(message.body)
    slot_ids = flow.get("slot_ids") or []
    if not choice or not 1 <= int(choice.group(1)) <= len(slot_ids):
        _end_flow(conversation)
        return False
    slot = session.get(BookingSlot, slot_ids[int(choice.group(1)) - 1])
    if slot is None or slot.id not in {free.id for free in free_slots(session, workspace.id, now, limit=50)}:
        # Taken meanwhile: offer what is free now.
        start_flow(session, workspace, conversation, BRANCH_VISIT, language=language, actor="bot", now=now)
        return True
    booking = Booking(workspace_id=workspace.id, slot_id=slot.id, contact_id=contact.id,
                      conversation_id=conversation.id, created_at=now)
    session.add(booking)
    session.flush()
    _end_flow(conversation)
    described = describe_slot(slot, language)
    record_event(session, conversation, "flow", actor="customer",
                 detail={"flow": BRANCH_VISIT, "step": "booked", "booking_id": booking.id, "slot": described}, now=now)
    send_automatic(session, workspace, conversation, _text(_VISIT_CONFIRM, language).format(slot=described),
                   source=Source.BOT, language=language, now=now)
    return True
