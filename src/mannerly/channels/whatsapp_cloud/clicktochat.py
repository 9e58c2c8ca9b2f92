"""Click-to-chat for a WhatsApp number (SPEC C9): the wa.me link, its QR code, a website snippet (pure).

`https://wa.me/<digits>?text=<url-encoded text>` opens a chat with the business, the
text already typed in. The QR codes are made with segno (pure Python) and carry exactly
that link; the snippet is a small self-contained HTML link styled as a button.
"""

from __future__ import annotations

import html
import io
import re
from urllib.parse import quote

import segno

WA_ME = "https://wa.me/"
QR_ERROR_LEVEL = "m"  # medium error correction survives a printed code getting a little dirty
DEFAULT_SCALE = 8
MAX_SCALE = 40
QR_BORDER = 4  # the quiet zone the QR standard asks for, in modules
MAX_PREFILLED_TEXT = 1000
_PHONE_DIGITS = re.compile(r"^[1-9]\d{6,14}$")
WHATSAPP_GREEN = "#25D366"

# "Message us on WhatsApp" in the languages Mannerly serves first.
SNIPPET_LABELS: dict[str, str] = {
    "en": "Message us on WhatsApp",
    "ko": "WhatsApp으로 메시지 보내기",
    "id": "Kirim pesan lewat WhatsApp",
    "el": "Στείλτε μας μήνυμα στο WhatsApp",
}


class ClickToChatError(ValueError):
    """The number or the text cannot make a click-to-chat link."""


def click_to_chat_url(phone_digits: str, text: str | None = None) -> str:
    """The wa.me link for a number in international digits, with optional prefilled text."""
    if not _PHONE_DIGITS.match(phone_digits or ""):
        raise ClickToChatError(f"{phone_digits!r} is not an international phone number in digits (e.g. 821023456789)")
    if text and len(text) > MAX_PREFILLED_TEXT:
        raise ClickToChatError(f"the prefilled text is longer than {MAX_PREFILLED_TEXT} characters")
    url = WA_ME + phone_digits
    # quote() with no safe characters: spaces become %20 and "&", "#", "?" cannot break the query.
    return f"{url}?text={quote(text, safe='')}" if text else url


def qr_code(url: str) -> segno.QRCode:
    """The QR code (not a Micro QR) for a link."""
    return segno.make(url, error=QR_ERROR_LEVEL, micro=False)


def qr_png(url: str, scale: int = DEFAULT_SCALE) -> bytes:
    """The link's QR code as PNG bytes (black on white, with the standard quiet zone)."""
    buffer = io.BytesIO()
    qr_code(url).save(buffer, kind="png", scale=_checked_scale(scale), border=QR_BORDER)
    return buffer.getvalue()


def qr_svg(url: str, scale: int = DEFAULT_SCALE, title: str | None = None) -> bytes:
    """The link's QR code as a standalone SVG document (UTF-8 bytes)."""
    buffer = io.BytesIO()
    qr_code(url).save(buffer, kind="svg", scale=_checked_scale(scale), border=QR_BORDER,
                      xmldecl=True, title=title, encoding="utf-8")
    return buffer.getvalue()


def _checked_scale(scale: int) -> int:
    """A module size in pixels between 1 and MAX_SCALE."""
    if not 1 <= scale <= MAX_SCALE:
        raise ClickToChatError(f"scale must be between 1 and {MAX_SCALE}")
    return scale


def snippet_label(language: str | None) -> str:
    """The button text in a language, English when Mannerly has no wording for it."""
    return SNIPPET_LABELS.get((language or "en").split("-")[0].split("_")[0].lower(), SNIPPET_LABELS["en"])


def snippet_html(url: str, label: str, business_name: str | None = None) -> str:
    """A copy-paste HTML link styled as a WhatsApp button; every value is HTML-escaped."""
    title = f' title="{html.escape(business_name, quote=True)} on WhatsApp"' if business_name else ""
    style = (f"display:inline-block;padding:10px 18px;border-radius:24px;background:{WHATSAPP_GREEN};"
             "color:#ffffff;font:600 16px/1.2 system-ui,sans-serif;text-decoration:none")
    return (f'<a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer"{title} '
            f'style="{style}">{html.escape(label, quote=False)}</a>')
