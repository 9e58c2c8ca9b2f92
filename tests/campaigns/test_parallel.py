"""Parallel planning: a spawned process decides, the caller writes; same rows as one process, never twice."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from mannerly.app import create_app

from mannerly.campaigns import parallel, service
from mannerly.config import Settings
from mannerly.models import Campaign, CampaignRecipient, Contact, Message, ShortLink, Workspace
from mannerly.workspaces.service import create_api_key
from tests.campaigns.helpers import START, Person, make_shop
from tests.campaigns.test_campaigns import launch, new_campaign

LANGUAGES = (("+8210600", "ko"), ("+62812600", "id"), ("+3069600", "el"))


def people(count: int) -> list[Person]:
    """Contacts in three countries; every seventh has not opted in, every eleventh opted out of everything."""
    made = []
    for index in range(count):
        prefix, language = LANGUAGES[index % 3]
        made.append(Person(f"{prefix}{index:05d}", language, f"P{index % 4}", opted_in=index % 7 != 3,
                           global_opt_out=index % 11 == 5))
    return made


def planned(runtime, campaign_id: int) -> dict[str, tuple]:
    """Per phone: recipient status and reason, and the message's status, send time, texts and decision."""
    code = re.compile(r"/l/[A-Za-z0-9_-]{10}")
    with runtime.session() as session:
        rows = session.execute(
            select(Contact.phone, CampaignRecipient.status, CampaignRecipient.reason, Message.status, Message.send_at,
                   Message.body, Message.final_text, Message.decision, Message.segments, Message.channel_kind)
            .join(Contact, Contact.id == CampaignRecipient.contact_id)
            .outerjoin(Message, Message.id == CampaignRecipient.message_id)
            .where(CampaignRecipient.campaign_id == campaign_id)).all()
    found = {}
    for phone, status, reason, message_status, send_at, body, final_text, decision, segments, kind in rows:
        assert phone not in found  # one recipient row per contact
        if decision is not None:
            decision = {**decision, "final_text": code.sub("/l/<code>", decision["final_text"])}
        found[phone] = (status, reason, message_status, send_at, code.sub("/l/<code>", body or ""),
                        code.sub("/l/<code>", final_text or ""), decision, segments, kind)
    return found


def recipients_per_contact(runtime, campaign_id: int) -> Counter[int]:
    """How many recipient rows and campaign messages each contact has."""
    with runtime.session() as session:
        recipients = Counter(session.scalars(select(CampaignRecipient.contact_id)
                                             .where(CampaignRecipient.campaign_id == campaign_id)))
        messages = Counter(session.scalars(select(Message.contact_id)
                                           .where(Message.id.in_(service.campaign_messages(campaign_id)))))
    assert set(messages.values()) <= {1}
    return recipients


def test_parallel_planning_writes_what_one_process_writes(runtime):
    same_plan_either_way(runtime)


@pytest.mark.postgres
def test_parallel_planning_writes_what_one_process_writes_on_postgresql(postgres_url, clock):
    from mannerly.db import upgrade_database
    from mannerly.runtime import Runtime
    from tests.campaigns.conftest import LINKS_BASE

    upgrade_database(postgres_url)
    clock.set(START)
    runtime = Runtime.create(Settings(database_url=postgres_url, public_base_url=LINKS_BASE), clock=clock)
    try:
        same_plan_either_way(runtime)
    finally:
        runtime.close()


def same_plan_either_way(runtime) -> None:
    """Two shops with the same people: one campaign planned in one process, the other in parallel."""
    group = people(40)
    one = make_shop(runtime, group, name="One process")
    two = make_shop(runtime, group, name="Two processes")
    alone = new_campaign(runtime, one, throttle_per_minute=7)
    split = new_campaign(runtime, two, throttle_per_minute=7)
    launch(runtime, alone)
    launch(runtime, split)
    single = service.plan_campaign(runtime.sessionmaker, runtime.settings, alone, START, batch_size=6)
    both = parallel.plan_in_parallel(runtime.sessionmaker, runtime.settings, split, START, batch_size=6)
    assert both.done and single.done and both.batches == single.batches == 7
    assert (both.queued, both.rejected, both.excluded) == (single.queued, single.rejected, single.excluded)
    assert set(both.excluded) == {"consent", "opt_out"} and both.worker_peak_kib > 0
    expected, got = planned(runtime, alone), planned(runtime, split)
    assert len(got) == 40 and got == expected
    # Slots continue across batches and the throttle holds (7 a minute) in both.
    sends = sorted(value[3] for value in got.values() if value[3] is not None)
    assert sends[0] == START and len(sends) == single.queued
    with runtime.session() as session:
        links = session.scalar(select(func.count()).select_from(ShortLink).where(ShortLink.campaign_id == split))
        campaign = session.get(Campaign, split)
        assert links == both.queued and campaign.planning_done and campaign.planned_count == both.queued
        assert campaign.plan_cursor == max(two.contact_ids)


def test_an_interrupted_parallel_plan_resumes_after_the_last_written_batch_and_never_writes_twice(runtime, monkeypatch):
    shop = make_shop(runtime, people(30))
    campaign_id = new_campaign(runtime, shop, throttle_per_minute=100)
    launch(runtime, campaign_id)
    real_write = service._write_batch
    calls = {"count": 0}

    def crash_on_third_batch(*args, **kwargs):
        """The writing process dies while writing the third batch."""
        calls["count"] += 1
        if calls["count"] == 3:
            raise RuntimeError("killed")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(service, "_write_batch", crash_on_third_batch)
    with pytest.raises(RuntimeError):
        parallel.plan_in_parallel(runtime.sessionmaker, runtime.settings, campaign_id, START, batch_size=5)
    monkeypatch.setattr(service, "_write_batch", real_write)
    with runtime.session() as session:
        assert session.get(Campaign, campaign_id).plan_cursor == shop.contact_ids[9]  # two batches written
        assert session.scalar(select(func.count()).select_from(CampaignRecipient)) == 10
    result = parallel.plan_in_parallel(runtime.sessionmaker, runtime.settings, campaign_id, START, batch_size=5)
    assert result.done and result.batches == 4 and result.skipped == 0
    assert parallel.plan_in_parallel(runtime.sessionmaker, runtime.settings, campaign_id, START).batches == 0
    recipients = recipients_per_contact(runtime, campaign_id)
    assert sorted(recipients) == sorted(shop.contact_ids) and set(recipients.values()) == {1}


def test_a_pause_stops_parallel_planning_at_the_next_batch_and_resume_finishes_it(runtime, monkeypatch):
    shop = make_shop(runtime, people(24))
    campaign_id = new_campaign(runtime, shop, throttle_per_minute=100)
    launch(runtime, campaign_id)
    real_write = parallel.write_prepared
    calls = {"count": 0}
    pages = []

    def pause_after_first_batch(session, *args, **kwargs):
        """Someone pauses the campaign right after the first batch is written."""
        pages.append(session.connection().exec_driver_sql("PRAGMA wal_autocheckpoint").scalar())
        written = real_write(session, *args, **kwargs)
        calls["count"] += 1
        if calls["count"] == 1:
            with runtime.session() as session:
                service.pause_campaign(session, session.get(Campaign, campaign_id), START)
                session.commit()
        return written

    monkeypatch.setattr(parallel, "write_prepared", pause_after_first_batch)
    result = parallel.plan_in_parallel(runtime.sessionmaker, runtime.settings, campaign_id, START, batch_size=8)
    assert result.batches == 1 and not result.done
    # The writing connection checkpoints less often while it writes, and as usual afterwards.
    assert pages == [parallel.WRITER_AUTOCHECKPOINT_PAGES] * 2
    with runtime.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == parallel.SQLITE_AUTOCHECKPOINT_PAGES
    assert sum(recipients_per_contact(runtime, campaign_id).values()) == 8
    monkeypatch.setattr(parallel, "write_prepared", real_write)
    with runtime.session() as session:
        assert session.get(Campaign, campaign_id).status == "paused"
        service.resume_campaign(session, session.get(Campaign, campaign_id), START + timedelta(minutes=5))
        session.commit()
    result = parallel.plan_in_parallel(runtime.sessionmaker, runtime.settings, campaign_id, START, batch_size=8)
    assert result.done and result.batches == 2
    recipients = recipients_per_contact(runtime, campaign_id)
    assert sorted(recipients) == sorted(shop.contact_ids) and set(recipients.values()) == {1}


def test_the_worker_plans_a_large_campaign_in_one_parallel_pass_and_a_small_one_batch_by_batch(runtime, monkeypatch):
    shop = make_shop(runtime, people(17))
    campaign_id = new_campaign(runtime, shop, throttle_per_minute=100)
    launch(runtime, campaign_id)
    # 17 recipients left is "small" below a threshold of 18: one batch per pass, in this process.
    monkeypatch.setattr(parallel, "PARALLEL_MIN_RECIPIENTS", 18)
    assert service.plan_running_campaigns(runtime.sessionmaker, runtime.settings, START, batch_size=5) == 1
    # With the setting off, never in parallel, whatever the size.
    monkeypatch.setattr(parallel, "PARALLEL_MIN_RECIPIENTS", 2)
    off = runtime.settings.model_copy(update={"campaign_parallel_planning": False})
    assert not parallel.parallel_possible(off)
    assert service.plan_running_campaigns(runtime.sessionmaker, off, START, batch_size=5) == 1
    # 2 or more left (seven here): the rest in one pass, in parallel.
    calls = []
    real = parallel.plan_in_parallel
    monkeypatch.setattr(parallel, "plan_in_parallel", lambda *args, **kwargs: calls.append(1) or real(*args, **kwargs))
    assert service.plan_running_campaigns(runtime.sessionmaker, runtime.settings, START, batch_size=5) == 2
    assert calls == [1]
    with runtime.session() as session:
        assert session.get(Campaign, campaign_id).planning_done
    assert sum(recipients_per_contact(runtime, campaign_id).values()) == 17


def test_parallel_planning_needs_two_cores_and_a_database_file(settings, monkeypatch):
    assert parallel.parallel_possible(settings) == (len(__import__("os").sched_getaffinity(0)) >= 2)
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda _pid: {0, 1})
    assert parallel.parallel_possible(settings)
    assert not parallel.parallel_possible(settings.model_copy(update={"database_url": "sqlite:///:memory:"}))
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda _pid: {0})
    assert not parallel.parallel_possible(settings)


def test_a_failing_planning_process_falls_back_to_planning_in_this_process(runtime, monkeypatch):
    shop = make_shop(runtime, people(9))
    campaign_id = new_campaign(runtime, shop, throttle_per_minute=100)
    launch(runtime, campaign_id)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_RECIPIENTS", 2)
    monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda _pid: {0, 1})

    def broken(*_args, **_kwargs):
        """The planning process could not start."""
        raise parallel.PlanningWorkerError("the planning process ended early (exit code 1)")

    monkeypatch.setattr(parallel, "plan_in_parallel", broken)
    result = parallel.plan_pass(runtime.sessionmaker, runtime.settings, campaign_id, START, batch_size=4)
    assert result.batches == 1 and result.queued + result.rejected == 4
    assert sum(recipients_per_contact(runtime, campaign_id).values()) == 4


def test_writers_waiting_while_the_planner_holds_the_write_lock_get_in_before_its_next_transactions(runtime,
                                                                                                    monkeypatch):
    """A customer's message and a STOP posted while the planner holds SQLite's write lock are stored in the
    gap after that transaction, not after the whole campaign: other writers never wait for a whole plan."""
    shop = make_shop(runtime, people(30))
    campaign_id = new_campaign(runtime, shop, throttle_per_minute=100)
    launch(runtime, campaign_id)
    with runtime.session() as session:
        key = create_api_key(session, session.get(Workspace, shop.workspace_id))
        session.commit()
    app = create_app(runtime, start_worker=False)
    monkeypatch.setattr(parallel, "WRITE_CHUNK", 3)  # batches of 12 contacts, written 3 contacts a transaction
    commits: list[str] = []  # "plan" and "api", in the order the transactions took effect
    writing = threading.Event()  # set while the planner writes a part of a batch
    answers = []

    def on_commit(_connection) -> None:
        """Fires while the committing transaction still holds the write lock: the order is the commit order."""
        if threading.current_thread() is not threading.main_thread():
            commits.append("api")  # the API's request, in a worker thread of its own
        elif writing.is_set():
            commits.append("plan")

    def post(phone: str, text: str, ready: threading.Event) -> None:
        """A simulated customer writes to the shop through the API."""
        client = TestClient(app)
        ready.set()
        answers.append(client.post("/v1/simulator/inbound", json={"from": phone, "text": text},
                                   headers={"Authorization": f"Bearer {key}"}))

    writers = []
    real_prepared, real_write = parallel.write_prepared, service._write_batch

    def write_holding_the_lock(*args, **kwargs):
        """In the planner's second transaction (the write lock is held): customers write, and wait for the lock."""
        written = real_write(*args, **kwargs)
        if commits.count("plan") == 1:
            for phone, text in (("+821055500001", "Is the sale still on?"), (people(30)[4].phone, "STOP")):
                ready = threading.Event()
                writers.append(threading.Thread(target=post, args=(phone, text, ready)))
                writers[-1].start()
                ready.wait(10)
            # Long enough for both requests to reach their first write and wait for the lock.
            time.sleep(1.0)
        return written

    def marked(*args, **kwargs):
        """The planner's writing transactions."""
        writing.set()
        try:
            return real_prepared(*args, **kwargs)
        finally:
            writing.clear()

    monkeypatch.setattr(service, "_write_batch", write_holding_the_lock)
    monkeypatch.setattr(parallel, "write_prepared", marked)
    event.listen(runtime.engine, "commit", on_commit)
    try:
        result = parallel.plan_in_parallel(runtime.sessionmaker, runtime.settings, campaign_id, START, batch_size=12)
        for writer in writers:
            writer.join(30)
    finally:
        event.remove(runtime.engine, "commit", on_commit)
    assert result.done and result.batches == 3 and result.transactions == 10
    assert [answer.status_code for answer in answers] == [200, 200], [answer.text for answer in answers]
    assert sorted(str(answer.json()["keyword"]) for answer in answers) == ["None", "stop"]
    # Both requests were stored after the planner's second transaction and before its fourth: in the gap after
    # the transaction they waited for, or in the next one (the second of two writers may find the first holding
    # the lock). Without the gaps they waited for the whole plan (all ten transactions).
    assert commits.count("plan") == 10 and commits.count("api") == 2, commits
    planned_before = [commits[:index].count("plan") for index, name in enumerate(commits) if name == "api"]
    assert all(2 <= count <= 3 for count in planned_before), commits
    recipients = recipients_per_contact(runtime, campaign_id)
    assert sorted(recipients) == sorted(shop.contact_ids) and set(recipients.values()) == {1}


def test_contacts_that_already_have_a_recipient_row_are_left_out_and_the_rest_written_whole(runtime):
    shop = make_shop(runtime, people(12))
    campaign_id = new_campaign(runtime, shop, throttle_per_minute=100)
    launch(runtime, campaign_id)
    with runtime.session() as session:
        # Written by an older planner that did not move the cursor (the rows are built again without it).
        session.add(CampaignRecipient(workspace_id=shop.workspace_id, campaign_id=campaign_id,
                                      contact_id=shop.contact_ids[1], status="rejected", reason="consent",
                                      created_at=START))
        session.commit()
    result = service.plan_campaign(runtime.sessionmaker, runtime.settings, campaign_id, START, batch_size=5)
    assert result.done and result.skipped == 1 and result.batches == 3
    recipients = recipients_per_contact(runtime, campaign_id)
    assert sorted(recipients) == sorted(shop.contact_ids) and set(recipients.values()) == {1}
    with runtime.session() as session:
        # Every short link belongs to a message of the campaign and its contact, and appears in its text.
        links = session.execute(select(ShortLink.code, Message.body, ShortLink.contact_id, Message.contact_id)
                                .join(Message, Message.id == ShortLink.message_id)
                                .where(ShortLink.campaign_id == campaign_id)).all()
    assert len(links) == result.queued
    assert all(code in body and mine == theirs for code, body, mine, theirs in links)
