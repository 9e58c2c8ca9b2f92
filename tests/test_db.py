"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, Boolean, Column, Integer, MetaData, String, Table, inspect, text
from sqlalchemy.exc import IntegrityError

from mannerly.db import (
    current_revision,
    head_revision,
    insert_many,
    make_engine,
    make_sessionmaker,
    normalize_database_url,
    update_by_id,
    upgrade_database,
)
from mannerly.models import Base, User, Workspace

EXPECTED_TABLES = {
    "workspaces", "users", "api_keys", "contacts", "topics", "consent_events", "consents",
    "channels", "conversations", "messages", "message_status_events", "templates",
    "idempotency_keys", "provider_exchanges", "audit_events",
    # 0002: the inbox
    "teams", "team_members", "conversation_notes", "conversation_events", "canned_replies", "faq_entries",
    "csat_responses", "service_settings", "booking_slots", "bookings",
    "segments", "campaigns", "campaign_recipients", "short_links", "link_clicks",  # 0003: campaigns
    "automations", "automation_runs", "business_events", "appointments", "coupon_codes", "quick_reply_sets", "quick_reply_prompts", "quick_reply_answers",  # 0004: automations
    "webhook_events",  # 0006: the webhook event queue
}

URL_CASES = [
    # (given, expected driver name)
    ("postgresql://u@h:5432/db", "postgresql+psycopg"),
    ("postgres://u@h:5432/db", "postgresql+psycopg"),
    ("postgresql+psycopg://u@h:5432/db", "postgresql+psycopg"),
    ("sqlite:///x.db", "sqlite"),
]


def schema_differences(url: str, metadata: MetaData = Base.metadata) -> list:
    """What Alembic autogenerate would change to make the database match `metadata`."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def assert_migrated_schema_matches_models(url: str) -> None:
    """Upgrade a fresh database to head and check it equals the models, table for table."""
    upgrade_database(url)
    engine = make_engine(url)
    try:
        assert current_revision(engine) == head_revision()
        assert set(inspect(engine).get_table_names()) == EXPECTED_TABLES | {"alembic_version"}
    finally:
        engine.dispose()
    assert schema_differences(url) == []


@pytest.mark.parametrize(("given", "driver"), URL_CASES)
def test_database_urls_are_normalized_to_the_drivers_we_ship(given: str, driver: str) -> None:
    assert normalize_database_url(given).drivername == driver


def test_models_declare_exactly_the_expected_tables() -> None:
    assert set(Base.metadata.tables) == EXPECTED_TABLES


def test_every_tenant_table_has_an_indexed_workspace_id() -> None:
    for name, table in Base.metadata.tables.items():
        if name == "workspaces":
            continue
        column = table.c.workspace_id
        assert column.index, name
        assert [fk.column.table.name for fk in column.foreign_keys] == ["workspaces"], name


def test_sqlite_upgrade_matches_models(tmp_path: Path) -> None:
    assert_migrated_schema_matches_models(f"sqlite:///{tmp_path / 'fresh.db'}")


@pytest.mark.postgres
def test_postgres_upgrade_matches_models(postgres_url: str) -> None:
    assert_migrated_schema_matches_models(postgres_url)


def test_schema_comparison_notices_a_missing_column(tmp_path: Path) -> None:
    """The comparison used above can fail: a model with one extra column shows a difference."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade_database(url)
    drifted = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(drifted)
    Table("workspaces", drifted, Column("extra", String(10)), extend_existing=True)
    Table("brand_new", drifted, Column("id", Integer, primary_key=True))
    kinds = sorted(difference[0] for difference in schema_differences(url, drifted))
    assert kinds == ["add_column", "add_table"]


def test_upgrade_twice_is_harmless(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    upgrade_database(url)
    upgrade_database(url)
    assert schema_differences(url) == []


def test_sqlite_file_directory_is_created(tmp_path: Path) -> None:
    database = tmp_path / "nested" / "deeper" / "mannerly.db"
    engine = make_engine(f"sqlite:///{database}")
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    engine.dispose()
    assert database.exists()


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    engine.dispose()


def test_sqlite_enforces_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fk.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        session.add(User(workspace_id=999, email="a@example.com", name="A", role="admin"))
        with pytest.raises(IntegrityError):
            session.commit()
    engine.dispose()


def test_sessions_keep_objects_readable_after_commit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        workspace = Workspace(name="Bakery")
        session.add(workspace)
        session.commit()
    # Reading after the session closed would raise if attributes had been expired on commit.
    assert workspace.name == "Bakery" and workspace.id is not None
    engine.dispose()


def test_upgrade_accepts_an_engine(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'e.db'}")
    upgrade_database(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_downgrade_to_base_removes_every_table_and_upgrade_restores_them(tmp_path: Path) -> None:
    from alembic import command

    from mannerly.db import alembic_config

    url = f"sqlite:///{tmp_path / 'down.db'}"
    upgrade_database(url)
    command.downgrade(alembic_config(url), "base")
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
    upgrade_database(url)
    assert schema_differences(url) == []


def test_threads_writing_at_once_wait_for_each_other_instead_of_failing(tmp_path: Path) -> None:
    """Read-then-write sessions from several threads (web requests + in-process worker) all commit."""
    import threading

    from sqlalchemy import func, select

    url = f"sqlite:///{tmp_path / 'busy.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with factory() as session:
        session.add(Workspace(name="shared"))
        session.commit()
    errors: list[str] = []

    def write_many(thread: int) -> None:
        try:
            for n in range(30):
                with factory() as session:
                    shared = session.scalars(select(Workspace).where(Workspace.name == "shared")).one()
                    shared.default_language = f"t{thread}"
                    session.add(Workspace(name=f"w{thread}-{n}"))
                    session.commit()
        except Exception as error:  # collected so the assertion shows what went wrong
            errors.append(repr(error))

    threads = [threading.Thread(target=write_many, args=(thread,)) for thread in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Workspace)) == 1 + 6 * 30
    engine.dispose()


@pytest.mark.postgres
def test_concurrent_upgrades_on_postgres_do_not_collide(postgres_url: str) -> None:
    """Several processes starting at once may all migrate; the advisory lock serializes them.

    Separate processes, not threads: Alembic's `context` is process-global.
    """
    import subprocess
    import sys

    script = "import sys; from mannerly.db import upgrade_database; upgrade_database(sys.argv[1])"
    processes = [
        subprocess.Popen([sys.executable, "-c", script, postgres_url], stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    failures = []
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        if process.returncode != 0:
            failures.append(stderr)
    assert failures == []
    assert schema_differences(postgres_url) == []


def test_update_by_id_writes_each_row_its_own_columns_and_keeps_onupdate(tmp_path: Path) -> None:
    """Rows changing different columns are all written; a column left out keeps its value or its onupdate."""
    metadata = MetaData()
    table = Table("things", metadata, Column("id", Integer, primary_key=True), Column("name", String(10)),
                  Column("note", String(10)), Column("touched", String(10), onupdate=lambda: "auto"))
    engine = make_engine(f"sqlite:///{tmp_path / 'u.db'}")
    metadata.create_all(engine)
    with make_sessionmaker(engine)() as session:
        session.execute(table.insert(), [{"id": n, "name": f"n{n}", "note": f"o{n}", "touched": "no"}
                                         for n in (1, 2, 3)])
        update_by_id(session, table, [{"id": 1, "name": "a"}, {"id": 2, "note": "b", "touched": "set"},
                                      {"id": 3, "name": "c"}])
        session.commit()
        rows = {row.id: (row.name, row.note, row.touched) for row in session.execute(table.select())}
    engine.dispose()
    assert rows == {1: ("a", "o1", "auto"), 2: ("n2", "b", "set"), 3: ("c", "o3", "auto")}


def test_bulk_writes_on_sqlite_store_what_sqlalchemy_stores(tmp_path: Path) -> None:
    """insert_many/update_by_id bind values per column on SQLite: timestamps, JSON, booleans and NULLs read back
    exactly as when SQLAlchemy binds them row by row, and a column default still applies (usual path)."""
    from datetime import UTC, datetime, timedelta, timezone

    from mannerly.db import _PLAIN_STATEMENTS
    from mannerly.models.base import UTCDateTime

    metadata = MetaData()
    table = Table("bulk_things", metadata, Column("id", Integer, primary_key=True), Column("at", UTCDateTime()),
                  Column("doc", JSON), Column("flag", Boolean), Column("label", String(10), default="dflt"))
    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    metadata.create_all(engine)
    now = datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=UTC)
    seoul = now.astimezone(timezone(timedelta(hours=9)))
    rows = [{"id": n, "at": [now, seoul, None][n % 3], "doc": [{"a": [1, "é"]}, None, "text", 1.5][n % 4],
             "flag": [True, False, None][n % 3], "label": f"l{n}"} for n in range(1, 13)]
    with make_sessionmaker(engine)() as session:
        insert_many(session, table, rows)
        session.execute(table.insert(), [{**row, "id": row["id"] + 100} for row in rows])  # SQLAlchemy's own path
        insert_many(session, table, [{"id": 200, "at": now}])  # "label" has a default: written the usual way
        update_by_id(session, table, [{"id": n, "at": now + timedelta(days=1), "doc": {"n": n}} for n in (1, 2)])
        session.execute(table.update().where(table.c.id.in_([101, 102])).values(at=now + timedelta(days=1)))
        for n in (101, 102):
            session.execute(table.update().where(table.c.id == n).values(doc={"n": n - 100}))
        session.commit()
        stored = {row.id: row for row in session.execute(table.select())}
        raw = {row[0]: row[1:] for row in session.execute(text("SELECT id, at, doc, flag FROM bulk_things"))}
    engine.dispose()
    for n in range(1, 13):
        assert stored[n][1:] == stored[n + 100][1:]
        assert raw[n] == raw[n + 100]  # the very same stored text, not just equal after reading
    assert stored[1].at == now + timedelta(days=1) and stored[2].doc == {"n": 2} and stored[6].doc == "text"
    assert stored[200].label == "dflt" and stored[200].at == now
    assert _PLAIN_STATEMENTS[("insert", table, ("at", "doc", "flag", "id", "label"))] is not None
    assert _PLAIN_STATEMENTS[("insert", table, ("at", "id"))] is None
