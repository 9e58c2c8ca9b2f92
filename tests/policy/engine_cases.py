"""Turn the readable TOML case tables under cases/ into engine inputs and expectations."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from mannerly.policy.types import (
    ConsentStatus,
    ContactState,
    Policy,
    SendRequest,
    SentRecord,
    Source,
    Topic,
    TopicKind,
)

CASES_DIR = Path(__file__).parent / "cases"

# A typical contact of each country, so cases name only what they are about.
DEFAULT_ZONES = {
    "KR": ("Asia/Seoul",),
    "ID": ("Asia/Jakarta",),
    "GR": ("Europe/Athens",),
    "US": ("America/New_York",),
}
DEFAULT_LANGUAGE = {"KR": "ko", "ID": "id", "GR": "el", "US": "en"}
DEFAULT_TEXT = {
    "en": "Acme: your order 1234 has shipped and arrives Thursday.",
    "ko": "Acme: 주문하신 상품 1234번이 발송되었습니다.",
    "id": "Acme: pesanan 1234 Anda sudah dikirim.",
    "el": "Acme: η παραγγελία σας 1234 έχει αποσταλεί.",
}
OFFSET = re.compile(r"^([+-]?\d+(?:\.\d+)?)([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def relative(now: datetime, value: str) -> datetime:
    """'-2h' → two hours before now; an ISO string → that instant."""
    match = OFFSET.match(value)
    if match:
        return now + timedelta(**{UNITS[match.group(2)]: float(match.group(1))})
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def parse_window(value: str) -> tuple[time, time]:
    """'08:00-22:00' → (08:00, 22:00)."""
    start, end = value.split("-")
    return time.fromisoformat(start), time.fromisoformat(end)


@dataclass
class Case:
    """One row of a case table, with its inputs built."""

    name: str
    source_file: str
    now: datetime
    request: SendRequest
    contact: ContactState
    policy: Policy
    expect: dict = field(default_factory=dict)


def build_case(raw: dict, source_file: str) -> Case:
    """Build the engine inputs of one case row, filling in defaults."""
    now = datetime.fromisoformat(raw["now"].replace("Z", "+00:00")).astimezone(UTC)
    country = raw.get("country", "KR")
    language = raw.get("language", DEFAULT_LANGUAGE.get(country, "en"))
    kind = TopicKind(raw.get("kind", "transactional"))
    topic = Topic(
        name=raw.get("topic", "promotions" if kind is TopicKind.MARKETING else "orders"),
        kind=kind,
        urgent=raw.get("urgent", False),
    )
    consents = {name: ConsentStatus.OPTED_IN for name in raw.get("opted_in", [])}
    consents |= {name: ConsentStatus.OPTED_OUT for name in raw.get("opted_out", [])}
    recent = tuple(
        SentRecord(
            at=relative(now, item["at"]),
            final_text=item.get("text", f"earlier message {index}"),
            topic_kind=TopicKind(item.get("kind", "marketing")),
            source=Source(item.get("source", "campaign")),
        )
        for index, item in enumerate(raw.get("recent", []))
    )
    contact = ContactState(
        phone=raw.get("phone"),
        country=country,
        subdivision=raw.get("subdivision"),
        time_zones=tuple(raw.get("zones", DEFAULT_ZONES.get(country, ()))),
        language=language,
        global_opt_out=raw.get("global_opt_out", False),
        consents=consents,
        night_marketing_consent=raw.get("night_consent", False),
        prior_relationship=raw.get("prior", True),
        last_inbound_at=relative(now, raw["last_inbound"]) if "last_inbound" in raw else None,
        whatsapp_last_inbound_at=relative(now, raw["whatsapp_last_inbound"]) if "whatsapp_last_inbound" in raw else None,
        messenger_last_inbound_at=relative(now, raw["messenger_last_inbound"]) if "messenger_last_inbound" in raw else None,
        reachable=frozenset(raw.get("reachable", ["sms"])),
        recent_outbound=recent,
        last_auto_reply_at=relative(now, raw["last_auto_reply"]) if "last_auto_reply" in raw else None,
    )
    request = SendRequest(
        text=raw.get("text", DEFAULT_TEXT.get(language, DEFAULT_TEXT["en"])),
        topic=topic,
        source=Source(raw.get("source", "api")),
        channel=raw.get("channel"),
        reply=raw.get("reply", False),
        whatsapp_template=raw.get("template"),
        language=raw.get("message_language"),
    )
    policy_args: dict = {"brand_names": {"en": "Acme", "ko": "Acme", "id": "Acme", "el": "Acme"}}
    if "window" in raw:
        policy_args["window_start"], policy_args["window_end"] = parse_window(raw["window"])
    if "workdays" in raw:
        policy_args["workdays"] = frozenset(raw["workdays"])
    if "skip_holidays" in raw:
        policy_args["skip_holidays"] = raw["skip_holidays"]
    if "messenger_tags" in raw:
        policy_args["messenger_tags"] = raw["messenger_tags"]
    if "marketing_cap" in raw:
        policy_args["marketing_cap"] = raw["marketing_cap"]
    expect = {key[len("expect_"):]: value for key, value in raw.items() if key.startswith("expect_")}
    return Case(raw["name"], source_file, now, request, contact, Policy(**policy_args), expect)


def load_cases() -> list[Case]:
    """Every case of every table under cases/."""
    cases = []
    for path in sorted(CASES_DIR.glob("*.toml")):
        with path.open("rb") as handle:
            table = tomllib.load(handle)
        cases.extend(build_case(raw, path.name) for raw in table["case"])
    return cases
