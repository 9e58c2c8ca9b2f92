"""Gather what the engine needs to know about contacts (the 'gather state' step), one query per table.

The dispatcher gathers the state of a whole batch at once; the API path gathers
one contact through the same function, so both see the same facts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Row, func, or_, select
from sqlalchemy.orm import Session

from mannerly.kit.phones import InvalidPhoneNumber, parse_phone
from mannerly.models import Channel, Consent, ConsentEvent, Contact, Message, Topic
from mannerly.policy.types import ConsentStatus, ContactState, Policy, SentRecord, Source, TopicKind

# Outbound statuses that count as "sent or about to be sent" for caps and duplicates.
COUNTED_STATUSES = ("pending", "deferred", "sending", "sent", "delivered", "read", "unknown", "queued")
# Large IN lists are split so every database accepts them.
CHUNK = 500
# The contact columns build_state and the dispatcher's addressing read: loading these as plain rows
# skips building ORM objects (and decoding the JSON attributes and tags), a large share of a batch.
STATE_COLUMNS = (
    Contact.id, Contact.workspace_id, Contact.phone, Contact.country, Contact.subdivision, Contact.time_zone,
    Contact.language, Contact.first_name, Contact.global_opt_out, Contact.night_marketing_consent,
    Contact.prior_relationship_at, Contact.last_inbound_at, Contact.whatsapp_last_inbound_at,
    Contact.messenger_last_inbound_at, Contact.messenger_psid, Contact.whatsapp_id,
)


@lru_cache(maxsize=65536)
def phone_time_zones(phone: str) -> tuple[str, ...]:
    """The time zones of a phone number (cached: parsing is the costly part of gathering state)."""
    try:
        return parse_phone(phone).time_zones
    except InvalidPhoneNumber:
        return ()


def contact_time_zones(contact: Contact | Row) -> tuple[str, ...]:
    """The contact's explicit zone, else the zones of its phone number, else none."""
    if contact.time_zone:
        return (contact.time_zone,)
    return phone_time_zones(contact.phone) if contact.phone else ()


def enabled_channel_kinds(session: Session, workspace_id: int) -> frozenset[str]:
    """The channel kinds the workspace can send on."""
    rows = session.scalars(
        select(Channel.kind).where(Channel.workspace_id == workspace_id, Channel.enabled.is_(True))
    )
    return frozenset(rows)


def contact_addresses(contact: Contact | Row) -> frozenset[str]:
    """The channel kinds the contact has an address on."""
    return ADDRESS_KINDS[(bool(contact.phone), bool(contact.whatsapp_id), bool(contact.messenger_psid))]


# The channel kinds for each combination of (phone, WhatsApp id, Messenger id) being set: made once.
ADDRESS_KINDS = {
    (phone, whatsapp, messenger): frozenset(kind for kind, present in
                                            (("sms", phone), ("whatsapp", whatsapp), ("messenger", messenger))
                                            if present)
    for phone in (False, True) for whatsapp in (False, True) for messenger in (False, True)
}
CONSENT_STATUSES = {status.value: status for status in ConsentStatus}
# A planning batch whose ids span at most this many times its size is read by id range (see gather_contact_states).
RANGE_SPREAD = 2


@lru_cache(maxsize=256)
def _reachable(addresses: frozenset[str], channel_kinds: frozenset[str]) -> frozenset[str]:
    """The channel kinds a contact can get: where it has an address and the workspace has a channel."""
    return addresses & channel_kinds


def _chunks(values: list[int]) -> Iterable[list[int]]:
    """Slices of at most CHUNK values."""
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def lookback_for(policy: Policy) -> timedelta:
    """How far back outbound history matters to the caps and the duplicate rule."""
    return max(policy.marketing_cap_period, policy.duplicate_window, timedelta(days=1))


def gather_contact_states(
    session: Session,
    contacts: Sequence[Contact | Row],
    policy: Policy,
    now: datetime,
    *,
    channel_kinds: frozenset[str],
    exclude_message_ids: Iterable[int] = (),
    zones_of: Callable[[Contact], tuple[str, ...]] = contact_time_zones,
    id_range: tuple[int, int] | None = None,
) -> dict[int, ContactState]:
    """The engine's ContactState for each persisted contact (ORM object or row of STATE_COLUMNS), by id, with a fixed number of queries per chunk.

    id_range (low, high): every contact has an id in (low, high], as in a planning batch. When
    those ids are dense (the range at most RANGE_SPREAD times the number of contacts) each table
    is read once by that range instead of once per CHUNK ids; rows of other contacts in the
    range are ignored.
    """
    ids = [contact.id for contact in contacts if contact.id is not None]
    excluded = list(exclude_message_ids)
    consents: dict[int, dict[str, ConsentStatus]] = defaultdict(dict)
    recent: dict[int, list[SentRecord]] = defaultdict(list)
    contacted: set[int] = set()
    opted_in: set[int] = set()
    auto_replies: dict[int, datetime | None] = {}
    since = now - lookback_for(policy)
    if id_range is not None and ids and id_range[1] - id_range[0] <= RANGE_SPREAD * len(ids):
        low, high = id_range
        groups: list[Callable[[Any], Any]] = [lambda column: (column > low) & (column <= high)]
        # With a range instead of a list of ids, SQLite would read every message of these statuses through
        # the (status, send_at) index; "status || ''" has no index, so it reads by (contact_id, status).
        counted = Message.status.concat("").in_(COUNTED_STATUSES)
    else:
        groups = [lambda column, chunk=chunk: column.in_(chunk) for chunk in _chunks(ids)]
        counted = Message.status.in_(COUNTED_STATUSES)
    for among in groups:
        for contact_id, name, status in session.execute(
            select(Consent.contact_id, Topic.name, Consent.status)
            .join(Topic, Topic.id == Consent.topic_id)
            .where(among(Consent.contact_id))
        ):
            consents[contact_id][name] = CONSENT_STATUSES[status]
        recent_query = (
            select(Message.contact_id, Message.created_at, Message.send_at, Message.sent_at, Message.final_text,
                   Message.source, Topic.kind)
            .outerjoin(Topic, Topic.id == Message.topic_id)
            .where(
                among(Message.contact_id),
                Message.direction == "outbound",
                counted,
                # Means "send_at >= since OR created_at >= since". Written plainly, SQLite ORs the
                # (status, send_at) index with the contact index and reads every queued message once
                # per chunk (planning a campaign grew quadratic); the coalesce term has no index, so
                # SQLite reads the chunk's messages through (contact_id, status) instead.
                or_(func.coalesce(Message.send_at, Message.created_at) >= since, Message.created_at >= since),
            )
        )
        if excluded:
            recent_query = recent_query.where(Message.id.not_in(excluded))
        for contact_id, created_at, send_at, sent_at, final_text, source, kind in session.execute(recent_query):
            recent[contact_id].append(SentRecord(
                # A message counts from when it went, or from when it is due to go.
                at=sent_at or send_at or created_at,
                final_text=final_text or "",
                topic_kind=TopicKind(kind) if kind else TopicKind.TRANSACTIONAL,
                source=Source(source) if source in Source._value2member_map_ else Source.API,
            ))
        earlier = select(Message.contact_id).where(
            among(Message.contact_id), Message.direction == "outbound", counted,
        )
        if excluded:
            earlier = earlier.where(Message.id.not_in(excluded))
        contacted.update(session.scalars(earlier.distinct()))
        opted_in.update(session.scalars(
            select(ConsentEvent.contact_id)
            .where(among(ConsentEvent.contact_id), ConsentEvent.status == "opted_in").distinct()
        ))
        # The last automatic reply, from the messages themselves: a reply being decided again
        # at dispatch must not count against itself.
        auto_query = select(Message.contact_id, func.max(Message.created_at)).where(
            among(Message.contact_id), Message.direction == "outbound", Message.source == Source.AUTO_REPLY.value,
            counted,
        ).group_by(Message.contact_id)
        if excluded:
            auto_query = auto_query.where(Message.id.not_in(excluded))
        auto_replies.update((contact_id, last) for contact_id, last in session.execute(auto_query))
    states: dict[int, ContactState] = {}
    for contact in contacts:
        states[contact.id] = build_state(
            contact, channel_kinds=channel_kinds, consents=consents.get(contact.id, {}),
            recent=tuple(recent.get(contact.id, ())), has_opt_in=contact.id in opted_in,
            contacted_before=contact.id in contacted, last_auto_reply_at=auto_replies.get(contact.id),
            time_zones=zones_of(contact),
        )
    return states


def build_state(contact: Contact | Row, *, channel_kinds: frozenset[str], consents: dict[str, ConsentStatus] | None = None,
                recent: tuple[SentRecord, ...] = (), has_opt_in: bool = False, contacted_before: bool = False,
                last_auto_reply_at: datetime | None = None, time_zones: tuple[str, ...] | None = None) -> ContactState:
    """A ContactState from a contact row and the facts gathered about it (zones from the contact unless given)."""
    return ContactState(
        phone=contact.phone,
        country=contact.country,
        subdivision=contact.subdivision,
        time_zones=contact_time_zones(contact) if time_zones is None else time_zones,
        language=contact.language or "en",
        first_name=contact.first_name,
        global_opt_out=bool(contact.global_opt_out),
        consents=consents or {},
        night_marketing_consent=bool(contact.night_marketing_consent),
        prior_relationship=contact.prior_relationship_at is not None or has_opt_in,
        last_inbound_at=contact.last_inbound_at,
        whatsapp_last_inbound_at=contact.whatsapp_last_inbound_at,
        messenger_last_inbound_at=contact.messenger_last_inbound_at,
        reachable=_reachable(contact_addresses(contact), channel_kinds),
        recent_outbound=recent,
        last_auto_reply_at=last_auto_reply_at,
        contacted_before=contacted_before or bool(recent),
    )


def gather_contact_state(
    session: Session,
    contact: Contact,
    policy: Policy,
    now: datetime,
    *,
    channel_kinds: frozenset[str],
    exclude_message_id: int | None = None,
) -> ContactState:
    """Build the engine's ContactState for one contact (a new, unsaved contact has no history)."""
    if contact.id is None:
        return build_state(contact, channel_kinds=channel_kinds)
    excluded = [exclude_message_id] if exclude_message_id is not None else []
    return gather_contact_states(session, [contact], policy, now, channel_kinds=channel_kinds,
                                 exclude_message_ids=excluded)[contact.id]
