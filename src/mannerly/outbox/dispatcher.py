"""The dispatcher: claim due outbound rows, decide again, hand each to its provider once, record the result.

Hand-off-once protocol:
1. claim: due rows get a lease (`lease_until`) so no other worker takes them;
2. decide again with fresh state (a STOP stored since queueing wins; deferred
   messages are re-checked at their due time);
3. mark the row `sending` and commit, before any I/O;
4. call the adapter; record `sent`/`queued`, `failed`, or `unknown` (the
   request left but no answer came: never resent, reconciled later);
5. a row found in `sending` with an expired lease belonged to a worker that
   died mid hand-off: it becomes `unknown`, is reconciled where the provider
   can be asked, and is never resent blindly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, or_, select, update
from sqlalchemy.orm import Session

from mannerly.channels.base import InboundMessage, OutboundMessage, SendResult, advance_status
from mannerly.config import Settings
from mannerly.contacts.state import STATE_COLUMNS, gather_contact_states
from mannerly.db import insert_many, serialize_writes, update_by_id
from mannerly.inbound.queue import QUEUE_BATCH_SIZE, apply_queued
from mannerly.inbound.pipeline import (
    apply_provider_effect,
    apply_status_update,
    apply_status_updates,
    receive_message,
)
from mannerly.links.service import links_base_url, with_own_short_links
from mannerly.messages.service import pick_channel, policy_topic, rejection_summary
from mannerly.models import (
    Channel,
    Consent,
    Contact,
    Message,
    MessageStatusEvent,
    ProviderExchange,
    Topic,
    Workspace,
)
from mannerly.observability import DISPATCH_PASS_SECONDS, HANDOFFS, count_decision
from mannerly.policy.engine import decide
from mannerly.policy.types import Topic as PolicyTopic
from mannerly.policy.types import (
    Action,
    ConsentStatus,
    ContactState,
    Policy,
    SendRequest,
    SentRecord,
    Source,
    TopicKind,
)
from mannerly.runtime import Runtime
from mannerly.workspaces.service import workspace_policy

log = logging.getLogger(__name__)

DUE_STATUSES = ("pending", "deferred")
# What deciding a due message again reads from its row.
DUE_COLUMNS = (Message.id, Message.workspace_id, Message.contact_id, Message.topic_id, Message.source, Message.body,
               Message.request)
# Retries of refusals that said "try later" (429, 5xx before acceptance).
RETRY_BASE = timedelta(seconds=2)
RETRY_MAX = timedelta(minutes=10)
MESSAGE_VALIDITY = timedelta(hours=24)
RECONCILE_INTERVAL = timedelta(minutes=1)
# A batch is handed off one channel at a time, and a slow provider may take long: a row in
# `sending` is presumed abandoned only after ten leases (it then becomes `unknown`, never resent).
SENDING_LEASE_FACTOR = 10
# A batch (claim to recorded results) that takes longer than this stops the batch from growing: the pass
# also applies receipts and queued webhooks (a STOP among them), which should not wait much longer.
BATCH_TIME_BUDGET_SECONDS = 1.0
# The error code of a message not handed off because its contact opted out after it was decided.
OPTED_OUT_BEFORE_HANDOFF = "opted_out_before_handoff"


@dataclass
class DispatchStats:
    """What one pass of the dispatcher did."""

    claimed: int = 0
    sent: int = 0
    deferred: int = 0
    rejected: int = 0
    failed: int = 0
    unknown: int = 0
    retried: int = 0
    receipts: int = 0
    inbound: int = 0
    recovered: int = 0
    reconciled: int = 0
    automations_fired: int = 0
    campaign_batches: int = 0
    webhook_events: int = 0
    errors: list[str] = field(default_factory=list)

    def busy(self, batch_size: int) -> bool:
        """True when this pass found a full batch of work, so the next pass should start at once."""
        return self.claimed >= batch_size or self.webhook_events >= QUEUE_BATCH_SIZE


@dataclass
class Handoff:
    """One message ready for its provider: the row's id, the channel and what the adapter gets."""

    message_id: int
    workspace_id: int
    channel: Channel
    outbound: OutboundMessage
    contact_id: int = 0
    topic_id: int | None = None
    # Whether the contact had opted out (globally or of the topic) when the message was decided: the
    # opt-out confirmation is decided that way on purpose, and is not stopped by the check at hand-off.
    opted_out_when_decided: bool = False
    # When the request was about to leave (after the last opt-out check); the message's sent_at.
    started: datetime | None = None


@dataclass
class InFlight:
    """One channel's hand-off once started: its messages and how to get their results (waiting if need be)."""

    group: list[Handoff]
    results: Callable[[], list[SendResult]]
    # Whether the adapter sends in the background (results() may wait); the dispatcher decides meanwhile.
    background: bool = False


@dataclass
class BatchContext:
    """Everything a batch's decisions need, loaded with a fixed number of queries."""

    session: Session
    workspaces: dict[int, Workspace]
    policies: dict[int, Policy]
    topics: dict[int, Topic]
    channels: dict[int, list[Channel]]
    contacts: dict[int, Row]  # rows of contacts.state.STATE_COLUMNS
    states: dict[int, ContactState]
    # Worked out once per batch rather than per message: the engine's topics, channel choices, channel configs.
    policy_topics: dict[int, PolicyTopic] = field(default_factory=dict)
    chosen_channels: dict[tuple[int, str | None, str | None], Channel | None] = field(default_factory=dict)
    channel_configs: dict[int, dict] = field(default_factory=dict)
    # What earlier messages of this batch handed to each contact: later ones see them (caps, duplicates).
    sent_in_batch: dict[int, tuple[SentRecord, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, settings: Settings, messages: Sequence[Any], now: datetime) -> BatchContext:
        """Load the workspaces, topics, channels, contacts and contact states behind a batch."""
        workspace_ids = {message.workspace_id for message in messages}
        workspaces = {row.id: row for row in session.scalars(select(Workspace).where(Workspace.id.in_(workspace_ids)))}
        policies = {workspace_id: with_own_short_links(workspace_policy(row), links_base_url(settings, row))
                    for workspace_id, row in workspaces.items()}
        topic_ids = {message.topic_id for message in messages if message.topic_id is not None}
        topics = {row.id: row for row in session.scalars(select(Topic).where(Topic.id.in_(topic_ids)))}
        channels: dict[int, list[Channel]] = defaultdict(list)
        for row in session.scalars(select(Channel).where(Channel.workspace_id.in_(workspace_ids),
                                                         Channel.enabled.is_(True)).order_by(Channel.id)):
            channels[row.workspace_id].append(row)
        contact_ids = {message.contact_id for message in messages}
        contacts = {row.id: row for row in session.execute(
            select(*STATE_COLUMNS).where(Contact.id.in_(contact_ids)))}
        states: dict[int, ContactState] = {}
        excluded = [message.id for message in messages]
        for workspace_id in workspace_ids:
            members = [contacts[m.contact_id] for m in messages if m.workspace_id == workspace_id]
            kinds = frozenset(row.kind for row in channels[workspace_id])
            states.update(gather_contact_states(session, list({c.id: c for c in members}.values()),
                                                policies[workspace_id], now, channel_kinds=kinds,
                                                exclude_message_ids=excluded))
        return cls(session, workspaces, policies, topics, channels, contacts, states)

    def channel_for(self, workspace_id: int, kind: str | None, country: str | None) -> Channel | None:
        """The enabled channel of that kind for the contact's country, preferring country-specific ones."""
        key = (workspace_id, kind, country)
        if key not in self.chosen_channels:
            rows = [row for row in self.channels[workspace_id] if row.kind == kind]
            self.chosen_channels[key] = pick_channel(rows, country)
        return self.chosen_channels[key]

    def policy_topic(self, topic: Topic) -> PolicyTopic:
        """The engine's view of a topic of the batch."""
        found = self.policy_topics.get(topic.id)
        if found is None:
            found = self.policy_topics[topic.id] = policy_topic(topic)
        return found

    def channel_config(self, channel: Channel) -> dict:
        """A copy of the channel's config, one per batch, that the batch's outbound messages share."""
        found = self.channel_configs.get(channel.id)
        if found is None:
            found = self.channel_configs[channel.id] = dict(channel.config or {})
        return found


def address_of(contact: Contact | Row, channel: Channel) -> str:
    """The recipient's address on the channel the message goes by."""
    if channel.kind == "messenger":
        return contact.messenger_psid or ""
    if channel.kind == "whatsapp":
        return "+" + contact.whatsapp_id.lstrip("+") if contact.whatsapp_id else (contact.phone or "")
    return contact.phone or ""


def outcome_of(row, result: SendResult, now: datetime, stats: DispatchStats, started: datetime | None = None) -> dict:
    """The column changes one provider answer makes to its message row (by primary key); `started`: when it left."""
    change: dict = {"id": row.id, "lease_until": None, "updated_at": now, "status_detail": None,
                    "provider_message_id": row.provider_message_id, "sent_at": row.sent_at, "error_code": None}
    if result.error_code == OPTED_OUT_BEFORE_HANDOFF:
        change.update(status="rejected", status_detail=result.error_detail)
        stats.rejected += 1
    elif result.accepted:
        change.update(provider_message_id=result.provider_message_id, sent_at=row.sent_at or started or now,
                      status=advance_status(row.status, result.status))
        stats.sent += 1
    elif result.status == "unknown":
        change.update(status=advance_status(row.status, "unknown"),
                      provider_message_id=row.provider_message_id or result.provider_message_id,
                      status_detail=result.error_detail or "no answer from the provider; not resent")
        stats.unknown += 1
    elif result.retryable and now - row.created_at < MESSAGE_VALIDITY:
        # Refused before acceptance with "try later": safe to hand off again.
        delay = min(RETRY_BASE * (2 ** max(row.attempts - 1, 0)), RETRY_MAX)
        change.update(status="pending", send_at=now + delay,
                      status_detail=f"provider asked to retry: {result.error_code or ''} "
                                    f"{result.error_detail or ''}".strip())
        stats.retried += 1
    else:
        change.update(status="failed", error_code=result.error_code, status_detail=result.error_detail)
        stats.failed += 1
    return change


def handoff_outcome(result: SendResult, change: dict) -> str:
    """The metrics label of one hand-off: accepted, unknown, retry or failed."""
    if result.accepted:
        return "accepted"
    if result.status == "unknown":
        return "unknown"
    return "retry" if change.get("status") == "pending" else "failed"


def channel_options(decision: dict, request: dict) -> dict:
    """Channel-specific options: the decision's (e.g. Messenger's messaging_type) and a WhatsApp template's."""
    options = dict(decision.get("channel_options") or {})
    if request.get("whatsapp_template"):
        options["whatsapp_template"] = {
            "name": request["whatsapp_template"],
            "language": request.get("language") or "en",
            "parameters": list(request.get("whatsapp_parameters") or []),
        }
    return options


# What a message stopped by an opt-out stored after its decision gets instead of a provider's answer.
STOPPED_RESULT = SendResult(accepted=False, status="failed", error_code=OPTED_OUT_BEFORE_HANDOFF,
                            error_detail="the contact opted out after this message was decided; not sent")


def sent_at_once(send_many: Callable[[list[OutboundMessage]], list[SendResult]]
                 ) -> Callable[[list[OutboundMessage]], Callable[[], list[SendResult]]]:
    """A blocking send_many in the shape of start_send_many: it sends at once, and the results are ready."""
    def start(messages: list[OutboundMessage]) -> Callable[[], list[SendResult]]:
        """Send now; return the answers' getter."""
        answers = send_many(messages)
        return lambda: answers
    return start


def unknown_result(error: Exception) -> SendResult:
    """The result of a hand-off that raised: the request may have left, so its outcome is unknown."""
    return SendResult(accepted=False, status="unknown", error_detail=f"hand-off error: {error}; not resent")


class Dispatcher:
    """Sends due messages of every workspace; one instance per worker thread or process."""

    def __init__(self, runtime: Runtime, worker_id: str = "worker") -> None:
        """Bind to a runtime (database, clock, adapters)."""
        self.runtime = runtime
        self.worker_id = worker_id
        # Pacing of the periodic steps (automations, reconciliation) while passes follow each other at once.
        self.monotonic = time.monotonic
        self.last_periodic: float | None = None
        self.last_pass_busy = False
        # How many due rows the next claim takes: dispatch_batch_size, grown while a backlog lasts (resize_batch).
        self.batch_size = runtime.settings.dispatch_batch_size

    # -- one pass -----------------------------------------------------------------------

    def run_once(self) -> DispatchStats:
        """Recover abandoned hand-offs, send what is due, and apply waiting delivery receipts."""
        with DISPATCH_PASS_SECONDS.time():
            return self._run_once()

    def _run_once(self) -> DispatchStats:
        """One pass, timed by run_once."""
        stats = DispatchStats()
        periodic = self.periodic_steps_due()
        self.recover_abandoned(stats)
        self.apply_webhook_queue(stats)
        if periodic:
            self.run_automations(stats)
        self.plan_campaigns(stats)
        try:
            self.dispatch_batches(stats)
        except Exception as error:  # nothing of the batch was committed before the failure, or leases expire
            log.exception("dispatch of a batch failed")
            stats.errors.append(f"batch: {error}")
        self.poll_receipts(stats)
        if periodic:
            self.reconcile_unknown(stats)
        self.last_pass_busy = stats.busy(self.runtime.settings.dispatch_batch_size)
        return stats

    def periodic_steps_due(self) -> bool:
        """Whether this pass runs automations and reconciliation: always, except right after a busy pass.

        A busy pass (a full batch) is followed at once by the next; the periodic steps then run at
        most once per dispatch interval, as often as an idle worker runs them, instead of per batch.
        Webhooks (a STOP among them), claiming, hand-off and receipts run in every pass.
        """
        now = self.monotonic()
        if (self.last_pass_busy and self.last_periodic is not None
                and now - self.last_periodic < self.runtime.settings.dispatch_interval_seconds):
            return False
        self.last_periodic = now
        return True

    def resize_batch(self, claimed: int, seconds: float) -> None:
        """Size the next claim: doubled after a full batch that was quick, halved after a slow one, reset when not full.

        Each batch costs a fixed number of statements and commits whatever its size, so a backlog on a fast
        channel (SMPP's pipelined window) goes out cheaper per message in larger batches; a slow channel
        (a rate limit, a slow HTTP provider) keeps them small so receipts and webhooks are applied often.
        """
        settings = self.runtime.settings
        base = settings.dispatch_batch_size
        if claimed < self.batch_size:
            self.batch_size = base
        elif seconds < BATCH_TIME_BUDGET_SECONDS:
            self.batch_size = min(self.batch_size * 2, max(base, settings.dispatch_batch_max))
        else:
            self.batch_size = max(base, self.batch_size // 2)

    def apply_webhook_queue(self, stats: DispatchStats) -> None:
        """Apply webhook events stored by the queue mode's fast path (customer messages, delivery statuses)."""
        try:
            result = apply_queued(self.runtime.sessionmaker, self.runtime.now())
        except Exception as error:  # the queue must never stop the sending of what is already queued
            log.exception("webhook queue pass failed")
            stats.errors.append(f"webhook queue: {error}")
            return
        stats.webhook_events += result.applied + result.failed
        stats.errors.extend(result.errors)

    def run_automations(self, stats: DispatchStats) -> None:
        """Fire the automations that are due; their messages join the outbox before this pass claims."""
        # Imported here: the scheduler imports the message service and the inbound pipeline, which import this
        # module's neighbours first.
        from mannerly.automations.scheduler import run_due

        try:
            result = run_due(self.runtime)
        except Exception as error:  # automations must never stop the sending of what is already queued
            log.exception("automation pass failed")
            stats.errors.append(f"automations: {error}")
            return
        stats.automations_fired += result.fired
        stats.errors.extend(result.errors)

    def plan_campaigns(self, stats: DispatchStats) -> None:
        """Plan the next recipients of every running campaign and complete the finished ones."""
        from mannerly.campaigns.service import plan_running_campaigns  # same import cycle as the scheduler's

        try:
            stats.campaign_batches += plan_running_campaigns(self.runtime.sessionmaker, self.runtime.settings,
                                                             self.runtime.now())
        except Exception as error:  # a broken campaign must not stop what is already queued
            log.exception("campaign planning pass failed")
            stats.errors.append(f"campaigns: {error}")

    def claim_batch(self, session: Session, now: datetime) -> list[Row]:
        """Lease the oldest due rows (at most a batch) to this worker; the rows to decide, oldest first.

        One statement picks and leases together, and it is the transaction's first: it holds the rows
        (PostgreSQL row locks, SQLite's write lock) until the caller commits `sending`, so no other
        worker can take them in between, however long deciding takes.
        """
        # Core, not ORM, statements: the rows come back as plain rows without the ORM's loading machinery.
        messages = Message.__table__
        due = (
            select(messages.c.id)
            .where(
                messages.c.direction == "outbound",
                messages.c.status.in_(DUE_STATUSES),
                messages.c.send_at <= now,
                or_(messages.c.lease_until.is_(None), messages.c.lease_until < now),
            )
            .order_by(messages.c.send_at, messages.c.id)
            .limit(self.batch_size)
        )
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        rows = session.execute(
            messages.update()
            .where(
                messages.c.id.in_(due),
                messages.c.status.in_(DUE_STATUSES),
                or_(messages.c.lease_until.is_(None), messages.c.lease_until < now),
            )
            .values(self.lease_values(now))
            .returning(*(messages.c[column.key] for column in DUE_COLUMNS), messages.c.send_at)
        ).all()
        # RETURNING gives no order: deciding goes oldest first, so caps and duplicates favour the older message.
        return sorted(rows, key=lambda row: (row.send_at, row.id))

    # -- a batch of messages ------------------------------------------------------------

    def dispatch_batches(self, stats: DispatchStats) -> None:
        """Dispatch a batch; while full batches go out through adapters that send in the background, go on.

        Such an adapter (SMPP's connector process) hands a batch off on another core while this
        thread decides the next batch and records the previous one. Every batch started is recorded
        before this returns, so a pass ends with nothing in flight.
        """
        pass_started = time.perf_counter()
        in_flight: list[InFlight] = []
        try:
            while True:
                batch_started = time.perf_counter()
                claimed, started = self.dispatch_batch(stats)
                previous, in_flight = in_flight, started
                if previous:  # it went out while this batch was decided
                    self.record_in_flight(previous, stats)
                full = claimed >= self.batch_size
                self.resize_batch(claimed, time.perf_counter() - batch_started)
                if not (full and any(batch.background for batch in in_flight)
                        and time.perf_counter() - pass_started < BATCH_TIME_BUDGET_SECONDS):
                    break
        finally:
            self.record_in_flight(in_flight, stats)

    def dispatch_batch(self, stats: DispatchStats) -> tuple[int, list[InFlight]]:
        """Claim a batch, decide it again, mark what may go `sending` in the same commit, and start its hand-off.

        Returns how many rows were claimed and the hand-offs started, one per channel (record_in_flight
        waits for their results and stores them).
        """
        now = self.runtime.now()
        with self.runtime.session() as session:
            rows = self.claim_batch(session, now)
            stats.claimed += len(rows)
            if not rows:
                session.commit()
                return 0, []
            try:
                handoffs = self.decide_batch(session, rows, now, stats)
            except Exception:
                session.rollback()
                self.hold_back([row.id for row in rows], now)
                raise
        by_channel: dict[int, list[Handoff]] = defaultdict(list)
        for handoff in handoffs:
            by_channel[handoff.channel.id].append(handoff)
        return len(rows), [self.start_hand_off(group) for group in by_channel.values()]

    def record_in_flight(self, in_flight: list[InFlight], stats: DispatchStats) -> None:
        """Wait for the results of started hand-offs and store them in one transaction."""
        results: list[tuple[Handoff, SendResult]] = []
        for batch in in_flight:
            results.extend(zip(batch.group, batch.results(), strict=True))
        in_flight.clear()
        if results:
            self.record_results(results, stats)

    def decide_batch(self, session: Session, rows: Sequence[Row], now: datetime, stats: DispatchStats) -> list[Handoff]:
        """Decide claimed rows again, write every outcome and commit `sending` for the hand-offs; returns them."""
        batch = BatchContext.load(session, self.runtime.settings, rows, now)
        handoffs: list[Handoff] = []
        changes: list[dict] = []
        for row in rows:
            change, handoff = self.redecide(batch, row, now, stats)
            changes.append(change)
            if handoff is not None:
                handoffs.append(handoff)
        update_by_id(session, Message.__table__, changes)
        insert_many(session, MessageStatusEvent.__table__, [
            {"workspace_id": handoff.workspace_id, "message_id": handoff.message_id, "status": "sending",
             "occurred_at": now} for handoff in handoffs])
        # Every row to be handed off says "sending" durably before any byte leaves: a crash
        # from here on leads to reconciliation, never to a second hand-off.
        session.commit()
        return handoffs

    def hold_back(self, message_ids: list[int], now: datetime) -> None:
        """Lease (and count an attempt for) rows whose batch failed before `sending`, so they wait a lease to retry."""
        # The failed transaction took its claim with it; without this a batch that cannot be decided
        # would be claimed again at once, pass after pass.
        with self.runtime.session() as session:
            session.execute(
                update(Message)
                .where(Message.id.in_(message_ids), Message.status.in_(DUE_STATUSES))
                .values(self.lease_values(now))
                .execution_options(synchronize_session=False))
            session.commit()

    def lease_values(self, now: datetime) -> dict:
        """What leasing a due row to this worker writes: the lease's end, and one more attempt."""
        messages = Message.__table__
        return {messages.c.lease_until: now + timedelta(seconds=self.runtime.settings.lease_seconds),
                messages.c.attempts: messages.c.attempts + 1}

    def redecide(self, batch: BatchContext, row, now: datetime, stats: DispatchStats) -> tuple[dict, Handoff | None]:
        """Run the engine again for one due message: its column changes, and its hand-off when it may go now."""
        request = row.request or {}
        contact = batch.contacts[row.contact_id]
        topic = batch.topics.get(row.topic_id)
        change: dict = {"id": row.id, "lease_until": None, "updated_at": now}
        if topic is None:
            stats.rejected += 1
            change.update(status="rejected", status_detail="cannot be sent any more: its topic was deleted")
            return change, None
        send_request = SendRequest(
            text=row.body,
            topic=batch.policy_topic(topic),
            source=Source(row.source) if row.source in Source._value2member_map_ else Source.API,
            channel=request.get("channel"),
            reply=bool(request.get("reply")),
            whatsapp_template=request.get("whatsapp_template"),
            language=request.get("language"),
        )
        state = batch.states[row.contact_id]
        earlier = batch.sent_in_batch.get(row.contact_id)
        if earlier:
            state = replace(state, contacted_before=True, recent_outbound=state.recent_outbound + earlier)
        decision = decide(send_request, state, batch.policies[row.workspace_id], now)
        count_decision(decision)
        stored = decision.as_dict()
        change.update(decision=stored, final_text=decision.final_text, segments=decision.segments,
                      encoding=decision.encoding)
        if decision.action is Action.REJECT:
            stats.rejected += 1
            change.update(status="rejected", status_detail=rejection_summary(decision))
            return change, None
        if decision.action is Action.DEFER:
            stats.deferred += 1
            change.update(status="deferred", send_at=decision.send_at)
            return change, None
        channel = batch.channel_for(row.workspace_id, decision.channel, contact.country)
        if channel is None:
            stats.failed += 1
            change.update(status="failed", status_detail=f"no enabled {decision.channel} channel")
            return change, None
        # Later messages of this batch to the same contact see this one (caps, duplicates).
        batch.sent_in_batch[contact.id] = (earlier or ()) + (
            SentRecord(at=now, final_text=decision.final_text, topic_kind=TopicKind(topic.kind),
                       source=send_request.source),)
        change.update(status="sending", channel_id=channel.id, channel_kind=channel.kind,
                      lease_until=now + SENDING_LEASE_FACTOR * timedelta(seconds=self.runtime.settings.lease_seconds))
        outbound = OutboundMessage(
            message_id=row.id,
            to=address_of(contact, channel),
            text=decision.final_text,
            config=batch.channel_config(channel),
            sender_id=channel.sender_id,
            segments=decision.segments,
            encoding=decision.encoding,
            options=channel_options(stored, request),
        )
        opted_out = state.global_opt_out or state.consent_for(send_request.topic) is ConsentStatus.OPTED_OUT
        return change, Handoff(message_id=row.id, workspace_id=row.workspace_id, channel=channel, outbound=outbound,
                               contact_id=row.contact_id, topic_id=row.topic_id, opted_out_when_decided=opted_out)

    def start_hand_off(self, group: list[Handoff]) -> InFlight:
        """Hand one channel's messages to its adapter, pipelined where the adapter can, in the background where it can."""
        channel = group[0].channel
        adapter = self.runtime.channels.adapter_for(channel, self.runtime)
        start_send_many = getattr(adapter, "start_send_many", None)
        background = start_send_many is not None
        send_many = getattr(adapter, "send_many", None)
        if not background and send_many is not None and len(group) > 1:
            start_send_many = sent_at_once(send_many)
        if start_send_many is None:
            return InFlight(group, self.send_one_by_one(adapter, group))
        for handoff in group:
            self.wait_for_rate_limit(channel)
        stopped = self.opted_out_since_decided(group)
        going = [handoff for handoff in group if handoff.message_id not in stopped]
        for handoff in going:
            handoff.started = self.runtime.now()
        collect: Callable[[], list[SendResult]] = list
        failure: Exception | None = None
        if going:
            try:
                collect = start_send_many([handoff.outbound for handoff in going])
            except Exception as error:  # some may have left: every outcome is unknown
                failure = error

        def results() -> list[SendResult]:
            """The adapter's answers, in the group's order; unknown for all when it failed before answering."""
            error = failure
            if error is None:
                try:
                    answers = iter(collect())
                except Exception as raised:
                    error = raised
            if error is not None:
                log.warning("batch hand-off on channel %s raised %s; marking unknown", channel.id, error)
                answers = iter([unknown_result(error) for _ in going])
            return [STOPPED_RESULT if handoff.message_id in stopped else next(answers) for handoff in group]

        return InFlight(group, results, background=background)

    def send_one_by_one(self, adapter: Any, group: list[Handoff]) -> Callable[[], list[SendResult]]:
        """Send each message with adapter.send, waiting for each answer; the results, ready at once."""
        results: list[SendResult] = []
        for handoff in group:
            self.wait_for_rate_limit(handoff.channel)
            # A STOP stored since the decision wins: checked right before this request leaves.
            if self.opted_out_since_decided([handoff]):
                results.append(STOPPED_RESULT)
                continue
            handoff.started = self.runtime.now()
            try:
                results.append(adapter.send(handoff.outbound))
            except Exception as error:  # the request may have left: the outcome is unknown
                log.warning("hand-off of message %s raised %s; marking unknown", handoff.message_id, error)
                results.append(unknown_result(error))
        return lambda: results

    def opted_out_since_decided(self, group: list[Handoff]) -> set[int]:
        """Ids of the messages whose contact opted out (globally or of the topic) after the message was decided."""
        watched = [handoff for handoff in group if not handoff.opted_out_when_decided]
        if not watched:
            return set()
        contact_ids = {handoff.contact_id for handoff in watched}
        with self.runtime.session() as session:
            global_out = set(session.scalars(select(Contact.id).where(
                Contact.id.in_(contact_ids), Contact.global_opt_out.is_(True))))
            topic_out = {(row.contact_id, row.topic_id) for row in session.execute(
                select(Consent.contact_id, Consent.topic_id).where(
                    Consent.contact_id.in_(contact_ids), Consent.status == "opted_out"))}
        return {handoff.message_id for handoff in watched
                if handoff.contact_id in global_out or (handoff.contact_id, handoff.topic_id) in topic_out}

    def wait_for_rate_limit(self, channel: Channel) -> None:
        """Block until the channel's token bucket (shared through Redis when configured) lets one more go."""
        limiter = self.runtime.rate_limiter
        while (wait := limiter.acquire(f"channel:{channel.id}", channel.rate_limit_per_second)) > 0:
            time.sleep(min(wait, 1.0))

    @staticmethod
    def options_of(message: Message) -> dict:
        """Channel-specific options of a stored message (see channel_options)."""
        return channel_options(message.decision or {}, message.request or {})

    def record_results(self, results: list[tuple[Handoff, SendResult]], stats: DispatchStats) -> None:
        """Store what the providers answered, and the redacted exchanges, in one transaction with bulk writes."""
        now = self.runtime.now()
        with self.runtime.session() as session:
            ids = [handoff.message_id for handoff, _ in results]
            # A delivery report may have arrived meanwhile (webhooks run in other processes): read
            # under a lock, so the answer is merged with the newest status, never written over it.
            lock_rows = serialize_writes(session)
            # Only the columns the outcome depends on: the JSON columns are not read back.
            current = select(Message.id, Message.workspace_id, Message.status, Message.sent_at, Message.created_at,
                             Message.attempts, Message.provider_message_id).where(Message.id.in_(ids))
            rows = {row.id: row for row in session.execute(current.with_for_update() if lock_rows else current)}
            changes, events, exchanges, effects = [], [], [], []
            outcomes: Counter[tuple[str, str]] = Counter()
            for handoff, result in results:
                row = rows[handoff.message_id]
                change = outcome_of(row, result, now, stats, handoff.started)
                changes.append(change)
                if result.error_code != OPTED_OUT_BEFORE_HANDOFF:  # stopped ones never reached the provider
                    outcomes[(handoff.channel.kind, handoff_outcome(result, change))] += 1
                events.append({"workspace_id": row.workspace_id, "message_id": row.id, "status": change["status"],
                               "raw_status": result.status, "error_code": result.error_code, "occurred_at": now})
                if result.exchange is not None:
                    exchange = result.exchange
                    started = handoff.started or now
                    exchanges.append({
                        "workspace_id": row.workspace_id, "channel_id": handoff.channel.id, "message_id": row.id,
                        "direction": "outbound_request", "request": exchange.request, "response": exchange.response,
                        "status_code": exchange.status_code, "created_at": now,
                        "duration_ms": exchange.duration_ms if exchange.duration_ms is not None
                        else int((now - started).total_seconds() * 1000),
                    })
                if result.effect:
                    effects.append((row.id, handoff.channel.provider, result))
            for labels, count in outcomes.items():
                HANDOFFS.labels(*labels).inc(count)
            update_by_id(session, Message.__table__, changes)
            insert_many(session, MessageStatusEvent.__table__, events)
            insert_many(session, ProviderExchange.__table__, exchanges)
            for message_id, provider, result in effects:
                apply_provider_effect(session, session.get(Message, message_id), result.effect,
                                      f"{provider} error {result.error_code}", now)
            session.commit()

    # -- recovery and receipts ------------------------------------------------------------

    def recover_abandoned(self, stats: DispatchStats) -> None:
        """Rows left in `sending` by a dead worker become `unknown` (never resent), then are reconciled."""
        now = self.runtime.now()
        abandoned = select(Message).where(
            Message.status == "sending", Message.lease_until.is_not(None), Message.lease_until < now).limit(500)
        with self.runtime.session() as session:
            if session.scalar(select(Message.id).where(abandoned.whereclause).limit(1)) is None:
                return
            # A late delivery report must not be overwritten with "unknown": read under a lock.
            lock_rows = serialize_writes(session)
            rows = session.scalars(abandoned.with_for_update() if lock_rows else abandoned).all()
            for message in rows:
                message.status = "unknown"
                message.lease_until = None
                message.status_detail = "the worker stopped during hand-off; not resent, awaiting reconciliation"
                message.updated_at = now
                session.add(MessageStatusEvent(workspace_id=message.workspace_id, message_id=message.id,
                                               status="unknown", occurred_at=now))
                stats.recovered += 1
            session.commit()

    def reconcile_unknown(self, stats: DispatchStats) -> None:
        """Ask providers what became of `unknown` messages whose id we know; each at most once a minute."""
        self.search_lost_handoffs(stats)
        now = self.runtime.now()
        with self.runtime.session() as session:
            rows = session.scalars(select(Message).where(
                Message.status == "unknown", Message.provider_message_id.is_not(None),
                Message.channel_id.is_not(None),
                or_(Message.lease_until.is_(None), Message.lease_until < now),
            ).order_by(Message.id).limit(100)).all()
            for message in rows:
                channel = session.get(Channel, message.channel_id)
                adapter = self.runtime.channels.adapter_for(channel, self.runtime)
                try:
                    found = adapter.lookup_status(message.provider_message_id)
                except Exception:  # a provider outage must not stop the dispatcher
                    log.warning("status lookup for message %s failed", message.id, exc_info=True)
                    found = None
                if found is not None and apply_status_update(session, channel, found, now) is not None:
                    stats.reconciled += 1
                # An unknown row is never claimed for sending, so its lease only paces these lookups.
                message.lease_until = now + RECONCILE_INTERVAL
            session.commit()

    def search_lost_handoffs(self, stats: DispatchStats) -> None:
        """`unknown` messages without a provider id: found at the provider, or proven never sent and queued again."""
        now = self.runtime.now()
        grace = timedelta(seconds=self.runtime.settings.handoff_search_after_seconds)
        with self.runtime.session() as session:
            rows = session.scalars(select(Message).where(
                Message.status == "unknown", Message.provider_message_id.is_(None),
                Message.channel_id.is_not(None), Message.direction == "outbound",
                or_(Message.lease_until.is_(None), Message.lease_until < now),
            ).order_by(Message.id).limit(100)).all()
            for message in rows:
                channel = session.get(Channel, message.channel_id)
                adapter = self.runtime.channels.adapter_for(channel, self.runtime)
                find_handoff = getattr(adapter, "find_handoff", None)
                # Unknown rows are never claimed for sending, so their lease only paces these searches.
                message.lease_until = now + RECONCILE_INTERVAL
                if find_handoff is None or channel is None:
                    continue
                started = session.scalar(select(func.max(MessageStatusEvent.occurred_at)).where(
                    MessageStatusEvent.message_id == message.id, MessageStatusEvent.status == "sending"))
                started = started or message.updated_at
                contact = session.get(Contact, message.contact_id)
                outbound = OutboundMessage(message_id=message.id, to=address_of(contact, channel),
                                           text=message.final_text or message.body, config=dict(channel.config or {}),
                                           sender_id=channel.sender_id)
                try:
                    search = find_handoff(outbound, started)
                except Exception:  # a provider outage must not stop the dispatcher
                    log.warning("hand-off search for message %s failed", message.id, exc_info=True)
                    search = None
                if search is None:
                    continue
                if search.found is not None:
                    found = replace(search.found, message_id=message.id)
                    if apply_status_update(session, channel, found, now) is not None:
                        stats.reconciled += 1
                    continue
                if not search.absent:
                    continue
                if now - started < grace:
                    message.lease_until = started + grace  # a request may still be on its way: look again then
                    continue
                # The provider's own list proves it never got the message: handing it off now is the first time.
                message.status = "pending"
                message.send_at = now
                message.lease_until = None
                message.updated_at = now
                message.status_detail = "the provider never received it (its message list was searched); queued again"
                session.add(MessageStatusEvent(workspace_id=message.workspace_id, message_id=message.id,
                                               status="pending", occurred_at=now))
                stats.reconciled += 1
            session.commit()

    def poll_receipts(self, stats: DispatchStats) -> None:
        """Apply delivery receipts and customer messages that adapters queue in memory (simulator, SMPP)."""
        now = self.runtime.now()
        with self.runtime.session() as session:
            channels = session.scalars(select(Channel).where(Channel.enabled.is_(True))).all()
            for channel in channels:
                adapter = self.runtime.channels.adapter_for(channel, self.runtime)
                due = getattr(adapter, "due_status_updates", None)
                if due is None:
                    continue
                stats.receipts += len(apply_status_updates(session, channel, list(due(now)), now))
            session.commit()
            for channel in channels:
                adapter = self.runtime.channels.adapter_for(channel, self.runtime)
                pending = getattr(adapter, "pending_inbound", None)
                if pending is not None:
                    self.receive_inbound(session, channel, pending(now), stats)

    def receive_inbound(self, session: Session, channel: Channel, events: list[InboundMessage],
                        stats: DispatchStats) -> None:
        """Store customer messages an adapter received on its own connection (SMPP), one transaction each."""
        workspace = session.get(Workspace, channel.workspace_id)
        for event in events:
            try:
                receive_message(session, workspace, channel, event, self.runtime.now())
                session.commit()
                stats.inbound += 1
            except Exception as error:  # one bad event must not lose the others
                session.rollback()
                log.exception("inbound message %s on channel %s failed", event.provider_message_id, channel.id)
                stats.errors.append(f"inbound {event.provider_message_id}: {error}")


class WorkerThread(threading.Thread):
    """Runs the dispatcher in a loop inside the web process (the embedded default)."""

    def __init__(self, runtime: Runtime, worker_id: str = "in-process") -> None:
        """A daemon thread that stops when asked."""
        super().__init__(name=f"mannerly-{worker_id}", daemon=True)
        self.dispatcher = Dispatcher(runtime, worker_id)
        self.runtime = runtime
        self.stopping = threading.Event()

    def run(self) -> None:
        """Loop until stopped; a pass that found work is followed at once by another."""
        interval = self.runtime.settings.dispatch_interval_seconds
        while not self.stopping.is_set():
            try:
                stats = self.dispatcher.run_once()
                busy = stats.busy(self.runtime.settings.dispatch_batch_size)
            except Exception:
                log.exception("dispatcher pass failed")
                busy = False
            if not busy:
                self.stopping.wait(interval)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to finish its current pass and wait for it."""
        self.stopping.set()
        self.join(timeout)
