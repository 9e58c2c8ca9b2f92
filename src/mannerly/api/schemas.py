"""Request and response bodies of the REST API (pydantic), shared by the route modules."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

ChannelName = Literal["sms", "whatsapp", "messenger"]
T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` as `cursor` for the next page."""

    items: list[T]
    next_cursor: int | None = None


class ContactIn(BaseModel):
    """A new contact."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(..., description="Phone number, international (+82…) or national with `country`")
    country: str | None = Field(None, min_length=2, max_length=2, description="Country for a national-format number")
    name: str | None = Field(None, max_length=200)
    first_name: str | None = Field(None, max_length=100)
    language: str | None = Field(None, description="ISO 639-1 code; default from the number's country")
    time_zone: str | None = Field(None, description="IANA zone; default from the number")
    attributes: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    whatsapp_id: str | None = None
    messenger_psid: str | None = None
    night_marketing_consent: bool | None = None
    prior_relationship: bool = Field(False, description="The customer bought or booked before (P6)")


class ContactPatch(BaseModel):
    """Changes to a contact; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    phone: str | None = None
    name: str | None = Field(None, max_length=200)
    first_name: str | None = Field(None, max_length=100)
    language: str | None = None
    time_zone: str | None = None
    attributes: dict[str, Any] | None = None
    tags: list[str] | None = None
    whatsapp_id: str | None = None
    messenger_psid: str | None = None
    night_marketing_consent: bool | None = None
    prior_relationship: bool | None = None


class ContactOut(BaseModel):
    """A contact as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    phone: str | None
    country: str | None
    subdivision: str | None
    time_zone: str | None
    time_zones: list[str] = Field(default_factory=list, description="Zones used for quiet hours")
    language: str | None
    name: str | None
    first_name: str | None
    attributes: dict[str, Any]
    tags: list[str]
    whatsapp_id: str | None
    messenger_psid: str | None
    global_opt_out: bool
    night_marketing_consent: bool
    prior_relationship_at: datetime | None
    last_inbound_at: datetime | None
    last_outbound_at: datetime | None
    created_at: datetime


class ConsentIn(BaseModel):
    """A consent change with its evidence."""

    model_config = ConfigDict(extra="forbid")

    topic: str | None = Field(None, description="Topic name; omit for the global opt-out/opt-in")
    status: Literal["opted_in", "opted_out"]
    source: Literal["api", "agent", "double_opt_in", "import", "provider"] = "api"
    wording: str | None = Field(None, description="The words the customer saw or sent (evidence)")
    actor: str | None = Field(None, description="Who recorded it; default: the API key's name")


class ConsentEventOut(BaseModel):
    """One event of the consent ledger."""

    id: int
    topic: str | None
    status: str
    source: str
    wording: str | None
    actor: str
    evidence_message_id: int | None
    occurred_at: datetime


class ConsentOut(BaseModel):
    """A contact's current consent and the full ledger."""

    contact_id: int
    global_opt_out: bool
    topics: dict[str, str]
    history: list[ConsentEventOut]


class TopicIn(BaseModel):
    """A new topic (P1)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Machine name, e.g. appointments")
    label: str | None = None
    kind: Literal["transactional", "marketing"] = "transactional"
    urgent: bool = False
    keyword: str | None = Field(None, max_length=32, description="Word customers text to opt in/out of this topic")

    @model_validator(mode="after")
    def _urgent_is_transactional(self) -> TopicIn:
        """Only transactional topics may be urgent (urgent skips quiet hours)."""
        if self.urgent and self.kind == "marketing":
            raise ValueError("a marketing topic cannot be urgent")
        return self


class TopicPatch(BaseModel):
    """Changes to a topic."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = None
    urgent: bool | None = None
    keyword: str | None = None


class TopicOut(BaseModel):
    """A topic as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    label: str
    kind: str
    urgent: bool
    keyword: str | None


class TemplateIn(BaseModel):
    """A message template in one language (O2)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9_-]{0,127}$")
    language: str = Field(..., min_length=2, max_length=8)
    body: str = Field(..., min_length=1, max_length=4000)
    topic: str | None = None
    variables: dict[str, str] = Field(default_factory=dict, description="Defaults for placeholders")
    whatsapp_name: str | None = None
    whatsapp_status: Literal["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"] | None = None
    category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"] | None = None


class TemplatePatch(BaseModel):
    """Changes to a template."""

    model_config = ConfigDict(extra="forbid")

    body: str | None = Field(None, min_length=1, max_length=4000)
    variables: dict[str, str] | None = None
    whatsapp_name: str | None = None
    whatsapp_status: Literal["APPROVED", "PENDING", "REJECTED", "PAUSED", "DISABLED"] | None = None
    category: Literal["MARKETING", "UTILITY", "AUTHENTICATION"] | None = None


class TemplateOut(BaseModel):
    """A template as the API shows it."""

    id: int
    name: str
    language: str
    body: str
    topic: str | None
    variables: dict[str, Any]
    placeholders: list[str]
    whatsapp_name: str | None
    whatsapp_status: str | None
    category: str | None


class MessageIn(BaseModel):
    """A message to check or send: one recipient, one topic, a text or a template with data."""

    model_config = ConfigDict(extra="forbid")

    contact_id: int | None = None
    to: str | None = Field(None, description="Phone number; a contact is created on send if unknown")
    topic: str
    text: str | None = Field(None, max_length=4000)
    template: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    language: str | None = None
    channel: ChannelName | None = None
    reply: bool = Field(False, description="Answers the customer's own recent message")
    at: AwareDatetime | None = Field(
        None, description="Check: decide as if now were this instant. Send: do not send before it (O4)"
    )

    @model_validator(mode="after")
    def _one_recipient_one_content(self) -> MessageIn:
        """Exactly one of contact_id/to and one of text/template."""
        if (self.contact_id is None) == (self.to is None):
            raise ValueError("give exactly one of contact_id and to")
        if (self.text is None) == (self.template is None):
            raise ValueError("give exactly one of text and template")
        return self


class ReasonOut(BaseModel):
    """Why one rule fired."""

    rule: str
    verdict: str
    detail: str


class LintOut(BaseModel):
    """One content finding."""

    check: str
    severity: str
    detail: str
    suggestion: str | None = None


class DecisionOut(BaseModel):
    """The etiquette engine's decision."""

    action: Literal["send", "defer", "reject"]
    send_at: datetime | None
    local_send_at: datetime | None = Field(None, description="send_at in the recipient's local time")
    channel: str | None
    final_text: str
    reasons: list[ReasonOut]
    lint: list[LintOut]
    segments: int
    encoding: str
    channel_options: dict[str, str] = Field(default_factory=dict, description="e.g. Messenger's messaging_type and tag")


class MessageOut(BaseModel):
    """A message, in or out, with its stored decision and delivery status."""

    id: int
    contact_id: int
    conversation_id: int | None
    direction: str
    channel: str | None
    topic: str | None
    source: str
    body: str
    final_text: str | None
    status: str
    status_detail: str | None
    send_at: datetime | None
    segments: int | None
    encoding: str | None
    provider_message_id: str | None
    error_code: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    decision: DecisionOut | None


class ConversationOut(BaseModel):
    """A conversation summary."""

    id: int
    contact_id: int
    contact_name: str | None
    contact_phone: str | None
    status: str
    assignee_user_id: int | None
    unread_count: int
    last_message_at: datetime | None
    last_inbound_at: datetime | None
    created_at: datetime


class ConversationDetail(ConversationOut):
    """A conversation with its messages, oldest first."""

    messages: list[MessageOut]


class SimulatedInboundIn(BaseModel):
    """A message a simulated customer phone sends to the business."""

    model_config = ConfigDict(extra="forbid")

    from_: str = Field(..., alias="from", description="The customer's phone number")
    text: str = Field(..., min_length=1, max_length=4000)
    channel: ChannelName = "sms"


class SimulatedInboundOut(BaseModel):
    """What the inbound pipeline did with a simulated message."""

    message_id: int
    contact_id: int
    conversation_id: int | None
    duplicate: bool
    keyword: str | None
    keyword_topic: str | None
    confirmation_message_id: int | None


class PhoneMessageOut(BaseModel):
    """A message as a simulated phone shows it."""

    direction: Literal["received", "sent"] = Field(..., description="received from the business, or sent to it")
    text: str
    at: datetime
    channel: str
    provider_message_id: str


class ImportRejectedOut(BaseModel):
    """One CSV row that was not imported."""

    line: int = Field(..., description="Line number in the file (the header is line 1)")
    reason: str
    raw: dict[str, Any] = Field(default_factory=dict, description="The row's cells by column name")


class ImportMergedOut(BaseModel):
    """A row whose number appeared earlier in the file and was merged into that row."""

    line: int
    into_line: int
    phone: str


class ImportReportOut(BaseModel):
    """What a CSV import did."""

    imported: int
    updated: int
    unchanged: int
    merged: list[ImportMergedOut]
    rejected: list[ImportRejectedOut]
    consent_events: int
    rows: int
