"""Group commit for the queue mode's webhooks: one transaction stores the events of many concurrent calls.

Each webhook call hands its rows (events and its exchange-log entry) to the process's writer
thread and waits; the thread takes everything that is waiting, writes it with one
executemany per table, commits, and only then releases the callers, so every "200" still
means "durably stored". Under load the cost of a transaction is shared by all the calls in
it; when calls come one at a time each gets its own transaction as before.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy import Engine, insert
from sqlalchemy.dialects import postgresql, sqlite

from mannerly.models import ProviderExchange, WebhookEvent

log = logging.getLogger(__name__)

# The most calls one transaction takes; more wait for the next one.
MAX_CALLS_PER_COMMIT = 500


@dataclass
class PendingWrite:
    """The rows of one webhook call and the future its caller waits on."""

    events: list[dict]
    exchange: dict
    done: Future = field(default_factory=Future)


class WebhookWriter:
    """A thread that stores webhook rows in shared transactions (started on first use)."""

    def __init__(self, engine: Engine) -> None:
        """Bind to the database; nothing starts until the first write."""
        self.engine = engine
        self._waiting: queue.SimpleQueue[PendingWrite | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, events: list[dict], exchange: dict) -> Future:
        """Queue one call's rows; the future completes (or fails) once they are committed."""
        pending = PendingWrite(events, exchange)
        self._ensure_started()
        self._waiting.put(pending)
        return pending.done

    def close(self) -> None:
        """Let the thread finish what is waiting, then stop it."""
        if self._thread is not None:
            self._waiting.put(None)
            self._thread.join(10)
            self._thread = None

    def _ensure_started(self) -> None:
        """Start the writer thread once."""
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="mannerly-webhook-writer", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        """Write whatever is waiting, batch after batch, until closed."""
        while True:
            first = self._waiting.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < MAX_CALLS_PER_COMMIT:
                try:
                    more = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._write(batch)
            if stopping:
                return

    def _write(self, batch: list[PendingWrite]) -> None:
        """Store a batch in one transaction; on failure, retry each call alone so one bad call fails alone."""
        try:
            self._store(batch)
        except Exception as error:  # noqa: BLE001 - handed to the waiting callers
            if len(batch) == 1:
                batch[0].done.set_exception(error)
                return
            log.warning("group commit of %d webhook calls failed (%s); storing them one by one", len(batch), error)
            for pending in batch:
                self._write([pending])
            return
        for pending in batch:
            pending.done.set_result(None)

    def _store(self, batch: list[PendingWrite]) -> None:
        """INSERT the events (a replayed one is ignored) and the exchange-log rows, then commit."""
        events = [row for pending in batch for row in pending.events]
        with self.engine.begin() as connection:
            if events:
                dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
                statement = dialect_insert(WebhookEvent).on_conflict_do_nothing(
                    index_elements=["channel_id", "event_key"])
                connection.execute(statement, events)
            connection.execute(insert(ProviderExchange), [pending.exchange for pending in batch])
