"""Campaign planning benchmark: plan a campaign to N recipients (default 1,000,000) on the embedded default.

Builds a fresh, migrated SQLite file with N contacts (Korea 50%, Indonesia 30%, Greece 20%;
90% opted in to the marketing topic "promotions", 2% globally opted out, a pool of first
names, a few tags and attributes) using fast bulk inserts (not timed), then times the real
planner (`mannerly.campaigns.parallel.plan_in_parallel`, or with --parallel off
`mannerly.campaigns.service.plan_campaign`): segment → gather state → decide
(Source.CAMPAIGN) → render (a template per language with a link) → short links →
throttle slots → insert the outbox rows, recipients and links, batch by batch.

Then it times a raw bulk insert of the same final rows (messages, campaign_recipients,
short_links copied with plain executemany into an empty copy of the schema): the ratio
of the two is the planner's overhead. Peak memory is the planning process's own plus the
deciding process's (ru_maxrss of each; the fixture is built in a child process). Machine and load (`uptime`) are
printed before and after.

    .venv/bin/python bench/plan_campaign.py                 # 1,000,000 recipients
    .venv/bin/python bench/plan_campaign.py --contacts 20000 --json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

GOAL_SECONDS = 60.0
GOAL_PEAK_MIB = 1024
# Tuesday 4 March 2025, 01:00 UTC: 10:00 in Seoul, 08:00 in Jakarta, 03:00 in Athens.
START = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)
STAMP = "2025-03-01 00:00:00.000000"
COUNTRY_SHARES = (("KR", "ko", 0.5), ("ID", "id", 0.3), ("GR", "el", 0.2))
FIRST_NAMES = {
    "ko": ["민준", "서연", "지호", "하은", "도윤", "수아", "예준", "지우", "시우", "서윤"],
    "id": ["Budi", "Siti", "Agus", "Dewi", "Rizky", "Putri", "Eko", "Wati", "Andi", "Sri"],
    "el": ["Γιώργος", "Μαρία", "Νίκος", "Ελένη", "Δημήτρης", "Κατερίνα", "Κώστας", "Σοφία"],
}
CITIES = {"KR": ["Seoul", "Busan", "Incheon"], "ID": ["Jakarta", "Surabaya", "Bandung"], "GR": ["Athens", "Thessaloniki"]}
TEMPLATES = {
    "en": "Hi {{ first_name }}, spring sale: 20% off this week at https://shop.example/sale",
    "ko": "{{ first_name }}님, 봄 세일 이번 주 20% 할인: https://shop.example/sale",
    "id": "Halo {{ first_name }}, diskon 20% minggu ini di https://shop.example/sale",
    "el": "Γεια σου {{ first_name }}, έκπτωση 20% αυτή την εβδομάδα: https://shop.example/sale",
}
BULK_CHUNK = 50_000


def phone_for(country: str, index: int) -> str:
    """A valid, unique mobile number in the country."""
    if country == "KR":
        return f"+8210{index:08d}"
    if country == "ID":
        return f"+62812{index:08d}"
    return f"+3069{index:08d}"


def contact_rows(count: int, workspace_id: int, seed: int = 5):
    """Contact rows as tuples (phone, country, language, first_name, attributes, tags, global_opt_out)."""
    rng = random.Random(seed)
    for index in range(count):
        pick = rng.random()
        for country, language, share in COUNTRY_SHARES:
            if pick < share:
                break
            pick -= share
        tags = ["vip"] if rng.random() < 0.1 else []
        attributes = {"city": rng.choice(CITIES[country]), "age": rng.randint(18, 80),
                      "birthday": f"{rng.randint(1950, 2006)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"}
        yield (workspace_id, phone_for(country, index), country, language, rng.choice(FIRST_NAMES[language]),
               json.dumps(attributes), json.dumps(tags), 1 if rng.random() < 0.02 else 0, STAMP, STAMP)


def build_sqlite(path: Path, count: int) -> dict:
    """A migrated SQLite file with a workspace, topic, templates, 'everyone' segment and `count` contacts."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from mannerly.db import make_engine, upgrade_database
    from mannerly.models import Segment, Template, Topic
    from mannerly.workspaces.service import create_workspace

    url = f"sqlite:///{path}"
    upgrade_database(url)
    engine = make_engine(url)
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        workspace = create_workspace(session, "Bench Shop", brand_names={"en": "Acme", "ko": "아크미", "id": "Acme",
                                                                         "el": "Acme"}, default_language="en")
        topic = Topic(workspace_id=workspace.id, name="promotions", label="Promotions", kind="marketing",
                      keyword="PROMO")
        session.add(topic)
        for language, body in TEMPLATES.items():
            session.add(Template(workspace_id=workspace.id, name="sale", language=language, body=body,
                                 variables={"first_name": "friend"}))
        session.add(Segment(workspace_id=workspace.id, name="everyone", filter={}, created_at=START, updated_at=START))
        session.commit()
        workspace_id, topic_id = workspace.id, topic.id
    engine.dispose()
    started = time.perf_counter()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    insert_contacts = ("INSERT INTO contacts (workspace_id, phone, country, language, first_name, attributes, tags, "
                       "global_opt_out, night_marketing_consent, created_at, updated_at) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)")
    batch = []
    for row in contact_rows(count, workspace_id):
        batch.append(row)
        if len(batch) >= BULK_CHUNK:
            connection.executemany(insert_contacts, batch)
            batch.clear()
    if batch:
        connection.executemany(insert_contacts, batch)
    # 90% opted in to promotions (the ledger event and the current state).
    rng = random.Random(9)
    opted = [contact_id for contact_id in range(1, count + 1) if rng.random() < 0.9]
    for start in range(0, len(opted), BULK_CHUNK):
        chunk = opted[start:start + BULK_CHUNK]
        connection.executemany(
            "INSERT INTO consent_events (workspace_id, contact_id, topic_id, status, source, actor, occurred_at) "
            "VALUES (?, ?, ?, 'opted_in', 'import', 'bench', ?)", [(workspace_id, cid, topic_id, STAMP) for cid in chunk])
        connection.executemany(
            "INSERT INTO consents (workspace_id, contact_id, topic_id, status, updated_at) "
            "VALUES (?, ?, ?, 'opted_in', ?)", [(workspace_id, cid, topic_id, STAMP) for cid in chunk])
    connection.commit()
    connection.close()
    return {"workspace_id": workspace_id, "fixture_seconds": round(time.perf_counter() - started, 1)}


def _build_in_child(path: str, count: int, queue) -> None:
    """Build the fixture in a child process so its memory does not count for the planner."""
    queue.put(build_sqlite(Path(path), count))


# The index SQLite should use for gather_contact_states' per-contact message queries (see --state-index-fix).
CONTACT_INDEX = "ix_messages_contact_id_created_at"


def use_contact_index(engine) -> None:
    """Make SQLite read messages by contact for the state queries, as the proposed fix to contacts/state.py would.

    Without it SQLite picks the (status, send_at) index for "contact_id IN (…) AND status IN (…)"
    and reads every queued message for each chunk of 500 contacts: planning slows down as the
    outbox fills (quadratic). This rewrites only those statements' FROM clause in this process.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _rewrite(connection, cursor, statement, parameters, context, executemany):
        """Add INDEXED BY to the per-contact message queries."""
        if "messages.contact_id IN" in statement and "messages.status IN" in statement:
            statement = statement.replace("FROM messages ", f"FROM messages INDEXED BY {CONTACT_INDEX} ", 1)
        return statement, parameters


def plan(path: Path, throttle: int, batch_size: int | None, track_links: bool, index_fix: bool = False,
         parallel: bool = True) -> dict:
    """Launch and plan the campaign (in parallel or in this process only); returns timings and counts."""
    from mannerly.campaigns import service
    from mannerly.campaigns.parallel import plan_in_parallel
    from mannerly.config import Settings
    from mannerly.models import Campaign, Segment, Workspace
    from mannerly.runtime import ManualClock, Runtime
    from sqlalchemy import select

    settings = Settings(database_url=f"sqlite:///{path}",
                        public_base_url="https://go.acme.test" if track_links else None)
    runtime = Runtime.create(settings, clock=ManualClock(START))
    if index_fix:
        use_contact_index(runtime.engine)
    with runtime.session() as session:
        workspace = session.scalar(select(Workspace).where(Workspace.name == "Bench Shop"))
        segment_id = session.scalar(select(Segment.id).where(Segment.workspace_id == workspace.id))
        campaign = service.create_campaign(session, workspace, {
            "name": "Spring", "topic": "promotions", "segment_id": segment_id, "template": "sale",
            "throttle_per_minute": throttle, "track_links": track_links}, START)
        service.launch_campaign(session, settings, campaign, START)
        session.commit()
        campaign_id = campaign.id
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    planner = plan_in_parallel if parallel else service.plan_campaign
    sizing = {"batch_size": batch_size} if batch_size else {}
    result = planner(runtime.sessionmaker, settings, campaign_id, START, **sizing)
    seconds = time.perf_counter() - started
    with runtime.session() as session:
        campaign = session.get(Campaign, campaign_id)
        last = campaign.next_slot_at
    runtime.close()
    return {
        "plan_seconds": round(seconds, 2), "batches": result.batches, "transactions": result.transactions,
        "queued": result.queued,
        "rejected": result.rejected, "excluded": dict(result.excluded),
        "phase_seconds": {phase: round(value, 2) for phase, value in result.seconds.most_common()},
        "recipients_per_second": round((result.queued + result.rejected) / seconds) if seconds else None,
        "peak_rss_mib_before_planning": round(rss_before / 1024), "last_send_at": last.isoformat() if last else None,
        "worker_peak_rss_mib": round(result.worker_peak_kib / 1024) if result.worker_peak_kib else None,
        "done": result.done,
    }


def raw_insert(path: Path) -> dict:
    """Copy the planned rows into an empty copy of the schema with plain executemany, timed per table."""
    source = sqlite3.connect(path)
    copy_path = path.with_name("raw_copy.db")
    if copy_path.exists():
        copy_path.unlink()
    target = sqlite3.connect(copy_path)
    target.execute("PRAGMA journal_mode=WAL")
    target.execute("PRAGMA synchronous=NORMAL")  # what the application's connections use
    for (sql,) in source.execute("SELECT sql FROM sqlite_master WHERE type IN ('table', 'index') AND sql IS NOT NULL "
                                 "AND tbl_name IN ('messages', 'campaign_recipients', 'short_links')"):
        target.execute(sql)
    target.commit()
    timings = {}
    total_rows = 0
    for table in ("messages", "campaign_recipients", "short_links"):
        columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
        rows = source.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
        placeholders = ", ".join("?" for _ in columns)
        started = time.perf_counter()
        for start in range(0, len(rows), BULK_CHUNK):
            target.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
                               rows[start:start + BULK_CHUNK])
            target.commit()
        timings[table] = round(time.perf_counter() - started, 2)
        total_rows += len(rows)
        del rows
    target.close()
    source.close()
    copy_path.unlink()
    return {"raw_insert_seconds": round(sum(timings.values()), 2), "raw_insert_by_table": timings,
            "raw_rows": total_rows}


def machine() -> dict:
    """The machine and its load now."""
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()}


def main() -> None:
    """Build, plan, compare, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--throttle", type=int, default=20_000, help="messages per minute")
    parser.add_argument("--batch", type=int, default=None,
                        help="contacts per batch (default: the planner's own, 20,000 in parallel, 5,000 in one process)")
    parser.add_argument("--no-links", action="store_true", help="leave links as written (no short links)")
    parser.add_argument("--keep", action="store_true", help="keep the database file")
    parser.add_argument("--state-index-fix", action="store_true",
                        help="simulate the proposed contacts/state.py fix (read messages by contact; see use_contact_index)")
    parser.add_argument("--parallel", choices=("on", "off"), default="on",
                        help="on: a spawned process decides while this one writes (campaigns.parallel); off: one process")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="mannerly-plan-"))
    path = directory / "mannerly.db"
    report: dict = {"contacts": options.contacts, "throttle_per_minute": options.throttle,
                    "track_links": not options.no_links, "state_index_fix": options.state_index_fix,
                    "parallel": options.parallel,
                    "machine_before": machine()}
    queue = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=_build_in_child, args=(str(path), options.contacts, queue))
    child.start()
    report.update(queue.get())
    child.join()
    # The fixture's pages go to disk now, not during the timed planning (a real campaign's contacts were
    # imported long before it).
    os.sync()
    report.update(plan(path, options.throttle, options.batch, not options.no_links, options.state_index_fix,
                       options.parallel == "on"))
    # Both processes' peaks added up (an upper bound of what planning held at once).
    report["planner_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    report["peak_rss_mib"] = report["planner_peak_rss_mib"] + (report["worker_peak_rss_mib"] or 0)
    report.update(raw_insert(path))
    report["overhead_ratio"] = round(report["plan_seconds"] / report["raw_insert_seconds"], 1) \
        if report["raw_insert_seconds"] else None
    report["goal_met"] = report["plan_seconds"] <= GOAL_SECONDS and report["peak_rss_mib"] <= GOAL_PEAK_MIB
    report["machine_after"] = machine()
    if not options.keep:
        for leftover in directory.iterdir():
            leftover.unlink()
        directory.rmdir()
    else:
        report["database"] = str(path)
    if options.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    print(f"Planned {report['queued']:,} messages ({report['rejected']:,} excluded: {report['excluded']}) "
          f"for {options.contacts:,} contacts in {report['plan_seconds']} s "
          f"({report['recipients_per_second']:,} recipients/s, {report['batches']} batches, "
          f"{report['transactions']} writing transactions)")
    print(f"Phases (s): {report['phase_seconds']}")
    print(f"Peak memory: {report['peak_rss_mib']} MiB (writer {report['planner_peak_rss_mib']} MiB, "
          f"deciding process {report['worker_peak_rss_mib']} MiB) "
          f"(goal ≤ {GOAL_PEAK_MIB} MiB); time goal ≤ {GOAL_SECONDS:g} s: {'met' if report['goal_met'] else 'NOT met'}")
    print(f"Raw bulk insert of the same {report['raw_rows']:,} rows: {report['raw_insert_seconds']} s "
          f"{report['raw_insert_by_table']} → overhead ratio {report['overhead_ratio']}x")
    print(f"Fixture built in {report['fixture_seconds']} s (not timed). Last send at {report['last_send_at']}.")
    print(f"Before: {report['machine_before']['uptime']}\nAfter:  {report['machine_after']['uptime']}")


if __name__ == "__main__":
    main()
