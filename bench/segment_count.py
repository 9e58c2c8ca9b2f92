"""Segment count benchmark: COUNT the contacts of typical segments over N contacts (default 1,000,000).

Builds the same contacts as bench/plan_campaign.py (Korea/Indonesia/Greece, 90% opted in to
"promotions", 10% tagged vip, a city and an age attribute, 2% globally opted out) with bulk
inserts on SQLite (a fresh file) and, when it answers, on PostgreSQL (127.0.0.1:5432,
database "test", a schema of its own that is dropped afterwards); then times
`count_matching` — the same code the API and the UI use — for each filter, several rounds,
and reports the median per filter and database. Goals: ≤ 1 s on SQLite, ≤ 200 ms on PostgreSQL.

    .venv/bin/python bench/segment_count.py                  # 1,000,000 contacts, both databases
    .venv/bin/python bench/segment_count.py --contacts 100000 --no-postgres --json
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plan_campaign import STAMP, build_sqlite, contact_rows, machine  # noqa: E402

GOALS_SECONDS = {"sqlite": 1.0, "postgresql": 0.2}
NOW = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
FILTERS = {
    "everyone": "",
    "country": "country:KR",
    "tag": "tag:vip",
    "attribute": "city=Seoul",
    "number": "age>=30",
    "consent": "consent:promotions",
    "inactive": "inactive>30d",
    "combined": "country:KR tag:vip consent:promotions age>=30",
    "birthday": "birthday:today",
}


def time_counts(url: str, rounds: int) -> dict[str, dict]:
    """Median seconds (and the count) of count_matching for every filter on one database."""
    from mannerly.db import make_engine
    from mannerly.segments.filters import parse_text
    from mannerly.segments.service import compiled_for, count_matching
    from sqlalchemy.orm import Session

    engine = make_engine(url)
    results = {}
    try:
        with Session(engine) as session:
            for name, text in FILTERS.items():
                compiled = compiled_for(session, 1, parse_text(text), NOW)
                count_matching(session, compiled)  # warm the cache and the plan
                seconds = []
                count = 0
                for _ in range(rounds):
                    started = time.perf_counter()
                    count = count_matching(session, compiled)
                    seconds.append(time.perf_counter() - started)
                results[name] = {"filter": text, "count": count, "median_ms": round(statistics.median(seconds) * 1000, 1),
                                 "max_ms": round(max(seconds) * 1000, 1)}
    finally:
        engine.dispose()
    return results


def build_postgres(count: int) -> tuple[str, str] | None:
    """A fresh schema on the test server with the migrated tables and `count` contacts (COPY); None when absent."""
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError:
        return None
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE SCHEMA {schema}")
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    from mannerly.db import make_engine, upgrade_database
    from mannerly.models import Topic
    from mannerly.workspaces.service import create_workspace
    from sqlalchemy.orm import Session

    upgrade_database(url)
    engine = make_engine(url)
    with Session(engine) as session:
        workspace = create_workspace(session, "Bench Shop")
        topic = Topic(workspace_id=workspace.id, name="promotions", label="Promotions", kind="marketing")
        session.add(topic)
        session.commit()
        workspace_id, topic_id = workspace.id, topic.id
    engine.dispose()
    with psycopg.connect(url, autocommit=True) as connection:
        with connection.cursor() as cursor:
            with cursor.copy("COPY contacts (workspace_id, phone, country, language, first_name, attributes, tags, "
                             "global_opt_out, night_marketing_consent, created_at, updated_at) FROM STDIN") as copy:
                for row in contact_rows(count, workspace_id):
                    copy.write_row((*row[:7], bool(row[7]), False, row[8] + "+00", row[9] + "+00"))
            import random

            rng = random.Random(9)
            buffer = io.StringIO()
            for contact_id in range(1, count + 1):
                if rng.random() < 0.9:
                    buffer.write(f"{workspace_id}\t{contact_id}\t{topic_id}\topted_in\t{STAMP}+00\n")
            with cursor.copy("COPY consents (workspace_id, contact_id, topic_id, status, updated_at) FROM STDIN") as copy:
                copy.write(buffer.getvalue())
        # What autovacuum does after a bulk load: statistics, and the visibility map that lets
        # PostgreSQL answer consent lookups from the index alone.
        connection.execute("VACUUM ANALYZE")
    return url, schema


def drop_postgres(schema: str) -> None:
    """Drop the benchmark's schema."""
    import psycopg

    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    """Build, time, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    report: dict = {"contacts": options.contacts, "machine_before": machine(), "databases": {}}
    if not options.no_sqlite:
        directory = Path(tempfile.mkdtemp(prefix="mannerly-segments-"))
        path = directory / "mannerly.db"
        build_sqlite(path, options.contacts)
        report["databases"]["sqlite"] = time_counts(f"sqlite:///{path}", options.rounds)
        for leftover in directory.iterdir():
            leftover.unlink()
        directory.rmdir()
    if not options.no_postgres:
        built = build_postgres(options.contacts)
        if built is None:
            report["databases"]["postgresql"] = "skipped: server not reachable at 127.0.0.1:5432"
        else:
            url, schema = built
            try:
                report["databases"]["postgresql"] = time_counts(url, options.rounds)
            finally:
                drop_postgres(schema)
    report["machine_after"] = machine()
    if options.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    for database, results in report["databases"].items():
        if isinstance(results, str):
            print(f"{database}: {results}")
            continue
        goal = GOALS_SECONDS[database] * 1000
        print(f"{database} (goal ≤ {goal:g} ms):")
        for name, result in results.items():
            verdict = "ok" if result["median_ms"] <= goal else "OVER"
            print(f"  {name:10} {result['median_ms']:>8} ms median (max {result['max_ms']}) "
                  f"count {result['count']:>9,}  {verdict}   {result['filter']}")
    print(f"Before: {report['machine_before']['uptime']}\nAfter:  {report['machine_after']['uptime']}")


if __name__ == "__main__":
    main()
