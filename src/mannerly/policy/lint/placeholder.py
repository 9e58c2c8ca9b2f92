"""placeholder (L7): template fields left unfilled.

Always placeholders: {{...}}, {...}, ${...}, [[...]], printf fields (%s, %d,
%1$s), $name, runs of XX as in "XX:XX", and Korean ○○ / OOO blanks.

Square and angle brackets are also ordinary punctuation ("[Acme]", "[안내]",
"<SALE>"), so their content counts as a field only when every word in it is
field vocabulary and at least one word is a field name by itself: "[First
Name]", "[Order Number]", "<NAME>", "[이름]", "[Nama Pelanggan]",
"[Όνομα]"; or when it is a blank ("[XX]", "[___]", "[...]") or a snake_case
identifier ("[first_name]"). The brand name in brackets never counts.
"""

from __future__ import annotations

import re
from functools import lru_cache

from mannerly.policy.lint._common import LintContext, fold
from mannerly.policy.types import LintFinding, Severity

CHECK = "placeholder"

_ALWAYS = re.compile(
    r"\{\{[^{}]*\}\}"  # {{first_name}}
    r"|\$\{[^{}]*\}"  # ${name}
    r"|\{[^{}\s][^{}]*\}"  # {first_name}
    r"|\[\[[^\[\]]+\]\]"  # [[first_name]]
    r"|%(?:\d+\$)?[sdif]\b"  # %s, %d, %1$s
    r"|\$[A-Za-z_][A-Za-z0-9_]*"  # $name
    r"|\bX{2,}(?::X{2,})*\b"  # XX, XX:XX
    r"|[○◯〇]{2,}"  # Korean blanks: ○○○
    r"|(?<![A-Za-z])OOO(?![A-Za-z])\s*(?=님|고객)"  # "OOO 고객님"
)
_BRACKETED = re.compile(r"\[([^\[\]\n]{1,40})\]|<([^<>\n]{1,40})>")
# Something every match of _ALWAYS contains: the many-branched pattern is slow to run over
# a whole text, so it only runs when one of these is there ("%" only before a digit or a
# printf letter, as in "%s" or "%1$s"; a plain "20%" does not count).
_PRINTF_HINT = re.compile(r"%[\dsdif]")


def _may_hold_always(text: str) -> bool:
    """False when _ALWAYS certainly finds nothing in the text."""
    return (
        "{" in text or "$" in text or "[[" in text or "XX" in text or "OOO" in text
        or "○" in text or "◯" in text or "〇" in text
        or ("%" in text and _PRINTF_HINT.search(text) is not None)
    )
_BLANK = re.compile(r"[Xx#_*.…\s]+|\?{2,}")
_SNAKE_CASE = re.compile(r"[A-Za-z]+(?:_[A-Za-z0-9]+)+")

# Words that name a field by themselves (folded: lower case, no accents).
FIELD_NAMES = frozenset(
    fold(word)
    for word in (
        # English
        "name", "firstname", "lastname", "fname", "lname", "surname", "date", "time", "amount", "price",
        "total", "number", "code", "address", "city", "phone", "mobile", "email", "link", "url", "id",
        "reference", "ref", "value", "field", "placeholder", "balance", "x", "xx",
        # Korean
        "이름", "고객명", "성함", "성명", "날짜", "일자", "일시", "시간", "금액", "가격", "주소", "번호", "전화번호",
        "휴대폰번호", "매장명", "상품명", "주문번호", "예약일", "예약번호", "예약일시", "링크", "코드", "인증번호",
        "쿠폰번호", "고객이름",
        # Indonesian
        "nama", "tanggal", "tgl", "waktu", "jam", "jumlah", "nominal", "harga", "nomor", "kode", "alamat",
        "kota", "telepon", "hp", "tautan",
        # Greek
        "όνομα", "επώνυμο", "ημερομηνία", "ώρα", "ποσό", "τιμή", "σύνολο", "αριθμός", "κωδικός", "διεύθυνση",
        "πόλη", "τηλέφωνο", "σύνδεσμος",
    )
)
# Words that qualify a field name ("First", "Order", "고객", "Pelanggan").
FIELD_QUALIFIERS = frozenset(
    fold(word)
    for word in (
        "first", "last", "full", "given", "family", "customer", "client", "contact", "recipient", "order",
        "appointment", "booking", "your", "the", "of", "insert", "here", "tracking", "invoice", "product",
        "item", "store", "shop", "branch", "company", "business", "due", "account", "delivery", "pickup",
        "고객", "매장", "예약", "주문", "상품", "배송",
        "pelanggan", "depan", "belakang", "lengkap", "anda", "toko", "cabang", "pesanan", "janji", "produk",
        "pengiriman", "temu",
        "πελάτη", "πελάτης", "κράτησης", "παραγγελίας", "καταστήματος", "του", "της", "σας", "ραντεβού",
    )
)

_FIELD_VOCABULARY = FIELD_NAMES | FIELD_QUALIFIERS
_FIELD_SEPARATORS = re.compile(r"[\s_\-/]+")


@lru_cache(maxsize=4096)
def is_field_name(content: str, brand: str | None = None) -> bool:
    """True when bracketed content looks like an unfilled template field (see module doc)."""
    content = content.strip()
    if not content:
        return False
    if brand and fold(content) == fold(brand):
        return False
    if _BLANK.fullmatch(content) or _SNAKE_CASE.fullmatch(content):
        return True
    parts = [fold(part) for part in _FIELD_SEPARATORS.split(content) if part]
    if not parts or len(parts) > 4:
        return False
    return all(part in _FIELD_VOCABULARY for part in parts) and any(part in FIELD_NAMES for part in parts)


def find_placeholders(text: str, brand: str | None = None) -> list[str]:
    """The unfilled placeholders in a text, as written, each once, in order."""
    found: list[str] = []
    if _may_hold_always(text):
        for match in _ALWAYS.finditer(text):
            found.append(match.group(0).strip())
    bracketed = _BRACKETED.finditer(text) if "[" in text or "<" in text else ()
    for match in bracketed:
        content = match.group(1) if match.group(1) is not None else match.group(2)
        if is_field_name(content, brand):
            found.append(match.group(0))
    if not found:
        return found
    # [[name]] also matches the single-bracket pattern inside; keep the outer one.
    unique = list(dict.fromkeys(found))
    return [item for item in unique if not any(item != other and item in other for other in unique)]


def check(text: str, context: LintContext) -> list[LintFinding]:
    """Refuse texts that still contain template placeholders."""
    placeholders = find_placeholders(text, context.brand)
    if not placeholders:
        return []
    return [
        LintFinding(
            CHECK,
            Severity.ERROR,
            f"Unfilled placeholder(s): {', '.join(placeholders)}. The customer would see them as written.",
            suggestion="Fill in or remove the placeholders before sending.",
        )
    ]
