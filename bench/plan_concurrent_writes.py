"""Other writers during campaign planning: how long API writes wait while a large campaign is planned (SQLite).

Builds the fixture of plan_campaign.py (N contacts, default 150,000), launches the campaign and
plans it with the real planner (parallel by default, as a worker pass would), while W writers
(other processes, or threads of the planning process as in the embedded `mannerly serve`) make
ordinary writes through the REST API against the same SQLite file, each one after another with
20 ms between them: a customer's message (POST /v1/simulator/inbound), a STOP (same endpoint)
and an outbound message (POST /v1/messages), each from or to a new number. Reported: per kind
the count, the failures (such as "database is locked") and the median, p99 and longest time a
write took during the planning, and every write slower than 250 ms on a timeline.

    .venv/bin/python bench/plan_concurrent_writes.py                       # 150,000 contacts, one writer process
    .venv/bin/python bench/plan_concurrent_writes.py --contacts 1000000 --writers 3 --writer thread --json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from plan_campaign import START, _build_in_child, machine, phone_for  # noqa: E402

# Pause between two writes of the writer: a busy API, not a flood.
WRITE_PAUSE_SECONDS = 0.02


def api_writes(path: str, api_key: str, offset: int, stop, ready, results) -> None:
    """Make API writes one after another until `stop` is set; put (kind, started, seconds, error) rows in `results`."""
    from fastapi.testclient import TestClient

    from mannerly.app import create_app
    from mannerly.config import Settings
    from mannerly.runtime import ManualClock, Runtime

    runtime = Runtime.create(Settings(database_url=f"sqlite:///{path}"), clock=ManualClock(START))
    client = TestClient(create_app(runtime, start_worker=False), raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {api_key}"}
    rows = []
    number = 0
    ready.set()
    while not stop.is_set():
        number += 1
        # A new number per write (each writer its own range): the API creates the contact.
        phone = phone_for("KR", 10_000_000 * (offset + 1) + number)
        kind = ("inbound", "stop", "send")[number % 3]
        if kind == "send":
            request = ("POST", "/v1/messages", {"to": phone, "topic": "service", "text": "Your order has shipped."})
        else:
            request = ("POST", "/v1/simulator/inbound",
                       {"from": phone, "text": "STOP" if kind == "stop" else "Is the sale still on?"})
        started = time.time()
        clock = time.perf_counter()
        error = None
        try:
            answer = client.request(request[0], request[1], json=request[2], headers=headers)
            if answer.status_code >= 300:
                error = f"{answer.status_code} {answer.text[:200]}"
        except Exception:  # noqa: BLE001 - counted and reported
            error = traceback.format_exc(limit=1)[-300:]
        rows.append((kind, started, time.perf_counter() - clock, error))
        time.sleep(WRITE_PAUSE_SECONDS)
    runtime.close()
    results.put(rows)


def prepare(path: Path) -> tuple[int, str]:
    """Create the campaign and an API key; returns (campaign id, key). The campaign is launched by run()."""
    from sqlalchemy import select

    from mannerly.campaigns import service
    from mannerly.config import Settings
    from mannerly.models import Segment, Workspace
    from mannerly.runtime import ManualClock, Runtime
    from mannerly.workspaces.service import create_api_key

    settings = Settings(database_url=f"sqlite:///{path}", public_base_url="https://go.acme.test")
    runtime = Runtime.create(settings, clock=ManualClock(START))
    with runtime.session() as session:
        workspace = session.scalar(select(Workspace).where(Workspace.name == "Bench Shop"))
        segment_id = session.scalar(select(Segment.id).where(Segment.workspace_id == workspace.id))
        campaign = service.create_campaign(session, workspace, {
            "name": "Spring", "topic": "promotions", "segment_id": segment_id, "template": "sale",
            "throttle_per_minute": 20_000, "track_links": True}, START)
        service.launch_campaign(session, settings, campaign, START)
        key = create_api_key(session, workspace)
        session.commit()
        campaign_id = campaign.id
    runtime.close()
    return campaign_id, key


def summary(rows: list[tuple], planning: tuple[float, float]) -> dict:
    """Per kind: count, failures, longest and p99 wait; and the same for writes that overlapped the planning."""
    report = {}
    begin, end = planning
    for label, chosen in (("all", rows), ("during_planning", [row for row in rows if begin <= row[1] <= end])):
        kinds = {}
        for kind in ("inbound", "stop", "send"):
            waits = sorted(row[2] for row in chosen if row[0] == kind)
            failures = [row[3] for row in chosen if row[0] == kind and row[3]]
            kinds[kind] = {"count": len(waits), "failed": len(failures), "errors": sorted(set(failures))[:3],
                           "max_ms": round(waits[-1] * 1000) if waits else None,
                           "p99_ms": round(waits[int(len(waits) * 0.99)] * 1000) if waits else None,
                           "median_ms": round(waits[len(waits) // 2] * 1000) if waits else None}
        report[label] = kinds
    waits = sorted(row[2] for row in rows if begin <= row[1] <= end)
    report["during_planning"]["over_1s"] = sum(1 for wait in waits if wait > 1.0)
    return report


def run(path: Path, campaign_id: int, key: str, writer: str, writers: int, parallel: bool,
        write_chunk: int | None, long_hold: float | None) -> dict:
    """Plan the campaign while the writers write; returns the planner's result and the writes' figures."""
    from mannerly.campaigns import parallel as parallel_planning
    from mannerly.campaigns import service
    from mannerly.config import Settings
    from mannerly.runtime import ManualClock, Runtime

    if write_chunk:
        parallel_planning.WRITE_CHUNK = write_chunk
    if long_hold is not None:
        parallel_planning.LONG_HOLD_SECONDS = long_hold

    if writer == "process":
        context = multiprocessing.get_context("spawn")
        stop, results = context.Event(), context.Queue()
        readies = [context.Event() for _number in range(writers)]
        others = [context.Process(target=api_writes, args=(str(path), key, number, stop, ready, results))
                  for number, ready in enumerate(readies)]
    else:
        import queue

        stop, results = threading.Event(), queue.Queue()
        readies = [threading.Event() for _number in range(writers)]
        others = [threading.Thread(target=api_writes, args=(str(path), key, number, stop, ready, results))
                  for number, ready in enumerate(readies)]
    for other in others:
        other.start()
    for ready in readies:
        ready.wait(120)
    time.sleep(1.0)  # a second of writes with nothing else going on: the baseline
    settings = Settings(database_url=f"sqlite:///{path}", public_base_url="https://go.acme.test")
    runtime = Runtime.create(settings, clock=ManualClock(START))
    begin = time.time()
    planner = parallel_planning.plan_in_parallel if parallel else service.plan_campaign
    result = planner(runtime.sessionmaker, settings, campaign_id, START)
    end = time.time()
    runtime.close()
    time.sleep(1.0)
    stop.set()
    rows = [row for _other in others for row in results.get(timeout=120)]
    for other in others:
        other.join()
    # getattr: the script also runs against the planner before writing transactions were split (one per batch).
    return {"plan_seconds": round(end - begin, 1), "batches": result.batches, "queued": result.queued,
            "transactions": getattr(result, "transactions", result.batches),
            "write_chunk": getattr(parallel_planning, "WRITE_CHUNK", None),
            "long_hold": getattr(parallel_planning, "LONG_HOLD_SECONDS", None), "done": result.done,
            "phase_seconds": {phase: round(value, 2) for phase, value in result.seconds.items()},
            "writes": summary(rows, (begin, end)),
            "timeline": [(round(row[1] - begin, 2), row[0], round(row[2] * 1000), bool(row[3])) for row in rows
                         if row[2] > 0.25]}


def main() -> None:
    """Build, plan with writes beside it, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=150_000)
    parser.add_argument("--writer", choices=("process", "thread"), default="process",
                        help="each writer in a process of its own, or a thread of the planning process (as in serve)")
    parser.add_argument("--writers", type=int, default=1, help="how many such writers write at once")
    parser.add_argument("--write-chunk", type=int, default=None,
                        help="contacts per writing transaction in parallel planning (default: the planner's own)")
    parser.add_argument("--long-hold", type=float, default=None,
                        help="seconds of holding the write lock after which the planner leaves a full gap")
    parser.add_argument("--parallel", choices=("on", "off"), default="on")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="mannerly-lock-"))
    path = directory / "mannerly.db"
    report: dict = {"contacts": options.contacts, "writer": options.writer, "writers": options.writers,
                    "parallel": options.parallel, "machine_before": machine()}
    queue = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=_build_in_child,
                                                        args=(str(path), options.contacts, queue))
    child.start()
    report.update(queue.get())
    child.join()
    os.sync()
    campaign_id, key = prepare(path)
    report.update(run(path, campaign_id, key, options.writer, options.writers, options.parallel == "on",
                      options.write_chunk, options.long_hold))
    report["machine_after"] = machine()
    for leftover in directory.iterdir():
        leftover.unlink()
    directory.rmdir()
    if options.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    print(f"Planned {report['queued']:,} messages for {options.contacts:,} contacts in {report['plan_seconds']} s "
          f"({report['batches']} batches in {report['transactions']} transactions, parallel {options.parallel}), "
          f"{options.writers} writer(s), each in a {options.writer}")
    print(f"  phases (s): {report['phase_seconds']}")
    for kind, figures in report["writes"]["during_planning"].items():
        print(f"  during planning, {kind}: {figures}")
    print(f"  writes slower than 250 ms (s after planning began, kind, ms, failed): {report['timeline'][:40]}")
    print(f"Before: {report['machine_before']['uptime']}\nAfter:  {report['machine_after']['uptime']}")


if __name__ == "__main__":
    main()
