"""Find and remove payment card numbers and national ids in free text. Pure code, no I/O.

What is removed, and how each is recognised:
- card numbers: 13–19 digits, optionally grouped by single spaces or dashes, passing the Luhn check;
- Korean resident registration numbers: YYMMDD-GNNNNNN with a real date and a gender/century digit;
  written without the dash the checksum must also hold (numbers issued since October 2020 carry
  no checksum, so the dashed form, which is how people write them, is trusted on its date alone);
- Indonesian NIK: 16 digits, a province code 11–94 and a real DDMMYY birth date (women add 40 to the day);
- Greek AMKA: 11 digits, a real DDMMYY birth date, passing the Luhn check.
Digits right after a "+" are a phone number in international form and are never touched.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import parse_qsl, unquote_plus, urlencode

KIND_LABELS = {
    "card_number": "[card number removed]",
    "kr_rrn": "[resident registration number removed]",
    "id_nik": "[NIK removed]",
    "gr_amka": "[AMKA removed]",
}

# A run of digits, single spaces or dashes allowed between them, not glued to other digits or a "+".
_DIGIT_RUN = re.compile(r"(?<![\d+])\d(?:[ -]?\d){10,18}(?!\d)")
_RRN = re.compile(r"(?<![\d+])(\d{6})\s?[-–]\s?([1-8]\d{6})(?!\d)")
_RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)


@dataclass(frozen=True)
class Redaction:
    """Text with personal data removed, and the kinds that were found (empty: nothing removed)."""

    text: str
    kinds: list[str] = field(default_factory=list)

    @property
    def redacted(self) -> bool:
        """True when something was removed."""
        return bool(self.kinds)


def luhn_valid(digits: str) -> bool:
    """True when a digit string passes the Luhn (mod 10) check."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _real_date(year: int, month: int, day: int) -> bool:
    """True when the numbers form a calendar date."""
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _rrn_date_ok(front: str, gender: str) -> bool:
    """The first six digits are a real birth date for the century the gender digit names."""
    century = {"1": 1900, "2": 1900, "3": 2000, "4": 2000, "5": 1900, "6": 1900, "7": 2000, "8": 2000}[gender]
    return _real_date(century + int(front[:2]), int(front[2:4]), int(front[4:6]))


def _rrn_checksum_ok(digits: str) -> bool:
    """The 13th digit matches the weighted checksum of the first twelve."""
    total = sum(int(digit) * weight for digit, weight in zip(digits[:12], _RRN_WEIGHTS, strict=True))
    return (11 - total % 11) % 10 == int(digits[12])


def _nik_plausible(digits: str) -> bool:
    """16 digits with a province code and a real birth date (day + 40 for women)."""
    if len(digits) != 16 or not 11 <= int(digits[:2]) <= 94:
        return False
    day, month, year = int(digits[6:8]), int(digits[8:10]), int(digits[10:12])
    if day > 40:
        day -= 40
    return digits[12:] != "0000" and _real_date(2000 + year, month, day)


def _amka_plausible(digits: str) -> bool:
    """11 digits starting with a real DDMMYY birth date and passing the Luhn check."""
    if len(digits) != 11:
        return False
    day, month, year = int(digits[:2]), int(digits[2:4]), int(digits[4:6])
    return _real_date(2000 + year, month, day) and luhn_valid(digits)


def _classify_run(run: str) -> str | None:
    """The kind of personal number a digit run is, or None to leave it alone."""
    digits = re.sub(r"[ -]", "", run)
    grouped = digits != run
    if 13 <= len(digits) <= 19 and luhn_valid(digits):
        return "card_number"
    if len(digits) == 16 and not grouped and _nik_plausible(digits):
        return "id_nik"
    if len(digits) == 13 and not grouped and digits[6] in "12345678" \
            and _rrn_date_ok(digits[:6], digits[6]) and _rrn_checksum_ok(digits):
        return "kr_rrn"
    if len(digits) == 11 and not grouped and _amka_plausible(digits):
        return "gr_amka"
    return None


def might_hold_personal_numbers(text: str) -> bool:
    """False when the text has no digit run that redact() could remove."""
    return bool(_RRN.search(text) or _DIGIT_RUN.search(text))


def redact(text: str) -> Redaction:
    """Replace card numbers and national ids with a notice such as "[card number removed]"."""
    kinds: list[str] = []

    def replace_rrn(match: re.Match[str]) -> str:
        """A dashed resident registration number with a real date, removed."""
        if not _rrn_date_ok(match.group(1), match.group(2)[0]):
            return match.group(0)
        kinds.append("kr_rrn")
        return KIND_LABELS["kr_rrn"]

    def replace_run(match: re.Match[str]) -> str:
        """A digit run, removed when it is a personal number."""
        kind = _classify_run(match.group(0))
        if kind is None:
            return match.group(0)
        kinds.append(kind)
        return KIND_LABELS[kind]

    # Dashed RRNs first: "900101-1234567" would otherwise be read as one 13-digit run.
    result = _RRN.sub(replace_rrn, text)
    result = _DIGIT_RUN.sub(replace_run, result)
    return Redaction(text=result, kinds=list(dict.fromkeys(kinds)))


def _redact_json_value(value: object) -> object:
    """Every string inside a JSON value, redacted."""
    if isinstance(value, str):
        return redact(value).text
    if isinstance(value, list):
        return [_redact_json_value(item) for item in value]
    if isinstance(value, dict):
        return {key: _redact_json_value(item) for key, item in value.items()}
    return value


def redact_logged_body(body: str) -> str:
    """A raw provider payload (JSON, form-encoded or text) with personal numbers removed, for the exchange log.

    The body comes back unchanged when it holds nothing to remove.
    """
    stripped = body.strip()
    if stripped.startswith(("{", "[")):
        try:
            payload = json.loads(stripped)
        except ValueError:
            payload = None
        if payload is not None:
            cleaned = _redact_json_value(payload)
            return body if cleaned == payload else json.dumps(cleaned, ensure_ascii=False)
    if "=" in stripped and not any(char in stripped for char in " \n{}"):
        # Any number a value holds also shows in the whole decoded body (fields are joined by "&"
        # and "="), so a body where none shows comes back as it is without parsing every field.
        if not might_hold_personal_numbers(unquote_plus(stripped)):
            return body
        # Form bodies (Twilio) encode spaces as "+": redact the decoded values, then encode again.
        pairs = parse_qsl(stripped, keep_blank_values=True)
        cleaned_pairs = [(key, redact(value).text) for key, value in pairs]
        if pairs:
            return body if cleaned_pairs == pairs else urlencode(cleaned_pairs)
    return redact(body).text
