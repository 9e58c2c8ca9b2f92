"""The ESME side of an SMPP v3.4 session: one TCP connection kept bound, with a window of outstanding requests.

One background thread per client connects, binds (bind_transceiver by default), reads
every PDU, answers the SMSC's requests (deliver_sm_resp, enquire_link_resp, unbind_resp,
generic_nack for anything else), sends enquire_link when the line is idle, and
reconnects with exponential backoff after a drop. Any thread may `submit` a request: it
waits for a free slot in the window, writes the PDU and gets a `PendingResponse` to wait
on. When the connection drops, every outstanding request fails with `ConnectionLost`
(it was written, so its outcome is unknown); a request that could not be written fails
with `NotConnected` (nothing left, safe to try again).
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mannerly.channels.smpp import pdu

log = logging.getLogger(__name__)

BIND_COMMANDS = {
    "transceiver": pdu.BIND_TRANSCEIVER,
    "transmitter": pdu.BIND_TRANSMITTER,
    "receiver": pdu.BIND_RECEIVER,
}
# How often the reader wakes up to check keep-alive and shutdown, in seconds.
READ_POLL_SECONDS = 0.2
MAX_SEQUENCE = 0x7FFFFFFF


class SmppError(Exception):
    """Base of the session's errors."""


class NotConnected(SmppError):
    """The session is not bound; the request was not written."""


class ConnectionLost(SmppError):
    """The connection dropped after the request was written; its outcome is unknown."""


class ResponseTimeout(SmppError):
    """No response came in time after the request was written; its outcome is unknown."""


class BindFailed(SmppError):
    """The SMSC refused the bind (wrong system_id/password, or already bound)."""

    def __init__(self, command_status: int) -> None:
        """Keep the SMSC's command_status."""
        super().__init__(f"bind refused: {pdu.status_name(command_status)}")
        self.command_status = command_status


@dataclass(frozen=True, slots=True)
class EsmeSettings:
    """Where and how to bind, from a channel's config."""

    host: str
    port: int
    system_id: str
    password: str = ""
    system_type: str = ""
    bind_mode: str = "transceiver"
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""
    window: int = 10
    enquire_link_interval: float = 30.0
    response_timeout: float = 10.0
    connect_timeout: float = 5.0
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> EsmeSettings:
        """Settings from a channel config dict (host, port, system_id, password, ...); raises ValueError."""
        missing = [name for name in ("host", "port", "system_id") if not config.get(name)]
        if missing:
            raise ValueError(f"the SMPP channel config lacks {', '.join(missing)}")
        bind_mode = str(config.get("bind_mode", "transceiver"))
        if bind_mode not in BIND_COMMANDS:
            raise ValueError(f"bind_mode must be one of {', '.join(BIND_COMMANDS)}")
        window = int(config.get("window", 10))
        if window < 1:
            raise ValueError("window must be at least 1")
        return cls(
            host=str(config["host"]),
            port=int(config["port"]),
            system_id=str(config["system_id"]),
            password=str(config.get("password", "")),
            system_type=str(config.get("system_type", "")),
            bind_mode=bind_mode,
            addr_ton=int(config.get("addr_ton", 0)),
            addr_npi=int(config.get("addr_npi", 0)),
            address_range=str(config.get("address_range", "")),
            window=window,
            enquire_link_interval=float(config.get("enquire_link_interval", 30.0)),
            response_timeout=float(config.get("response_timeout", 10.0)),
            connect_timeout=float(config.get("connect_timeout", 5.0)),
            reconnect_min=float(config.get("reconnect_min", 0.5)),
            reconnect_max=float(config.get("reconnect_max", 30.0)),
        )


class PendingResponse:
    """A written request waiting for its response."""

    __slots__ = ("request", "written_at", "_done", "response", "error")

    def __init__(self, request: pdu.Pdu) -> None:
        """Track one request."""
        self.request = request
        self.written_at = time.monotonic()
        # A lock held until the answer comes: cheaper than an Event (no Condition), which counts
        # at thousands of requests a second. Only the one who took the request from the pending
        # table resolves it, so it is released once.
        self._done = threading.Lock()
        self._done.acquire()
        self.response: pdu.Pdu | None = None
        self.error: SmppError | None = None

    def resolve(self, response: pdu.Pdu | None, error: SmppError | None = None) -> None:
        """Record the response (or the error) and wake the waiter."""
        self.response, self.error = response, error
        self._done.release()

    def wait(self, timeout: float) -> pdu.Pdu:
        """The response; raises ResponseTimeout or ConnectionLost (outcome unknown in both cases)."""
        if not self._done.acquire(timeout=max(timeout, 0.0)):
            raise ResponseTimeout(f"no {self.request.name}_resp within {timeout:g} s")
        self._done.release()  # answered for good: a second wait returns at once
        if self.error is not None:
            raise self.error
        assert self.response is not None
        return self.response


DeliverHandler = Callable[[pdu.Pdu], None]


class EsmeClient:
    """A self-reconnecting SMPP session; `submit` is thread-safe."""

    def __init__(self, settings: EsmeSettings, on_deliver: DeliverHandler | None = None) -> None:
        """Prepare a client; call `start()` to connect in the background."""
        self.settings = settings
        self.on_deliver = on_deliver
        self._socket: socket.socket | None = None
        self._write_lock = threading.Lock()
        self._state = threading.Condition()
        self._pending: dict[int, PendingResponse] = {}
        self._sequence = 0
        self._bound = threading.Event()
        self._stopping = threading.Event()
        self._closing = threading.Event()  # unbinding on purpose: do not reconnect
        self._thread: threading.Thread | None = None
        self._last_activity = time.monotonic()
        self._enquire_sent_at: float | None = None
        self.last_error: str | None = None
        self.binds = 0  # successful binds so far (a reconnect makes it grow)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background thread that connects, binds, reads and reconnects."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"smpp-{self.settings.system_id}", daemon=True)
            self._thread.start()

    @property
    def bound(self) -> bool:
        """True while the session is bound."""
        return self._bound.is_set()

    def wait_bound(self, timeout: float) -> bool:
        """Wait until bound; False when the timeout passed first."""
        return self._bound.wait(timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Unbind politely (waiting briefly for unbind_resp), close the socket and stop the thread."""
        self._closing.set()
        if self._bound.is_set():
            try:
                # The session thread still reads, so it can hand us the unbind_resp.
                self.submit(pdu.Pdu(pdu.UNBIND), wait_for_bind=0).wait(timeout)
            except SmppError:
                pass  # closing anyway
        self._stopping.set()
        self._drop_connection("client closed")
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # -- requests --------------------------------------------------------------------------------

    def next_sequence(self) -> int:
        """A fresh sequence_number (1..0x7FFFFFFF, wrapping)."""
        with self._state:
            self._sequence = self._sequence % MAX_SEQUENCE + 1
            return self._sequence

    def submit(self, request: pdu.Pdu, *, wait_for_bind: float | None = None) -> PendingResponse:
        """Write a request once a window slot is free; raises NotConnected when it could not be written."""
        deadline = time.monotonic() + (self.settings.connect_timeout if wait_for_bind is None else wait_for_bind)
        if not self._bound.wait(max(0.0, deadline - time.monotonic())):
            raise NotConnected(self.last_error or "not bound to the SMSC")
        request.sequence_number = self.next_sequence()
        pending = PendingResponse(request)
        with self._state:
            # The window: at most `window` requests may wait for their response.
            while len(self._pending) >= self.settings.window:
                remaining = deadline + self.settings.response_timeout - time.monotonic()
                if remaining <= 0 or not self._bound.is_set():
                    raise NotConnected("the window stayed full")
                self._state.wait(remaining)
            if not self._bound.is_set():
                raise NotConnected(self.last_error or "the connection dropped")
            self._pending[request.sequence_number] = pending
        try:
            self._write(pdu.encode(request))
        except NotConnected:
            with self._state:
                self._pending.pop(request.sequence_number, None)
                self._state.notify_all()
            raise
        except OSError as error:
            with self._state:
                self._pending.pop(request.sequence_number, None)
                self._state.notify_all()
            self._drop_connection(f"write failed: {error}")
            # sendall may have written part of the PDU; a partial PDU is never processed by the SMSC
            # but a complete one may have been, so report it as lost rather than not written.
            raise ConnectionLost(f"write failed: {error}") from error
        pending.written_at = time.monotonic()
        return pending

    def submit_many(self, requests: list[pdu.Pdu], *, wait_for_bind: float | None = None
                    ) -> list[PendingResponse | Exception]:
        """Write several requests, as many at a time as the window has room for, each group in one write.

        Per request: its PendingResponse, or the error that kept it from being written
        (NotConnected: nothing left; pdu.PduError: it does not encode) or lost it mid-write
        (ConnectionLost: its outcome is unknown).
        """
        deadline = time.monotonic() + (self.settings.connect_timeout if wait_for_bind is None else wait_for_bind)
        outcomes: list[PendingResponse | Exception | None] = [None] * len(requests)
        if not self._bound.wait(max(0.0, deadline - time.monotonic())):
            return [NotConnected(self.last_error or "not bound to the SMSC")] * len(requests)
        position = 0
        while position < len(requests):
            frames: list[bytes] = []
            waiting: list[tuple[int, PendingResponse]] = []
            with self._state:
                while len(self._pending) >= self.settings.window and self._bound.is_set():
                    remaining = deadline + self.settings.response_timeout - time.monotonic()
                    if remaining <= 0:
                        break
                    self._state.wait(remaining)
                if not self._bound.is_set() or len(self._pending) >= self.settings.window:
                    error = NotConnected("the window stayed full" if self._bound.is_set()
                                         else self.last_error or "the connection dropped")
                    outcomes[position:] = [error] * (len(requests) - position)
                    return outcomes  # type: ignore[return-value]
                room = self.settings.window - len(self._pending)
                while position < len(requests) and len(waiting) < room:
                    request = requests[position]
                    self._sequence = self._sequence % MAX_SEQUENCE + 1
                    request.sequence_number = self._sequence
                    try:
                        frames.append(pdu.encode(request))
                    except pdu.PduError as error:
                        outcomes[position] = error
                    else:
                        pending = PendingResponse(request)
                        self._pending[request.sequence_number] = pending
                        waiting.append((position, pending))
                    position += 1
            if not waiting:
                continue
            try:
                # The group in one write: one lock round and one system call instead of one per PDU.
                self._write(b"".join(frames))
            except (NotConnected, OSError) as error:
                with self._state:
                    for _, pending in waiting:
                        self._pending.pop(pending.request.sequence_number, None)
                    self._state.notify_all()
                if isinstance(error, NotConnected):
                    failure: SmppError = error
                else:
                    self._drop_connection(f"write failed: {error}")
                    # Some of the group may have reached the SMSC: their outcome is unknown.
                    failure = ConnectionLost(f"write failed: {error}")
                for index, _ in waiting:
                    outcomes[index] = failure
                outcomes[position:] = [NotConnected(str(error))] * (len(requests) - position)
                return outcomes  # type: ignore[return-value]
            written_at = time.monotonic()
            for index, pending in waiting:
                pending.written_at = written_at
                outcomes[index] = pending
        return outcomes  # type: ignore[return-value]

    def request(self, message: pdu.Pdu, timeout: float | None = None) -> pdu.Pdu:
        """Write a request and wait for its response."""
        return self.submit(message).wait(self.settings.response_timeout if timeout is None else timeout)

    def forget(self, pending: PendingResponse) -> None:
        """Give up on a request (after a timeout) so it no longer holds a window slot."""
        with self._state:
            if self._pending.get(pending.request.sequence_number) is pending:
                del self._pending[pending.request.sequence_number]
                self._state.notify_all()

    def _write(self, data: bytes) -> None:
        """Write bytes to the socket under the write lock."""
        with self._write_lock:
            sock = self._socket
            if sock is None:
                raise NotConnected(self.last_error or "not connected")
            sock.sendall(data)
        self._last_activity = time.monotonic()

    # -- background thread -------------------------------------------------------------------------

    def _run(self) -> None:
        """Connect, bind and read until stopped; reconnect with exponential backoff."""
        delay = self.settings.reconnect_min
        while not self._stopping.is_set() and not self._closing.is_set():
            try:
                sock = self._connect_and_bind()
            except (OSError, pdu.PduError, SmppError) as error:
                self.last_error = f"{type(error).__name__}: {error}"
                log.warning("SMPP %s:%s bind failed (%s); retrying in %.1f s",
                            self.settings.host, self.settings.port, self.last_error, delay)
                self._stopping.wait(delay)
                delay = min(delay * 2, self.settings.reconnect_max)
                continue
            delay = self.settings.reconnect_min
            try:
                self._read_loop(sock)
            except (OSError, pdu.PduError) as error:
                self._drop_connection(f"{type(error).__name__}: {error}")
            if not self._stopping.is_set():
                self._stopping.wait(delay)

    def _connect_and_bind(self) -> socket.socket:
        """Open the TCP connection and bind; returns the bound socket."""
        settings = self.settings
        sock = socket.create_connection((settings.host, settings.port), timeout=settings.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request = pdu.bind(BIND_COMMANDS[settings.bind_mode], self.next_sequence(), settings.system_id,
                               settings.password, settings.system_type, settings.addr_ton, settings.addr_npi,
                               settings.address_range)
            sock.sendall(pdu.encode(request))
            sock.settimeout(settings.response_timeout)
            response = _read_pdu(sock)
            if response is None:
                raise ConnectionLost("the SMSC closed the connection during bind")
            if response.command_id != pdu.response_id(request.command_id) or response.command_status != pdu.ESME_ROK:
                raise BindFailed(response.command_status or pdu.ESME_RBINDFAIL)
        except BaseException:
            sock.close()
            raise
        with self._write_lock:
            self._socket = sock
        self._last_activity = time.monotonic()
        self._enquire_sent_at = None
        self.last_error = None
        self.binds += 1
        self._bound.set()
        log.info("SMPP bound to %s:%s as %s", settings.host, settings.port, settings.system_id)
        return sock

    def _read_loop(self, sock: socket.socket) -> None:
        """Read PDUs until the connection ends; keeps the link alive with enquire_link."""
        buffer = bytearray()
        while not self._stopping.is_set() and self._socket is sock:
            readable, _, _ = select.select([sock], [], [], READ_POLL_SECONDS)
            if not readable:
                self._keep_alive()
                continue
            chunk = sock.recv(65536)
            if not chunk:
                self._drop_connection("the SMSC closed the connection")
                return
            self._last_activity = time.monotonic()
            buffer += chunk
            responses: list[pdu.Pdu] = []
            # Our answers to the SMSC's requests of this read (deliver_sm_resp ...), written together.
            answers: list[pdu.Pdu] = []
            for frame in pdu.split_frames(buffer):
                try:
                    message = pdu.decode(frame)
                except pdu.PduError as error:
                    # Well framed but malformed: refuse this PDU and keep the session (dropping it would
                    # lose the answers to our pending submits, and the SMSC would resend the same PDU).
                    refusal = self._refusal(frame, error)
                    if refusal is not None:
                        answers.append(refusal)
                    continue
                if message.is_response:
                    responses.append(message)
                    continue
                # Answers that came before this request are handed over first, keeping the SMSC's order.
                self._resolve(responses)
                responses = []
                answers.append(self._answer_to(message))
                if message.command_id == pdu.UNBIND:
                    self._answer(answers)
                    self._drop_connection("the SMSC unbound")
                    return
            self._resolve(responses)
            # Every deliver_sm of this read was handled before its deliver_sm_resp leaves, all in one write.
            self._answer(answers)
            if self._socket is not sock:  # a failed write ended the session
                return

    def _keep_alive(self) -> None:
        """Send enquire_link when the line has been idle; drop a connection whose enquire_link went unanswered."""
        now = time.monotonic()
        if self._enquire_sent_at is not None:
            if now - self._enquire_sent_at > self.settings.response_timeout:
                self._drop_connection("enquire_link unanswered")
            return
        if now - self._last_activity >= self.settings.enquire_link_interval:
            self._enquire_sent_at = now
            try:
                self._write(pdu.encode(pdu.Pdu(pdu.ENQUIRE_LINK, self.next_sequence())))
            except NotConnected:
                pass
            except OSError as error:
                self._drop_connection(f"enquire_link write failed: {error}")

    def _answer_to(self, message: pdu.Pdu) -> pdu.Pdu:
        """The response to one of the SMSC's requests; a deliver_sm is handed to on_deliver first."""
        if message.command_id == pdu.DELIVER_SM:
            status = pdu.ESME_ROK
            try:
                if self.on_deliver is not None:
                    self.on_deliver(message)
            except Exception:  # the SMSC must get its answer, or it redelivers forever
                log.exception("handling a deliver_sm failed")
                # Not ESME_ROK: that would tell the SMSC the message was taken while it was lost.
                status = pdu.ESME_RX_T_APPN
            return pdu.response_to(message, status)
        if message.command_id in (pdu.ENQUIRE_LINK, pdu.UNBIND):
            return pdu.response_to(message)
        return pdu.generic_nack(message.sequence_number, pdu.ESME_RINVCMDID)

    def _resolve(self, responses: list[pdu.Pdu]) -> None:
        """Hand responses to their waiters, all of one read under one lock round (frees their window slots)."""
        if not responses:
            return
        with self._state:
            taken = [(self._pending.pop(response.sequence_number, None), response) for response in responses]
            self._state.notify_all()
        for pending, response in taken:
            if response.command_id == pdu.ENQUIRE_LINK_RESP:
                self._enquire_sent_at = None
            if pending is not None:
                pending.resolve(response)

    def _refusal(self, frame: bytes, error: pdu.PduError) -> pdu.Pdu | None:
        """The answer to a PDU whose body does not decode: deliver_sm_resp with a permanent error for a
        deliver_sm (the SMSC stops redelivering it), generic_nack for other requests; None for a malformed
        response, which is left to time out, so that message's outcome becomes "unknown" rather than guessed."""
        _length, command_id, _status, sequence_number = pdu.HEADER.unpack_from(frame)
        log.warning("malformed %s PDU refused: %s", pdu.COMMAND_NAMES.get(command_id, hex(command_id)), error)
        if command_id & pdu.RESPONSE_BIT:
            return None
        if command_id == pdu.DELIVER_SM:
            return pdu.Pdu(pdu.response_id(command_id), sequence_number, pdu.ESME_RX_P_APPN, {"message_id": ""})
        return pdu.generic_nack(sequence_number, pdu.ESME_RINVCMDLEN)

    def _answer(self, responses: list[pdu.Pdu]) -> None:
        """Write responses to the SMSC's requests, all in one write."""
        if not responses:
            return
        try:
            self._write(b"".join(pdu.encode(response) for response in responses))
        except NotConnected:
            pass  # the connection is already gone; the SMSC will redeliver
        except OSError as error:
            self._drop_connection(f"write failed: {error}")

    def _drop_connection(self, reason: str) -> None:
        """Close the socket and fail every outstanding request (their outcome is unknown)."""
        with self._write_lock:
            sock, self._socket = self._socket, None
        was_bound = self._bound.is_set()
        self._bound.clear()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
        with self._state:
            pending, self._pending = self._pending, {}
            self._state.notify_all()
        for waiter in pending.values():
            waiter.resolve(None, ConnectionLost(reason))
        if was_bound and not self._stopping.is_set() and not self._closing.is_set():
            self.last_error = reason
            log.warning("SMPP connection to %s:%s dropped: %s", self.settings.host, self.settings.port, reason)


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    """Exactly `size` octets, or None when the peer closed first."""
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def _read_pdu(sock: socket.socket) -> pdu.Pdu | None:
    """One whole PDU from a blocking socket, or None at end of stream."""
    header = _read_exactly(sock, 4)
    if header is None:
        return None
    rest = _read_exactly(sock, pdu.frame_length(header) - 4)
    if rest is None:
        return None
    return pdu.decode(header + rest)
