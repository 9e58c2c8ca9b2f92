"""Benchmark: dispatch throughput with 1 and 2 `mannerly worker` processes on PostgreSQL.

For each worker count: a fresh schema in the PostgreSQL database (default
postgresql://postgres@127.0.0.1:5432/test), a workspace with the simulator channel, N
contacts and a launched campaign on an urgent transactional topic (planned before the
clock starts), then K worker processes dispatch it. Reported: messages/s from the
workers' start until every message has left, and a check that none was sent twice.

    .venv/bin/python bench/dispatch_workers.py [--messages 5000] [--workers 1 2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import psycopg
from sqlalchemy import func, insert, select

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/test"
WORKER = [sys.executable, "-c", "from mannerly.cli import app; app()", "worker"]
LEFT = ("sent", "delivered", "undelivered", "failed", "rejected", "unknown")


def schema_url(database: str, schema: str) -> str:
    """A SQLAlchemy URL whose connections use the given schema."""
    return database.replace("postgresql://", "postgresql+psycopg://", 1) + f"?options=-csearch_path%3D{schema}"


def prepare(url: str, messages: int) -> int:
    """Migrate, create the workspace, contacts and a fully planned campaign; returns the campaign id."""
    from mannerly.campaigns import service as campaigns
    from mannerly.config import Settings
    from mannerly.models import Contact, Template, Topic
    from mannerly.runtime import Runtime
    from mannerly.segments.service import create_segment
    from mannerly.workspaces.service import create_workspace

    runtime = Runtime.create(Settings(database_url=url), migrate=True)
    now = datetime.now(UTC)
    with runtime.session() as session:
        workspace = create_workspace(session, "Dispatch Bench", brand_names={"ko": "아크미"}, default_country="KR",
                                     default_language="ko")
        session.add(Topic(workspace_id=workspace.id, name="alerts", label="Alerts", kind="transactional",
                          urgent=True))
        session.add(Template(workspace_id=workspace.id, name="notice", language="ko", topic_id=None,
                             body="{{ first_name }}님, 주문하신 상품이 오늘 발송됩니다.", variables={}))
        session.flush()
        session.execute(insert(Contact), [
            {"workspace_id": workspace.id, "phone": f"+8210{30_000_000 + index:08d}", "country": "KR",
             "language": "ko", "first_name": f"고객{index}", "time_zone": "Asia/Seoul", "tags": [],
             "attributes": {}, "created_at": now, "updated_at": now} for index in range(messages)])
        segment = create_segment(session, workspace, "everyone", {}, now)
        campaign = campaigns.create_campaign(session, workspace, {
            "name": "bench", "topic": "alerts", "segment_id": segment.id, "template": "notice",
            "throttle_per_minute": 100_000}, now)
        session.flush()
        campaigns.launch_campaign(session, runtime.settings, campaign, now)
        session.commit()
        campaign_id = campaign.id
    campaigns.plan_campaign(runtime.sessionmaker, runtime.settings, campaign_id, now)
    runtime.close()
    return campaign_id


def progress(url: str, campaign_id: int) -> tuple[int, int, int]:
    """(messages that have left, messages in all, most hand-off attempts of one message) of the campaign."""
    from mannerly.campaigns import service as campaigns
    from mannerly.config import Settings
    from mannerly.models import Message
    from mannerly.runtime import Runtime

    runtime = Runtime.create(Settings(database_url=url))
    with runtime.session() as session:
        ids = campaigns.campaign_messages(campaign_id)
        total = session.scalar(select(func.count()).select_from(Message).where(Message.id.in_(ids)))
        left = session.scalar(select(func.count()).select_from(Message).where(
            Message.id.in_(ids), Message.status.in_(LEFT)))
        attempts = session.scalar(select(func.max(Message.attempts)).where(Message.id.in_(ids)))
    runtime.close()
    return left, total, attempts


def run(database: str, messages: int, workers: int) -> dict:
    """One measurement: prepare a schema, start the workers, wait until every message has left."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    url = schema_url(database, schema)
    try:
        campaign_id = prepare(url, messages)
        env = {key: value for key, value in os.environ.items() if not key.startswith("MANNERLY_")}
        env.update(MANNERLY_DATABASE_URL=url, MANNERLY_DISPATCH_INTERVAL_SECONDS="0.05",
                   MANNERLY_DISPATCH_BATCH_SIZE="200", MANNERLY_SIMULATOR_LATENCY_MS="50",
                   MANNERLY_SIMULATOR_FAILURE_RATE="0", MANNERLY_LOG_LEVEL="WARNING")
        started = time.perf_counter()
        processes = [subprocess.Popen(WORKER, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for _ in range(workers)]
        try:
            while True:
                left, total, attempts = progress(url, campaign_id)
                if left >= total:
                    break
                time.sleep(0.25)
            seconds = time.perf_counter() - started
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(30)
        return {"workers": workers, "messages": total, "seconds": round(seconds, 2),
                "messages_per_second": round(total / seconds), "max_attempts": attempts}
    finally:
        with psycopg.connect(database, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def main() -> None:
    """Measure each worker count and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    results = [run(options.database, options.messages, count) for count in options.workers]
    report = {"results": results, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                              "load_average": [round(v, 2) for v in os.getloadavg()]}}
    if options.json:
        print(json.dumps(report))
        return
    for result in results:
        print(f"{result['workers']} worker(s): {result['messages']} messages in {result['seconds']} s = "
              f"{result['messages_per_second']} messages/s (max attempts per message {result['max_attempts']})")
    print(f"machine: {report['machine']}")


if __name__ == "__main__":
    main()
