"""The dispatcher's hand-off-once protocol against a scripted fake provider."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from mannerly.channels.base import SendResult, StatusUpdate
from mannerly.messages.service import OutboundIntent, submit
from mannerly.models import Channel, Contact, Message, MessageStatusEvent, ProviderExchange, Topic, Workspace
from mannerly.outbox.dispatcher import BatchContext, Dispatcher
from mannerly.workspaces.service import create_workspace

TUESDAY_MORNING_SEOUL = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)


class ScriptedProvider:
    """A fake provider that answers each send from a script and logs every hand-off."""

    kind = "sms"
    provider = "scripted"
    status_map = {"DELIVRD": "delivered"}

    def __init__(self) -> None:
        """Accept everything until told otherwise."""
        self.script: list[SendResult | Exception] = []
        self.handed_off: list[int] = []
        self.statuses: dict[str, StatusUpdate] = {}

    def send(self, message):
        """Log the hand-off and answer with the next scripted result."""
        self.handed_off.append(message.message_id)
        answer = self.script.pop(0) if self.script else SendResult(
            accepted=True, status="sent", provider_message_id=f"P{message.message_id}")
        if isinstance(answer, Exception):
            raise answer
        return answer

    def lookup_status(self, provider_message_id):
        """What the provider says about a message, if scripted."""
        return self.statuses.get(provider_message_id)


@pytest.fixture
def setup(runtime, clock):
    """A workspace whose only SMS channel is the scripted provider; returns (provider, workspace id)."""
    clock.set(TUESDAY_MORNING_SEOUL)
    provider = ScriptedProvider()
    runtime.channels.register("scripted", lambda channel, rt: provider)
    with runtime.session() as session:
        workspace = create_workspace(session, "Acme", brand_names={"en": "Acme"}, with_simulator=False)
        session.add(Channel(workspace_id=workspace.id, kind="sms", provider="scripted", name="Scripted", config={"token": "s3cret"}))
        session.add(Topic(workspace_id=workspace.id, name="orders", label="Orders", kind="transactional"))
        session.commit()
        return provider, workspace.id


def queue(runtime, workspace_id: int, text: str = "Your order has shipped.", to: str = "+821023456789") -> int:
    """Submit one message through the outbound pipeline and return its id."""
    with runtime.session() as session:
        workspace = session.get(Workspace, workspace_id)
        message = submit(session, workspace, OutboundIntent(topic="orders", to=to, text=text), runtime.now())
        session.commit()
        return message.id


def claim(runtime, dispatcher: Dispatcher) -> list[int]:
    """Let a dispatcher claim a batch in a transaction of its own; the ids it leased."""
    with runtime.session() as session:
        rows = dispatcher.claim_batch(session, runtime.now())
        session.commit()
    return [row.id for row in rows]


def status_of(runtime, message_id: int) -> Message:
    """The message row as stored now."""
    with runtime.session() as session:
        return session.get(Message, message_id)


def test_accepted_send_records_provider_id_and_exchange(runtime, setup):
    """An accepted hand-off stores the provider's id, `sent`, and the exchange."""
    provider, workspace_id = setup
    provider.script = [SendResult(accepted=True, status="sent", provider_message_id="abc")]
    message_id = queue(runtime, workspace_id)
    stats = Dispatcher(runtime).run_once()
    assert stats.sent == 1 and provider.handed_off == [message_id]
    message = status_of(runtime, message_id)
    assert (message.status, message.provider_message_id) == ("sent", "abc")
    assert Dispatcher(runtime).run_once().claimed == 0  # nothing is handed off twice


def test_exception_during_hand_off_means_unknown_and_no_resend(runtime, setup, clock):
    """A hand-off that raised (e.g. a timeout after the request left) becomes unknown and is never resent."""
    provider, workspace_id = setup
    provider.script = [TimeoutError("read timed out")]
    message_id = queue(runtime, workspace_id)
    assert Dispatcher(runtime).run_once().unknown == 1
    clock.advance(minutes=10)
    Dispatcher(runtime).run_once()
    assert provider.handed_off == [message_id]
    assert status_of(runtime, message_id).status == "unknown"


def test_retryable_refusal_is_retried_with_backoff(runtime, setup, clock):
    """A 429/5xx before acceptance is retried later, and then succeeds once."""
    provider, workspace_id = setup
    provider.script = [SendResult(accepted=False, status="failed", error_code="429", retryable=True)]
    message_id = queue(runtime, workspace_id)
    assert Dispatcher(runtime).run_once().retried == 1
    assert status_of(runtime, message_id).status == "pending"
    assert Dispatcher(runtime).run_once().sent == 0  # backoff not over yet
    clock.advance(seconds=3)
    assert Dispatcher(runtime).run_once().sent == 1
    assert provider.handed_off == [message_id, message_id]
    assert status_of(runtime, message_id).status == "sent"


def test_permanent_refusal_fails_with_the_providers_code(runtime, setup):
    """A refusal that will not change is final, with the provider's code kept."""
    provider, workspace_id = setup
    provider.script = [SendResult(accepted=False, status="failed", error_code="21211", error_detail="invalid To")]
    message_id = queue(runtime, workspace_id)
    assert Dispatcher(runtime).run_once().failed == 1
    message = status_of(runtime, message_id)
    assert (message.status, message.error_code) == ("failed", "21211")


def test_worker_that_died_mid_hand_off_is_recovered_as_unknown_not_resent(runtime, setup, clock):
    """A row left in `sending` with an expired lease becomes unknown; the provider is not called again."""
    provider, workspace_id = setup
    message_id = queue(runtime, workspace_id)
    with runtime.session() as session:
        # What a worker killed right after committing `sending` leaves behind.
        session.execute(update(Message).where(Message.id == message_id)
                        .values(status="sending", lease_until=runtime.now()))
        session.commit()
    clock.advance(seconds=1)
    stats = Dispatcher(runtime).run_once()
    assert stats.recovered == 1 and provider.handed_off == []
    assert status_of(runtime, message_id).status == "unknown"


def test_claimed_rows_are_not_claimed_again_while_leased(runtime, setup):
    """Two dispatchers: a leased row belongs to the first."""
    _, workspace_id = setup
    queue(runtime, workspace_id)
    first, second = Dispatcher(runtime, "a"), Dispatcher(runtime, "b")
    assert len(claim(runtime, first)) == 1
    assert claim(runtime, second) == []


def test_claim_is_one_statement_that_leases_the_oldest_due_rows(runtime, setup, monkeypatch):
    """The claim picks and leases in a single UPDATE … RETURNING, oldest due first, at most a batch, never a leased row."""
    from sqlalchemy import event

    _, workspace_id = setup
    ids = [queue(runtime, workspace_id, text=f"Your order {n} has shipped.", to=f"+8210234567{n:02d}")
           for n in range(5)]
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"dispatch_batch_size": 3}))
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        """Keep each SQL statement sent to the database."""
        statements.append(statement)

    engine = runtime.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        first = claim(runtime, Dispatcher(runtime, "a"))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert first == ids[:3]
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("UPDATE")
    assert claim(runtime, Dispatcher(runtime, "b")) == ids[3:]
    assert claim(runtime, Dispatcher(runtime, "c")) == []


def test_a_claim_whose_lease_runs_out_while_deciding_is_still_handed_off_once(runtime, setup, clock, monkeypatch):
    """Claim and `sending` share one transaction: a worker whose lease ran out while deciding keeps its rows."""
    provider, workspace_id = setup
    message_id = queue(runtime, workspace_id)
    slow, fast = Dispatcher(runtime, "slow"), Dispatcher(runtime, "fast")
    real_load = BatchContext.load.__func__
    fast_attempt: list[str] = []

    def load_while_the_lease_runs_out(cls, session, settings, messages, now):
        """Load the batch; meanwhile the lease expires and the other worker tries to claim and send the same rows."""
        context = real_load(cls, session, settings, messages, now)
        monkeypatch.setattr(BatchContext, "load", classmethod(real_load))
        clock.advance(seconds=runtime.settings.lease_seconds + 1)
        try:
            fast_attempt.append(f"claimed {fast.run_once().claimed}")
        except OperationalError as error:  # SQLite: the slow worker holds the rows until `sending` is committed
            assert "locked" in str(error)
            fast_attempt.append("locked out")
        return context

    monkeypatch.setattr(BatchContext, "load", classmethod(load_while_the_lease_runs_out))
    slow.run_once()
    assert fast_attempt in (["locked out"], ["claimed 0"])
    assert provider.handed_off == [message_id]
    assert status_of(runtime, message_id).status == "sent"


def test_a_batch_that_cannot_be_decided_is_held_back_a_lease(runtime, setup, clock, monkeypatch):
    """A failure before `sending` rolls the batch back, leases it so it is not claimed again at once, and sends nothing."""
    provider, workspace_id = setup
    message_id = queue(runtime, workspace_id)
    real_load = BatchContext.load.__func__

    def broken_load(cls, session, settings, messages, now):
        """A batch that cannot be decided (a bug, a database error)."""
        raise RuntimeError("cannot load the batch")

    monkeypatch.setattr(BatchContext, "load", classmethod(broken_load))
    first = Dispatcher(runtime).run_once()
    assert first.claimed == 1 and any("cannot load the batch" in error for error in first.errors)
    with runtime.session() as session:
        row = session.get(Message, message_id)
        assert row.status == "pending" and row.attempts == 1 and row.lease_until is not None
    assert Dispatcher(runtime).run_once().claimed == 0  # held back, not retried pass after pass
    monkeypatch.setattr(BatchContext, "load", classmethod(real_load))
    clock.advance(seconds=runtime.settings.lease_seconds + 1)
    assert Dispatcher(runtime).run_once().sent == 1
    assert provider.handed_off == [message_id]


def test_exchange_log_has_no_secrets(runtime, setup):
    """The stored exchange is what the adapter gave (already redacted); channel config never lands there."""
    from mannerly.channels.base import Exchange

    provider, workspace_id = setup
    provider.script = [SendResult(accepted=True, status="sent", provider_message_id="x1",
                                  exchange=Exchange(request={"To": "+821023456789", "auth": "[redacted]"},
                                                    response={"sid": "x1"}, status_code=201))]
    queue(runtime, workspace_id)
    Dispatcher(runtime).run_once()
    with runtime.session() as session:
        exchange = session.scalar(select(ProviderExchange))
        assert exchange.status_code == 201 and "s3cret" not in str(exchange.request)


def test_status_events_are_recorded_and_statuses_never_move_back(runtime, setup):
    """A late `sent` after `delivered` leaves `delivered`; every report is kept in the history."""
    from mannerly.inbound.pipeline import apply_status_update

    provider, workspace_id = setup
    message_id = queue(runtime, workspace_id)
    Dispatcher(runtime).run_once()
    with runtime.session() as session:
        channel = session.scalar(select(Channel))
        pid = f"P{message_id}"
        apply_status_update(session, channel, StatusUpdate(pid, "delivered", "DELIVRD"), runtime.now())
        apply_status_update(session, channel, StatusUpdate(pid, "sent", "ENROUTE"), runtime.now())
        apply_status_update(session, channel, StatusUpdate(pid, "unknown", "WEIRD_NEW_STATUS"), runtime.now())
        session.commit()
        message = session.get(Message, message_id)
        assert message.status == "delivered"
        raw = [event.raw_status for event in session.scalars(
            select(MessageStatusEvent).where(MessageStatusEvent.message_id == message_id))]
        assert {"DELIVRD", "ENROUTE", "WEIRD_NEW_STATUS"} <= set(raw)


def test_unknown_with_a_provider_id_is_reconciled_by_status_lookup(runtime, setup, clock):
    """An `unknown` message whose provider id is known is looked up and takes the provider's status."""
    provider, workspace_id = setup
    provider.script = [SendResult(accepted=False, status="unknown", provider_message_id=None)]
    message_id = queue(runtime, workspace_id)
    Dispatcher(runtime).run_once()
    with runtime.session() as session:
        session.get(Message, message_id).provider_message_id = "late-id"
        session.commit()
    assert Dispatcher(runtime).run_once().reconciled == 0  # the provider does not know it yet
    provider.statuses["late-id"] = StatusUpdate("late-id", "delivered", "DELIVRD")
    assert Dispatcher(runtime).run_once().reconciled == 0  # asked again only after a minute
    clock.advance(minutes=2)
    assert Dispatcher(runtime).run_once().reconciled == 1
    assert status_of(runtime, message_id).status == "delivered"
    assert provider.handed_off == [message_id]


def test_status_report_carrying_our_id_matches_a_message_whose_answer_was_lost(runtime, setup):
    """A report with our message id finds the message even though we never learned the provider's id."""
    from mannerly.inbound.pipeline import apply_status_update

    provider, workspace_id = setup
    provider.script = [TimeoutError("answer lost")]
    message_id = queue(runtime, workspace_id)
    Dispatcher(runtime).run_once()
    with runtime.session() as session:
        channel = session.scalar(select(Channel))
        update = StatusUpdate("SMabc", "delivered", "delivered", message_id=message_id)
        assert apply_status_update(session, channel, update, runtime.now()) is not None
        session.commit()
    message = status_of(runtime, message_id)
    assert (message.status, message.provider_message_id) == ("delivered", "SMabc")


def test_an_automatic_reply_decided_again_at_dispatch_does_not_count_against_itself(runtime, setup):
    """The auto-reply guard looks at earlier automatic replies, not at the one being sent."""
    from mannerly.conversations.service import conversation_for
    from mannerly.policy.types import Source

    provider, workspace_id = setup
    with runtime.session() as session:
        workspace = session.get(Workspace, workspace_id)
        intent = OutboundIntent(topic="orders", to="+821023456789", text="We'll answer at 09:00.",
                                source=Source.AUTO_REPLY, reply=True)
        message = submit(session, workspace, intent, runtime.now())
        conversation_for(session, session.get(Contact, message.contact_id), runtime.now()).last_auto_reply_at = runtime.now()
        session.commit()
        message_id = message.id
    assert Dispatcher(runtime).run_once().sent == 1
    assert provider.handed_off == [message_id]
    with runtime.session() as session:
        second = submit(session, session.get(Workspace, workspace_id),
                        OutboundIntent(topic="orders", to="+821023456789", text="We'll answer at 09:00 (again).",
                                       source=Source.AUTO_REPLY, reply=True), runtime.now())
        session.commit()
        assert second.status == "rejected"
        assert "auto_reply_guard" in {reason["rule"] for reason in second.decision["reasons"]}


def test_periodic_steps_run_once_per_interval_while_passes_are_busy(runtime, setup, monkeypatch):
    """Back-to-back full batches run automations and reconciliation once per dispatch interval, not per batch;
    every pass still claims, and a pass after an idle one runs them again."""
    provider, workspace_id = setup
    ids = [queue(runtime, workspace_id, text=f"Your order {n} has shipped.", to=f"+8210234567{n:02d}")
           for n in range(4)]
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(
        update={"dispatch_batch_size": 1, "dispatch_batch_max": 1, "dispatch_interval_seconds": 0.5}))
    dispatcher = Dispatcher(runtime)
    ticks = iter([0.0, 0.1, 0.2, 0.7, 0.8, 0.9])
    dispatcher.monotonic = lambda: next(ticks)
    ran: list[str] = []
    monkeypatch.setattr(dispatcher, "run_automations", lambda stats: ran.append("automations"))
    monkeypatch.setattr(dispatcher, "reconcile_unknown", lambda stats: ran.append("reconcile"))
    claimed = []
    for _ in range(6):
        claimed.append(dispatcher.run_once().claimed)
        ran.append("|")
    assert claimed == [1, 1, 1, 1, 0, 0]
    assert provider.handed_off == ids
    # t=0.0 first pass: runs; 0.1 and 0.2 follow busy passes within 0.5 s: skipped; 0.7: due again;
    # 0.8 follows a busy pass: skipped; 0.9 follows an idle pass: runs.
    assert "".join("A" if step == "automations" else "R" if step == "reconcile" else step for step in ran) == \
        "AR|||AR||AR|"


def test_batches_grow_while_a_backlog_goes_out_quickly_and_shrink_when_slow(runtime, setup, monkeypatch):
    """A full, quick batch doubles the next claim up to dispatch_batch_max; a slow one halves it; a partial one resets it."""
    provider, workspace_id = setup
    ids = [queue(runtime, workspace_id, text=f"Your order {n} has shipped.", to=f"+8210234567{n:02d}")
           for n in range(12)]
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(
        update={"dispatch_batch_size": 2, "dispatch_batch_max": 4}))
    dispatcher = Dispatcher(runtime)
    claimed = [dispatcher.run_once().claimed for _ in range(4)]
    assert claimed == [2, 4, 4, 2]  # 2 quick -> 4 (the most) -> 4 -> only 2 left: back to 2
    assert dispatcher.batch_size == 2
    assert provider.handed_off == ids
    dispatcher.batch_size = 4
    dispatcher.resize_batch(claimed=4, seconds=5.0)  # a slow batch (rate limit, slow provider)
    assert dispatcher.batch_size == 2
    dispatcher.resize_batch(claimed=2, seconds=5.0)  # never below dispatch_batch_size
    assert dispatcher.batch_size == 2


class BackgroundProvider(ScriptedProvider):
    """A scripted provider that sends in the background (start_send_many), logging when each step happens."""

    def __init__(self, runtime) -> None:
        """Log starts and collections, and the statuses stored when each batch starts."""
        super().__init__()
        self.runtime = runtime
        self.log: list[tuple[str, list[int]]] = []
        self.fail_collect = False

    def start_send_many(self, messages):
        """Note the start (with how many messages are still `sending`); the answers wait for collect()."""
        ids = [message.message_id for message in messages]
        self.log.append(("start", ids))
        self.handed_off.extend(ids)

        def collect():
            """The batch's answers, noting when they were asked for."""
            self.log.append(("collect", ids))
            if self.fail_collect:
                raise ConnectionError("the connector died")
            return [SendResult(accepted=True, status="sent", provider_message_id=f"P{n}") for n in ids]
        return collect


def background_backlog(runtime, workspace_id: int, monkeypatch, messages: int, *, batch: int | None = None):
    """A BackgroundProvider as the channel's adapter and `messages` queued (to different phones); (provider, ids)."""
    provider = BackgroundProvider(runtime)
    runtime.channels.register("scripted", lambda channel, rt: provider)
    if batch is not None:
        monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(
            update={"dispatch_batch_size": batch, "dispatch_batch_max": batch}))
    ids = [queue(runtime, workspace_id, text=f"Order {n} has shipped.", to=f"+8210234567{n:02d}")
           for n in range(messages)]
    return provider, ids


def test_a_background_hand_off_overlaps_deciding_the_next_batch_and_the_pass_ends_with_all_recorded(
        runtime, setup, monkeypatch):
    """Full batches through a background adapter: batch 2 starts before batch 1 is collected; run_once records all."""
    provider, ids = background_backlog(runtime, setup[1], monkeypatch, 5, batch=2)
    stats = Dispatcher(runtime).run_once()
    assert stats.claimed == 5 and stats.sent == 5, stats
    assert [step for step, _ in provider.log] == ["start", "start", "collect", "start", "collect", "collect"]
    assert sorted(provider.handed_off) == ids  # each once
    assert all(status_of(runtime, n).status == "sent" for n in ids)


def test_a_background_hand_off_that_loses_its_answers_is_unknown_never_resent(runtime, setup, monkeypatch):
    """The connector dies before answering: every message of its batch is unknown and none is handed off again."""
    provider, ids = background_backlog(runtime, setup[1], monkeypatch, 2)
    provider.fail_collect = True
    dispatcher = Dispatcher(runtime)
    assert dispatcher.run_once().unknown == 2
    dispatcher.run_once()
    assert provider.handed_off == ids
    assert {status_of(runtime, n).status for n in ids} == {"unknown"}
    assert "not resent" in status_of(runtime, ids[0]).status_detail


def test_a_batch_in_flight_is_recorded_even_when_deciding_the_next_one_fails(runtime, setup, monkeypatch):
    """Batch 1 is out in the background when batch 2 cannot be decided: batch 1 is still recorded `sent`."""
    provider, ids = background_backlog(runtime, setup[1], monkeypatch, 4, batch=2)
    dispatcher = Dispatcher(runtime)
    decide_batch = dispatcher.decide_batch
    calls = []

    def second_fails(*args, **kwargs):
        """Decide the first batch; refuse the second."""
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the policy could not be loaded")
        return decide_batch(*args, **kwargs)

    monkeypatch.setattr(dispatcher, "decide_batch", second_fails)
    stats = dispatcher.run_once()
    assert any("policy could not be loaded" in error for error in stats.errors)
    assert [status_of(runtime, n).status for n in ids] == ["sent", "sent", "pending", "pending"]
    assert provider.log == [("start", ids[:2]), ("collect", ids[:2])]
