"""Campaigns (O6): create, preview, launch, plan (in batches), pause, resume, and their statistics.

Every message goes through the engine twice: the planner decides it as of the
campaign's start (and again at its throttle slot when that is much later), and the
dispatcher decides it again when it falls due (Source.CAMPAIGN). A campaign never
writes to a contact twice: campaign_recipients is unique per (campaign, contact), and
each batch moves the planning cursor with a compare-and-set in the same transaction
as its rows, so a restart or a second planner cannot plan a batch again.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict, namedtuple
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, Boolean, Text, cast, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from mannerly.config import Settings
from mannerly.contacts.state import contact_time_zones, gather_contact_states
from mannerly.db import WriteGaps
from mannerly.errors import conflict, invalid, not_found
from mannerly.links.service import (
    CODE_LENGTH, LINK_PATH, join_links, links_base_url, new_codes, split_links, with_own_short_links,
)
from mannerly.messages.service import pick_channel, policy_topic
from mannerly.models import (
    Campaign,
    CampaignRecipient,
    Channel,
    ConsentEvent,
    Contact,
    Conversation,
    LinkClick,
    Message,
    Segment,
    ShortLink,
    Template,
    Topic,
    UTCDateTime,
    Workspace,
)
from mannerly.campaigns.planner import DecisionCache, LocalTimeHistogram, SlotTable, exclusion_rule
from mannerly.policy.types import Action, ContactState, Decision, Policy, SendRequest, Source, Verdict
from mannerly.segments.compiler import CompiledFilter
from mannerly.segments.service import compiled_for, count_matching, iter_matching, next_chunk
from mannerly.templates.render import (
    TemplateRenderError,
    TemplateSecurityError,
    TemplateSyntaxProblem,
    UnknownTemplateVariable,
    render_template,
    template_variables,
)
from mannerly.workspaces.service import workspace_policy

# What planning reads of each contact: the engine's state, the template's data, the channel address.
CONTACT_COLUMNS = (
    Contact.id, Contact.phone, Contact.country, Contact.subdivision, Contact.time_zone, Contact.language,
    Contact.first_name, Contact.name, Contact.attributes, Contact.global_opt_out, Contact.night_marketing_consent,
    Contact.prior_relationship_at, Contact.last_inbound_at, Contact.whatsapp_last_inbound_at,
    Contact.messenger_last_inbound_at, Contact.whatsapp_id, Contact.messenger_psid,
)
# Characters of an E.164 number (with "+") that decide its time zones for planning: country code and area
# or mobile prefix. Parsing every number costs ~150 µs, a million of them minutes; see planning_zones.
ZONE_PREFIX = 7
CONTACT_COUNT = len(CONTACT_COLUMNS)
# The same, with the attributes as their JSON text: planning decodes them only for contacts whose attributes
# name a variable of the template (TemplateSet.data); a segment with Python checks needs them decoded.
RAW_ATTRIBUTE_COLUMNS = tuple(cast(column, Text).label("attributes") if column.key == "attributes" else column
                              for column in CONTACT_COLUMNS)
BATCH_SIZE = 5000
PREVIEW_LIMIT = 5000
SAMPLE_TEXTS = 3
MAX_THROTTLE = 100_000
# A throttle slot this much later than the moment the message was decided for is decided again at the slot
# (the window may have closed by then), at most REDECIDE_TRIES times.
REDECIDE_AFTER = timedelta(minutes=30)
REDECIDE_TRIES = 3
# Statuses of the planned messages, as the statistics group them.
QUEUED_STATUSES = ("pending", "deferred", "held", "sending")
LEFT_STATUSES = ("sent", "delivered", "read", "undelivered", "unknown")
DELIVERED_STATUSES = ("delivered", "read")
FAILED_STATUSES = ("failed", "undelivered")
# A paused campaign's unsent messages wait in this status, which the dispatcher never claims.
HELD = "held"
# Replies and opt-outs count for a campaign when they come this soon after its message.
ATTRIBUTION_WINDOW = timedelta(days=7)
TEMPLATE_RULE = "template"
# Stands for every recipient's own code while the engine decides (same length, same characters class).
PLACEHOLDER_CODE = "x" * CODE_LENGTH
# Distinct texts a campaign's per-text caches keep before starting over (texts with a per-contact value never repeat).
TEXT_CACHE_LIMIT = 100_000


# -- create and change ---------------------------------------------------------------------------


def find_campaign(session: Session, workspace_id: int, campaign_id: int) -> Campaign:
    """A campaign of the workspace, or a 404."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.workspace_id != workspace_id:
        raise not_found("campaign", campaign_id)
    return campaign


def list_campaigns(session: Session, workspace_id: int) -> list[Campaign]:
    """The workspace's campaigns, newest first."""
    return list(session.scalars(select(Campaign).where(Campaign.workspace_id == workspace_id)
                                .order_by(Campaign.created_at.desc(), Campaign.id.desc())))


def _topic_id(session: Session, workspace_id: int, name: str) -> int:
    """The id of a topic by name, or a 422."""
    topic_id = session.scalar(select(Topic.id).where(Topic.workspace_id == workspace_id, Topic.name == name))
    if topic_id is None:
        raise invalid("topic", f"unknown topic '{name}'")
    return topic_id


def _check_fields(session: Session, workspace_id: int, values: dict[str, Any]) -> dict[str, Any]:
    """Validated column values from the API/web form fields (topic by name, segment by id)."""
    columns: dict[str, Any] = {}
    if "name" in values:
        name = (values["name"] or "").strip()
        if not name or len(name) > 100:
            raise invalid("name", "a campaign needs a name of at most 100 characters")
        columns["name"] = name
    if "topic" in values:
        columns["topic_id"] = _topic_id(session, workspace_id, values["topic"])
    if "segment_id" in values:
        segment = session.get(Segment, values["segment_id"])
        if segment is None or segment.workspace_id != workspace_id:
            raise invalid("segment_id", f"unknown segment {values['segment_id']}")
        columns["segment_id"] = segment.id
    if "template" in values:
        name = (values["template"] or "").strip()
        found = session.scalar(select(Template.id).where(Template.workspace_id == workspace_id, Template.name == name))
        if found is None:
            raise invalid("template", f"unknown template '{name}'")
        columns["template_name"] = name
    if "channel" in values:
        if values["channel"] not in (None, "sms", "whatsapp", "messenger"):
            raise invalid("channel", "channel must be sms, whatsapp, messenger or empty")
        columns["channel"] = values["channel"]
    if "starts_at" in values:
        starts_at = values["starts_at"]
        if starts_at is not None and (starts_at.tzinfo is None or starts_at.utcoffset() is None):
            raise invalid("starts_at", "give the start time with its UTC offset")
        columns["starts_at"] = starts_at
    if "throttle_per_minute" in values:
        throttle = values["throttle_per_minute"]
        if not isinstance(throttle, int) or isinstance(throttle, bool) or not 1 <= throttle <= MAX_THROTTLE:
            raise invalid("throttle_per_minute", f"between 1 and {MAX_THROTTLE} messages per minute")
        columns["throttle_per_minute"] = throttle
    if "track_links" in values:
        columns["track_links"] = bool(values["track_links"])
    return columns


def create_campaign(session: Session, workspace: Workspace, values: dict[str, Any], now: datetime,
                    actor: str | None = None) -> Campaign:
    """A draft campaign from name, topic, segment_id, template, and optionally channel, starts_at, throttle."""
    for required in ("name", "topic", "segment_id", "template"):
        if values.get(required) in (None, ""):
            raise invalid(required, f"{required} is required")
    columns = _check_fields(session, workspace.id, values)
    if session.scalar(select(Campaign.id).where(Campaign.workspace_id == workspace.id,
                                                Campaign.name == columns["name"])) is not None:
        raise conflict(f"a campaign named '{columns['name']}' already exists")
    campaign = Campaign(workspace_id=workspace.id, status="draft", created_by=actor, created_at=now, updated_at=now,
                        plan_cursor=0, planned_count=0, planning_done=False, **columns)
    campaign.throttle_per_minute = campaign.throttle_per_minute or 60
    campaign.track_links = True if campaign.track_links is None else campaign.track_links
    session.add(campaign)
    session.flush()
    return campaign


def update_campaign(session: Session, campaign: Campaign, values: dict[str, Any], now: datetime) -> Campaign:
    """Change a draft campaign (a running one may only change its throttle)."""
    if campaign.status != "draft" and set(values) - {"throttle_per_minute"}:
        raise conflict("only a draft campaign can be changed (a running one only its throttle)")
    columns = _check_fields(session, campaign.workspace_id, values)
    if "name" in columns:
        clash = session.scalar(select(Campaign.id).where(Campaign.workspace_id == campaign.workspace_id,
                                                         Campaign.name == columns["name"]))
        if clash is not None and clash != campaign.id:
            raise conflict(f"a campaign named '{columns['name']}' already exists")
    for key, value in columns.items():
        setattr(campaign, key, value)
    campaign.updated_at = now
    session.flush()
    return campaign


def delete_campaign(session: Session, campaign: Campaign) -> None:
    """Delete a draft campaign."""
    if campaign.status != "draft":
        raise conflict("only a draft campaign can be deleted; pause or let it finish instead")
    session.delete(campaign)
    session.flush()


# -- what planning and preview share ---------------------------------------------------------------


class TemplateSet:
    """A campaign's template in each language, rendered with a cache keyed by the values it uses."""

    def __init__(self, rows: Sequence[Template], default_language: str) -> None:
        """Index the rows by language and find the variables each one reads."""
        self.by_language = {row.language: row for row in rows}
        self.default = self.by_language.get(default_language) or (rows[0] if rows else None)
        self.names = {row.language: sorted(template_variables(row.body)) for row in rows}
        # How each variable's name looks as a key in attributes' JSON text (escaped, and as PostgreSQL writes it).
        self.keys = {language: tuple({text for name in names for text in (json.dumps(name), f'"{name}"')})
                     for language, names in self.names.items()}
        self.cache: dict[tuple, str | None] = {}

    def data(self, template: Template, row: Any) -> dict[str, Any]:
        """contact_data(row) for this template: attributes read as JSON text are decoded only when they
        hold a key the template reads (otherwise they cannot change the text)."""
        attributes = row.attributes
        if isinstance(attributes, str):
            keys = self.keys[template.language]
            attributes = json.loads(attributes) if any(key in attributes for key in keys) else None
        return contact_data(row, attributes)

    def choose(self, language: str | None) -> Template | None:
        """The template in the contact's language, else the workspace's default language, else any."""
        return self.by_language.get(language or "") or self.default

    def render(self, template: Template, data: dict[str, Any]) -> str | None:
        """The rendered text, or None when this contact's data cannot fill the template."""
        try:
            key = (template.language,) + tuple(_hashable(data.get(name, _MISSING)) for name in
                                               self.names[template.language])
        except TypeError:
            key = None
        if key is not None and key in self.cache:
            return self.cache[key]
        try:
            text: str | None = render_template(template.body, data, defaults=template.variables or {})
        except (UnknownTemplateVariable, TemplateSyntaxProblem, TemplateSecurityError, TemplateRenderError):
            text = None
        if key is not None:
            self.cache[key] = text
        return text


_MISSING = object()


def _hashable(value: Any) -> Any:
    """A cache-key form of a template value (JSON text for lists and dicts)."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return value


def contact_data(row: Any, attributes: dict[str, Any] | None) -> dict[str, Any]:
    """What a template sees of a contact (the same fields as single messages: name, phone, its attributes)."""
    data: dict[str, Any] = {"first_name": row.first_name, "name": row.name, "phone": row.phone,
                            **(attributes or {})}
    return {key: value for key, value in data.items() if value not in (None, "")}


class PlanContact(namedtuple("PlanContactFields", [column.key for column in CONTACT_COLUMNS] + ["zones"])):
    """A contact row as planning uses it: the CONTACT_COLUMNS values plus the zones worked out once.

    gather_contact_states takes `zones` as the state's zones (see plan_zones), so no phone number
    is parsed again. A tuple, so making a million of them is cheap (PlanContact.of).
    """

    __slots__ = ()

    @classmethod
    def of(cls, row: Any, zones: tuple[str, ...]) -> PlanContact:
        """The contact of a row of CONTACT_COLUMNS (columns a segment's Python checks added are left out)."""
        return cls._make((*row[:CONTACT_COUNT], zones))


def plan_zones(contact: PlanContact) -> tuple[str, ...]:
    """The zones planning_zones found for a contact (what gather_contact_states puts in its state)."""
    return contact.zones


def planning_zones(row: Any, cache: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The contact's zones: its explicit zone, else those of its phone number, looked up once per prefix.

    Numbers sharing their first ZONE_PREFIX characters share their zones (same country and
    area or mobile prefix). Planning only schedules: the dispatcher decides each message again
    from the exact contact state when it falls due.
    """
    if row.time_zone:
        return (row.time_zone,)
    if not row.phone:
        return ()
    key = row.phone[:ZONE_PREFIX]
    zones = cache.get(key)
    if zones is None:
        zones = contact_time_zones(row)
        if zones:  # an invalid number says nothing about its neighbours
            cache[key] = zones
    return zones


@dataclass
class CampaignContext:
    """What deciding a campaign's messages needs, loaded once."""

    workspace: Workspace
    campaign: Campaign
    topic: Topic
    policy: Policy
    templates: TemplateSet
    channel_kinds: frozenset[str]
    channels: dict[str, list[Channel]]
    compiled: CompiledFilter
    base_url: str | None
    zone_cache: dict[str, tuple[str, ...]] = field(default_factory=dict)
    channel_choice: dict[tuple[str | None, str | None], Channel | None] = field(default_factory=dict)
    # Per rendered text (see evaluate): the text with a placeholder short link in place of each URL,
    # and the text cut around its URLs (split_links).
    link_splits: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    # One SendRequest per (decided text, language, WhatsApp template).
    requests: dict[tuple[str, str, str | None], SendRequest] = field(default_factory=dict)
    decisions: DecisionCache | None = None

    def __post_init__(self) -> None:
        """One decision cache per campaign and policy."""
        if self.decisions is None:
            self.decisions = DecisionCache(self.policy)

    @property
    def contact_columns(self) -> tuple[Any, ...]:
        """What planning reads of each contact: attributes as JSON text unless the segment's Python checks read them."""
        return CONTACT_COLUMNS if self.compiled.refine else RAW_ATTRIBUTE_COLUMNS

    def plan_contacts(self, rows: Sequence[Any]) -> list[PlanContact]:
        """Rows as PlanContacts with their zones."""
        return [PlanContact.of(row, planning_zones(row, self.zone_cache)) for row in rows]

    def channel_for(self, kind: str | None, country: str | None) -> Channel | None:
        """The channel a message of this kind to this country goes by (worked out once per kind and country)."""
        key = (kind, country)
        if key not in self.channel_choice:
            self.channel_choice[key] = pick_channel(self.channels.get(kind or "", []), country) if kind else None
        return self.channel_choice[key]


def load_context(session: Session, settings: Settings, campaign: Campaign, now: datetime) -> CampaignContext:
    """The topic, policy, templates, channels and compiled segment of a campaign, or a 422 when one is missing."""
    workspace = session.get(Workspace, campaign.workspace_id)
    topic = session.get(Topic, campaign.topic_id) if campaign.topic_id else None
    if topic is None:
        raise invalid("topic", "the campaign's topic was deleted; choose another")
    segment = session.get(Segment, campaign.segment_id) if campaign.segment_id else None
    if segment is None:
        raise invalid("segment_id", "the campaign's segment was deleted; choose another")
    rows = list(session.scalars(select(Template).where(Template.workspace_id == workspace.id,
                                                       Template.name == campaign.template_name)))
    if not rows:
        raise invalid("template", f"the template '{campaign.template_name}' no longer exists")
    channels: dict[str, list[Channel]] = defaultdict(list)
    for channel in session.scalars(select(Channel).where(Channel.workspace_id == workspace.id,
                                                         Channel.enabled.is_(True)).order_by(Channel.id)):
        channels[channel.kind].append(channel)
    base_url = links_base_url(settings, workspace) if campaign.track_links else None
    policy = with_own_short_links(workspace_policy(workspace), base_url)
    return CampaignContext(
        workspace=workspace, campaign=campaign, topic=topic, policy=policy,
        templates=TemplateSet(rows, workspace.default_language), channel_kinds=frozenset(channels),
        channels=channels, compiled=compiled_for(session, workspace.id, segment.filter or {}, now), base_url=base_url,
    )


@dataclass
class Outcome:
    """One contact's result: the text and decision, or the rule that excluded it."""

    row: Any
    text: str | None  # as rendered, links as written
    language: str | None
    decision: Decision | None
    rule: str | None  # set when excluded
    template: Template | None = None
    state: ContactState | None = None  # what the engine knew, kept for deciding again at a later slot
    # The decision's final text (with tracked links: a placeholder code in each short link; the writer
    # puts in the recipient's own codes, see build_rows).
    final_text: str | None = None
    # The text the engine decided (tracked links replaced by placeholder short links), and the rendered
    # text cut around those links (split_links): the pieces between them and their URLs.
    decided_text: str | None = None
    pieces: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()

    @property
    def eligible(self) -> bool:
        """True when the engine lets the message go (now or later)."""
        return self.rule is None


def evaluate(session: Session, context: CampaignContext, rows: Sequence[Any], at: datetime,
             link_base: str | None, seconds: Counter[str] | None = None,
             id_range: tuple[int, int] | None = None) -> list[Outcome]:
    """Render and decide one batch of contacts as of `at` (state gathered in bulk).

    With tracked links (link_base: the short-link base URL) the engine decides the text with a
    placeholder short link of the same length (same segments, same link host), and the
    recipient's own codes are put into the texts when the rows are written: texts then repeat
    across recipients and the engine's per-text work is done once per distinct text.
    """
    started = time.perf_counter()
    contacts = context.plan_contacts(rows)
    states = gather_contact_states(session, contacts, context.policy, at, channel_kinds=context.channel_kinds,
                                   zones_of=plan_zones, id_range=id_range)
    gathered = time.perf_counter()
    topic = policy_topic(context.topic)
    campaign_channel = context.campaign.channel
    # Per template (by id): its language and WhatsApp name, read off the ORM object once per batch.
    facts: dict[int, tuple[str, str | None]] = {}
    outcomes = []
    for contact in contacts:
        template = context.templates.choose(contact.language)
        text = context.templates.render(template, context.templates.data(template, contact)) if template else None
        if text is None:
            outcomes.append(Outcome(contact, None, None, None, TEMPLATE_RULE))
            continue
        decided_text, pieces, urls = text, (text,), ()
        if link_base is not None:
            split = context.link_splits.get(text)
            if split is None:
                pieces, urls = split_links(text, skip_prefix=link_base + LINK_PATH)
                placeholder = link_base + LINK_PATH + PLACEHOLDER_CODE
                if len(context.link_splits) >= TEXT_CACHE_LIMIT:
                    context.link_splits.clear()
                split = context.link_splits[text] = (join_links(pieces, [placeholder] * len(urls)), pieces, urls)
            decided_text, pieces, urls = split
        state = states[contact.id]
        fact = facts.get(id(template))
        if fact is None:
            fact = facts[id(template)] = (template.language, _whatsapp_name(template))
        language, whatsapp = fact
        request = context.requests.get((decided_text, language, whatsapp))
        if request is None:
            if len(context.requests) >= TEXT_CACHE_LIMIT:
                context.requests.clear()
            request = context.requests[(decided_text, language, whatsapp)] = SendRequest(
                text=decided_text, topic=topic, source=Source.CAMPAIGN, channel=campaign_channel,
                whatsapp_template=whatsapp, language=language)
        decision = context.decisions.decide_once(request, state, at)
        rule = exclusion_rule(decision) if decision.action is Action.REJECT else None
        outcomes.append(Outcome(contact, text, language, decision, rule, template, state, decision.final_text,
                                decided_text, pieces, urls))
    if seconds is not None:
        seconds["gather"] += gathered - started
        seconds["decide"] += time.perf_counter() - gathered
    return outcomes


def _with_codes(final_text: str, codes: list[str]) -> str:
    """The final text with each placeholder code replaced by the recipient's codes, in order."""
    for code in codes:
        final_text = final_text.replace(PLACEHOLDER_CODE, code, 1)
    return final_text


def _whatsapp_name(template: Template) -> str | None:
    """The approved WhatsApp template a text comes from, if any."""
    if template.whatsapp_name and (template.whatsapp_status or "").upper() == "APPROVED":
        return template.whatsapp_name
    return None


def start_of(campaign: Campaign, now: datetime) -> datetime:
    """When the campaign starts: its start time, or now when that has passed or is unset."""
    return max(campaign.starts_at, now) if campaign.starts_at else now


def assign_slots(session: Session, context: CampaignContext, outcomes: list[Outcome], table: SlotTable,
                 at: datetime, states_at: dict[int, Any] | None = None) -> dict[int, datetime]:
    """Throttle slots for the eligible outcomes, earliest allowed first; far slots are decided again."""
    eligible = [outcome for outcome in outcomes if outcome.eligible]
    eligible.sort(key=lambda outcome: (outcome.decision.send_at or at, outcome.row.id))
    slots: dict[int, datetime] = {}
    redecide: list[Outcome] = []
    for outcome in eligible:
        earliest = outcome.decision.send_at or at
        slot = table.peek(earliest)
        if needs_new_decision(slot, earliest, outcome.row.zones, context.policy):
            redecide.append(outcome)
            continue
        table.count(slot)  # what take(earliest) does, without looking the slot up again
        slots[outcome.row.id] = slot
    if redecide:
        slots.update(_redecide_late(session, context, redecide, table, at))
    return slots


def needs_new_decision(slot: datetime, earliest: datetime, zones: tuple[str, ...], policy: Policy) -> bool:
    """True when a throttle slot may fall outside what the engine allowed: much later, another local day,
    or outside the policy's daily window in one of the recipient's zones."""
    if slot == earliest:
        return False
    if slot - earliest > REDECIDE_AFTER:
        return True
    for name in zones or ("UTC",):
        zone = _zone(name)
        local = slot.astimezone(zone)
        if local.date() != earliest.astimezone(zone).date():
            return True
        if not policy.window_start <= local.time() < policy.window_end:
            return True
    return False


def _zone(name: str) -> ZoneInfo:
    """A zone by name (UTC when unknown)."""
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _redecide_late(session: Session, context: CampaignContext, outcomes: list[Outcome], table: SlotTable,
                   at: datetime) -> dict[int, datetime]:
    """Decide again, at their slot, messages pushed far past their allowed moment (the window may have closed)."""
    topic = policy_topic(context.topic)
    slots: dict[int, datetime] = {}
    for outcome in outcomes:
        earliest = outcome.decision.send_at or at
        for _ in range(REDECIDE_TRIES):
            candidate = table.peek(earliest)
            request = SendRequest(text=outcome.decided_text or "", topic=topic, source=Source.CAMPAIGN,
                                  channel=context.campaign.channel, whatsapp_template=_whatsapp_name(outcome.template),
                                  language=outcome.language)
            again = context.decisions.decide_once(request, outcome.state, candidate)
            if again.action is Action.REJECT:
                outcome.decision, outcome.rule = again, exclusion_rule(again)
                break
            outcome.decision, outcome.final_text = again, again.final_text
            if again.send_at is None or again.send_at <= candidate:
                break
            earliest = again.send_at
        if outcome.rule is None:
            slots[outcome.row.id] = table.take(max(earliest, outcome.decision.send_at or earliest))
    return slots


# -- preview ---------------------------------------------------------------------------------


@dataclass
class ChannelEstimate:
    """Messages, SMS segments and estimated cost on one channel."""

    channel: str
    messages: int = 0
    segments: int = 0
    cost: float | None = None
    currency: str | None = None


@dataclass
class Preview:
    """What launching would do, computed on all contacts or on an evenly spread sample of them."""

    segment_count: int
    evaluated: int
    sampled: bool
    eligible: int
    excluded: dict[str, int]
    deferred: dict[str, int]  # eligible messages held back (quiet hours, holidays, caps), by rule
    by_hour: list[int]
    by_day: list[tuple[str, int]]
    channels: list[ChannelEstimate]
    samples: list[dict[str, Any]]
    first_send_at: datetime | None
    last_send_at: datetime | None
    starts_at: datetime

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used by the API."""
        return {
            "segment_count": self.segment_count, "evaluated": self.evaluated, "sampled": self.sampled,
            "eligible": self.eligible, "excluded": self.excluded,
            "excluded_total": sum(self.excluded.values()), "deferred": self.deferred,
            "schedule": {"by_local_hour": self.by_hour,
                         "by_local_day": [{"day": day, "messages": count} for day, count in self.by_day],
                         "first_send_at": self.first_send_at.isoformat() if self.first_send_at else None,
                         "last_send_at": self.last_send_at.isoformat() if self.last_send_at else None},
            "channels": [estimate.__dict__ for estimate in self.channels],
            "samples": self.samples, "starts_at": self.starts_at.isoformat(),
        }


def preview_campaign(session: Session, settings: Settings, campaign: Campaign, now: datetime,
                     limit: int = PREVIEW_LIMIT) -> Preview:
    """Eligible and excluded counts (by rule), the local-time schedule, cost per channel and sample texts.

    Above `limit` contacts an evenly spread sample (every k-th id) is decided and the
    counts are scaled up; the answer says so (sampled=true).
    """
    context = load_context(session, settings, campaign, now)
    start = start_of(campaign, now)
    total = count_matching(session, context.compiled)
    step = max(1, -(-total // limit)) if total > limit else 1
    extra = (Contact.id % step == 0) if step > 1 else None
    # A sample stands for `step` contacts each, so its throttle is `step` times tighter.
    table = SlotTable(per_minute=max(1, campaign.throttle_per_minute // step) if step > 1
                      else campaign.throttle_per_minute)
    outcomes: list[Outcome] = []
    slots: dict[int, datetime] = {}
    for rows in iter_matching(session, context.compiled, context.contact_columns, chunk=BATCH_SIZE, extra=extra):
        batch = evaluate(session, context, rows, start, context.base_url)  # a preview makes no codes
        slots.update(assign_slots(session, context, batch, table, start))
        outcomes.extend(batch)
    evaluated = len(outcomes)
    scale = total / evaluated if evaluated else 0.0
    excluded = Counter(outcome.rule for outcome in outcomes if not outcome.eligible)
    deferred: Counter[str] = Counter()
    for outcome in outcomes:
        if outcome.eligible and outcome.decision.action is Action.DEFER:
            deferred.update({reason.rule for reason in outcome.decision.reasons if reason.verdict is Verdict.DEFER})
    histogram = LocalTimeHistogram()
    estimates: dict[str, ChannelEstimate] = {}
    samples: list[dict[str, Any]] = []
    per_language: Counter[str] = Counter()
    for outcome in outcomes:
        if not outcome.eligible:
            continue
        slot = slots[outcome.row.id]
        zones = outcome.row.zones
        histogram.add(slot, zones[0] if zones else None)
        channel = context.channel_for(outcome.decision.channel, outcome.row.country)
        label = channel.name if channel else (outcome.decision.channel or "none")
        estimate = estimates.setdefault(label, ChannelEstimate(channel=label))
        estimate.messages += 1
        estimate.segments += outcome.decision.segments
        price = (channel.config or {}).get("price_per_segment") if channel else None
        if isinstance(price, int | float) and not isinstance(price, bool):
            estimate.cost = (estimate.cost or 0.0) + price * outcome.decision.segments
            estimate.currency = (channel.config or {}).get("currency", "USD")
        if per_language[outcome.language] < SAMPLE_TEXTS:
            per_language[outcome.language] += 1
            samples.append({"contact_id": outcome.row.id, "language": outcome.language,
                            "final_text": outcome.final_text, "segments": outcome.decision.segments,
                            "encoding": outcome.decision.encoding, "send_at": slot.isoformat(),
                            "local_send_at": _local(slot, zones)})
    for estimate in estimates.values():
        estimate.messages = round(estimate.messages * scale)
        estimate.segments = round(estimate.segments * scale)
        if estimate.cost is not None:
            estimate.cost = round(estimate.cost * scale, 2)
    eligible_slots = sorted(slots.values())
    return Preview(
        segment_count=total, evaluated=evaluated, sampled=step > 1,
        eligible=round(sum(1 for outcome in outcomes if outcome.eligible) * scale),
        excluded={rule: round(count * scale) for rule, count in excluded.most_common()},
        deferred={rule: round(count * scale) for rule, count in deferred.most_common()},
        by_hour=[round(count * scale) for count in histogram.hours()],
        by_day=[(day, round(count * scale)) for day, count in histogram.days()],
        channels=sorted(estimates.values(), key=lambda estimate: -estimate.messages),
        samples=samples, first_send_at=eligible_slots[0] if eligible_slots else None,
        last_send_at=eligible_slots[-1] if eligible_slots else None, starts_at=start,
    )


def _local(moment: datetime, zones: tuple[str, ...]) -> str:
    """The moment in the recipient's first zone, ISO with offset."""
    return moment.astimezone(_zone(zones[0])).isoformat() if zones else moment.isoformat()


# -- launch, plan, pause, resume ---------------------------------------------------------------


def launch_campaign(session: Session, settings: Settings, campaign: Campaign, now: datetime) -> Campaign:
    """Start a draft campaign (planning follows in batches); its topic, segment and template must still exist."""
    if campaign.status != "draft":
        raise conflict(f"the campaign is {campaign.status}; only a draft can be launched")
    load_context(session, settings, campaign, now)  # a 422 now rather than a silent failure later
    campaign.status = "running"
    campaign.launched_at = now
    campaign.starts_at = start_of(campaign, now)
    campaign.updated_at = now
    session.flush()
    return campaign


def slot_table_for(session: Session, campaign: Campaign) -> SlotTable:
    """The throttle table of a campaign, rebuilt from the send times already planned (restarts, resumes)."""
    table = SlotTable(per_minute=campaign.throttle_per_minute)
    if campaign.planned_count:
        planned = (select(Message.send_at)
                   .join(CampaignRecipient, CampaignRecipient.message_id == Message.id)
                   .where(CampaignRecipient.campaign_id == campaign.id, Message.status.in_(QUEUED_STATUSES),
                          Message.send_at.is_not(None)))
        for (moment,) in session.execute(planned):
            table.count(moment)
    return table


@dataclass
class PlanResult:
    """What one planning run did."""

    batches: int = 0
    transactions: int = 0  # writing transactions (parallel planning writes a batch in several)
    queued: int = 0
    rejected: int = 0
    skipped: int = 0
    done: bool = False
    excluded: Counter[str] = field(default_factory=Counter)
    # Wall-clock seconds per phase (select, gather, decide, slots, rows, write, commit), for the benchmark.
    seconds: Counter[str] = field(default_factory=Counter)
    # Parallel planning: the worker process's peak memory (KiB, ru_maxrss); None when planned in one process.
    worker_peak_kib: int | None = None


def plan_campaign(sessions: sessionmaker[Session], settings: Settings, campaign_id: int, now: datetime, *,
                  max_batches: int | None = None, batch_size: int = BATCH_SIZE) -> PlanResult:
    """Plan a running campaign batch by batch, each batch in its own transaction, until done or max_batches."""
    result = PlanResult()
    with sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.status != "running":
            return result
        context = load_context(session, settings, campaign, now)
        table = slot_table_for(session, campaign)
        start = start_of(campaign, now)
        while max_batches is None or result.batches < max_batches:
            if not plan_batch(session, context, table, start, now, result, batch_size):
                break
    return result


def plan_batch(session: Session, context: CampaignContext, table: SlotTable, start: datetime, now: datetime,
               result: PlanResult, batch_size: int = BATCH_SIZE) -> bool:
    """Plan the next batch of recipients and commit; False when there is nothing (more) to plan."""
    campaign = context.campaign
    session.refresh(campaign)
    if campaign.status != "running" or campaign.planning_done:
        return False
    cursor = campaign.plan_cursor
    clock = time.perf_counter()
    rows, last_id = next_chunk(session, context.compiled, context.contact_columns, after_id=cursor,
                               chunk=batch_size)
    result.seconds["select"] += time.perf_counter() - clock
    if last_id == cursor:
        _finish_planning(session, campaign, now)
        result.done = True
        return False
    prepared = prepare_batch(session, context, table, start, now, rows, cursor, last_id, result.seconds)
    if not write_prepared(session, campaign.id, prepared, now, result):
        return False
    result.batches += 1
    return True


# The outbox columns a campaign writes, in the order of the tuples build_rows and _write_batch make: the
# decision is put together from its shared part and the recipient's final text, the middle comes from
# prepare_batch (PreparedBatch.entries), the id and the conversation last, from the writing transaction.
MESSAGE_COLUMNS = ("decision", "body", "final_text", "workspace_id", "contact_id", "direction", "channel_id",
                   "channel_kind", "topic_id", "source", "request", "status", "send_at", "attempts", "segments",
                   "encoding", "redacted", "created_at", "updated_at", "id", "conversation_id")
# Recipients and short links: the message id last, from the writing transaction.
RECIPIENT_COLUMNS = ("workspace_id", "campaign_id", "contact_id", "status", "reason", "created_at", "message_id")
LINK_COLUMNS = ("workspace_id", "code", "url", "contact_id", "campaign_id", "automation_id", "click_count",
                "created_at", "message_id")
# Stands for the final text while the rest of a decision's JSON is built (NUL never occurs in a decision).
FINAL_TEXT_MARKER = "\x00final_text\x00"


class StoredForm:
    """Values as the driver takes them: on SQLite the text SQLAlchemy would store, elsewhere Python values."""

    def __init__(self, session: Session) -> None:
        """Read the dialect once."""
        self.sqlite = session.get_bind().dialect.name == "sqlite"
        # Per shared Decision (kept alive here, so its id is not reused): its index in `decisions`.
        self.decision_index: dict[int, tuple[Decision, int]] = {}
        # Each decision's stored form without the final text: on SQLite its JSON before and after the final
        # text, elsewhere as_dict(). with_final_text completes it per recipient.
        self.decisions: list[Any] = []

    def moment(self, value: datetime | None) -> Any:
        """A timestamp column's value."""
        return _sqlite_moment(value) if self.sqlite else value

    def json(self, value: Any) -> Any:
        """A JSON column's value."""
        return json.dumps(value) if self.sqlite and value is not None else value

    def decision_ref(self, decision: Decision) -> int:
        """The index of the decision's stored form in `decisions` (made once per shared Decision)."""
        found = self.decision_index.get(id(decision))
        if found is None:
            if self.sqlite:
                before, _marker, after = json.dumps({**decision.as_dict(), "final_text": FINAL_TEXT_MARKER}).partition(
                    json.dumps(FINAL_TEXT_MARKER))
                self.decisions.append((before, after))
            else:
                self.decisions.append(decision.as_dict())
            found = self.decision_index[id(decision)] = (decision, len(self.decisions) - 1)
        return found[1]

    def with_final_text(self, stored: Any, final_text: str) -> Any:
        """decision.as_dict() with this recipient's final text, from the stored form decision_ref points at."""
        if self.sqlite:
            return stored[0] + json.dumps(final_text) + stored[1]
        return {**stored, "final_text": final_text}


@dataclass
class PreparedBatch:
    """One batch decided, given throttle slots and turned into row values: all that writing it needs.

    Plain values only (it travels between processes in parallel planning). `entries` holds one
    (contact id, message or None, excluding rule or None) per contact. A message is (index into
    `decisions`, final text with placeholder codes, the rendered text's pieces and link URLs as
    split_links cut them, the values of MESSAGE_COLUMNS[3:-2] in stored form). The writer draws the
    link codes and puts them into the texts (build_rows). Texts, pieces and decisions repeat
    across recipients as the same objects, which a pickle sends once.
    """

    after_id: int  # the planning cursor this batch continues from
    last_id: int  # the last contact id the segment query scanned: the cursor after this batch
    entries: list[tuple[int, tuple[Any, ...] | None, str | None]]
    next_slot_at: datetime | None
    decisions: list[Any] = field(default_factory=list)  # StoredForm.decisions
    link_base: str | None = None  # "<short-link base URL>/l/" with tracked links, else None


def prepare_batch(session: Session, context: CampaignContext, table: SlotTable, start: datetime, now: datetime,
                  rows: Sequence[Any], after_id: int, last_id: int, seconds: Counter[str]) -> PreparedBatch:
    """Decide a batch of contact rows (as of `start`), give the eligible ones throttle slots, build their rows."""
    campaign = context.campaign
    outcomes = evaluate(session, context, rows, start, context.base_url, seconds, (after_id, last_id)) if rows else []
    clock = time.perf_counter()
    slots = assign_slots(session, context, outcomes, table, start)
    seconds["slots"] += time.perf_counter() - clock
    clock = time.perf_counter()
    form = StoredForm(session)
    stored_now = form.moment(now)
    workspace_id, topic_id = campaign.workspace_id, context.topic.id
    # The request JSON per (template, language), the channel id per (channel kind, country): made once.
    requests: dict[tuple[int, str | None], Any] = {}
    channel_ids: dict[tuple[str | None, str | None], int | None] = {}
    entries = []
    for outcome in outcomes:
        row = outcome.row
        slot = slots.get(row.id) if outcome.eligible else None
        if slot is None:
            entries.append((row.id, None, outcome.rule or "rejected", ()))
            continue
        decision = outcome.decision
        route = (decision.channel, row.country)
        if route not in channel_ids:
            channel = context.channel_for(*route)
            channel_ids[route] = channel.id if channel else None
        request = requests.get((id(outcome.template), outcome.language))
        if request is None:
            whatsapp = _whatsapp_name(outcome.template)
            request = requests[(id(outcome.template), outcome.language)] = form.json({
                "channel": campaign.channel, "reply": False, "whatsapp_template": whatsapp,
                "whatsapp_parameters": [], "language": outcome.language, "campaign_id": campaign.id})
        message = (form.decision_ref(decision), outcome.final_text, outcome.pieces, outcome.urls, (
            workspace_id, row.id, "outbound", channel_ids[route], decision.channel, topic_id, Source.CAMPAIGN.value,
            request, "deferred" if slot > now else "pending", form.moment(slot), 0, decision.segments,
            decision.encoding, False, stored_now, stored_now,
        ))
        entries.append((row.id, message, None))
    seconds["rows"] += time.perf_counter() - clock
    return PreparedBatch(after_id=after_id, last_id=last_id, entries=entries,
                         next_slot_at=max(slots.values()) if slots else None, decisions=form.decisions,
                         link_base=context.base_url + LINK_PATH if context.base_url else None)


def write_prepared(session: Session, campaign_id: int, prepared: PreparedBatch, now: datetime,
                   result: PlanResult, gaps: WriteGaps | None = None) -> bool:
    """Write a prepared batch and move the cursor past it, in one transaction; False when the cursor moved on.

    The compare-and-set on the cursor makes a second planner (or a restart racing an old
    one), or a pause or cancel in between, write nothing; contacts that already have a
    recipient row of this campaign are left out. The rows are built before the transaction
    starts, so SQLite's write lock is held only for the statements themselves; with `gaps`,
    the transaction leaves other writers a gap before it takes the lock (db.WriteGaps).
    """
    clock = time.perf_counter()
    campaign = session.get(Campaign, campaign_id)
    rows = build_rows(session, campaign, prepared.entries, prepared, now)
    result.seconds["build"] += time.perf_counter() - clock
    if gaps is not None:
        clock = time.perf_counter()
        gaps.before()
        result.seconds["gap"] += time.perf_counter() - clock
    clock = time.perf_counter()
    # The first write: on SQLite the transaction, and the write lock, start here.
    claimed = session.execute(
        update(Campaign).where(Campaign.id == campaign_id, Campaign.plan_cursor == prepared.after_id,
                               Campaign.status == "running")
        .values(plan_cursor=prepared.last_id, updated_at=now).execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        session.rollback()
        return False
    if gaps is not None:
        gaps.began(session)
    already = set(session.scalars(select(CampaignRecipient.contact_id).where(
        CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.contact_id > prepared.after_id,
        CampaignRecipient.contact_id <= prepared.last_id)))
    entries = prepared.entries
    if already:  # rare (rows written by an older planner): build again without those contacts
        entries = [entry for entry in entries if entry[0] not in already]
        rows = build_rows(session, campaign, entries, prepared, now)
    result.skipped += len(prepared.entries) - len(entries)
    queued = _write_batch(session, rows, prepared, now)
    session.execute(update(Campaign).where(Campaign.id == campaign_id).values(
        planned_count=Campaign.planned_count + queued,
        next_slot_at=prepared.next_slot_at if prepared.next_slot_at is not None else Campaign.next_slot_at,
    ).execution_options(synchronize_session=False))
    held = time.perf_counter() - clock
    result.seconds["write"] += held
    clock = time.perf_counter()
    session.commit()
    result.seconds["commit"] += time.perf_counter() - clock
    if gaps is not None:
        gaps.committed(held)
    result.transactions += 1
    result.queued += queued
    result.rejected += len(entries) - queued
    result.excluded.update(entry[2] for entry in entries if entry[2] is not None)
    return True


@dataclass
class BatchRows:
    """The rows of a batch without the values only the writing transaction knows (ids, conversations)."""

    contact_ids: list[int]  # per message row: its contact
    messages: list[tuple[Any, ...]]  # MESSAGE_COLUMNS[:-2]
    recipients: list[tuple[Any, ...]]  # RECIPIENT_COLUMNS[:-1]
    links: list[tuple[int, tuple[Any, ...]]]  # (index of the message row, LINK_COLUMNS[:-1])


def build_rows(session: Session, campaign: Campaign, entries: list[tuple[Any, ...]], prepared: PreparedBatch,
               now: datetime) -> BatchRows:
    """The entries' outbox rows, recipients and short links, short of ids (plain Python, no database access).

    Each tracked link gets a new code here: the texts get the recipient's own short links and the
    decision's final text its codes in place of the placeholders.
    """
    form = StoredForm(session)
    stored_now = form.moment(now)
    workspace_id, campaign_id = campaign.workspace_id, campaign.id
    queued = [entry for entry in entries if entry[1] is not None]
    codes = new_codes(sum(len(entry[1][3]) for entry in queued)) if prepared.link_base else []
    stored, decisions, link_base = form.with_final_text, prepared.decisions, prepared.link_base
    messages = []
    links = []
    for index, (contact_id, (decision, final_text, pieces, urls, rest), _rule) in enumerate(queued):
        body = pieces[0]
        if urls:
            mine = [codes.pop() for _url in urls]
            body = join_links(pieces, [link_base + code for code in mine])
            final_text = _with_codes(final_text, mine)
            links.extend((index, (workspace_id, code, url, contact_id, campaign_id, None, 0, stored_now))
                         for code, url in zip(mine, urls, strict=True))
        messages.append((stored(decisions[decision], final_text), body, final_text) + rest)
    recipients = [(workspace_id, campaign_id, entry[0], "rejected" if entry[1] is None else "queued", entry[2],
                   stored_now) for entry in entries]
    return BatchRows([entry[0] for entry in queued], messages, recipients, links)


def _write_batch(session: Session, rows: BatchRows, prepared: PreparedBatch, now: datetime) -> int:
    """Insert a batch's outbox rows, recipients and short links, and mark their contacts as written to.

    Returns how many messages were queued. Contacts get last_outbound_at = now like any stored
    outbound message (segments such as "last_outbound_at older_than_days 30" must see the campaign).
    """
    contact_ids = rows.contact_ids
    conversations = _conversations_between(session, prepared.after_id, prepared.last_id) if contact_ids else {}
    # Ids reserved up front let one plain executemany write the rows (no RETURNING round trips), as tuples
    # through the table rather than the mapped class: the ORM's per-row bookkeeping is not needed.
    ids = reserve_ids(session, Message.__table__, len(contact_ids)) if contact_ids else []
    insert_rows(session, Message.__table__, MESSAGE_COLUMNS, [
        row + (message_id, conversations.get(contact_id))
        for row, contact_id, message_id in zip(rows.messages, contact_ids, ids, strict=True)])
    message_ids = dict(zip(contact_ids, ids, strict=True))
    insert_rows(session, CampaignRecipient.__table__, RECIPIENT_COLUMNS,
                [row + (message_ids.get(row[2]),) for row in rows.recipients])
    insert_rows(session, ShortLink.__table__, LINK_COLUMNS, [row + (ids[index],) for index, row in rows.links])
    touch_last_outbound(session, contact_ids, now)
    return len(contact_ids)


def touch_last_outbound(session: Session, contact_ids: list[int], now: datetime) -> None:
    """Set contacts' last_outbound_at to now (as storing any outbound message does)."""
    if not contact_ids:
        return
    if session.get_bind().dialect.name == "sqlite":
        stored = _sqlite_moment(now)
        session.connection().exec_driver_sql("UPDATE contacts SET last_outbound_at = ? WHERE id = ?",
                                             [(stored, contact_id) for contact_id in contact_ids])
        return
    for start in range(0, len(contact_ids), BATCH_SIZE):
        session.execute(update(Contact).where(Contact.id.in_(contact_ids[start:start + BATCH_SIZE]))
                        .values(last_outbound_at=now).execution_options(synchronize_session=False))


def insert_rows(session: Session, table: Any, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert tuples of `columns` values (in StoredForm) with one executemany.

    On SQLite the tuples go to the driver as they are: SQLAlchemy's per-value processing
    costs several times the insert itself at a million rows. PostgreSQL goes through
    SQLAlchemy Core.
    """
    if not rows:
        return
    if session.get_bind().dialect.name == "sqlite":
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
        session.connection().exec_driver_sql(sql, rows)
        return
    session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])


def bulk_insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert many rows given as dicts with one executemany (values converted to SQLite's stored form there)."""
    if not rows:
        return
    columns = [column for column in table.columns if column.key in rows[0]]
    if session.get_bind().dialect.name == "sqlite":
        converters = [_sqlite_converter(column) for column in columns]
        values = [tuple(convert(row[column.key]) for column, convert in zip(columns, converters, strict=True))
                  for row in rows]
    else:
        values = [tuple(row[column.key] for column in columns) for row in rows]
    insert_rows(session, table, [column.name for column in columns], values)


def _sqlite_converter(column: Any) -> Any:
    """How one column's Python value is stored by SQLite (as SQLAlchemy itself would store it)."""
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return _sqlite_moment
    if isinstance(kind, JSON):
        return lambda value: None if value is None else json.dumps(value)
    if isinstance(kind, Boolean):
        return lambda value: None if value is None else int(value)
    return lambda value: value


def _sqlite_moment(value: datetime | None) -> str | None:
    """An aware datetime as SQLAlchemy stores it on SQLite: naive UTC text with microseconds."""
    if value is None:
        return None
    # isoformat writes the same text as strftime("%Y-%m-%d %H:%M:%S.%f") (and pads the year to four
    # digits, as SQLAlchemy does) at about half the cost; the "+00:00" it adds is cut off.
    return (value if value.tzinfo is UTC else value.astimezone(UTC)).isoformat(" ", "microseconds")[:26]


def reserve_ids(session: Session, table: Any, count: int) -> list[int]:
    """`count` new primary keys for a table, inside the caller's transaction.

    PostgreSQL hands them out from the table's sequence. SQLite has one writer at a time
    and this transaction already writes (the planning cursor), so the keys after the
    current largest one are ours until the commit.
    """
    if session.get_bind().dialect.name == "postgresql":
        sequence = session.scalar(select(func.pg_get_serial_sequence(table.name, "id")))
        return list(session.scalars(select(func.nextval(sequence)).select_from(func.generate_series(1, count))))
    largest = session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0
    return list(range(largest + 1, largest + 1 + count))


def _conversations_between(session: Session, after_id: int, last_id: int) -> dict[int, int]:
    """The existing conversation of each contact with an id in (after_id, last_id], one range read of the
    unique contact index (campaigns open none: a million new threads would bury the inbox)."""
    return dict(session.execute(select(Conversation.contact_id, Conversation.id).where(
        Conversation.contact_id > after_id, Conversation.contact_id <= last_id)).all())


def _finish_planning(session: Session, campaign: Campaign, now: datetime) -> None:
    """Mark planning done (and the campaign completed when nothing is left to send)."""
    session.execute(update(Campaign).where(Campaign.id == campaign.id, Campaign.status == "running")
                    .values(planning_done=True, updated_at=now).execution_options(synchronize_session=False))
    session.commit()
    session.refresh(campaign)
    complete_if_finished(session, campaign, now)


def campaign_messages(campaign_id: int):
    """The ids of a campaign's messages, as a subquery."""
    return select(CampaignRecipient.message_id).where(CampaignRecipient.campaign_id == campaign_id,
                                                      CampaignRecipient.message_id.is_not(None))


def complete_if_finished(session: Session, campaign: Campaign, now: datetime) -> bool:
    """A running campaign whose planning is done and whose messages all left (or were refused) is completed."""
    if campaign.status != "running" or not campaign.planning_done:
        return False
    waiting = session.scalar(select(Message.id).where(Message.id.in_(campaign_messages(campaign.id)),
                                                      Message.status.in_(QUEUED_STATUSES)).limit(1))
    if waiting is not None:
        return False
    campaign.status = "completed"
    campaign.completed_at = now
    campaign.updated_at = now
    session.commit()
    return True


def pause_campaign(session: Session, campaign: Campaign, now: datetime) -> int:
    """Stop planning and hold every unsent message (those a worker is handing off now still go); returns how many."""
    if campaign.status != "running":
        raise conflict(f"the campaign is {campaign.status}; only a running campaign can be paused")
    held = session.execute(
        update(Message)
        .where(Message.id.in_(campaign_messages(campaign.id)), Message.status.in_(("pending", "deferred")),
               (Message.lease_until.is_(None)) | (Message.lease_until < now))
        .values(status=HELD, status_detail="campaign paused", updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    campaign.status = "paused"
    campaign.paused_at = now
    campaign.updated_at = now
    session.flush()
    return held


def resume_campaign(session: Session, campaign: Campaign, now: datetime) -> int:
    """Continue a paused campaign: held messages get new throttle slots from now on; returns how many."""
    if campaign.status != "paused":
        raise conflict(f"the campaign is {campaign.status}; only a paused campaign can be resumed")
    table = SlotTable(per_minute=campaign.throttle_per_minute)
    rows = session.execute(select(Message.id, Message.send_at).where(
        Message.id.in_(campaign_messages(campaign.id)), Message.status == HELD).order_by(Message.send_at, Message.id)
    ).all()
    changes = []
    for row in rows:
        slot = table.take(max(row.send_at or now, now))
        changes.append({"id": row.id, "status": "deferred" if slot > now else "pending", "send_at": slot,
                        "status_detail": None, "updated_at": now})
    for start in range(0, len(changes), BATCH_SIZE):
        session.execute(update(Message), changes[start:start + BATCH_SIZE])
    campaign.status = "running"
    campaign.paused_at = None
    campaign.updated_at = now
    session.flush()
    return len(changes)


def cancel_campaign(session: Session, campaign: Campaign, now: datetime) -> int:
    """Stop a running or paused campaign for good: its unsent messages are refused; returns how many."""
    if campaign.status not in ("running", "paused"):
        raise conflict(f"the campaign is {campaign.status}; only a running or paused campaign can be cancelled")
    cancelled = session.execute(
        update(Message)
        .where(Message.id.in_(campaign_messages(campaign.id)), Message.status.in_(("pending", "deferred", HELD)),
               (Message.lease_until.is_(None)) | (Message.lease_until < now))
        .values(status="rejected", status_detail="campaign cancelled", updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    campaign.status = "cancelled"
    campaign.completed_at = now
    campaign.updated_at = now
    session.flush()
    return cancelled


def plan_running_campaigns(sessions: sessionmaker[Session], settings: Settings, now: datetime, *,
                           max_batches: int = 1, batch_size: int | None = None) -> int:
    """One worker pass: a few batches of every running campaign (all of a large one, in parallel when
    possible: see campaigns.parallel), and completion checks; returns batches planned."""
    with sessions() as session:
        ids = list(session.scalars(select(Campaign.id).where(Campaign.status == "running").order_by(Campaign.id)))
    from mannerly.campaigns.parallel import plan_pass  # it builds on this module

    planned = 0
    for campaign_id in ids:
        result = plan_pass(sessions, settings, campaign_id, now, max_batches=max_batches, batch_size=batch_size)
        planned += result.batches
        with sessions() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is not None:
                complete_if_finished(session, campaign, now)
    return planned


# -- statistics --------------------------------------------------------------------------------


@dataclass
class CampaignStats:
    """What a campaign did so far, in total and per day (UTC)."""

    recipients: int
    queued: int
    sent: int
    delivered: int
    failed: int
    rejected: int
    excluded: dict[str, int]
    replies: int
    opt_outs: int
    clicks: int
    unique_clicks: int
    daily: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used by the API."""
        return dict(self.__dict__)


def campaign_stats(session: Session, campaign: Campaign) -> CampaignStats:
    """Sent, delivered, failed, replies, opt-outs and clicks, in total and per day."""
    by_status = dict(session.execute(
        select(Message.status, func.count()).where(Message.id.in_(campaign_messages(campaign.id)))
        .group_by(Message.status)).all())
    excluded = dict(session.execute(
        select(CampaignRecipient.reason, func.count()).where(CampaignRecipient.campaign_id == campaign.id,
                                                             CampaignRecipient.status == "rejected")
        .group_by(CampaignRecipient.reason)).all())
    recipients = int(session.scalar(select(func.count()).select_from(CampaignRecipient)
                                     .where(CampaignRecipient.campaign_id == campaign.id)) or 0)
    daily: dict[str, Counter[str]] = defaultdict(Counter)
    sent_rows = session.execute(
        select(Message.contact_id, Message.sent_at, Message.delivered_at, Message.status)
        .where(Message.id.in_(campaign_messages(campaign.id)), Message.sent_at.is_not(None))).all()
    first_sent: dict[int, datetime] = {}
    for contact_id, sent_at, delivered_at, status in sent_rows:
        daily[sent_at.date().isoformat()]["sent"] += 1
        first_sent[contact_id] = min(sent_at, first_sent.get(contact_id, sent_at))
        if delivered_at is not None and status in DELIVERED_STATUSES:
            daily[delivered_at.date().isoformat()]["delivered"] += 1
        if status in FAILED_STATUSES:
            daily[sent_at.date().isoformat()]["failed"] += 1
    replies = _attributed(session, first_sent, _inbound_times, "replies", daily)
    opt_outs = _attributed(session, first_sent, _opt_out_times(campaign.topic_id), "opt_outs", daily)
    clicks = 0
    unique = 0
    for (clicked_at, link_id) in session.execute(
            select(LinkClick.clicked_at, LinkClick.short_link_id).join(ShortLink, ShortLink.id == LinkClick.short_link_id)
            .where(ShortLink.campaign_id == campaign.id)):
        clicks += 1
        daily[clicked_at.date().isoformat()]["clicks"] += 1
    unique = int(session.scalar(select(func.count(func.distinct(ShortLink.contact_id))).where(
        ShortLink.campaign_id == campaign.id, ShortLink.click_count > 0)) or 0)
    return CampaignStats(
        recipients=recipients,
        queued=sum(by_status.get(status, 0) for status in QUEUED_STATUSES),
        sent=sum(by_status.get(status, 0) for status in LEFT_STATUSES),
        delivered=sum(by_status.get(status, 0) for status in DELIVERED_STATUSES),
        failed=sum(by_status.get(status, 0) for status in FAILED_STATUSES),
        rejected=by_status.get("rejected", 0), excluded=excluded, replies=replies, opt_outs=opt_outs,
        clicks=clicks, unique_clicks=unique,
        daily=[{"day": day, **{key: counts.get(key, 0) for key in
                               ("sent", "delivered", "failed", "replies", "opt_outs", "clicks")}}
               for day, counts in sorted(daily.items())],
    )


def _inbound_times(session: Session, contact_ids: list[int]) -> Iterable[tuple[int, datetime]]:
    """(contact id, time) of inbound messages from these contacts."""
    return session.execute(select(Message.contact_id, Message.created_at).where(
        Message.contact_id.in_(contact_ids), Message.direction == "inbound")).all()


def _opt_out_times(topic_id: int | None):
    """A reader of (contact id, time) of opt-outs from the campaign's topic or from everything."""
    def read(session: Session, contact_ids: list[int]) -> Iterable[tuple[int, datetime]]:
        """Opt-out events of these contacts."""
        topic_match = ConsentEvent.topic_id.is_(None) if topic_id is None else \
            (ConsentEvent.topic_id.is_(None)) | (ConsentEvent.topic_id == topic_id)
        return session.execute(select(ConsentEvent.contact_id, ConsentEvent.occurred_at).where(
            ConsentEvent.contact_id.in_(contact_ids), ConsentEvent.status == "opted_out", topic_match)).all()
    return read


def _attributed(session: Session, first_sent: dict[int, datetime], reader, key: str,
                daily: dict[str, Counter[str]]) -> int:
    """Contacts with at least one event within the attribution window after their campaign message."""
    contacts = list(first_sent)
    counted: set[int] = set()
    for start in range(0, len(contacts), 500):
        for contact_id, moment in reader(session, contacts[start:start + 500]):
            sent_at = first_sent[contact_id]
            if contact_id not in counted and sent_at <= moment <= sent_at + ATTRIBUTION_WINDOW:
                counted.add(contact_id)
                daily[moment.date().isoformat()][key] += 1
    return len(counted)
