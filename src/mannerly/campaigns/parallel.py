"""Parallel campaign planning: a worker process decides, this process writes.

Planning a large campaign is two kinds of work of about the same size: reading contacts and
deciding, rendering and pacing their messages (pure Python), and inserting the outbox rows
(the database). On a machine with two or more cores, plan_in_parallel starts one worker
process (multiprocessing "spawn") that reads the segment batch by batch from the planning
cursor on, and sends each batch back as a PreparedBatch of plain tuples; this process writes
each batch, in transactions of WRITE_CHUNK contacts, while the worker already prepares the next one.

Each transaction moves the campaign's planning cursor with a compare-and-set together with its
rows (service.write_prepared), exactly as the single-process planner does: a restart resumes
after the last written transaction, and a pause, a cancel or a second planner stops the
writing at the next one. On SQLite, other writers (the API, webhooks, a second worker) get the
database between two transactions (db.WriteGaps). Every message still goes through the engine
(in the worker), and the dispatcher decides it again when it falls due.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session, sessionmaker

from mannerly.campaigns.service import (
    BATCH_SIZE,
    PlanResult,
    PreparedBatch,
    _finish_planning,
    load_context,
    plan_campaign,
    prepare_batch,
    slot_table_for,
    start_of,
    write_prepared,
)
from mannerly.config import Settings
from mannerly.db import WriteGaps
from mannerly.models import Campaign, Contact, Segment
from mannerly.segments.service import compiled_for, next_chunk

log = logging.getLogger(__name__)

# Campaigns with at least this many recipients left are planned in parallel, in one pass of the worker.
PARALLEL_MIN_RECIPIENTS = 20_000
# Contacts per batch the deciding process prepares and sends at once (its decisions and texts travel once per batch).
PARALLEL_BATCH_SIZE = 20_000
# Contacts per writing transaction: each prepared batch is written in transactions of at most this many
# contacts, each with its own cursor compare-and-set, so that other writers (the API, webhooks, the dispatcher)
# wait for one short transaction (~0.1 s at a million recipients), not for a whole batch (~1 s): SQLite has
# one writer at a time. Larger transactions write touched index pages fewer times (1,000,000 recipients:
# commits ~8 s in transactions of 20,000, ~12 s in transactions of 2,500).
WRITE_CHUNK = 2_500
# SQLite: after a writing transaction that held the lock this long, leave it free long enough for every waiting
# writer to get it (db.WriteGaps); shorter ones leave the gap of building the next rows (~10-20 ms).
LONG_HOLD_SECONDS = 0.2
# SQLite: WAL pages the writing connection lets pile up before it checkpoints (default 1,000). Index pages that
# several batches change are then copied into the database file once instead of after every batch.
WRITER_AUTOCHECKPOINT_PAGES = 20_000
SQLITE_AUTOCHECKPOINT_PAGES = 1_000
# How long the writer waits for the planning process to send its next batch before giving up on it.
WORKER_SILENCE_SECONDS = 600


class PlanningWorkerError(RuntimeError):
    """The planning process failed or went away; what was written so far stays, the cursor says where."""


def parallel_possible(settings: Settings) -> bool:
    """True when the setting allows parallel planning, there are two cores, and the database is not in memory."""
    if not settings.campaign_parallel_planning:
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    if cores < 2:
        return False
    url = settings.database_url
    return not (url.startswith("sqlite") and (":memory:" in url or url.rstrip("/").endswith("sqlite:")))


def recipients_left_at_least(sessions: sessionmaker[Session], campaign_id: int, now: datetime, count: int) -> bool:
    """True when the campaign's segment has at least `count` contacts after the planning cursor (reads at most that many)."""
    with sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.status != "running" or campaign.planning_done:
            return False
        segment = session.get(Segment, campaign.segment_id) if campaign.segment_id else None
        if segment is None:
            return False
        compiled = compiled_for(session, campaign.workspace_id, segment.filter or {}, now)
        # SQL candidates only: a filter with Python checks (birthdays) may select fewer in the end.
        ids = select(Contact.id).where(compiled.where, Contact.id > campaign.plan_cursor).limit(count).subquery()
        return int(session.scalar(select(func.count()).select_from(ids)) or 0) >= count


def plan_pass(sessions: sessionmaker[Session], settings: Settings, campaign_id: int, now: datetime, *,
              max_batches: int = 1, batch_size: int | None = None) -> PlanResult:
    """One worker pass over a campaign: all of it in parallel when large enough, else max_batches in this process."""
    if parallel_possible(settings) and recipients_left_at_least(sessions, campaign_id, now, PARALLEL_MIN_RECIPIENTS):
        try:
            return plan_in_parallel(sessions, settings, campaign_id, now, batch_size=batch_size or PARALLEL_BATCH_SIZE)
        except PlanningWorkerError:
            # What was written stays (the cursor says where); this pass goes on in this process, so a
            # planning process that cannot start (or keeps failing) never stalls the campaign.
            log.exception("parallel planning of campaign %d failed; planning in this process", campaign_id)
    return plan_campaign(sessions, settings, campaign_id, now, max_batches=max_batches,
                         batch_size=batch_size or BATCH_SIZE)


def plan_in_parallel(sessions: sessionmaker[Session], settings: Settings, campaign_id: int, now: datetime, *,
                     batch_size: int = PARALLEL_BATCH_SIZE) -> PlanResult:
    """Plan the rest of a running campaign: a spawned process prepares the batches, this one writes them."""
    result = PlanResult()
    with sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.status != "running" or campaign.planning_done:
            return result
        cursor = campaign.plan_cursor
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(target=prepare_batches, args=(settings, campaign_id, now, cursor, batch_size, sender),
                             name=f"mannerly-plan-{campaign_id}", daemon=True)
    worker.start()
    sender.close()  # only the worker writes: its exit ends the pipe
    try:
        # One connection for all the batches, so the checkpoint setting applies to every write.
        with sessions.kw["bind"].connect() as connection, fewer_checkpoints(connection), \
                Session(bind=connection, expire_on_commit=False) as session:
            # PostgreSQL locks rows, not the database: other writers need no gaps there.
            gaps = WriteGaps(LONG_HOLD_SECONDS) if connection.dialect.name == "sqlite" else None
            while True:
                clock = time.perf_counter()
                if not receiver.poll(WORKER_SILENCE_SECONDS):
                    raise PlanningWorkerError(f"the planning process sent nothing for {WORKER_SILENCE_SECONDS} s")
                try:
                    kind, payload = receiver.recv()
                except EOFError as error:
                    raise PlanningWorkerError(f"the planning process ended early (exit code {worker.exitcode})") \
                        from error
                result.seconds["wait"] += time.perf_counter() - clock
                if kind == "error":
                    raise PlanningWorkerError(f"the planning process failed:\n{payload}")
                if kind == "done":
                    result.seconds.update({f"worker.{phase}": value for phase, value in payload["seconds"].items()})
                    result.worker_peak_kib = payload["peak_kib"]
                    campaign = session.get(Campaign, campaign_id)
                    session.refresh(campaign)
                    if campaign.status == "running" and campaign.plan_cursor == payload["cursor"]:
                        _finish_planning(session, campaign, now)
                        result.done = True
                    return result
                for chunk in split_batch(payload, WRITE_CHUNK):
                    if not write_prepared(session, campaign_id, chunk, now, result, gaps):
                        return result  # paused, cancelled, or another planner moved the cursor: stop here
                result.batches += 1
    finally:
        receiver.close()
        if worker.is_alive():
            worker.terminate()
        worker.join()


def split_batch(prepared: PreparedBatch, size: int) -> list[PreparedBatch]:
    """A prepared batch as consecutive parts of at most `size` contacts, each continuing from the one before."""
    entries = prepared.entries
    if len(entries) <= size:
        return [prepared]
    parts = []
    after_id = prepared.after_id
    for start in range(0, len(entries), size):
        part = entries[start:start + size]
        final = start + size >= len(entries)
        # Entries are in contact id order: a part ends at its last contact, the final one where the batch ends.
        last_id = prepared.last_id if final else part[-1][0]
        parts.append(replace(prepared, after_id=after_id, last_id=last_id, entries=part,
                             next_slot_at=prepared.next_slot_at if final else None))
        after_id = last_id
    return parts


@contextmanager
def fewer_checkpoints(connection: Connection) -> Iterator[None]:
    """On SQLite, let this connection checkpoint the WAL less often while it writes the batches, then as before."""
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql(f"PRAGMA wal_autocheckpoint={WRITER_AUTOCHECKPOINT_PAGES}")
    connection.commit()
    try:
        yield
    finally:
        connection.rollback()  # a batch cut short by an error must not be committed by the reset below
        connection.exec_driver_sql(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")
        connection.commit()


def prepare_batches(settings: Settings, campaign_id: int, now: datetime, cursor: int, batch_size: int,
                    sender) -> None:
    """The planning process: prepare every batch after `cursor` and send each one, then ("done", …)."""
    from mannerly.db import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    try:
        sessions = make_sessionmaker(engine)
        seconds: Counter[str] = Counter()
        with sessions() as session:
            campaign = session.get(Campaign, campaign_id)
            context = load_context(session, settings, campaign, now)
            table = slot_table_for(session, campaign)
            start = start_of(campaign, now)
            session.commit()  # ends the read transaction (objects stay loaded: expire_on_commit is off)
            while True:
                clock = time.perf_counter()
                rows, last_id = next_chunk(session, context.compiled, context.contact_columns, after_id=cursor,
                                           chunk=batch_size)
                seconds["select"] += time.perf_counter() - clock
                if last_id == cursor:
                    break
                prepared = prepare_batch(session, context, table, start, now, rows, cursor, last_id, seconds)
                session.commit()
                clock = time.perf_counter()
                sender.send(("batch", prepared))
                seconds["send"] += time.perf_counter() - clock
                cursor = last_id
        sender.send(("done", {"cursor": cursor, "seconds": dict(seconds),
                              "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
    except BrokenPipeError:
        pass  # the writer stopped (pause, cancel, another planner): nothing left to do
    except BaseException:  # noqa: BLE001 - the writer reports it
        try:
            sender.send(("error", traceback.format_exc()))
        except (BrokenPipeError, OSError):
            pass
    finally:
        sender.close()
        engine.dispose()
