"""The SMPP session in a child process: the default way an SMPP channel connects.

An `SmppAdapter` spends much of its time encoding submit_sm PDUs and decoding responses and
delivery receipts, on its own session thread too. In the dispatcher's process that work
competes for the interpreter lock with deciding and recording; in a child process it runs on
another core, while the dispatcher decides the next batch. `ProcessSmppAdapter` keeps the
adapter's interface and forwards each call over a socket pair to a child
(`python -m mannerly.channels.smpp.connector`) that owns a real `SmppAdapter` (the bind, the
window, the receipt tracker). The hand-off rules do not change:

- requests are answered in the order they were made; `start_send_many` returns at once, so
  the dispatcher can overlap a batch's hand-off with deciding the next one;
- a request that never reached a running child (it could not start, or the request could
  not be written) sent nothing: its messages come back "retry later";
- if the child dies after taking requests, every hand-off it held raises `ConnectorLost`,
  which the dispatcher records as `unknown` (never resent); the next call starts a new child;
- the child stops (unbinding politely) when closed or when its parent's end of the pipe
  closes, and ignores Ctrl-C so that the parent decides when to stop it.

Receipts and customer messages wait in the child until the dispatcher asks for them; they are
stamped with the system clock as they arrive (a test clock of the parent cannot reach the child).
"""

from __future__ import annotations

import dataclasses
import logging
import operator
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import Any

from mannerly.channels.base import Exchange, InboundMessage, OutboundMessage, SendResult, StatusUpdate
from mannerly.channels.smpp.adapter import SmppAdapter, SmppChannelSettings
from mannerly.channels.smpp.esme import ConnectionLost, SmppError
from mannerly.kit.process import tune_garbage_collection
from mannerly.observability import configure_logging

log = logging.getLogger(__name__)

# What the parent may ask of the child's adapter; anything else is refused by the child.
REMOTE_CALLS = frozenset({"send_many", "due_status_updates", "pending_inbound", "lookup_status", "wait_bound"})
# How often a waiting parent checks that the child is still alive.
LIVENESS_CHECK_SECONDS = 1.0
# How long a new child may take to start (import, build its adapter) before it is given up.
START_TIMEOUT_SECONDS = 30.0
CLOSE_TIMEOUT_SECONDS = 5.0
# After a child fails to start, the next start waits this long, doubling up to the maximum.
START_BACKOFF_MIN_SECONDS = 1.0
START_BACKOFF_MAX_SECONDS = 60.0


def _positional_reducer(cls: type) -> Callable[[Any], tuple[type, tuple]]:
    """A pickle reducer that rebuilds a dataclass from its fields in order."""
    values = operator.attrgetter(*(item.name for item in dataclasses.fields(cls)))
    return lambda instance: (cls, values(instance))


# Pickled by field order rather than by the default state of slotted dataclasses, which looks up
# every field of every object on unpickling (a tenth of the dispatcher's time with thousands of results).
for _passed in (OutboundMessage, SendResult, Exchange, StatusUpdate, InboundMessage):
    ForkingPickler.register(_passed, _positional_reducer(_passed))


class ConnectorLost(ConnectionLost):
    """The connector process died or stopped answering after taking a request: its outcome is unknown."""


class ConnectorUnavailable(SmppError):
    """No running connector took the request (it could not start, or the request could not be written): nothing was sent."""


class RemoteError(Exception):
    """The child's adapter raised; the message names the exception."""


class Ticket:
    """One request to the child; `result()` waits for its answer (answers come in request order)."""

    def __init__(self, connector: ProcessSmppAdapter) -> None:
        """A request that was written to the child."""
        self.connector = connector
        self.done = False
        self.value: Any = None
        self.error: Exception | None = None

    def settle(self, value: Any = None, error: Exception | None = None) -> None:
        """Store the child's answer (or the reason there is none)."""
        self.value, self.error, self.done = value, error, True

    def result(self) -> Any:
        """The answer; raises ConnectorLost, ConnectorUnavailable or RemoteError when there is none."""
        if not self.done:
            self.connector.wait_for(self)
        if self.error is not None:
            raise self.error
        return self.value


def serve(connection: Connection) -> None:
    """The child's main loop: one SmppAdapter, each request answered in order until closed or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this child stops
    settings, kind, channel_id, sender_id, log_level, log_format = connection.recv()
    # The parent's level and format, and its filter of personal data, on the stderr both share.
    configure_logging(log_level, log_format)
    adapter = SmppAdapter(settings, kind=kind, channel_id=channel_id, sender_id=sender_id)
    tune_garbage_collection()
    # A thread reads requests as they come, so a parent writing its next batch never waits on a
    # child that is itself waiting to write a large answer the parent has not read yet.
    requests: queue.SimpleQueue[tuple[str, tuple]] = queue.SimpleQueue()
    threading.Thread(target=_read_requests, args=(connection, requests), name="connector-reader", daemon=True).start()
    try:
        connection.send("ready")
        while True:
            call, args = requests.get()
            if call == "close":
                return
            try:
                if call not in REMOTE_CALLS:
                    raise ValueError(f"unknown connector call {call!r}")
                reply = ("ok", getattr(adapter, call)(*args))
            except Exception as error:  # reported to the parent, which decides what it means
                reply = ("error", f"{type(error).__name__}: {error}")
            try:
                connection.send(reply)
            except OSError:  # the parent is gone
                return
            except Exception as error:  # an answer that cannot be pickled: say so rather than die silently
                connection.send(("error", f"the connector could not send its answer back: {error}"))
    finally:
        adapter.close()
        connection.close()


def _read_requests(connection: Connection, requests: queue.SimpleQueue) -> None:
    """Queue the parent's requests in order; its going away reads as a request to close."""
    while True:
        try:
            request = connection.recv()
        except Exception:  # the parent is gone (EOFError, OSError), or sent what cannot be read: stop
            requests.put(("close", ()))
            return
        requests.put(request)
        if request[0] == "close":
            return


def _child_environment() -> dict[str, str]:
    """The parent's environment, with this package importable in the child however the parent found it."""
    package_root = str(Path(__file__).resolve().parents[3])
    paths = [package_root, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


class ProcessSmppAdapter:
    """An SMPP channel whose session lives in a child process; same interface as SmppAdapter."""

    provider = "smpp"

    def __init__(self, settings: SmppChannelSettings, *, kind: str = "sms", channel_id: int | None = None,
                 sender_id: str | None = None, start: bool = True, log_level: str = "WARNING",
                 log_format: str = "text") -> None:
        """Remember the settings; the child starts now (unless start=False) or on first use."""
        self.settings = settings
        self.log_level, self.log_format = log_level, log_format
        self.kind = kind
        self.channel_id = channel_id
        self.sender_id = sender_id
        self.status_map: dict[str, str] = dict(settings.status_map)
        self._lock = threading.RLock()
        self._process: subprocess.Popen | None = None
        self._connection: Connection | None = None
        self._waiting: deque[Ticket] = deque()
        self._closed = False
        # After a child failed to start: when the next may start, the pause, and what went wrong.
        self._start_not_before = 0.0
        self._start_backoff = 0.0
        self._start_failure = ""
        if start:
            with self._lock:
                try:
                    self._ensure_child()
                except ConnectorUnavailable as error:  # the next request tries again
                    log.warning("SMPP connector of channel %s did not start: %s", channel_id, error)

    # -- the child ------------------------------------------------------------------------------------------

    def _running(self) -> bool:
        """Whether a child was started and has not exited."""
        return self._process is not None and self._process.poll() is None

    def _ensure_child(self) -> Connection:
        """The pipe to a running child, starting one when there is none (lock held); raises ConnectorUnavailable."""
        if self._closed:
            raise ConnectorUnavailable("the SMPP connector was closed")
        if self._connection is not None and self._running():
            return self._connection
        self._discard_child("the SMPP connector process stopped")
        wait = self._start_not_before - time.monotonic()
        if wait > 0:  # a child that cannot start is not restarted on every call
            raise ConnectorUnavailable(f"{self._start_failure}; next start in {wait:.1f} s")
        try:
            connection = self._start_child()
        except ConnectorUnavailable as error:
            self._start_backoff = min(max(self._start_backoff * 2, START_BACKOFF_MIN_SECONDS), START_BACKOFF_MAX_SECONDS)
            self._start_not_before = time.monotonic() + self._start_backoff
            self._start_failure = str(error)
            raise
        self._start_backoff = 0.0
        return connection

    def _start_child(self) -> Connection:
        """Start a child and wait for it to report ready (lock held); raises ConnectorUnavailable."""
        # A fresh interpreter running this module, not multiprocessing's spawn: spawn runs the
        # parent's main script again in the child (and cannot when it came from stdin); fork would
        # copy the parent's threads (web server, dispatcher) in mid-step.
        parent_end, child_end = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "mannerly.channels.smpp.connector", str(child_end.fileno())],
                pass_fds=(child_end.fileno(),), stdin=subprocess.DEVNULL, env=_child_environment())
        except OSError as error:
            parent_end.close()
            raise ConnectorUnavailable(f"the SMPP connector could not be started: {error}") from error
        finally:
            child_end.close()  # only the child holds it now, so its exit reads as end-of-file here
        connection = Connection(parent_end.detach())
        self._process, self._connection = process, connection
        try:
            connection.send((self.settings, self.kind, self.channel_id, self.sender_id, self.log_level, self.log_format))
            ready = connection.poll(START_TIMEOUT_SECONDS) and connection.recv()
        except (EOFError, OSError) as error:
            ready = None
            detail = str(error) or type(error).__name__
        else:
            detail = "it did not report ready"
        if ready != "ready":
            self._discard_child("the SMPP connector did not start")
            raise ConnectorUnavailable(f"the SMPP connector did not start ({detail}; exit code "
                                       f"{process.returncode})")
        return connection

    def _discard_child(self, reason: str) -> None:
        """Stop and forget the child; every request still waiting for it fails with ConnectorLost (lock held)."""
        process, connection = self._process, self._connection
        self._process = self._connection = None
        while self._waiting:
            self._waiting.popleft().settle(error=ConnectorLost(reason))
        if connection is not None:
            connection.close()
        if process is not None:
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(CLOSE_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._process.pid if self._running() else None

    # -- requests -----------------------------------------------------------------------------------------------

    def request(self, call: str, *args: Any) -> Ticket:
        """Write a request to the child; its answer is read by Ticket.result()."""
        with self._lock:
            ticket = Ticket(self)
            try:
                self._ensure_child().send((call, args))
            except ConnectorUnavailable as error:
                ticket.settle(error=error)
                return ticket
            except (OSError, ValueError) as error:  # not written (ValueError: the pipe was closed under us)
                self._discard_child(f"the SMPP connector could not be reached: {error}")
                ticket.settle(error=ConnectorUnavailable(f"the SMPP connector could not be reached: {error}"))
                return ticket
            self._waiting.append(ticket)
            return ticket

    def wait_for(self, ticket: Ticket) -> None:
        """Read answers in order until this ticket has its own (or the child is lost)."""
        with self._lock:
            while not ticket.done:
                connection = self._connection
                if connection is None or not self._waiting:  # settled by _discard_child, or never queued
                    ticket.settle(error=ConnectorLost("the SMPP connector was restarted before it answered"))
                    return
                if not self._answer_ready(connection):
                    self._discard_child("the SMPP connector process stopped without answering")
                    continue
                try:
                    status, value = connection.recv()
                except (EOFError, OSError) as error:
                    self._discard_child(f"the SMPP connector process died: {str(error) or type(error).__name__}")
                    continue
                answered = self._waiting.popleft()
                if status == "ok":
                    answered.settle(value)
                else:
                    answered.settle(error=RemoteError(value))

    def _answer_ready(self, connection: Connection) -> bool:
        """Wait for the next answer while the child lives; False when it stopped without one."""
        # No deadline: the child's adapter times out every PDU itself, and a large batch on a slow
        # SMSC may rightly take minutes.
        while not connection.poll(LIVENESS_CHECK_SECONDS):
            if not self._running():
                return connection.poll(0)  # it may have answered just before it stopped
        return True

    def call(self, call: str, *args: Any) -> Any:
        """Make a request and wait for its answer."""
        return self.request(call, *args).result()

    # -- the adapter interface ----------------------------------------------------------------------------------

    def start_send_many(self, messages: list[OutboundMessage]) -> Callable[[], list[SendResult]]:
        """Hand messages to the child and return at once; calling the result waits for one SendResult each.

        Raises ConnectorLost when the child took the messages and died: their outcome is unknown.
        """
        messages = list(messages)
        ticket = self.request("send_many", messages)

        def results() -> list[SendResult]:
            """The child's answers; "retry later" for every message when no child took them."""
            try:
                return ticket.result()
            except ConnectorUnavailable as error:
                return [SendResult(accepted=False, status="failed", retryable=True, error_code="CONNECTOR_UNAVAILABLE",
                                   error_detail=str(error)) for _ in messages]
        return results

    def send_many(self, messages: list[OutboundMessage]) -> list[SendResult]:
        """Submit several messages pipelined within the window; one SendResult each, in order."""
        return self.start_send_many(messages)()

    def send(self, message: OutboundMessage) -> SendResult:
        """Submit one message (all its parts) and wait for the SMSC's answers."""
        return self.send_many([message])[0]

    def due_status_updates(self, now: datetime) -> list[StatusUpdate]:
        """Delivery receipts the child received since the last call; [] while it cannot be reached."""
        return self._collect("due_status_updates", now)

    def pending_inbound(self, now: datetime) -> list[InboundMessage]:
        """Customer messages the child received since the last call; [] while it cannot be reached."""
        return self._collect("pending_inbound", now)

    def _collect(self, call: str, now: datetime) -> list:
        """Ask the child for what it queued; a lost child has nothing to give (a new one starts next time)."""
        try:
            return self.call(call, now)
        except (SmppError, RemoteError) as error:
            log.warning("SMPP connector of channel %s: %s failed: %s", self.channel_id, call, error)
            return []

    def lookup_status(self, provider_message_id: str) -> StatusUpdate | None:
        """Ask the SMSC with query_sm through the child; None when it cannot tell."""
        try:
            return self.call("lookup_status", provider_message_id)
        except (SmppError, RemoteError):
            return None

    def wait_bound(self, timeout: float) -> bool:
        """Whether the child's session is bound, waiting up to timeout seconds for it."""
        try:
            return bool(self.call("wait_bound", timeout))
        except (SmppError, RemoteError):
            return False

    def close(self) -> None:
        """Ask the child to unbind and stop, and wait for it (the registry calls this on shutdown)."""
        with self._lock:
            self._closed = True
            process, connection = self._process, self._connection
            if connection is not None:
                try:
                    connection.send(("close", ()))
                except (OSError, ValueError):
                    pass
            if process is not None:
                try:
                    process.wait(CLOSE_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    pass  # _discard_child terminates it
            self._discard_child("the SMPP connector was closed")


def main(argv: list[str]) -> None:
    """`python -m mannerly.channels.smpp.connector FD`: serve the parent on the inherited socket FD."""
    serve(Connection(int(argv[1])))


if __name__ == "__main__":
    main(sys.argv)
