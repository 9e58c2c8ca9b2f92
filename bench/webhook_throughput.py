"""Benchmark: inbound webhook throughput and latency through a real `mannerly serve` process.

Starts `mannerly serve --no-worker` on a fresh SQLite database (or --database-url), with a
Twilio channel whose auth token signs every request, then POSTs signed Twilio inbound-SMS
webhooks (distinct MessageSids, 500 customers) from this process with N concurrent
connections. Each answer is only sent after the event is committed, so the figure counts
durably stored events; afterwards the script counts the stored rows to prove it.

    .venv/bin/python bench/webhook_throughput.py [--requests 5000] [--concurrency 16] [--workers 1] [--mode queue] [--json]

Goal (issue 6): >= 1,000 requests/s with p99 <= 50 ms on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx

GOAL_RPS = 1_000
GOAL_P99_MS = 50.0
ACCOUNT_SID = "AC" + "b3" * 16
AUTH_TOKEN = "bench-twilio-auth-token-0123456789"
BUSINESS_NUMBER = "+15005550006"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare(database_url: str, base_url: str) -> int:
    """Migrate, create a workspace with a Twilio channel; returns the channel id."""
    from mannerly.config import Settings
    from mannerly.models import Channel
    from mannerly.runtime import Runtime
    from mannerly.workspaces.service import create_workspace

    runtime = Runtime.create(Settings(database_url=database_url, public_base_url=base_url), migrate=True)
    with runtime.session() as session:
        # A fresh workspace per run, so a run can reuse a PostgreSQL database.
        name = f"Webhook Bench {datetime.now(UTC):%Y-%m-%d %H:%M:%S.%f}"
        workspace = create_workspace(session, name, brand_names={"en": "Acme"}, default_country="US")
        channel = Channel(workspace_id=workspace.id, kind="sms", provider="twilio", name="Twilio",
                          config={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                                  "from_number": BUSINESS_NUMBER}, rate_limit_per_second=0)
        session.add(channel)
        session.commit()
        channel_id = channel.id
    runtime.close()
    return channel_id


def stored_inbound(database_url: str, mode: str) -> int:
    """How many customer messages the database holds: filed ones (inline) or stored events (queue)."""
    from sqlalchemy import func, select

    from mannerly.config import Settings
    from mannerly.models import Message, WebhookEvent
    from mannerly.runtime import Runtime

    runtime = Runtime.create(Settings(database_url=database_url))
    with runtime.session() as session:
        if mode == "queue":
            query = select(func.count()).select_from(WebhookEvent).where(WebhookEvent.kind == "message")
        else:
            query = select(func.count()).select_from(Message).where(Message.direction == "inbound")
        count = session.scalar(query)
    runtime.close()
    return count


def signed_form(url: str, index: int) -> tuple[bytes, dict[str, str]]:
    """A Twilio inbound-SMS webhook body and headers, signed as Twilio signs it."""
    from mannerly.channels.twilio.signature import compute_signature

    form = {
        "ToCountry": "US", "ToState": "CA", "SmsMessageSid": f"SM{index:032x}", "NumMedia": "0",
        "ToCity": "", "FromZip": "", "SmsSid": f"SM{index:032x}", "FromState": "NY", "SmsStatus": "received",
        "FromCity": "NEW YORK", "Body": f"Is order A-{index} ready for pickup?", "FromCountry": "US",
        "To": BUSINESS_NUMBER, "ToZip": "", "NumSegments": "1", "MessageSid": f"SM{index:032x}",
        "AccountSid": ACCOUNT_SID, "From": f"+1212555{index % 500:04d}", "ApiVersion": "2010-04-01",
    }
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Twilio-Signature": compute_signature(AUTH_TOKEN, url, form)}
    return urlencode(form).encode(), headers


async def load(url: str, requests: int, concurrency: int, first: int = 0) -> tuple[list[float], dict[int, int], float]:
    """POST webhooks first..first+requests with `concurrency` connections; returns latencies (ms), statuses, seconds.

    The client is aiohttp: httpx's asyncio client spends about four times as much CPU per request,
    which on two cores would measure the load generator rather than the server.
    """
    import aiohttp

    bodies = [signed_form(url, first + index) for index in range(requests)]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    pending = list(range(requests - 1, -1, -1))

    async def connection(session: aiohttp.ClientSession) -> None:
        """One client connection sending until nothing is left."""
        while pending:
            body, headers = bodies[pending.pop()]
            started = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError:
                status = 0
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] = statuses.get(status, 0) + 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(connection(session) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return latencies, statuses, wall


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of the sorted values lie."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    """Run the benchmark and print a summary (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="API processes (mannerly serve --workers)")
    parser.add_argument("--mode", choices=("inline", "queue"), default="queue",
                        help="MANNERLY_WEBHOOK_MODE of the server (default queue: store, then the worker applies)")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary directory")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mannerly-webhooks-"))
    database_url = options.database_url or f"sqlite:///{folder / 'mannerly.db'}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    channel_id = prepare(database_url, base)
    env = {key: value for key, value in os.environ.items() if not key.startswith("MANNERLY_")}
    env.update(MANNERLY_DATABASE_URL=database_url, MANNERLY_PUBLIC_BASE_URL=base, MANNERLY_LOG_LEVEL="WARNING",
               MANNERLY_SECRET_KEY="bench-secret-key-0123456789abcdef", MANNERLY_WEBHOOK_MODE=options.mode)
    server = subprocess.Popen([sys.executable, "-c", "from mannerly.cli import app; app()", "serve", "--port",
                               str(port), "--no-worker", "--workers", str(options.workers)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not become ready")
            time.sleep(0.2)
        url = f"{base}/webhooks/{channel_id}"
        # Warm-up with other event ids, not counted.
        asyncio.run(load(url, min(200, options.requests), options.concurrency, first=10**9))
        warm = stored_inbound(database_url, options.mode)
        latencies, statuses, wall = asyncio.run(load(url, options.requests, options.concurrency))
        stored = stored_inbound(database_url, options.mode) - warm
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    ok = statuses.get(200, 0)
    report = {
        "requests": options.requests, "concurrency": options.concurrency, "api_processes": options.workers, "mode": options.mode,
        "database": database_url.split(":", 1)[0], "statuses": statuses, "stored_events": stored,
        "requests_per_second": round(options.requests / wall), "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1), "p99_ms": round(percentile(latencies, 0.99), 1),
        "goal_met": options.requests / wall >= GOAL_RPS and percentile(latencies, 0.99) <= GOAL_P99_MS,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average": [round(value, 2) for value in os.getloadavg()]},
    }
    assert stored == ok, f"{ok} requests answered 200 but {stored} events stored"
    if options.json:
        print(json.dumps(report))
        return
    print(f"{options.requests} signed Twilio webhooks, {options.concurrency} connections, {options.workers} API "
          f"process(es), {report['database']}, {options.mode} mode: {report['requests_per_second']} requests/s; "
          f"p50 {report['p50_ms']} ms, p95 {report['p95_ms']} ms, p99 {report['p99_ms']} ms; "
          f"statuses {statuses}; {stored} events stored (= 200 answers); "
          f"goal >= {GOAL_RPS}/s with p99 <= {GOAL_P99_MS:.0f} ms: {'met' if report['goal_met'] else 'NOT met'}; "
          f"load average {report['machine']['load_average']}")


if __name__ == "__main__":
    main()
