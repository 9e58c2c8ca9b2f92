"""The outbound pipeline: request → gather state → decide → the message row (the outbox).

Every outbound message, whoever writes it (API, agent, keyword confirmation,
later campaigns and bots), goes through `submit`; the dry run goes through
`check`. Both share `prepare`, so a dry run and a real send can never decide
differently for the same input at the same moment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mannerly.contacts.service import find_or_build_contact_for_phone
from mannerly.contacts.state import enabled_channel_kinds, gather_contact_state
from mannerly.conversations.service import touch_conversation_outbound
from mannerly.kit.language import guess_language
from mannerly.links.service import with_own_short_links
from mannerly.errors import FieldError, ProblemError, invalid, not_found
from mannerly.models import Channel, Contact, Message, Template, Topic, Workspace
from mannerly.observability import count_decision
from mannerly.policy.engine import decide
from mannerly.policy.types import Action, ContactState, Decision, Policy, SendRequest, Source
from mannerly.policy.types import Topic as PolicyTopic
from mannerly.policy.types import TopicKind
from mannerly.templates.render import (
    TemplateRenderError,
    TemplateSecurityError,
    TemplateSyntaxProblem,
    UnknownTemplateVariable,
    bracket_name,
    render_template,
)
from mannerly.topics.service import find_topic
from mannerly.workspaces.service import workspace_policy

STATUS_FOR_ACTION = {Action.SEND: "pending", Action.DEFER: "deferred", Action.REJECT: "rejected"}


@dataclass(frozen=True)
class OutboundIntent:
    """What somebody wants sent, before anything is resolved or decided."""

    topic: str
    contact_id: int | None = None
    to: str | None = None
    text: str | None = None
    template: str | None = None
    data: dict[str, Any] | None = None
    language: str | None = None
    channel: str | None = None
    reply: bool = False
    source: Source = Source.API
    # An approved WhatsApp template the text came from (kept when a message is decided again).
    whatsapp_template: str | None = None


@dataclass
class Prepared:
    """An intent resolved against the database: the engine's inputs plus the rows behind them."""

    contact: Contact
    topic: Topic
    request: SendRequest
    state: ContactState
    policy: Policy
    whatsapp_parameters: list[str] = field(default_factory=list)


def policy_topic(topic: Topic) -> PolicyTopic:
    """The engine's view of a topic row."""
    return PolicyTopic(name=topic.name, kind=TopicKind(topic.kind), urgent=topic.urgent, keyword=topic.keyword)


def resolve_contact(session: Session, workspace: Workspace, intent: OutboundIntent, *, persist: bool) -> Contact:
    """The recipient: by id, or by phone number (created when persisting, else a transient row)."""
    if (intent.contact_id is None) == (intent.to is None):
        raise ProblemError(422, "Invalid request", "give exactly one of contact_id and to", [
            FieldError("contact_id", "give exactly one of contact_id and to"),
        ])
    if intent.contact_id is not None:
        contact = session.get(Contact, intent.contact_id)
        if contact is None or contact.workspace_id != workspace.id:
            raise not_found("contact", intent.contact_id)
        return contact
    return find_or_build_contact_for_phone(session, workspace, intent.to, persist=persist, field="to")


def choose_template(session: Session, workspace: Workspace, name: str, language: str) -> Template:
    """The named template in the wanted language, else the workspace's default language, else any."""
    rows = session.scalars(
        select(Template).where(Template.workspace_id == workspace.id, Template.name == name)
    ).all()
    if not rows:
        raise invalid("template", f"unknown template '{name}'")
    by_language = {row.language: row for row in rows}
    return by_language.get(language) or by_language.get(workspace.default_language) or rows[0]


def template_data(template: Template, intent: OutboundIntent, contact: Contact) -> dict[str, Any]:
    """The values a template sees: the request's data over the contact's own fields."""
    data: dict[str, Any] = {
        "first_name": contact.first_name,
        "name": contact.name,
        "phone": contact.phone,
        **(contact.attributes or {}),
    }
    data = {key: value for key, value in data.items() if value not in (None, "")}
    data.update(intent.data or {})
    return data


def render_intent_text(template: Template, data: dict[str, Any]) -> str:
    """The template rendered with its data, or a 422 naming what is missing or broken."""
    try:
        return render_template(template.body, data, defaults=template.variables or {})
    except UnknownTemplateVariable as error:
        raise invalid("data", str(error)) from error
    except (TemplateSyntaxProblem, TemplateSecurityError, TemplateRenderError) as error:
        raise invalid("template", f"template '{template.name}' cannot be rendered: {error}") from error


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)|\[([^\[\]\n]{1,40})\]")


def whatsapp_parameters(template: Template, data: dict[str, Any]) -> list[str]:
    """The values for an approved WhatsApp template's {{1}}, {{2}} …: the body's variables in order of first use."""
    defaults = template.variables or {}
    names: list[str] = []
    for match in _PLACEHOLDER.finditer(template.body):
        name = match.group(1) or bracket_name(match.group(2))
        if name and name not in names and (name in data or name in defaults):
            names.append(name)
    return [str(data.get(name) if data.get(name) not in (None, "") else defaults.get(name, "")) for name in names]


def prepare(session: Session, workspace: Workspace, intent: OutboundIntent, now: datetime, *, persist: bool,
            exclude_message_id: int | None = None, short_link_base: str | None = None) -> Prepared:
    """Resolve topic, contact and text, and gather the contact's state for the engine."""
    if intent.channel is not None and intent.channel not in ("sms", "whatsapp", "messenger"):
        raise invalid("channel", "channel must be one of sms, whatsapp, messenger")
    topic = find_topic(session, workspace.id, intent.topic)
    if (intent.text is None) == (intent.template is None):
        raise invalid("text", "give exactly one of text and template")
    contact = resolve_contact(session, workspace, intent, persist=persist)
    language = intent.language or contact.language or workspace.default_language
    whatsapp_template = intent.whatsapp_template
    parameters: list[str] = []
    if intent.template is not None:
        template = choose_template(session, workspace, intent.template, language)
        data = template_data(template, intent, contact)
        text = render_intent_text(template, data)
        language = template.language
        if template.whatsapp_name and (template.whatsapp_status or "").upper() == "APPROVED":
            whatsapp_template = template.whatsapp_name
            parameters = whatsapp_parameters(template, data)
    else:
        text = intent.text or ""
        if not text.strip():
            raise invalid("text", "text is empty")
        if intent.language is None:
            # Wording added to the text (brand, opt-out line) must match the text, not the contact.
            language = guess_language(text, contact.language, workspace.default_language)
    policy = with_own_short_links(workspace_policy(workspace), short_link_base)
    state = gather_contact_state(
        session, contact, policy, now,
        channel_kinds=enabled_channel_kinds(session, workspace.id),
        exclude_message_id=exclude_message_id,
    )
    request = SendRequest(
        text=text,
        topic=policy_topic(topic),
        source=intent.source,
        channel=intent.channel,  # type: ignore[arg-type]
        reply=intent.reply,
        whatsapp_template=whatsapp_template,
        language=language,
    )
    return Prepared(contact=contact, topic=topic, request=request, state=state, policy=policy,
                    whatsapp_parameters=parameters)


def check(session: Session, workspace: Workspace, intent: OutboundIntent, now: datetime) -> Decision:
    """The dry run: the decision for this intent at `now`, writing nothing."""
    prepared = prepare(session, workspace, intent, now, persist=False)
    decision = decide(prepared.request, prepared.state, prepared.policy, now)
    session.rollback()  # a dry run leaves no trace, even of autoflushed lookups
    return decision


def pick_channel(rows: list[Channel], country: str | None) -> Channel | None:
    """Among enabled channels of one kind, the one for the contact's country, else a general one, else any."""
    for row in rows:
        if country and country in (row.countries or []):
            return row
    return next((row for row in rows if not row.countries), rows[0] if rows else None)


def channel_for(session: Session, workspace_id: int, kind: str | None, country: str | None) -> Channel | None:
    """The enabled channel of that kind for the contact's country, preferring country-specific ones."""
    if kind is None:
        return None
    rows = session.scalars(
        select(Channel).where(Channel.workspace_id == workspace_id, Channel.kind == kind, Channel.enabled.is_(True))
        .order_by(Channel.id)
    ).all()
    return pick_channel(list(rows), country)


def request_record(prepared: Prepared, intent: OutboundIntent) -> dict[str, Any]:
    """What the dispatcher needs to decide this message again when it falls due."""
    request = prepared.request
    return {
        "channel": intent.channel,
        "reply": request.reply,
        "whatsapp_template": request.whatsapp_template,
        "whatsapp_parameters": prepared.whatsapp_parameters,
        "language": request.language,
    }


def submit(session: Session, workspace: Workspace, intent: OutboundIntent, now: datetime,
           *, not_before: datetime | None = None, short_link_base: str | None = None) -> Message:
    """Decide and write the message row in the caller's transaction; the dispatcher sends it.

    short_link_base: where the text's short links point, so their host counts as the business's own.
    """
    prepared = prepare(session, workspace, intent, now, persist=True, short_link_base=short_link_base)
    decide_at = max(now, not_before) if not_before else now
    decision = decide(prepared.request, prepared.state, prepared.policy, decide_at)
    count_decision(decision)
    return store_decision(session, workspace, prepared, intent, decision, now)


def store_decision(session: Session, workspace: Workspace, prepared: Prepared, intent: OutboundIntent,
                   decision: Decision, now: datetime) -> Message:
    """Insert the outbound message row carrying its decision (the transactional outbox)."""
    contact = prepared.contact
    if contact.id is None:
        session.add(contact)
        session.flush()
    channel = channel_for(session, workspace.id, decision.channel, contact.country)
    status = STATUS_FOR_ACTION[decision.action]
    if decision.action is not Action.REJECT:
        # A scheduled send (decided as of a later moment) waits like a deferred one.
        status = "deferred" if decision.send_at and decision.send_at > now else "pending"
    conversation = touch_conversation_outbound(session, contact, now)
    message = Message(
        workspace_id=workspace.id,
        contact_id=contact.id,
        conversation_id=conversation.id,
        direction="outbound",
        channel_id=channel.id if channel else None,
        channel_kind=decision.channel,
        topic_id=prepared.topic.id,
        source=intent.source.value,
        body=prepared.request.text,
        final_text=decision.final_text,
        decision=decision.as_dict(),
        request=request_record(prepared, intent),
        status=status,
        status_detail=rejection_summary(decision) if decision.action is Action.REJECT else None,
        send_at=decision.send_at,
        segments=decision.segments,
        encoding=decision.encoding,
        created_at=now,
        updated_at=now,
    )
    session.add(message)
    if decision.action is not Action.REJECT:
        contact.last_outbound_at = now
    session.flush()
    return message


def rejection_summary(decision: Decision) -> str:
    """One line saying why a message was refused."""
    refusals = [reason.detail for reason in decision.reasons if reason.verdict.value == "reject"]
    errors = [finding.detail for finding in decision.lint if finding.severity.value == "error"]
    return "; ".join(refusals + errors) or "refused"
