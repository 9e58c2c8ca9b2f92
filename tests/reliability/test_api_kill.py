"""Sending: the API process killed with SIGKILL while POSTs arrive and its in-process worker sends.

`mannerly serve` (with its embedded worker) takes concurrent POST /v1/messages and is killed mid-stream,
then a `mannerly worker` finishes the job. Every committed message is handed off exactly once (counted by
message id in the fake Twilio's log), every answered POST has its committed row, and the fake never got a
message without one. Default: 200 POSTs, 1 kill; LONG_TESTS=1: 5,000 POSTs, 20 kills.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import select

from mannerly.channels.twilio.fake_server import FakeTwilio
from mannerly.models import Message, Workspace
from mannerly.runtime import Runtime
from mannerly.workspaces.service import create_api_key
from tests.reliability.helpers import (
    MANNERLY,
    kill_hard,
    make_world,
    phone_number,
    settled,
    size,
    start_worker,
    stop,
    wait_until,
    worker_environment,
)


def free_port() -> int:
    """A TCP port free on the loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(environment: dict[str, str], port: int, log) -> subprocess.Popen:
    """`mannerly serve` with its in-process worker, answering on 127.0.0.1:port once /healthz does."""
    with log.open("ab") as output:
        process = subprocess.Popen([str(MANNERLY), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                   env=environment, cwd=log.parent, stdout=output, stderr=subprocess.STDOUT)

    def healthy() -> bool:
        """True once the server answers."""
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_until(healthy, timeout=60), "mannerly serve did not start"
    return process


def test_api_killed_between_commit_and_dispatch_sends_every_committed_message_once(settings, tmp_path, capsys):
    """Kill the API process under load, restart it, finish with a worker: committed ⇔ handed off once."""
    posts, kills = size(200, 5000), size(1, 20)
    with FakeTwilio(settle_status="delivered") as fake:
        runtime = Runtime.create(settings)
        try:
            world = make_world(runtime, fake, contacts=0)
            with runtime.session() as session:
                key = create_api_key(session, session.get(Workspace, world.workspace_id))
                session.commit()
            environment = worker_environment(settings)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            server = start_server(environment, port, tmp_path / "serve.log")
            answered: dict[int, int] = {}  # POST number -> message id, for POSTs that got their 201
            lost_answers = 0
            lock = threading.Lock()

            def post(number: int) -> None:
                """One POST; remember its message id when the answer arrives."""
                nonlocal lost_answers
                body = {"to": phone_number(number), "topic": "alerts", "channel": "sms",
                        "text": f"Your service visit {number} is confirmed."}
                try:
                    response = httpx.post(f"{base}/v1/messages", json=body, timeout=10,
                                          headers={"Authorization": f"Bearer {key}"})
                except httpx.HTTPError:
                    with lock:
                        lost_answers += 1
                    return
                if response.status_code == 201:
                    with lock:
                        answered[number] = response.json()["id"]
                else:
                    with lock:
                        lost_answers += 1

            per_round = posts // (kills + 1)
            with ThreadPoolExecutor(max_workers=8) as pool:
                for round_number in range(kills + 1):
                    numbers = range(round_number * per_round, (round_number + 1) * per_round)
                    futures = [pool.submit(post, number) for number in numbers]
                    if round_number < kills:
                        # Kill once half this round's answers are in: some POSTs are mid-request, some
                        # committed messages are not dispatched yet, some are being handed off.
                        wait_until(lambda: len(answered) >= round_number * per_round + per_round // 2, timeout=60,
                                   interval=0.01)
                        kill_hard(server)
                        for future in futures:
                            future.result()
                        server = start_server(environment, port, tmp_path / "serve.log")
                    else:
                        for future in futures:
                            future.result()
            stop(server)
            worker = start_worker(environment, tmp_path / "worker.log")
            try:
                with runtime.session() as session:
                    committed = set(session.scalars(select(Message.id).where(
                        Message.workspace_id == world.workspace_id, Message.direction == "outbound")))
                done = wait_until(lambda: settled(runtime, len(committed), world.workspace_id), timeout=120)
            finally:
                stop(worker)
            assert done, "messages left unsettled"
        finally:
            runtime.close()
    per_message = fake.handoffs_by_message_id()
    assert set(answered.values()) <= committed, "a POST answered 201 without a committed row"
    assert set(per_message) <= committed, "the fake received a message without a committed row"
    assert {message_id: count for message_id, count in per_message.items() if count != 1} == {}
    assert set(per_message) == committed, "every committed message is handed off"
    assert lost_answers > 0 or kills == 0, "no POST was cut by a kill: nothing was tested"
    with capsys.disabled():
        print(f"\nAPI kills: POSTs {posts}, kills {kills}, answered {len(answered)}, cut {lost_answers}, "
              f"committed {len(committed)}, handed off {sum(per_message.values())}")
