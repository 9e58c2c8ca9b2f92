"""The SMPP session in a child process (connector "process"): the same hand-off rules across a pipe."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from dataclasses import replace
from datetime import UTC, datetime
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import pytest
from sqlalchemy import select

from mannerly.channels.base import Exchange, InboundMessage, OutboundMessage, SendResult, StatusUpdate
from mannerly.channels.smpp.adapter import SmppAdapter, SmppChannelSettings, create_adapter
from mannerly.channels.smpp.connector import ConnectorLost, ProcessSmppAdapter
from mannerly.config import Settings
from mannerly.messages.service import OutboundIntent, submit
from mannerly.models import Channel, Message, Topic
from mannerly.runtime import Runtime
from mannerly.workspaces.service import create_workspace

from ...api.conftest import api  # noqa: F401  (the API fixture)
from ...conftest import start_cli_worker, stop_cli_worker
from .conftest import FAST_CONFIG, wait_for
from .test_end_to_end import PHONE, use_smpp_channel

NOW = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)


@pytest.fixture
def connector_for():
    """Build connector adapters bound to a simulator; all closed at the end."""
    built: list[ProcessSmppAdapter] = []

    def build(simulator, *, wait: bool = True, **config: object) -> ProcessSmppAdapter:
        """A connector for the simulator's address with FAST_CONFIG plus overrides."""
        host, port = simulator.address
        settings = SmppChannelSettings.from_config({"host": host, "port": port, **FAST_CONFIG, **config})
        adapter = ProcessSmppAdapter(settings, sender_id="ACME", channel_id=7)
        built.append(adapter)
        if wait:
            assert adapter.wait_bound(5)
        return adapter

    yield build
    for adapter in built:
        adapter.close()


def test_sends_receipts_customer_messages_and_lookups_cross_the_pipe(smsc, connector_for):
    """A send is accepted with the SMSC's id; its receipt, a customer's reply and a query_sm come back through the child."""
    simulator = smsc(receipt_delay_ms=10)
    adapter = connector_for(simulator)
    assert adapter.pid is not None and adapter.pid != os.getpid()
    results = adapter.send_many([OutboundMessage(1, PHONE, "Your order has shipped."),
                                 OutboundMessage(2, PHONE, "안녕하세요! " * 20)])  # several parts, UCS-2
    assert [result.accepted for result in results] == [True, True]
    assert all(result.provider_message_id in simulator.messages for result in results)
    assert results[1].exchange.request["parts"] == 3  # 140 characters, 67 per UCS-2 part
    updates: list[StatusUpdate] = []
    wait_for(lambda: updates.extend(adapter.due_status_updates(NOW)) or len(updates) >= 2, 5)
    assert {(update.provider_message_id, update.status) for update in updates} == {
        (result.provider_message_id, "delivered") for result in results}
    simulator.call(simulator.phone_sends, PHONE, "ACME", "언제 도착하나요?")
    inbound: list[InboundMessage] = []
    wait_for(lambda: inbound.extend(adapter.pending_inbound(NOW)) or inbound, 5)
    assert [(message.from_address, message.text) for message in inbound] == [(PHONE, "언제 도착하나요?")]
    looked_up = adapter.lookup_status(results[0].provider_message_id)
    assert looked_up is not None and looked_up.status == "delivered"


def test_answers_come_back_to_their_own_requests_in_order(smsc, connector_for):
    """Two batches written before either answer is read: each ticket gets its own results."""
    simulator = smsc()
    adapter = connector_for(simulator)
    first = adapter.start_send_many([OutboundMessage(n, f"+8210234567{n:02d}", f"first {n}") for n in range(3)])
    second = adapter.start_send_many([OutboundMessage(n, f"+8210234568{n:02d}", f"second {n}") for n in range(2)])
    later, earlier = second(), first()
    assert [simulator.messages[result.provider_message_id].destination_addr for result in earlier] == [
        f"8210234567{n:02d}" for n in range(3)]
    assert [simulator.messages[result.provider_message_id].destination_addr for result in later] == [
        f"8210234568{n:02d}" for n in range(2)]


def test_a_child_that_dies_during_a_hand_off_makes_it_unknown_and_the_next_call_starts_another(smsc, connector_for):
    """Killed while waiting for submit_sm_resp: ConnectorLost (never a silent resend); then a new child sends."""
    simulator = smsc(submit_resp_delay_ms=3000)
    adapter = connector_for(simulator)
    first_pid = adapter.pid
    collect = adapter.start_send_many([OutboundMessage(1, PHONE, "Your order has shipped.")])
    wait_for(lambda: simulator.stats.submits >= 1, 5)
    os.kill(first_pid, signal.SIGKILL)
    with pytest.raises(ConnectorLost):
        collect()
    simulator.settings = replace(simulator.settings, submit_resp_delay_ms=0)
    assert adapter.wait_bound(5)
    assert adapter.pid not in (None, first_pid)
    assert adapter.send(OutboundMessage(2, PHONE, "Second message.")).accepted
    assert simulator.stats.submits == 2  # the first was not written again


def test_close_unbinds_and_stops_the_child(smsc, connector_for):
    """close() asks the child to unbind politely and waits for it to exit; later sends say "retry later", no new child."""
    simulator = smsc()
    adapter = connector_for(simulator)
    pid = adapter.pid
    adapter.close()
    wait_for(lambda: simulator.stats.unbinds >= 1, 5)
    assert adapter.pid is None and not _alive(pid)
    after = adapter.send(OutboundMessage(1, PHONE, "after close"))
    assert (after.status, after.retryable, after.error_code) == ("failed", True, "CONNECTOR_UNAVAILABLE")
    assert adapter.due_status_updates(NOW) == [] and adapter.pid is None  # no new child after close


def test_a_child_whose_parent_is_gone_unbinds_and_exits(smsc, connector_for):
    """The parent's end of the pipe closing (the parent died) reads as "close" in the child."""
    simulator = smsc()
    adapter = connector_for(simulator)
    process = adapter._process
    adapter._connection.close()
    assert process.wait(5) == 0
    assert simulator.stats.unbinds >= 1


def test_a_child_that_cannot_start_sends_nothing_and_says_retry_later(smsc, monkeypatch):
    """No child took the messages (the interpreter would not start): "retry later" for each, never unknown; and
    no new child is tried on every call, but after a pause that doubles."""
    simulator = smsc()
    host, port = simulator.address
    monkeypatch.setattr("sys.executable", "/bin/false")
    started = []
    real_popen = subprocess.Popen

    def counting_popen(*args, **kwargs):
        """Start the process and count it."""
        started.append(args)
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", counting_popen)
    settings = SmppChannelSettings.from_config({"host": host, "port": port, **FAST_CONFIG})
    adapter = ProcessSmppAdapter(settings, sender_id="ACME", channel_id=8)
    try:
        results = adapter.send_many([OutboundMessage(1, PHONE, "one"), OutboundMessage(2, PHONE, "two")])
        assert [(result.status, result.retryable, result.error_code) for result in results] == [
            ("failed", True, "CONNECTOR_UNAVAILABLE")] * 2
        assert "did not start" in results[0].error_detail
        assert adapter.due_status_updates(NOW) == [] and adapter.lookup_status("1") is None
        assert simulator.stats.submits == 0
        # One start was tried (by the constructor); the calls since waited out the pause instead.
        assert len(started) == 1 and "next start in" in results[0].error_detail
        adapter._start_not_before = 0.0  # the pause is over
        adapter.send(OutboundMessage(3, PHONE, "three"))
        assert len(started) == 2 and adapter._start_backoff == 2.0  # doubled after a second failure
    finally:
        adapter.close()


def test_dataclasses_cross_the_pipe_unchanged():
    """The field-order reducers rebuild equal objects, nested ones included."""
    values = [
        OutboundMessage(1, PHONE, "text", config={"host": "h"}, sender_id="ACME", segments=2, encoding="UCS-2",
                        options={"a": 1}),
        SendResult(True, "sent", "abc", exchange=Exchange({"command": "submit_sm"}, {"ids": ["1"]}, None, 3)),
        StatusUpdate("abc", "delivered", "DELIVRD", "000", NOW, None, 5),
        InboundMessage("mo-1", PHONE, "ACME", "hi", NOW, ("u",), {"k": "v"}),
    ]
    assert ForkingPickler.loads(ForkingPickler.dumps(values)) == values


def test_the_registry_builds_the_connector_by_default_and_the_thread_when_asked(smsc):
    """connector "process" (or absent) gives a ProcessSmppAdapter, "thread" the in-process SmppAdapter."""
    simulator = smsc()
    host, port = simulator.address

    class Row:
        """The columns create_adapter reads."""

        id, kind, sender_id = 3, "sms", "ACME"

        def __init__(self, config: dict) -> None:
            self.config = {"host": host, "port": port, **FAST_CONFIG, **config}

    class FakeRuntime:
        """What create_adapter reads of the runtime."""

        clock = staticmethod(lambda: NOW)
        settings = Settings()

    built = [create_adapter(Row(config), FakeRuntime()) for config in ({}, {"connector": "thread"})]
    try:
        assert isinstance(built[0], ProcessSmppAdapter) and isinstance(built[1], SmppAdapter)
    finally:
        for adapter in built:
            adapter.close()
    with pytest.raises(ValueError, match="connector"):
        create_adapter(Row({"connector": "fork"}), FakeRuntime())


def test_the_child_logs_in_the_parents_level_and_format(smsc, capfd):
    """A child told to log JSON at INFO writes its bind as a JSON line on the stderr it shares with the parent."""
    simulator = smsc()
    host, port = simulator.address
    settings = SmppChannelSettings.from_config({"host": host, "port": port, **FAST_CONFIG})
    adapter = ProcessSmppAdapter(settings, sender_id="ACME", channel_id=9, log_level="INFO", log_format="json")
    try:
        assert adapter.wait_bound(5)
    finally:
        adapter.close()
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")]
    assert any(line["message"].startswith("SMPP bound to") and line["level"] == "info" for line in lines), lines


def test_dispatcher_marks_a_message_unknown_when_the_connector_dies_mid_hand_off(api, smsc):
    """Through the API and the dispatcher: the child dies before submit_sm_resp, the message becomes unknown, once."""
    simulator = smsc(submit_resp_delay_ms=3000)
    use_smpp_channel(api, simulator)
    sent = api.post("/v1/messages", json={"to": PHONE, "topic": "orders", "text": "Your order has shipped."})
    assert sent.status_code in (200, 201, 202), sent.text
    with api.runtime.session() as session:
        channel = session.scalar(select(Channel).where(Channel.provider == "smpp"))
        adapter = api.runtime.channels.adapter_for(channel, api.runtime)
    assert adapter.wait_bound(5)
    pid = adapter.pid
    killer = threading.Thread(target=lambda: (wait_for(lambda: simulator.stats.submits >= 1, 5),
                                              os.kill(pid, signal.SIGKILL)))
    killer.start()
    stats = api.dispatch()
    killer.join()
    assert stats.unknown == 1, stats
    with api.runtime.session() as session:
        message = session.get(Message, sent.json()["id"])
        assert message.status == "unknown" and "not resent" in (message.status_detail or "")
    assert simulator.stats.submits == 1


def test_channel_api_refuses_an_unknown_connector(api):
    """connector must be process or thread: 422 naming the choices, nothing stored."""
    response = api.post("/v1/channels", json={"kind": "sms", "provider": "smpp", "name": "Operator",
                                              "config": {"host": "h", "port": 2775, "system_id": "s",
                                                         "connector": "fork"}})
    assert response.status_code == 422, response.text
    assert "process, thread" in response.text
    assert not [item for item in api.get("/v1/channels").json() if item["provider"] == "smpp"]


def _alive(pid: int) -> bool:
    """Whether a process with this id still runs (and is not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False



def test_mannerly_worker_sends_through_the_connector_and_stops_it_on_sigterm(settings, smsc):
    """`mannerly worker` with an SMPP channel: the message is delivered through a connector child, and
    SIGTERM stops the worker, which unbinds and ends the child."""
    simulator = smsc(receipt_delay_ms=10)
    host, port = simulator.address
    runtime = Runtime.create(settings)
    try:
        with runtime.session() as session:
            workspace = create_workspace(session, "Acme", brand_names={"en": "Acme"}, with_simulator=False)
            session.add(Topic(workspace_id=workspace.id, name="orders", label="Orders", kind="transactional",
                              urgent=True))
            session.add(Channel(workspace_id=workspace.id, kind="sms", provider="smpp", name="Operator",
                                sender_id="ACME", config={"host": host, "port": port, **FAST_CONFIG}))
            session.commit()
            message_id = submit(session, workspace, OutboundIntent(topic="orders", to=PHONE,
                                                                   text="Your order has shipped."), runtime.now()).id
            session.commit()

        def status() -> str:
            """The message's stored status."""
            with runtime.session() as session:
                return session.get(Message, message_id).status

        worker = start_cli_worker(settings.database_url)
        try:
            wait_for(lambda: status() == "delivered", 20, 0.1)
            children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
            connectors = [int(pid) for pid in children
                          if "mannerly.channels.smpp.connector" in Path(f"/proc/{pid}/cmdline").read_text()]
            assert len(connectors) == 1
        finally:
            out, err = stop_cli_worker(worker)
        assert worker.returncode == 0, err
        assert "Worker stopped" in out
        assert not _alive(connectors[0])
        assert simulator.stats.unbinds >= 1 and simulator.stats.submits == 1
    finally:
        runtime.close()
