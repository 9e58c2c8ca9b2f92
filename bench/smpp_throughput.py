"""Benchmark: sustained dispatch through the SMPP adapter to `mannerly smsc-sim` on loopback.

Two processes: this one (the dispatcher on the embedded default, SQLite in a temporary
folder) and `mannerly smsc-sim` on 127.0.0.1 (its own process, so the simulator does not
compete for this process's GIL). Setup (not measured): a workspace with an urgent
transactional topic (exempt from quiet hours and holidays, so nothing defers whatever the
wall-clock time), one contact per message in Korea, Indonesia, Greece and the US, an SMPP
channel without a rate limit, and every message queued through the normal outbound
pipeline (`messages.service.submit`).

Measured:
1. dispatch: `Dispatcher.run_once()` in a loop, as the worker runs it (claim, decide
   again, commit `sending`, submit_sm and wait for submit_sm_resp, commit the result,
   apply receipts), from the first pass until no message is pending or sending;
   messages/s = messages / that time. Then the time until every receipt is stored
   (`delivered`).
2. beside it, on a fresh session to the same simulator: a raw loop of the same codec
   (`EsmeClient.request(submit_sm)`, one at a time), the adapter's `send` one at a time,
   and the adapter's pipelined `send_many` (window-sized batches).

`--profile` adds a cProfile of the dispatch phase (top functions by own and cumulative time).

Run from the repository root:

    .venv/bin/python bench/smpp_throughput.py [--messages 5000] [--raw 5000] [--window 10] [--batch 100]
        [--batch-max 500] [--connector process|thread] [--json] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from mannerly.channels.base import OutboundMessage
from mannerly.channels.smpp import pdu
from mannerly.channels.smpp.adapter import SmppAdapter, SmppChannelSettings
from mannerly.config import Settings
from mannerly.contacts.service import build_contact
from mannerly.kit.phones import parse_phone
from mannerly.kit.process import tune_garbage_collection
from mannerly.messages.service import OutboundIntent, submit
from mannerly.models import Channel, Message, Topic, Workspace
from mannerly.outbox.dispatcher import Dispatcher
from mannerly.runtime import Runtime
from mannerly.workspaces.service import create_workspace

GOAL_MESSAGES_PER_SECOND = 3_000
SYSTEM_ID = "bench"
PASSWORD = "benchpw"
SENDER = "BenchShop"
# One short text per language (UCS-2 ones stay under 70 units: one segment each).
TEXTS = {
    "ko": "주문 {n}번이 발송되었습니다.",
    "id": "Pesanan {n} Anda sudah dikirim.",
    "el": "Η παραγγελία {n} στάλθηκε.",
    "en": "Your order {n} has shipped.",
}
QUEUE_CHUNK = 1_000


def recipient(index: int) -> tuple[str, str]:
    """A distinct valid mobile number and its language, cycling KR, ID, GR, US."""
    country = index % 4
    if country == 0:
        return f"+8210{20_000_000 + index:08d}", "ko"
    if country == 1:
        return f"+62812{10_000_000 + index:08d}", "id"
    if country == 2:
        return f"+30694{1_000_000 + index:07d}", "el"
    return f"+1212{2_000_000 + index:07d}", "en"


def start_simulator(receipt_delay_ms: int) -> tuple[subprocess.Popen, str, int]:
    """Start `mannerly smsc-sim` on a free loopback port; returns the process, host and port."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from mannerly.cli import app; app()", "smsc-sim", "--port", "0",
         "--system-id", SYSTEM_ID, "--password", PASSWORD, "--receipt-delay-ms", str(receipt_delay_ms),
         "--id-format", "HEX", "--receipt-id-format", "dec"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = process.stdout.readline()
    found = re.search(r"listening on ([\d.]+):(\d+)", line)
    if not found:
        process.kill()
        raise RuntimeError(f"smsc-sim did not start: {line}{process.stderr.read()}")
    return process, found.group(1), int(found.group(2))


def channel_config(host: str, port: int, window: int, connector: str) -> dict:
    """The SMPP channel's config for the benchmark."""
    return {"host": host, "port": port, "system_id": SYSTEM_ID, "password": PASSWORD, "window": window,
            "response_timeout": 10, "enquire_link_interval": 30, "connector": connector}


def prepare(runtime: Runtime, host: str, port: int, messages: int, window: int, connector: str) -> float:
    """Create the workspace, topic, contacts and SMPP channel, and queue the messages; returns seconds spent queueing."""
    now = runtime.now()
    with runtime.session() as session:
        workspace = create_workspace(session, "Bench Shop", default_language="en", with_simulator=False,
                                     brand_names={"en": "Bench Shop", "ko": "벤치샵", "id": "Toko Bench", "el": "Bench Shop"})
        session.add(Topic(workspace_id=workspace.id, name="orders", label="Order updates", kind="transactional",
                          urgent=True, created_at=now))
        session.add(Channel(workspace_id=workspace.id, kind="sms", provider="smpp", name="Bench SMPP",
                            sender_id=SENDER, config=channel_config(host, port, window, connector), rate_limit_per_second=0))
        contacts = []
        for index in range(messages):
            number, language = recipient(index)
            contact = build_contact(workspace, parse_phone(number), now, language=language)
            contact.prior_relationship_at = now
            session.add(contact)
            contacts.append((contact, language))
        session.commit()
        workspace_id = workspace.id
        people = [(contact.id, language) for contact, language in contacts]
    started = time.perf_counter()
    for offset in range(0, len(people), QUEUE_CHUNK):
        with runtime.session() as session:
            workspace = session.get(Workspace, workspace_id)
            for number, (contact_id, language) in enumerate(people[offset:offset + QUEUE_CHUNK], start=offset):
                submit(session, workspace, OutboundIntent(topic="orders", contact_id=contact_id,
                                                          text=TEXTS[language].format(n=number)), now)
            session.commit()
    return time.perf_counter() - started


def count_by_status(runtime: Runtime) -> dict[str, int]:
    """Outbound messages per status."""
    with runtime.session() as session:
        rows = session.execute(select(Message.status, func.count()).where(Message.direction == "outbound")
                               .group_by(Message.status)).all()
    return {status: count for status, count in rows}


def process_cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds (user + system, all threads) used so far by this process, or by another one through /proc."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_dispatch(runtime: Runtime, messages: int, profile: bool, deliver_timeout: float,
                 simulator_pid: int | None = None) -> dict:
    """Run dispatcher passes until nothing is pending/sending, then until every receipt is stored."""
    dispatcher = Dispatcher(runtime, "bench")
    spent = time_phases(dispatcher)
    connector_pid = bound_connector_pid(runtime)
    tune_garbage_collection()  # as `mannerly worker` does once it has started
    profiler = cProfile.Profile() if profile else None
    passes = 0
    cpu_before = process_cpu_seconds()
    simulator_before = process_cpu_seconds(simulator_pid) if simulator_pid else None
    connector_before = process_cpu_seconds(connector_pid) if connector_pid else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    while True:
        stats = dispatcher.run_once()
        passes += 1
        if stats.claimed == 0:
            counts = count_by_status(runtime)
            if not counts.get("pending") and not counts.get("sending") and not counts.get("deferred"):
                break
    dispatched = time.perf_counter() - started
    cpu = process_cpu_seconds() - cpu_before
    simulator_cpu = process_cpu_seconds(simulator_pid) - simulator_before if simulator_pid else None
    connector_cpu = process_cpu_seconds(connector_pid) - connector_before if connector_pid else None
    spent = dict(spent)  # freeze the dispatch-phase figures before the receipt passes add to them
    if profiler:
        profiler.disable()
    deadline = time.perf_counter() + deliver_timeout
    while time.perf_counter() < deadline:
        dispatcher.run_once()
        counts = count_by_status(runtime)
        if counts.get("delivered", 0) + counts.get("failed", 0) + counts.get("rejected", 0) >= messages:
            break
        time.sleep(0.01)
    all_receipts = time.perf_counter() - started
    result = {
        "dispatch_seconds": round(dispatched, 3),
        "dispatch_messages_per_second": round(messages / dispatched, 1),
        "until_all_delivered_seconds": round(all_receipts, 3),
        "passes": passes,
        "final_statuses": count_by_status(runtime),
        # Wall time per message in each step of the dispatch phase (receipt passes after it excluded).
        "us_per_message": {phase: round(seconds / messages * 1e6, 1) for phase, seconds in spent.items()},
        # CPU time (all threads) per message during the dispatch phase: this process, the SMPP connector
        # process (None with connector "thread": its work is in this process) and the simulator's.
        "cpu_us_per_message": {"dispatcher_process": round(cpu / messages * 1e6, 1),
                               "connector_process": round(connector_cpu / messages * 1e6, 1)
                               if connector_cpu is not None else None,
                               "simulator_process": round(simulator_cpu / messages * 1e6, 1)
                               if simulator_cpu is not None else None},
    }
    if profiler:
        result["profile"] = profile_summary(profiler, messages)
    return result


def bound_connector_pid(runtime: Runtime) -> int | None:
    """Build the channel's adapter and wait for its bind (not measured); the connector process's id, if any."""
    with runtime.session() as session:
        channel = session.scalar(select(Channel).where(Channel.provider == "smpp"))
        adapter = runtime.channels.adapter_for(channel, runtime)
    if not adapter.wait_bound(10):
        raise SystemExit("the SMPP adapter did not bind to the simulator")
    return getattr(adapter, "pid", None)


def time_phases(dispatcher: Dispatcher) -> dict[str, float]:
    """Wrap the dispatcher's steps (and the adapter's send) to add up the wall time each takes."""
    spent = {"claim_batch": 0.0, "redecide": 0.0, "start_hand_off": 0.0, "record_in_flight": 0.0,
             "record_results": 0.0, "poll_receipts": 0.0, "dispatch_total": 0.0}

    def timed(name: str, function):
        """The function, adding its wall time to spent[name]."""
        def wrapper(*args, **kwargs):
            """Call and time."""
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started
        return wrapper

    for name in ("claim_batch", "redecide", "start_hand_off", "record_in_flight", "record_results", "poll_receipts"):
        setattr(dispatcher, name, timed(name, getattr(dispatcher, name)))
    dispatcher.dispatch_batches = timed("dispatch_total", dispatcher.dispatch_batches)
    return spent


def profile_summary(profiler: cProfile.Profile, messages: int, top: int = 25) -> dict:
    """Top functions by own time and by cumulative time, in microseconds per message."""
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(filename).name}:{line}:{name}"
        rows.append((where, calls, own, cumulative))
    by_own = sorted(rows, key=lambda row: row[2], reverse=True)[:top]
    by_cumulative = sorted(rows, key=lambda row: row[3], reverse=True)[:top]

    def table(selected: list) -> list[dict]:
        """Rows as dicts with per-message microseconds."""
        return [{"function": where, "calls": calls, "own_us_per_message": round(own / messages * 1e6, 1),
                 "cumulative_us_per_message": round(cumulative / messages * 1e6, 1)}
                for where, calls, own, cumulative in selected]

    return {"by_own_time": table(by_own), "by_cumulative_time": table(by_cumulative)}


def run_raw(host: str, port: int, count: int, window: int) -> dict:
    """The same codec without the dispatcher: raw submit_sm loop, adapter.send loop, adapter.send_many."""
    settings = SmppChannelSettings.from_config(channel_config(host, port, window, "thread"))
    adapter = SmppAdapter(settings, sender_id=SENDER)
    try:
        if not adapter.client.wait_bound(10):
            raise RuntimeError(f"could not bind: {adapter.client.last_error}")
        outbound = [OutboundMessage(index, recipient(index)[0], TEXTS["en"].format(n=index)) for index in range(count)]
        submit_sm = adapter._submit_sm  # the exact PDU the adapter sends

        started = time.perf_counter()
        for message in outbound:
            prepared = adapter._prepare(message)
            response = adapter.client.request(submit_sm(prepared, 0))
            assert response.command_status == pdu.ESME_ROK
        raw_serial = time.perf_counter() - started

        started = time.perf_counter()
        for message in outbound:
            assert adapter.send(message).accepted
        adapter_serial = time.perf_counter() - started

        started = time.perf_counter()
        for offset in range(0, count, window * 10):
            results = adapter.send_many(outbound[offset:offset + window * 10])
            assert all(result.accepted for result in results)
        adapter_pipelined = time.perf_counter() - started
    finally:
        adapter.close()
    return {
        "messages": count,
        "raw_submit_sm_loop_per_second": round(count / raw_serial, 1),
        "adapter_send_loop_per_second": round(count / adapter_serial, 1),
        "adapter_send_many_per_second": round(count / adapter_pipelined, 1),
    }


def machine() -> dict:
    """What the figures were measured on."""
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}


def main() -> None:
    """Parse options, run both measurements, print a report (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5_000, help="messages through the dispatcher")
    parser.add_argument("--raw", type=int, default=5_000, help="messages for each raw loop")
    parser.add_argument("--window", type=int, default=10, help="the SMPP window (outstanding PDUs)")
    parser.add_argument("--batch", type=int, default=100, help="dispatch_batch_size (rows claimed per pass)")
    parser.add_argument("--batch-max", type=int, default=500,
                        help="dispatch_batch_max (claims grow up to it while passes stay quick; = --batch: fixed)")
    parser.add_argument("--receipt-delay-ms", type=int, default=50)
    parser.add_argument("--connector", choices=("process", "thread"), default="process",
                        help="where the SMPP session runs: a child process (the default) or a thread of this one")
    parser.add_argument("--profile", action="store_true", help="cProfile the dispatch phase")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="mannerly-smpp-bench-"))
    simulator, host, port = start_simulator(args.receipt_delay_ms)
    runtime = None
    try:
        settings = Settings(database_url=f"sqlite:///{folder / 'mannerly.db'}", dispatch_batch_size=args.batch,
                            dispatch_batch_max=args.batch_max,
                            log_level="WARNING")
        runtime = Runtime.create(settings, migrate=True)
        queue_seconds = prepare(runtime, host, port, args.messages, args.window, args.connector)
        dispatch = run_dispatch(runtime, args.messages, args.profile, deliver_timeout=30 + args.messages / 500,
                                simulator_pid=simulator.pid)
        runtime.close()
        runtime = None
        raw = run_raw(host, port, args.raw, args.window)
    finally:
        if runtime is not None:
            runtime.close()
        simulator.terminate()
        simulator.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    rate = dispatch["dispatch_messages_per_second"]
    report = {
        "messages": args.messages,
        "window": args.window,
        "connector": args.connector,
        "dispatch_batch_size": args.batch,
        "dispatch_batch_max": args.batch_max,
        "queue_seconds": round(queue_seconds, 3),
        **dispatch,
        "raw": raw,
        "overhead_ratio_vs_raw_loop": round(raw["raw_submit_sm_loop_per_second"] / rate, 2),
        "goal_messages_per_second": GOAL_MESSAGES_PER_SECOND,
        "goal_met": rate >= GOAL_MESSAGES_PER_SECOND,
        "machine": machine(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    print(f"SMPP dispatch: {args.messages} messages in {dispatch['dispatch_seconds']} s = {rate} msg/s "
          f"(goal {GOAL_MESSAGES_PER_SECOND}: {'met' if report['goal_met'] else 'NOT met'}); "
          f"all receipts stored after {dispatch['until_all_delivered_seconds']} s")
    print(f"  final statuses: {dispatch['final_statuses']}")
    print("  wall time per message: " + ", ".join(f"{phase} {us} us" for phase, us in dispatch["us_per_message"].items()))
    cpu = dispatch["cpu_us_per_message"]
    connector_cpu = f"SMPP connector process {cpu['connector_process']} us, " if cpu["connector_process"] else ""
    print(f"  CPU time per message: this process {cpu['dispatcher_process']} us, {connector_cpu}"
          f"smsc-sim {cpu['simulator_process']} us")
    print(f"Same simulator, no dispatcher ({raw['messages']} each): raw submit_sm loop "
          f"{raw['raw_submit_sm_loop_per_second']}/s, adapter.send loop {raw['adapter_send_loop_per_second']}/s, "
          f"adapter.send_many (window {args.window}) {raw['adapter_send_many_per_second']}/s")
    print(f"  raw loop / dispatch = {report['overhead_ratio_vs_raw_loop']}x")
    if "profile" in dispatch:
        print("Dispatch profile (top by cumulative time, microseconds per message):")
        for row in dispatch["profile"]["by_cumulative_time"]:
            print(f"  {row['cumulative_us_per_message']:>9} us  {row['calls']:>8} calls  {row['function']}")
        print("Top by own time:")
        for row in dispatch["profile"]["by_own_time"]:
            print(f"  {row['own_us_per_message']:>9} us  {row['calls']:>8} calls  {row['function']}")
    print(f"Machine: {report['machine']}")


if __name__ == "__main__":
    main()
