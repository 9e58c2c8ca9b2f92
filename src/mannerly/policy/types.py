"""Value types of the etiquette engine: what goes into decide() and what comes out.

Everything here is plain, immutable data. The engine never reads a database,
the network or the wall clock; services build these objects and pass `now`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Literal


class Action(StrEnum):
    """What the engine decided to do with a message."""

    SEND = "send"
    DEFER = "defer"
    REJECT = "reject"


class Verdict(StrEnum):
    """What one rule concluded."""

    PASS = "pass"
    DEFER = "defer"
    REJECT = "reject"
    EXEMPT = "exempt"
    FIXED = "fixed"
    REROUTE = "reroute"


class Severity(StrEnum):
    """How serious a lint finding is; any error rejects the message."""

    ERROR = "error"
    WARNING = "warning"
    FIXED = "fixed"


class TopicKind(StrEnum):
    """Transactional topics inform; marketing topics sell and need an opt-in."""

    TRANSACTIONAL = "transactional"
    MARKETING = "marketing"


class ConsentStatus(StrEnum):
    """The current consent of one contact for one topic."""

    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"
    UNKNOWN = "unknown"


class Source(StrEnum):
    """Who produced an outbound message."""

    API = "api"
    AGENT = "agent"
    CAMPAIGN = "campaign"
    AUTOMATION = "automation"
    BOT = "bot"
    AUTO_REPLY = "auto_reply"
    KEYWORD_REPLY = "keyword_reply"

    @property
    def automated(self) -> bool:
        """True for messages no person wrote at the moment of sending."""
        return self in _AUTOMATED_SOURCES


# Built once: looking members up on an Enum class is slow in Python 3.11 (EnumType defines
# __getattr__, which puts every class attribute lookup on a slow path).
_AUTOMATED_SOURCES = frozenset({Source.CAMPAIGN, Source.AUTOMATION, Source.BOT, Source.AUTO_REPLY})
_MARKETING = TopicKind.MARKETING
_UNKNOWN_CONSENT = ConsentStatus.UNKNOWN


ChannelKind = Literal["sms", "whatsapp", "messenger"]
CHANNEL_KINDS: tuple[str, ...] = ("sms", "whatsapp", "messenger")


@dataclass(frozen=True, slots=True)
class Topic:
    """A reason to write to a customer (P1)."""

    name: str
    kind: TopicKind = TopicKind.TRANSACTIONAL
    urgent: bool = False
    keyword: str | None = None

    @property
    def marketing(self) -> bool:
        """True when the topic sells rather than informs."""
        return self.kind is _MARKETING


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One message somebody wants to send to one contact."""

    text: str
    topic: Topic
    source: Source = Source.API
    channel: ChannelKind | None = None
    # The message answers the customer inside a conversation they started.
    reply: bool = False
    # Name of an approved WhatsApp template the text was rendered from, if any.
    whatsapp_template: str | None = None
    # Language of the text (ISO 639-1); falls back to the contact's language.
    language: str | None = None


@dataclass(frozen=True, slots=True)
class SentRecord:
    """An earlier outbound message to the same contact, as the caps need it."""

    at: datetime
    final_text: str
    topic_kind: TopicKind
    source: Source = Source.API


@dataclass(frozen=True, slots=True)
class ContactState:
    """What the engine needs to know about the recipient at decision time."""

    phone: str | None = None  # E.164
    country: str | None = None  # ISO 3166-1 alpha-2
    subdivision: str | None = None  # e.g. "FL" for Florida, for legal floors
    time_zones: tuple[str, ...] = ()  # IANA zones; the window must hold in all
    language: str = "en"
    first_name: str | None = None
    global_opt_out: bool = False
    consents: dict[str, ConsentStatus] = field(default_factory=dict)  # topic name -> status
    night_marketing_consent: bool = False  # Korea: separate consent for 21:00–08:00 ads
    prior_relationship: bool = False  # an inbound message, a purchase, or recorded consent
    last_inbound_at: datetime | None = None  # any channel
    whatsapp_last_inbound_at: datetime | None = None
    messenger_last_inbound_at: datetime | None = None
    reachable: frozenset[str] = frozenset({"sms"})  # channel kinds the contact can get
    recent_outbound: tuple[SentRecord, ...] = ()  # at least the last 7 days
    last_auto_reply_at: datetime | None = None  # in this contact's conversation
    # The business wrote to this contact before, even if longer ago than recent_outbound covers.
    contacted_before: bool = False

    def consent_for(self, topic: Topic) -> ConsentStatus:
        """The recorded consent for one topic, UNKNOWN when never recorded."""
        return self.consents.get(topic.name, _UNKNOWN_CONSENT)

    @property
    def first_contact(self) -> bool:
        """True when the business has never written to this contact before."""
        return not (self.contacted_before or self.recent_outbound or self.last_inbound_at)


@dataclass(frozen=True, slots=True)
class Policy:
    """A workspace's sending policy; legal floors are applied on top and cannot be loosened."""

    window_start: time = time(9, 0)
    window_end: time = time(20, 0)  # half-open: 19:59 sends, 20:00 defers
    # Weekdays (Monday=0) on which sending is allowed; None means the
    # recipient country's working days (Mon–Fri in KR, ID, GR and the US).
    workdays: frozenset[int] | None = None
    skip_holidays: bool = True
    reply_exemption: timedelta = timedelta(hours=24)
    marketing_cap: int = 2
    marketing_cap_period: timedelta = timedelta(days=7)
    automated_min_gap: timedelta = timedelta(hours=1)
    duplicate_window: timedelta = timedelta(hours=24)
    whatsapp_window: timedelta = timedelta(hours=24)
    auto_reply_period: timedelta = timedelta(hours=12)
    # How far ahead the engine looks for an allowed moment before it gives up.
    horizon: timedelta = timedelta(days=45)
    default_country: str | None = None
    brand_names: dict[str, str] = field(default_factory=dict)  # language -> brand name
    sender_intro: bool = True
    max_segments: int = 3  # more is a lint error
    tracked_link_domains: tuple[str, ...] = ()
    # Messenger message tag per transactional topic, for sends outside the 24-hour window
    # (e.g. {"orders": "POST_PURCHASE_UPDATE", "appointments": "CONFIRMED_EVENT_UPDATE"}).
    messenger_tags: dict[str, str] = field(default_factory=dict)

    def brand_for(self, language: str) -> str | None:
        """The brand name in a language, else in English, else any."""
        if language in self.brand_names:
            return self.brand_names[language]
        if "en" in self.brand_names:
            return self.brand_names["en"]
        return next(iter(self.brand_names.values()), None)


def slot_setters(cls: type) -> tuple:
    """The __set__ of each field's slot of a slotted dataclass, in field order.

    A frozen dataclass's generated __init__ sets every field with a generic
    object.__setattr__ call. The few of them built for every decision (reasons, findings,
    rule contexts and outcomes) set their slots through these instead: the same effect,
    about twice as quick, and the frozen __setattr__ still refuses later changes.
    """
    return tuple(cls.__dict__[item.name].__set__ for item in fields(cls))


@dataclass(frozen=True, slots=True, init=False)
class Reason:
    """Why one rule let a message through, held it or refused it."""

    rule: str
    verdict: Verdict
    detail: str

    def __init__(self, rule: str, verdict: Verdict, detail: str) -> None:
        """Set the fields (see slot_setters)."""
        _set_reason_rule(self, rule)
        _set_reason_verdict(self, verdict)
        _set_reason_detail(self, detail)

    def as_dict(self) -> dict[str, str]:
        """The JSON form used by the API."""
        return {"rule": self.rule, "verdict": self.verdict.value, "detail": self.detail}


_set_reason_rule, _set_reason_verdict, _set_reason_detail = slot_setters(Reason)


@dataclass(frozen=True, slots=True, init=False)
class LintFinding:
    """One content check's finding."""

    check: str
    severity: Severity
    detail: str
    suggestion: str | None = None

    def __init__(self, check: str, severity: Severity, detail: str, suggestion: str | None = None) -> None:
        """Set the fields (see slot_setters)."""
        _set_finding_check(self, check)
        _set_finding_severity(self, severity)
        _set_finding_detail(self, detail)
        _set_finding_suggestion(self, suggestion)

    def as_dict(self) -> dict[str, str | None]:
        """The JSON form used by the API."""
        return {
            "check": self.check,
            "severity": self.severity.value,
            "detail": self.detail,
            "suggestion": self.suggestion,
        }


_set_finding_check, _set_finding_severity, _set_finding_detail, _set_finding_suggestion = slot_setters(LintFinding)


# Stands for "no channel_options given" in Decision.__init__, as dataclass's default_factory would.
_NEW_DICT = object()


@dataclass(frozen=True, slots=True, init=False)
class Decision:
    """The engine's answer: send now, defer until send_at, or reject, and why."""

    action: Action
    final_text: str
    channel: str | None
    reasons: tuple[Reason, ...]
    lint: tuple[LintFinding, ...]
    segments: int
    encoding: str  # "GSM-7" | "UCS-2"
    send_at: datetime | None = None  # UTC; set for send (now) and defer
    local_send_at: datetime | None = None  # recipient's local time, zone attached
    # What the channel needs to carry it, e.g. {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}.
    channel_options: dict[str, str] = field(default_factory=dict)

    def __init__(
        self,
        action: Action,
        final_text: str,
        channel: str | None,
        reasons: tuple[Reason, ...],
        lint: tuple[LintFinding, ...],
        segments: int,
        encoding: str,
        send_at: datetime | None = None,
        local_send_at: datetime | None = None,
        channel_options: dict[str, str] = _NEW_DICT,  # type: ignore[assignment]
    ) -> None:
        """Set the fields (see slot_setters); channel_options defaults to a new empty dict."""
        _set_action(self, action)
        _set_final_text(self, final_text)
        _set_channel(self, channel)
        _set_reasons(self, reasons)
        _set_lint(self, lint)
        _set_segments(self, segments)
        _set_encoding(self, encoding)
        _set_send_at(self, send_at)
        _set_local_send_at(self, local_send_at)
        _set_channel_options(self, {} if channel_options is _NEW_DICT else channel_options)

    def as_dict(self) -> dict:
        """The JSON form used by the API and `mannerly check --json`."""
        return {
            "action": self.action.value,
            "send_at": self.send_at.isoformat() if self.send_at else None,
            "local_send_at": self.local_send_at.isoformat() if self.local_send_at else None,
            "channel": self.channel,
            "final_text": self.final_text,
            "reasons": [reason.as_dict() for reason in self.reasons],
            "lint": [finding.as_dict() for finding in self.lint],
            "segments": self.segments,
            "encoding": self.encoding,
            "channel_options": dict(self.channel_options),
        }


(
    _set_action,
    _set_final_text,
    _set_channel,
    _set_reasons,
    _set_lint,
    _set_segments,
    _set_encoding,
    _set_send_at,
    _set_local_send_at,
    _set_channel_options,
) = slot_setters(Decision)
