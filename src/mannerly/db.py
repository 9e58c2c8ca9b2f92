"""Database engines, sessions and migrations for SQLite (embedded) and PostgreSQL (scale-out)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Engine, Table, bindparam, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 5000
# A writer that finds SQLite's write lock taken sleeps and tries again: after 1, 2, 5, 10, 15, 20, 25, 25,
# 25, 50 and 50 ms, then every 100 ms (sqliteDefaultBusyCallback) until the busy timeout.
SQLITE_BUSY_RETRY_SECONDS = 0.1
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def normalize_database_url(url: str | URL) -> URL:
    """Parse a database URL and pick the driver Mannerly uses (psycopg 3 for PostgreSQL)."""
    parsed = make_url(str(url)) if not isinstance(url, URL) else url
    if parsed.drivername in {"postgresql", "postgres", "postgresql+psycopg2"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_file(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _configure_sqlite_connection(dbapi_connection, _connection_record) -> None:
    """Turn on WAL, foreign keys and a busy timeout on every new SQLite connection."""
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets the web UI read while the in-process worker writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        # SQLite ignores foreign keys unless asked, per connection.
        cursor.execute("PRAGMA foreign_keys=ON")
        # Wait for a competing writer instead of failing at once with "database is locked".
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def make_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """Create an engine for a SQLite or PostgreSQL URL with Mannerly's connection settings.

    For a SQLite file, the parent directory is created when missing.
    """
    parsed = normalize_database_url(url)
    if parsed.get_backend_name() == "sqlite":
        sqlite_file = _sqlite_file(parsed)
        if sqlite_file is not None:
            sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        # The pysqlite driver's own transaction handling is kept on purpose: it opens the
        # transaction at the first write, so a session that reads and then writes never
        # fails on a stale WAL snapshot (SQLITE_BUSY_SNAPSHOT ignores busy_timeout).
        # Reads outside that window see committed data, like PostgreSQL's READ COMMITTED.
        engine = create_engine(
            parsed,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _configure_sqlite_connection)
        return engine
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(url: str | URL | None = None, *, engine: Engine | None = None) -> Config:
    """An Alembic configuration pointing at the migrations inside the package (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # The URL travels in `attributes`, not in the ini options, so a password with "%" survives.
    if url is not None:
        config.attributes["database_url"] = normalize_database_url(url)
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade_database(url: str | URL | Engine, revision: str = "head") -> None:
    """Run the Alembic migrations up to `revision` (default: the newest) on a database."""
    if isinstance(url, Engine):
        command.upgrade(alembic_config(engine=url), revision)
    else:
        command.upgrade(alembic_config(url), revision)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision a database is at, or None when it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest migration revision shipped with this version of Mannerly."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def serialize_writes(session: Session) -> bool:
    """Make the rows this transaction reads next safe to read-modify-write against other processes.

    SQLite: take the database's write lock now, with a write that changes nothing, so no other
    writer commits between our reads and our writes (readers are not blocked in WAL mode).
    Returns True when the caller must lock the rows it reads instead (PostgreSQL:
    SELECT … FOR UPDATE), which leaves unrelated rows free for other workers.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE alembic_version SET version_num = version_num WHERE 0"))
        return False
    return True


class WriteGaps:
    """Leaves SQLite's write lock free between the transactions of a long run of writes, so waiting writers get it.

    A waiting writer only tries again every so often (every 100 ms once it has waited 0.3 s): a
    writer that commits and at once begins its next transaction leaves too short a gap to be
    noticed. After a transaction that held the lock long (its waiters now retry every 50–100 ms),
    or when another connection did get in between our last two transactions (others are writing:
    more may be waiting), the next transaction waits until the lock has been free for
    SQLITE_BUSY_RETRY_SECONDS, time enough for every waiting writer's next try.
    """

    def __init__(self, long_hold_seconds: float) -> None:
        """Give the full gap after transactions that held the lock at least `long_hold_seconds`."""
        self.long_hold_seconds = long_hold_seconds
        self.free_until = 0.0
        self.version: int | None = None
        self.others = False

    def before(self) -> None:
        """Just before the transaction's first write: wait out the gap the previous transaction asked for."""
        pause = self.free_until - time.perf_counter()
        if pause > 0:
            time.sleep(pause)

    def began(self, session: Session) -> None:
        """Right after the first write (the lock is ours): note whether another connection committed meanwhile."""
        # data_version changes when another connection commits; it cannot while we hold the lock.
        version = session.connection().exec_driver_sql("PRAGMA data_version").scalar()
        self.others = self.version is not None and version != self.version
        self.version = version

    def committed(self, held_seconds: float) -> None:
        """Right after the commit: ask for a full gap after a long transaction or while others write."""
        if self.others or held_seconds >= self.long_hold_seconds:
            self.free_until = time.perf_counter() + SQLITE_BUSY_RETRY_SECONDS
        else:
            self.free_until = 0.0


def update_by_id(session: Session, table: Table, rows: Iterable[dict]) -> None:
    """UPDATE rows by their "id" with Core executemany, one statement per set of changed columns.

    The ORM's bulk UPDATE costs several times more per row in bookkeeping; the dispatcher
    writes every batch back this way. Column defaults with onupdate still apply.
    """
    for keys, group in _by_keys(rows).items():
        columns = [key for key in keys if key != "id"]
        # "id" is both the WHERE value and a column name, and Core reserves column names for SET.
        statement = table.update().where(table.c.id == bindparam("row_id"))
        if not _execute_plain(session, statement, ("update", table, keys), group, {"row_id": "id"}):
            session.execute(statement, [{"row_id": row["id"], **{column: row[column] for column in columns}}
                                        for row in group])


def insert_many(session: Session, table: Table, rows: Iterable[dict]) -> None:
    """INSERT rows (dicts of column values) with Core executemany, one statement per set of given columns."""
    for keys, group in _by_keys(rows).items():
        statement = table.insert()
        if not _execute_plain(session, statement, ("insert", table, keys), group, {}):
            session.execute(statement, group)


def _by_keys(rows: Iterable[dict]) -> dict[tuple[str, ...], list[dict]]:
    """Rows grouped by the set of keys they have (one statement each)."""
    groups: dict[tuple[str, ...], list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return groups


# SQLite executemany statements compiled once: key -> (SQL, parameter names in order, bind processors,
# names of timestamp parameters), or None when the statement needs SQLAlchemy's own execution.
_PLAIN_STATEMENTS: dict[tuple, tuple[str, tuple[str, ...], dict[str, Callable], set[str]] | None] = {}


def _execute_plain(session: Session, statement, key: tuple, rows: list[dict], renamed: dict[str, str]) -> bool:
    """Run a Core executemany on SQLite with bind processing done per column; False where it does not apply.

    SQLAlchemy converts every value of every row on its own (a batch's rows share most timestamps),
    which cost the dispatcher about twice SQLite's own work for these writes. Here each column's
    values go through the column type's own bind processor, timestamps once per distinct value, and
    the driver gets plain tuples. Statements that need more than the given values (a column default
    or onupdate to compute) and other databases take the usual path.
    """
    dialect = session.get_bind().dialect
    if not rows or dialect.name != "sqlite":
        return False
    if key not in _PLAIN_STATEMENTS:
        compiled = statement.compile(dialect=dialect,
                                     column_keys=[name for name in key[2] if name not in renamed.values()])
        names = tuple(compiled.positiontup or ())
        given = set(key[2]) | set(renamed)
        plain = set(names) <= given and not compiled.insert_prefetch and not compiled.postfetch \
            and not compiled.update_prefetch
        # Timestamps are converted once per distinct value; other values (JSON documents) one by one.
        timestamps = {name for name in names if name in statement.table.c
                      and statement.table.c[name].type._type_affinity is DateTime}
        _PLAIN_STATEMENTS[key] = (compiled.string, names, dict(compiled._bind_processors), timestamps) \
            if plain else None
    found = _PLAIN_STATEMENTS[key]
    if found is None:
        return False
    sql, names, processors, timestamps = found
    columns = []
    for name in names:
        values = [row[renamed.get(name, name)] for row in rows]
        process = processors.get(name)
        if process is not None and name in timestamps:
            converted = {value: process(value) for value in set(values)}
            values = [converted[value] for value in values]
        elif process is not None:
            values = [process(value) for value in values]
        columns.append(values)
    session.flush()  # as session.execute would: pending ORM changes go first
    session.connection().exec_driver_sql(sql, list(zip(*columns, strict=True)))
    return True
