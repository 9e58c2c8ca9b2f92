"""Benchmark: messages through the REST API to the simulator channel on the embedded default.

One server process (uvicorn serving `create_app(runtime, start_worker=True)` on 127.0.0.1,
SQLite file in a temporary folder, the dispatcher running in-process) and one client
process posting `POST /v1/messages` with bounded concurrency. Before the server starts,
the benchmark creates a workspace, an urgent transactional topic "orders" (urgent
transactional messages are exempt from quiet hours and holidays, so nothing defers
whatever the wall-clock time), an API key and one existing contact per message, in
Korea, Indonesia, Greece and the US. Each message goes to a different contact with a
text in the contact's language, so the duplicate rule never fires.

Measured: every POST's latency (p50/p95/p99), the POST rate, and messages per second
from the first POST until the last message was handed off to the simulator (its
`sent_at`, read from the database after the run), plus the queue lag (sent_at -
created_at). The server is always stopped at the end.

Run from the repository root:

    .venv/bin/python bench/end_to_end.py [--messages 10000] [--concurrency 12] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import func, select

from mannerly.config import Settings
from mannerly.contacts.service import build_contact
from mannerly.kit.phones import parse_phone
from mannerly.models import Channel, Message, Topic
from mannerly.runtime import Runtime
from mannerly.workspaces.service import create_api_key, create_workspace

LOOPBACK = "127.0.0.1"
HANDED_OFF = frozenset({"sent", "delivered", "queued", "read"})
# Statuses after which a message will not be handed off any more.
FINAL_WITHOUT_HAND_OFF = frozenset({"rejected", "failed", "unknown", "undelivered"})
SERVER_START_TIMEOUT_SECONDS = 60.0
POLL_INTERVAL_SECONDS = 0.1

# (country, language, E.164 number for index i, text for order n); numbers are valid for
# phonenumbers and checked by parse_phone during setup.
US_AREA_CODES = ("212", "305", "312", "415", "617", "702", "713", "206", "303", "404")
TEXTS = {
    "ko": "주문하신 상품 {n}번이 발송되었습니다. 배송 현황은 내 계정에서 확인하실 수 있습니다.",
    "id": "Pesanan {n} Anda sudah dikirim. Lacak pengiriman di akun Anda.",
    "el": "Η παραγγελία σας {n} στάλθηκε και θα φτάσει σε δύο ημέρες.",
    "en": "Your order {n} has shipped and should arrive in two days. Track it in your account.",
}


def korean_mobile(index: int) -> str:
    """+82 10-XXXX-XXXX with the subscriber part starting at 2000-0000."""
    return f"+8210{20_000_000 + index:08d}"


def indonesian_mobile(index: int) -> str:
    """+62 812-XXXX-XXXX (Telkomsel)."""
    return f"+62812{10_000_000 + index:08d}"


def greek_mobile(index: int) -> str:
    """+30 694 XXX XXXX."""
    return f"+30694{1_000_000 + index:07d}"


def us_fictional(index: int) -> str | None:
    """+1 AAA 555-01XX (the range kept for fiction), or None when the range is used up."""
    area, line = divmod(index, 100)
    if area >= len(US_AREA_CODES):
        return None
    return f"+1{US_AREA_CODES[area]}55501{line:02d}"


def recipients(count: int) -> list[tuple[str, str]]:
    """`count` distinct (number, language) pairs cycling KR, ID, GR, US (KR once US numbers run out)."""
    result = []
    for index in range(count):
        slot, country = divmod(index, 4)
        number = None
        if country == 3:
            number, language = us_fictional(slot), "en"
        if number is None and country == 1:
            number, language = indonesian_mobile(slot), "id"
        elif number is None and country == 2:
            number, language = greek_mobile(slot), "el"
        elif number is None:
            number, language = korean_mobile(index), "ko"
        result.append((number, language))
    return result


# -- setup and server -------------------------------------------------------------------------


def server_environment(database_url: str, latency_ms: int) -> dict[str, str]:
    """The environment of the server process: the benchmark's database and a fast, lossless simulator."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MANNERLY_")}
    environment.update({
        "MANNERLY_DATABASE_URL": database_url,
        "MANNERLY_SIMULATOR_FAILURE_RATE": "0",
        "MANNERLY_SIMULATOR_LATENCY_MS": str(latency_ms),
        "MANNERLY_LOG_LEVEL": "WARNING",
    })
    return environment


def prepare_database(database_url: str, messages: int, channel_rate: float) -> tuple[str, list[tuple[str, str]]]:
    """Migrate a fresh database and create the workspace, urgent topic, API key and contacts.

    The workspace's simulator SMS channel gets `channel_rate` messages per second (0: no limit).
    """
    runtime = Runtime.create(Settings(database_url=database_url), migrate=True)
    now = datetime.now(UTC)
    people = recipients(messages)
    try:
        with runtime.session() as session:
            workspace = create_workspace(
                session, "Bench Shop", default_language="en",
                brand_names={"en": "Bench Shop", "ko": "벤치샵", "id": "Toko Bench", "el": "Bench Shop"},
            )
            for channel in session.scalars(select(Channel).where(Channel.workspace_id == workspace.id)):
                channel.rate_limit_per_second = channel_rate
            session.add(Topic(workspace_id=workspace.id, name="orders", label="Order updates",
                              kind="transactional", urgent=True, created_at=now))
            key = create_api_key(session, workspace, "bench")
            for number, language in people:
                contact = build_contact(workspace, parse_phone(number), now, language=language)
                contact.prior_relationship_at = now  # existing customers who bought something
                session.add(contact)
            session.commit()
    finally:
        runtime.close()
    return key, people


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def start_server(port: int, environment: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Start this script in --serve mode as a separate process, its output going to a log file."""
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve", str(port)],
            env=environment, stdout=log, stderr=subprocess.STDOUT,
        )


def wait_until_up(base_url: str, server: subprocess.Popen, timeout: float) -> None:
    """Poll /healthz until the server answers; fail if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with code {server.returncode} before answering")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s")


def stop_server(server: subprocess.Popen) -> None:
    """Stop the server gracefully (SIGTERM lets the worker finish its pass), killing it if it hangs."""
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=5)


def serve(port: int) -> None:
    """The server process: the web app with the in-process worker, configured from MANNERLY_* variables."""
    import uvicorn

    from mannerly.app import create_app

    runtime = Runtime.create()
    try:
        uvicorn.run(create_app(runtime, start_worker=True), host=LOOPBACK, port=port,
                    log_level="warning", access_log=False)
    finally:
        runtime.close()


# -- client -----------------------------------------------------------------------------------


@dataclass
class ClientResults:
    """What the posting threads saw."""

    latencies: list[float] = field(default_factory=list)  # seconds, successful POSTs
    statuses: Counter = field(default_factory=Counter)  # HTTP status -> count
    message_ids: list[int] = field(default_factory=list)
    initial_statuses: Counter = field(default_factory=Counter)  # message status in the 201 body
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def post_all(base_url: str, key: str, people: list[tuple[str, str]], concurrency: int,
             deadline: float) -> ClientResults:
    """POST one message per recipient with `concurrency` threads; stops early at the deadline."""
    results = ClientResults()
    next_index = iter(range(len(people)))
    index_lock = threading.Lock()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers=headers, limits=limits, timeout=30.0) as client:

        def worker() -> None:
            """Take the next recipient and post to it until none are left or time is up."""
            while time.monotonic() < deadline:
                with index_lock:
                    index = next(next_index, None)
                if index is None:
                    return
                number, language = people[index]
                body = {"to": number, "topic": "orders", "text": TEXTS[language].format(n=100_000 + index)}
                started = time.perf_counter()
                try:
                    response = client.post("/v1/messages", json=body)
                except httpx.HTTPError as error:
                    with results.lock:
                        results.errors.append(f"{number}: {type(error).__name__}: {error}")
                    continue
                elapsed = time.perf_counter() - started
                with results.lock:
                    results.statuses[response.status_code] += 1
                    if response.status_code == 201:
                        payload = response.json()
                        results.latencies.append(elapsed)
                        results.message_ids.append(payload["id"])
                        results.initial_statuses[payload["status"]] += 1
                    elif len(results.errors) < 20:
                        results.errors.append(f"{number}: HTTP {response.status_code}: {response.text[:200]}")

        threads = [threading.Thread(target=worker, name=f"bench-client-{n}") for n in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return results


def status_counts(runtime: Runtime) -> Counter:
    """Outbound messages in the database by status."""
    with runtime.session() as session:
        rows = session.execute(
            select(Message.status, func.count()).where(Message.direction == "outbound").group_by(Message.status)
        ).all()
    return Counter({status: count for status, count in rows})


def wait_for_hand_off(runtime: Runtime, expected: int, server: subprocess.Popen, deadline: float) -> Counter:
    """Read the database until every posted message is handed off or finished otherwise, or time is up."""
    while True:
        counts = status_counts(runtime)
        settled = sum(count for status, count in counts.items() if status in HANDED_OFF | FINAL_WITHOUT_HAND_OFF)
        if settled >= expected or time.monotonic() >= deadline or server.poll() is not None:
            return counts
        time.sleep(POLL_INTERVAL_SECONDS)


def hand_off_times(runtime: Runtime) -> list[tuple[datetime, datetime]]:
    """(created_at, sent_at) of every handed-off outbound message."""
    with runtime.session() as session:
        return list(session.execute(
            select(Message.created_at, Message.sent_at)
            .where(Message.direction == "outbound", Message.sent_at.is_not(None))
        ).all())


def server_error_counts(log_text: str) -> dict[str, int]:
    """Failed dispatcher passes and SQLite lock time-outs the server logged."""
    return {
        "failed_dispatches": log_text.count("dispatch of message"),
        "failed_passes": log_text.count("dispatcher pass failed"),
        "database_locked": log_text.count("database is locked"),
        "tracebacks": log_text.count("Traceback (most recent call last)"),
    }


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of the sorted values lie (nearest rank); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def summarize_ms(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean of durations, in milliseconds."""
    if not seconds:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    return {
        "p50": percentile(seconds, 0.50) * 1000,
        "p95": percentile(seconds, 0.95) * 1000,
        "p99": percentile(seconds, 0.99) * 1000,
        "max": max(seconds) * 1000,
        "mean": statistics.fmean(seconds) * 1000,
    }


def start_profiler(pid: int, output: str) -> subprocess.Popen | None:
    """Attach py-spy to the server (collapsed stacks per thread), or None when py-spy is not installed."""
    executable = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if executable is None:
        print("py-spy is not installed; --profile-server ignored", file=sys.stderr)
        return None
    return subprocess.Popen([executable, "record", "--pid", str(pid), "--rate", "100", "--threads",
                             "--format", "raw", "--output", output, "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profiler(profiler: subprocess.Popen | None) -> None:
    """Ask py-spy to write its output and stop."""
    if profiler is None or profiler.poll() is not None:
        return
    profiler.send_signal(signal.SIGINT)
    try:
        profiler.wait(timeout=30)
    except subprocess.TimeoutExpired:
        profiler.kill()
        profiler.wait(timeout=5)


def run_benchmark(messages: int, concurrency: int, latency_ms: int = 20, timeout: float = 900.0,
                  keep: bool = False, profile_output: str | None = None, channel_rate: float = 0.0) -> dict:
    """Set up a database, start the server, post the messages, wait for hand-off, stop the server."""
    overall_deadline = time.monotonic() + timeout
    folder = Path(tempfile.mkdtemp(prefix="mannerly-bench-"))
    database_url = f"sqlite:///{folder / 'bench.db'}"
    setup_started = time.perf_counter()
    key, people = prepare_database(database_url, messages, channel_rate)
    setup_seconds = time.perf_counter() - setup_started
    port = free_loopback_port()
    base_url = f"http://{LOOPBACK}:{port}"
    log_path = folder / "server.log"
    server = start_server(port, server_environment(database_url, latency_ms), log_path)
    reader = Runtime.create(Settings(database_url=database_url))
    profiler = None
    try:
        wait_until_up(base_url, server, SERVER_START_TIMEOUT_SECONDS)
        profiler = start_profiler(server.pid, profile_output) if profile_output else None
        first_post = datetime.now(UTC)
        post_started = time.perf_counter()
        client = post_all(base_url, key, people, concurrency, overall_deadline)
        post_seconds = time.perf_counter() - post_started
        counts = wait_for_hand_off(reader, len(client.message_ids), server, overall_deadline)
        waited_seconds = time.perf_counter() - post_started
        times = hand_off_times(reader)
    finally:
        stop_profiler(profiler)
        stop_server(server)
        reader.close()
    server_log = log_path.read_text(errors="replace")
    if not keep:
        for path in sorted(folder.iterdir(), reverse=True):
            path.unlink()
        folder.rmdir()
    handed_off = sum(count for status, count in counts.items() if status in HANDED_OFF)
    last_hand_off = max((sent for _, sent in times), default=None)
    end_to_end_seconds = (last_hand_off - first_post).total_seconds() if last_hand_off else None
    return {
        "benchmark": "end_to_end",
        "messages": messages,
        "concurrency": concurrency,
        "simulator_latency_ms": latency_ms,
        "channel_rate_limit_per_second": channel_rate,
        "database": "SQLite file (embedded default), worker in-process",
        "setup_seconds": setup_seconds,
        "posted": len(client.message_ids),
        "http_statuses": {str(code): count for code, count in sorted(client.statuses.items())},
        "client_errors": client.errors[:20],
        "initial_statuses": dict(client.initial_statuses),
        "final_statuses": dict(counts),
        "handed_off": handed_off,
        "all_handed_off": handed_off == messages,
        "post_seconds": post_seconds,
        "posts_per_second": len(client.message_ids) / post_seconds if post_seconds else 0.0,
        "end_to_end_seconds": end_to_end_seconds,
        "messages_per_second": handed_off / end_to_end_seconds if end_to_end_seconds else 0.0,
        "observed_done_seconds": waited_seconds,
        "api_latency_ms": summarize_ms(client.latencies),
        "queue_lag_ms": summarize_ms([(sent - created).total_seconds() for created, sent in times]),
        "server_errors": server_error_counts(server_log),
        "server_log_tail": server_log[-2000:] if handed_off != messages else "",
        "kept_folder": str(folder) if keep else None,
        "python": platform.python_version(),
    }


def format_report(result: dict) -> str:
    """The result as a short plain-text table."""
    api, lag = result["api_latency_ms"], result["queue_lag_ms"]
    lines = [
        f"end to end: {result['messages']:,} messages, {result['concurrency']} in flight, "
        f"{result['database']}, simulator latency {result['simulator_latency_ms']} ms, "
        f"channel rate limit {result['channel_rate_limit_per_second'] or 'none'}, Python {result['python']}",
        "",
        f"posted (201)                 {result['posted']:>10,}   HTTP {result['http_statuses']}",
        f"handed off to the simulator  {result['handed_off']:>10,}   final statuses {result['final_statuses']}",
        f"POST phase                   {result['post_seconds']:>10.2f} s  {result['posts_per_second']:>8,.0f} posts/s",
        f"first POST -> last hand-off  {result['end_to_end_seconds'] or 0:>10.2f} s  "
        f"{result['messages_per_second']:>8,.0f} messages/s",
        "",
        f"{'':<18} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8} {'mean':>8}  (ms)",
        f"{'POST latency':<18} {api['p50']:>8.1f} {api['p95']:>8.1f} {api['p99']:>8.1f} {api['max']:>8.1f} "
        f"{api['mean']:>8.1f}",
        f"{'queue lag':<18} {lag['p50']:>8.1f} {lag['p95']:>8.1f} {lag['p99']:>8.1f} {lag['max']:>8.1f} "
        f"{lag['mean']:>8.1f}",
    ]
    errors = result["server_errors"]
    if any(errors.values()):
        lines += ["", "server log: " + ", ".join(f"{name} {count}" for name, count in errors.items())]
    if result["client_errors"]:
        lines += ["", "client errors (first ones):", *result["client_errors"]]
    if result["server_log_tail"]:
        lines += ["", "server log (tail):", result["server_log_tail"]]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000, help="messages to send (default 10000)")
    parser.add_argument("--concurrency", type=int, default=12, help="POSTs in flight (default 12)")
    parser.add_argument("--latency-ms", type=int, default=20, help="simulator receipt delay (default 20)")
    parser.add_argument("--channel-rate", type=float, default=0.0,
                        help="the simulator channel's rate limit in messages/s (default 0: none)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary database and server log")
    parser.add_argument("--profile-server", metavar="FILE",
                        help="record the server with py-spy (if installed) into FILE (speedscope JSON)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the server process
    args = parser.parse_args(argv)
    if args.serve is None and (args.messages < 1 or args.concurrency < 1 or args.timeout <= 0):
        parser.error("--messages, --concurrency and --timeout must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or, with --serve, be its server); exit 1 when not every message was handed off."""
    args = parse_args(argv)
    if args.serve is not None:
        serve(args.serve)
        return 0
    result = run_benchmark(args.messages, args.concurrency, args.latency_ms, args.timeout, args.keep,
                           profile_output=args.profile_server, channel_rate=args.channel_rate)
    print(json.dumps(result, indent=2, default=str) if args.json else format_report(result))
    return 0 if result["all_handed_off"] else 1


if __name__ == "__main__":
    sys.exit(main())
