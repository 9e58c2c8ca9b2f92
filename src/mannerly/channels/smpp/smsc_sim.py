"""`mannerly smsc-sim`: an SMPP v3.4 SMSC simulator with simulated phones, on one asyncio event loop.

It accepts bind_transceiver/transmitter/receiver (checking system_id and password when
configured), answers submit_sm with message ids (hex, upper-case hex with leading zeros,
or decimal, so ESMEs must match ids however written), sends each submitted part a
delivery receipt after a delay (deliver_sm with esm_class 0x04, the customary receipt
text AND the receipted_message_id / message_state TLVs, written in a configurable id
format that may differ from the submit_sm_resp's), lets simulated phones reply (MO
deliver_sm) at a configurable rate, answers enquire_link and unbind, sends generic_nack
for commands it does not know, and answers ESME_RTHROTTLED above a configured submit
rate. Phones keep what they received (concatenated parts joined) for tests to inspect.

Use it in-process (`start_in_thread()`, for tests and benchmarks) or as a server
(`run(settings)`, what the CLI does).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mannerly.channels.smpp import pdu
from mannerly.channels.smpp.shortmessage import (
    decode_text,
    encode_parts,
    format_receipt_text,
    sar_concatenation,
    split_user_data,
)

log = logging.getLogger(__name__)

ID_FORMATS = ("hex", "HEX", "dec", "dec0")
REPLY_TEXTS = (
    "Thanks!",
    "감사합니다!",
    "Terima kasih",
    "Ευχαριστώ",
    "OK, see you then",
)
_BIND_COMMANDS = {pdu.BIND_TRANSCEIVER: "transceiver", pdu.BIND_TRANSMITTER: "transmitter",
                  pdu.BIND_RECEIVER: "receiver"}


@dataclass(frozen=True, slots=True)
class SimSettings:
    """How the simulated SMSC behaves."""

    host: str = "127.0.0.1"
    port: int = 2775  # 0: let the OS choose
    system_id: str | None = None  # None: any system_id may bind
    password: str | None = None  # None: any password
    receipt_delay_ms: int = 200
    failure_rate: float = 0.0  # share of parts reported UNDELIV
    reply_rate: float = 0.0  # share of delivered messages a phone answers
    reply_delay_ms: int = 500
    id_format: str = "hex"  # how submit_sm_resp writes ids
    receipt_id_format: str = "same"  # how receipts write them ("same" or one of ID_FORMATS)
    receipt_tlvs: bool = True  # add receipted_message_id and message_state
    throttle_per_second: float = 0.0  # 0: never throttle
    submit_resp_delay_ms: int = 0  # hold every submit_sm_resp this long (to exercise ESME timeouts)
    seed: int | None = None

    def __post_init__(self) -> None:
        """Refuse settings the simulator cannot honour."""
        if self.id_format not in ID_FORMATS:
            raise ValueError(f"id_format must be one of {', '.join(ID_FORMATS)}")
        if self.receipt_id_format not in (*ID_FORMATS, "same"):
            raise ValueError(f"receipt_id_format must be 'same' or one of {', '.join(ID_FORMATS)}")
        for name in ("failure_rate", "reply_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")


def format_message_id(number: int, style: str) -> str:
    """A message id in one of the simulator's styles: hex, HEX (zero-padded), dec, dec0 (zero-padded)."""
    if style == "hex":
        return f"{number:x}"
    if style == "HEX":
        return f"{number:010X}"
    if style == "dec0":
        return f"{number:010d}"
    return str(number)


@dataclass(frozen=True, slots=True)
class PhoneMessage:
    """What a simulated phone received (parts joined) or sent."""

    phone: str
    other_party: str
    text: str
    direction: str  # "received" or "sent"
    message_ids: tuple[str, ...] = ()
    data_coding: int = 0


@dataclass
class SimStats:
    """Counters, for tests and the benchmark."""

    binds: int = 0
    bind_failures: int = 0
    submits: int = 0
    throttled: int = 0
    receipts_sent: int = 0
    mo_sent: int = 0
    enquire_links: int = 0
    unbinds: int = 0
    generic_nacks: int = 0
    deliver_sm_resps: int = 0
    queries: int = 0


@dataclass
class _Submitted:
    """One accepted part, kept for query_sm and receipts."""

    number: int
    message_id: str
    source_addr: str
    destination_addr: str
    system_id: str
    submitted_at: datetime
    text: str
    state: int = 1  # ENROUTE until its receipt is due
    error: int = 0


class SmscSimulator:
    """The simulated SMSC: sessions, message store, phones and timers on one event loop."""

    def __init__(self, settings: SimSettings | None = None) -> None:
        """A simulator that is not listening yet."""
        self.settings = settings or SimSettings()
        self.stats = SimStats()
        self.rng = random.Random(self.settings.seed)
        self.sessions: set[_SmscSession] = set()
        self.messages: dict[str, _Submitted] = {}
        self.phones: dict[str, list[PhoneMessage]] = defaultdict(list)
        self._partials: dict[tuple[str, str, int, int], dict[int, tuple[str, str]]] = {}
        self._undelivered: dict[str, deque[pdu.Pdu]] = defaultdict(deque)  # system_id -> deliver_sm waiting
        # Ids start at a realistic size: short ids read the same in hex and decimal far too often.
        self._next_number = self.rng.randrange(10**8, 10**9)
        self._throttle_window: deque[float] = deque()
        self._reply_reference = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # -- running ------------------------------------------------------------------------------------

    async def start(self) -> tuple[str, int]:
        """Listen; returns the (host, port) actually bound."""
        self.loop = asyncio.get_running_loop()
        self.server = await self.loop.create_server(
            lambda: _SmscSession(self), self.settings.host, self.settings.port)
        host, port = self.server.sockets[0].getsockname()[:2]
        return host, port

    async def stop(self) -> None:
        """Stop listening and close every session."""
        if self.server is not None:
            self.server.close()
        for session in list(self.sessions):
            session.close()
        if self.server is not None:
            await self.server.wait_closed()

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) the simulator listens on."""
        assert self.server is not None
        return self.server.sockets[0].getsockname()[:2]

    def start_in_thread(self) -> tuple[str, int]:
        """Run the simulator on its own event loop in a daemon thread; returns (host, port)."""
        def serve() -> None:
            """The thread's body: a fresh loop running until stop_in_thread()."""
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.start())
            self._ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._thread = threading.Thread(target=serve, name="smsc-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the SMSC simulator did not start")
        return self.address

    def stop_in_thread(self, timeout: float = 5.0) -> None:
        """Stop a simulator started with start_in_thread()."""
        if self.loop is not None and self._thread is not None:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)

    def call(self, function: Any, *args: Any) -> Any:
        """Run a function on the simulator's loop from another thread and return its result."""
        assert self.loop is not None
        future: Any = asyncio.run_coroutine_threadsafe(_call(function, *args), self.loop)
        return future.result(5)

    # -- controls for tests (call through `call` from other threads) -----------------------------------

    def drop_connections(self) -> int:
        """Close every session abruptly (no unbind); returns how many were closed."""
        sessions = list(self.sessions)
        for session in sessions:
            session.abort()
        return len(sessions)

    def unbind_sessions(self) -> None:
        """Ask every session to unbind, as an SMSC going down for maintenance does."""
        for session in list(self.sessions):
            session.send_request(pdu.Pdu(pdu.UNBIND))

    def phone_sends(self, phone: str, to: str, text: str, system_id: str | None = None) -> None:
        """A simulated phone texts a sender; delivered as MO deliver_sm (queued until a receiver binds)."""
        self.phones[phone].append(PhoneMessage(phone=phone, other_party=to, text=text, direction="sent"))
        self._reply_reference = (self._reply_reference + 1) % 256
        parts = encode_parts(text, self._reply_reference)
        for part in parts:
            message = pdu.Pdu(pdu.DELIVER_SM, params=pdu.short_message_params(
                source_addr=phone.lstrip("+"), source_addr_ton=pdu.TON_INTERNATIONAL, source_addr_npi=pdu.NPI_ISDN,
                destination_addr=to, dest_addr_ton=_ton_of(to), dest_addr_npi=pdu.NPI_ISDN,
                short_message=part.short_message, data_coding=part.data_coding, esm_class=part.esm_class,
            ))
            self.stats.mo_sent += 1
            self._deliver(system_id, message)

    def phone_inbox(self, phone: str) -> list[PhoneMessage]:
        """What a simulated phone has received so far (concatenated parts joined)."""
        return [entry for entry in self.phones.get(phone, []) if entry.direction == "received"]

    # -- protocol handling ---------------------------------------------------------------------------------

    def check_bind(self, request: pdu.Pdu) -> int:
        """ESME_ROK when the credentials are accepted, else the refusal's command_status."""
        settings = self.settings
        if settings.system_id is not None and request.get("system_id") != settings.system_id:
            return pdu.ESME_RINVSYSID
        if settings.password is not None and request.get("password") != settings.password:
            return pdu.ESME_RINVPASWD
        return pdu.ESME_ROK

    def throttled(self) -> bool:
        """True when accepting one more submit would exceed throttle_per_second over the last second."""
        limit = self.settings.throttle_per_second
        if limit <= 0:
            return False
        now = time.monotonic()
        window = self._throttle_window
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limit:
            return True
        window.append(now)
        return False

    def accept_submit(self, session: _SmscSession, request: pdu.Pdu) -> pdu.Pdu:
        """Answer a submit_sm: throttle, validate, store, schedule the receipt and maybe a reply."""
        if self.throttled():
            self.stats.throttled += 1
            return pdu.response_to(request, pdu.ESME_RTHROTTLED)
        destination = request.get("destination_addr", "")
        if not destination or not destination.lstrip("+").isdigit():
            return pdu.response_to(request, pdu.ESME_RINVDSTADR)
        self.stats.submits += 1
        self._next_number += 1
        number = self._next_number
        message_id = format_message_id(number, self.settings.id_format)
        concatenation, payload = split_user_data(request.get("short_message", b""), request.get("esm_class", 0))
        concatenation = concatenation or sar_concatenation(request)
        text = decode_text(payload, request.get("data_coding", 0))
        stored = _Submitted(number=number, message_id=message_id, source_addr=request.get("source_addr", ""),
                            destination_addr=destination, system_id=session.system_id,
                            submitted_at=datetime.now(UTC), text=text)
        self.messages[message_id] = stored
        complete = self._collect(stored, concatenation, request.get("data_coding", 0))
        fails = self.rng.random() < self.settings.failure_rate
        if request.get("registered_delivery", 0) & 0x03:
            assert self.loop is not None
            self.loop.call_later(self.settings.receipt_delay_ms / 1000, self._send_receipt, stored, fails)
        if complete is not None and not fails and self.rng.random() < self.settings.reply_rate:
            assert self.loop is not None
            reply = self.rng.choice(REPLY_TEXTS)
            delay = (self.settings.receipt_delay_ms + self.settings.reply_delay_ms) / 1000
            self.loop.call_later(delay, self.phone_sends, "+" + destination.lstrip("+"), stored.source_addr,
                                 reply, session.system_id)
        return pdu.response_to(request, message_id=message_id)

    def _collect(self, stored: _Submitted, concatenation: Any, data_coding: int) -> PhoneMessage | None:
        """Put a part on the destination phone; returns the phone's message once every part arrived."""
        phone = "+" + stored.destination_addr.lstrip("+")
        if concatenation is None or concatenation.total <= 1:
            entry = PhoneMessage(phone, stored.source_addr, stored.text, "received", (stored.message_id,), data_coding)
            self.phones[phone].append(entry)
            return entry
        key = (phone, stored.source_addr, concatenation.reference, concatenation.total)
        parts = self._partials.setdefault(key, {})
        parts[concatenation.sequence] = (stored.text, stored.message_id)
        if len(parts) < concatenation.total:
            return None
        del self._partials[key]
        ordered = [parts[number] for number in sorted(parts)]
        entry = PhoneMessage(phone, stored.source_addr, "".join(text for text, _ in ordered), "received",
                             tuple(message_id for _, message_id in ordered), data_coding)
        self.phones[phone].append(entry)
        return entry

    def _send_receipt(self, stored: _Submitted, fails: bool) -> None:
        """Send one part's delivery receipt to a receiver bound with the submitter's system_id."""
        stat, state, err = ("UNDELIV", 5, "001") if fails else ("DELIVRD", 2, "000")
        stored.state, stored.error = state, int(err)
        style = self.settings.receipt_id_format
        written_id = stored.message_id if style == "same" else format_message_id(stored.number, style)
        text = format_receipt_text(written_id, stat, err, stored.submitted_at, datetime.now(UTC), stored.text,
                                   delivered=not fails)
        tlvs: dict[int, bytes] = {}
        if self.settings.receipt_tlvs:
            tlvs = {pdu.TAG_RECEIPTED_MESSAGE_ID: pdu.tlv_cstring_value(written_id),
                    pdu.TAG_MESSAGE_STATE: pdu.tlv_int_value(state, 1)}
            if fails:
                tlvs[pdu.TAG_NETWORK_ERROR_CODE] = bytes((3, 0, 1))  # GSM network, error 1
        receipt = pdu.Pdu(pdu.DELIVER_SM, params=pdu.short_message_params(
            source_addr=stored.destination_addr, source_addr_ton=pdu.TON_INTERNATIONAL,
            source_addr_npi=pdu.NPI_ISDN, destination_addr=stored.source_addr,
            dest_addr_ton=_ton_of(stored.source_addr), short_message=text.encode("ascii", "replace"),
            esm_class=pdu.ESM_CLASS_DELIVERY_RECEIPT,
        ), tlvs=tlvs)
        self.stats.receipts_sent += 1
        self._deliver(stored.system_id, receipt)

    def _deliver(self, system_id: str | None, message: pdu.Pdu) -> None:
        """Send a deliver_sm to a receiving session of that system_id, or hold it until one binds."""
        for session in self.sessions:
            if session.receives and (system_id is None or session.system_id == system_id):
                session.send_request(message)
                return
        self.hold(system_id, message)

    def hold(self, system_id: str | None, message: pdu.Pdu) -> None:
        """Keep a deliver_sm until a receiver of that system_id binds."""
        self._undelivered[system_id or ""].append(message)

    def flush_waiting(self, session: _SmscSession) -> None:
        """Hand a newly bound receiver what waited for its system_id."""
        for key in (session.system_id, ""):
            waiting = self._undelivered.get(key)
            while waiting:
                session.send_request(waiting.popleft())

    def query(self, request: pdu.Pdu) -> pdu.Pdu:
        """Answer query_sm from the message store."""
        self.stats.queries += 1
        stored = self.messages.get(request.get("message_id", ""))
        if stored is None:
            return pdu.response_to(request, pdu.ESME_RQUERYFAIL)
        final_date = "" if stored.state == 1 else datetime.now(UTC).strftime("%y%m%d%H%M%S") + "000+"
        return pdu.response_to(request, message_id=stored.message_id, final_date=final_date,
                               message_state=stored.state, error_code=stored.error)


async def _call(function: Any, *args: Any) -> Any:
    """Run a plain function on the loop (for SmscSimulator.call)."""
    return function(*args)


def _ton_of(address: str) -> int:
    """TON for an address the simulator writes: alphanumeric, or international digits."""
    return pdu.TON_INTERNATIONAL if address.lstrip("+").isdigit() else pdu.TON_ALPHANUMERIC


class _SmscSession(asyncio.Protocol):
    """One ESME's connection to the simulator."""

    def __init__(self, simulator: SmscSimulator) -> None:
        """Not bound yet."""
        self.simulator = simulator
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.system_id = ""
        self.mode: str | None = None
        self.sequence = 0
        # Our requests (deliver_sm, unbind) waiting for the end of this loop iteration, then sent in one write.
        self.outgoing: list[pdu.Pdu] = []

    @property
    def receives(self) -> bool:
        """True when bound as receiver or transceiver."""
        return self.mode in ("receiver", "transceiver")

    @property
    def transmits(self) -> bool:
        """True when bound as transmitter or transceiver."""
        return self.mode in ("transmitter", "transceiver")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Remember the transport."""
        self.transport = transport  # type: ignore[assignment]
        self.simulator.sessions.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the session; what it had not sent yet waits for the next receiver."""
        self.simulator.sessions.discard(self)
        self.mode = None
        self.requeue_outgoing()

    def data_received(self, data: bytes) -> None:
        """Frame and answer PDUs."""
        self.buffer += data
        replies: list[bytes] = []
        try:
            for frame in pdu.split_frames(self.buffer):
                try:
                    request = pdu.decode(frame)
                except pdu.PduError:
                    sequence = int.from_bytes(frame[12:16], "big") if len(frame) >= 16 else 0
                    replies.append(pdu.encode(pdu.generic_nack(sequence, pdu.ESME_RINVMSGLEN)))
                    continue
                reply = self.handle(request)
                if reply is None:
                    continue
                delay = self.simulator.settings.submit_resp_delay_ms
                if reply.command_id == pdu.SUBMIT_SM_RESP and delay > 0 and self.simulator.loop is not None:
                    self.simulator.loop.call_later(delay / 1000, self.write, pdu.encode(reply))
                else:
                    replies.append(pdu.encode(reply))
        except pdu.PduError:  # the stream itself is out of step: nothing more can be read
            replies.append(pdu.encode(pdu.generic_nack(0, pdu.ESME_RINVCMDLEN)))
            self.write(b"".join(replies))
            self.close()
            return
        if replies and self.transport is not None:
            self.write(b"".join(replies))
        if self.mode == "closing":
            self.close()

    def handle(self, request: pdu.Pdu) -> pdu.Pdu | None:
        """The answer to one PDU (None for responses to our own requests)."""
        simulator = self.simulator
        command = request.command_id
        if command in _BIND_COMMANDS:
            if self.mode is not None:
                return pdu.response_to(request, pdu.ESME_RALYBND)
            status = simulator.check_bind(request)
            if status != pdu.ESME_ROK:
                simulator.stats.bind_failures += 1
                return pdu.response_to(request, status)
            self.system_id = request.get("system_id", "")
            self.mode = _BIND_COMMANDS[command]
            simulator.stats.binds += 1
            response = pdu.response_to(request, system_id="MANNERLYSIM")
            response.tlvs[pdu.TAG_SC_INTERFACE_VERSION] = pdu.tlv_int_value(pdu.INTERFACE_VERSION_34, 1)
            if self.receives:
                assert simulator.loop is not None
                simulator.loop.call_soon(simulator.flush_waiting, self)
            return response
        if command == pdu.ENQUIRE_LINK:
            simulator.stats.enquire_links += 1
            return pdu.response_to(request)
        if command == pdu.UNBIND:
            simulator.stats.unbinds += 1
            self.mode = "closing"
            return pdu.response_to(request)
        if command == pdu.DELIVER_SM_RESP:
            simulator.stats.deliver_sm_resps += 1
            return None
        if request.is_response:
            return None  # unbind_resp, enquire_link_resp, generic_nack from the ESME
        if command == pdu.SUBMIT_SM:
            if not self.transmits:
                return pdu.response_to(request, pdu.ESME_RINVBNDSTS)
            return simulator.accept_submit(self, request)
        if command == pdu.QUERY_SM:
            if not self.transmits:
                return pdu.response_to(request, pdu.ESME_RINVBNDSTS)
            return simulator.query(request)
        simulator.stats.generic_nacks += 1
        return pdu.generic_nack(request.sequence_number, pdu.ESME_RINVCMDID)

    def send_request(self, request: pdu.Pdu) -> None:
        """Send a request of ours (deliver_sm, unbind) with the next sequence_number, batched per loop iteration.

        Receipts fall due in bursts (every part of a submitted batch has the same delay): the
        ones of one iteration leave in one write instead of one system call each.
        """
        self.sequence = self.sequence % 0x7FFFFFFF + 1
        request.sequence_number = self.sequence
        if not self.outgoing:
            loop = self.simulator.loop
            if loop is None:
                self.write(pdu.encode(request))
                return
            loop.call_soon(self.flush_outgoing)
        self.outgoing.append(request)

    def flush_outgoing(self) -> None:
        """Write the requests queued by send_request, in order, in one write."""
        requests, self.outgoing = self.outgoing, []
        if requests:
            self.write(b"".join(pdu.encode(request) for request in requests))

    def requeue_outgoing(self) -> None:
        """Hand deliver_sm that never left back to the simulator, for the next receiver of that system_id."""
        requests, self.outgoing = self.outgoing, []
        for request in requests:
            if request.command_id == pdu.DELIVER_SM:
                self.simulator.hold(self.system_id, request)

    def write(self, data: bytes) -> None:
        """Write to the connection if it is still open."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        """Close after flushing what was written."""
        self.flush_outgoing()
        self.mode = None
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection at once, as a crashed SMSC would (unsent deliver_sm wait for the next receiver)."""
        self.mode = None
        self.requeue_outgoing()
        if self.transport is not None:
            self.transport.abort()


async def serve_forever(settings: SimSettings) -> None:
    """Run a simulator until cancelled (what `mannerly smsc-sim` does)."""
    simulator = SmscSimulator(settings)
    host, port = await simulator.start()
    log.info("SMSC simulator listening on %s:%s", host, port)
    print(f"SMSC simulator listening on {host}:{port} (SMPP v3.4); Ctrl-C stops it", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await simulator.stop()
