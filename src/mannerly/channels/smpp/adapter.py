"""The SMPP v3.4 channel (SPEC C1): Mannerly as an ESME bound to an operator's or aggregator's SMSC.

`send` runs on the dispatcher's thread and blocks until the SMSC answered every part:

- the text is split as `mannerly.kit.sms` counts it; long texts get a concatenation UDH;
- the first part is written and its submit_sm_resp awaited before the others are
  written (pipelined, within the window). If the SMSC refuses the first part nothing
  reached the customer, so throttling (ESME_RTHROTTLED), a full queue or a temporary
  error come back as `retryable`; a refusal of a later part cannot be undone, so the
  message fails and is never resent; a throttled later part is retried in place;
- a PDU written without an answer (timeout, dropped connection) makes the message
  `unknown`, never resent;
- `provider_message_id` is the message_id of the FIRST part's submit_sm_resp. Every
  part's id is remembered, so a receipt for any part is matched; a multi-part message
  is reported delivered once all parts are, and failed as soon as one part fails.

Receipts (deliver_sm with the receipt bit of esm_class) and customer messages (other
deliver_sm) arrive on the socket; the session thread queues them and the dispatcher
collects them with `due_status_updates(now)` and `pending_inbound(now)`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mannerly.channels.base import (
    FINAL_STATUSES,
    Exchange,
    InboundMessage,
    OutboundMessage,
    SendResult,
    StatusUpdate,
    normalize_status,
)
from mannerly.channels.smpp import pdu
from mannerly.channels.smpp.esme import (
    ConnectionLost,
    EsmeClient,
    EsmeSettings,
    NotConnected,
    PendingResponse,
    ResponseTimeout,
    SmppError,
)
from mannerly.channels.smpp.shortmessage import (
    Concatenation,
    EncodedPart,
    EncodingError,
    decode_text,
    encode_parts,
    parse_receipt_text,
    plain_id_key,
    sar_concatenation,
    split_user_data,
)

log = logging.getLogger(__name__)

# Receipt `stat:` words (and message_state names) -> normalized status.
SMPP_STATUS_MAP: dict[str, str] = {
    "ENROUTE": "sent",
    "ACCEPTD": "sent",  # accepted on the subscriber's behalf (e.g. by customer service): not a delivery
    "DELIVRD": "delivered",
    "EXPIRED": "undelivered",
    "DELETED": "failed",
    "UNDELIV": "undelivered",
    "UNKNOWN": "unknown",
    "REJECTD": "failed",
}
# command_status values that refuse a submit_sm "for now": nothing was accepted, try later.
RETRYABLE_STATUSES = frozenset({
    pdu.ESME_RTHROTTLED, pdu.ESME_RMSGQFUL, pdu.ESME_RSYSERR, pdu.ESME_RX_T_APPN,
})
SUCCESS_STATUSES = frozenset({"delivered", "read"})
# How many times a throttled later part is submitted again before the message fails.
LATER_PART_THROTTLE_ATTEMPTS = 5
# Receipts whose id matches nothing we sent are held this long (the submit_sm_resp may
# still be on its way), then reported with the id as the SMSC wrote it.
ORPHAN_HOLD_SECONDS = 30.0
# Incomplete concatenated customer messages are given up (and delivered as they are) after this.
MO_ASSEMBLY_SECONDS = 600.0
DEFAULT_MAX_TRACKED = 500_000


@dataclass(frozen=True, slots=True)
class SmppChannelSettings:
    """The channel config beyond the bind: addressing, receipts and throttling backoff."""

    esme: EsmeSettings
    source_addr_ton: int | None = None  # None: derived from the sender id
    source_addr_npi: int | None = None
    dest_addr_ton: int = pdu.TON_INTERNATIONAL
    dest_addr_npi: int = pdu.NPI_ISDN
    registered_delivery: int = 1
    service_type: str = ""
    validity_period: str = ""
    throttle_backoff_min: float = 0.1
    throttle_backoff_max: float = 5.0
    throttle_wait_max: float = 1.0
    max_tracked: int = DEFAULT_MAX_TRACKED
    status_map: Mapping[str, str] = field(default_factory=lambda: dict(SMPP_STATUS_MAP))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmppChannelSettings:
        """Settings from a channel config dict; raises ValueError when required keys are missing."""
        def optional_int(name: str) -> int | None:
            """An int config value, or None when absent."""
            value = config.get(name)
            return None if value is None or value == "" else int(value)

        return cls(
            esme=EsmeSettings.from_config(config),
            source_addr_ton=optional_int("source_addr_ton"),
            source_addr_npi=optional_int("source_addr_npi"),
            dest_addr_ton=int(config.get("dest_addr_ton", pdu.TON_INTERNATIONAL)),
            dest_addr_npi=int(config.get("dest_addr_npi", pdu.NPI_ISDN)),
            registered_delivery=int(config.get("registered_delivery", 1)),
            service_type=str(config.get("service_type", "")),
            validity_period=str(config.get("validity_period", "")),
            throttle_backoff_min=float(config.get("throttle_backoff_min", 0.1)),
            throttle_backoff_max=float(config.get("throttle_backoff_max", 5.0)),
            throttle_wait_max=float(config.get("throttle_wait_max", 1.0)),
            max_tracked=int(config.get("max_tracked", DEFAULT_MAX_TRACKED)),
            status_map={**SMPP_STATUS_MAP, **dict(config.get("status_map") or {})},
        )


def source_addressing(sender: str, ton: int | None, npi: int | None) -> tuple[str, int, int]:
    """The source_addr, TON and NPI for a sender id: "+E.164" international, digits unknown/ISDN, else alphanumeric."""
    if sender.startswith("+") and sender[1:].isdigit():
        address, default_ton, default_npi = sender[1:], pdu.TON_INTERNATIONAL, pdu.NPI_ISDN
    elif sender.isdigit():
        address, default_ton, default_npi = sender, pdu.TON_UNKNOWN, pdu.NPI_ISDN
    else:
        address, default_ton, default_npi = sender, pdu.TON_ALPHANUMERIC, pdu.NPI_UNKNOWN
    return address, default_ton if ton is None else ton, default_npi if npi is None else npi


def inbound_address(address: str, ton: int) -> str:
    """A customer's address as the pipeline wants it: "+digits" for international numbers."""
    if ton == pdu.TON_INTERNATIONAL and address.isdigit():
        return "+" + address
    return address


# -- receipt matching ----------------------------------------------------------------------------------


@dataclass
class _Tracked:
    """One sent message whose receipts are still expected."""

    provider_message_id: str
    part_ids: list[str]
    finals: dict[int, str] = field(default_factory=dict)
    final_reported: bool = False


class ReceiptTracker:
    """Every part's message id -> our message, tolerant of hex/decimal/case/leading-zero differences.

    A receipt id is looked up three ways: as the same spelling (ignoring case and leading
    zeros), as the decimal spelling of an id the SMSC gave in hex, and as the hex spelling
    of an id given in decimal. SMSCs are consistent, so when one reading alone finds a
    message it earns a vote; when readings disagree (short ids can read both ways), the
    reading with the most votes wins, and the same spelling before any votes exist.
    """

    READINGS = ("same", "hex", "dec")

    def __init__(self, max_tracked: int = DEFAULT_MAX_TRACKED, orphan_hold_seconds: float = ORPHAN_HOLD_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """An empty index holding at most `max_tracked` messages (oldest forgotten first)."""
        self.max_tracked = max_tracked
        self.orphan_hold_seconds = orphan_hold_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._messages: OrderedDict[str, _Tracked] = OrderedDict()
        # reading -> key -> (message, part index)
        self._index: dict[str, dict[Any, tuple[_Tracked, int]]] = {reading: {} for reading in self.READINGS}
        self.votes: dict[str, int] = {reading: 0 for reading in self.READINGS}
        # Held receipts as [arrival, raw id, update, taken], in arrival order and by lookup key.
        self._orphans: deque[list[Any]] = deque()
        self._orphan_keys: dict[tuple[str, Any], list[list[Any]]] = {}

    def __len__(self) -> int:
        """How many messages still await receipts."""
        with self._lock:
            return len(self._messages)

    def register(self, provider_message_id: str, part_ids: list[str]) -> list[StatusUpdate]:
        """Remember a sent message's part ids; returns held receipts that now match it."""
        return self.register_many([(provider_message_id, part_ids)])

    def register_many(self, messages: list[tuple[str, list[str]]]) -> list[StatusUpdate]:
        """Remember several sent messages (first part's id, every part's id) under one lock round; returns
        held receipts that now match them."""
        matched: list[list[Any]] = []
        with self._lock:
            for provider_message_id, part_ids in messages:
                tracked = _Tracked(provider_message_id, list(part_ids))
                self._messages[provider_message_id] = tracked
                for index, part_id in enumerate(part_ids):
                    for key in _sent_keys(part_id):
                        self._index[key[0]][key[1]] = (tracked, index)
                        if self._orphan_keys:
                            for entry in self._orphan_keys.pop(key, ()):
                                if not entry[3]:
                                    entry[3] = True
                                    matched.append(entry)
            while len(self._messages) > self.max_tracked:
                _, oldest = self._messages.popitem(last=False)
                self._unindex(oldest)
        released = [self.resolve(raw_id, update, hold=False) for _, raw_id, update, _ in matched]
        return [update for update in released if update is not None]

    def _find(self, raw_id: str) -> tuple[_Tracked, int] | None:
        """The message and part a receipt id belongs to; call with the lock held."""
        found: dict[int, tuple[tuple[_Tracked, int], list[str]]] = {}
        for reading, key in _receipt_keys(raw_id):
            hit = self._index[reading].get(key)
            if hit is not None:
                found.setdefault(id(hit[0]), (hit, []))[1].append(reading)
        if not found:
            return None
        if len(found) == 1:
            hit, readings = next(iter(found.values()))
            if len(readings) == 1:
                self.votes[readings[0]] += 1
            return hit
        # Readings disagree: trust the one this SMSC has used (ties: same spelling first).
        def preference(entry: tuple[tuple[_Tracked, int], list[str]]) -> tuple[int, int]:
            """Best vote among the readings that found this candidate, then reading order."""
            readings = entry[1]
            return (max(self.votes[reading] for reading in readings),
                    -min(self.READINGS.index(reading) for reading in readings))
        return max(found.values(), key=preference)[0]

    def _unindex(self, tracked: _Tracked) -> None:
        """Forget a message's ids; call with the lock held."""
        for part_id in tracked.part_ids:
            for reading, key in _sent_keys(part_id):
                if self._index[reading].get(key, (None,))[0] is tracked:
                    del self._index[reading][key]

    def resolve(self, raw_id: str, update: StatusUpdate, *, hold: bool = True) -> StatusUpdate | None:
        """The update to report for a receipt about part `raw_id`, or None (held, or folded into the others)."""
        with self._lock:
            found = self._find(raw_id)
            if found is None:
                if hold:
                    entry = [self._monotonic(), raw_id, update, False]
                    self._orphans.append(entry)
                    for key in _receipt_keys(raw_id):
                        self._orphan_keys.setdefault(key, []).append(entry)
                    return None
                return update
            tracked, index = found
            reported = _with_id(update, tracked.provider_message_id)
            if len(tracked.part_ids) == 1:
                if update.status in FINAL_STATUSES:
                    self._forget(tracked)
                return reported
            if update.status not in FINAL_STATUSES:
                return None if tracked.final_reported else reported
            tracked.finals[index] = update.status
            result = None
            if update.status not in SUCCESS_STATUSES and not tracked.final_reported:
                tracked.final_reported = True  # one lost part is enough: report the failure now
                result = reported
            if len(tracked.finals) == len(tracked.part_ids):
                if not tracked.final_reported:
                    result = reported  # every part succeeded: the last receipt stands for all
                self._forget(tracked)
            return result

    def _forget(self, tracked: _Tracked) -> None:
        """Drop a message whose receipts are all in; call with the lock held."""
        self._messages.pop(tracked.provider_message_id, None)
        self._unindex(tracked)

    def expired_orphans(self) -> list[StatusUpdate]:
        """Receipts held too long without a match, reported with the id as the SMSC wrote it."""
        cutoff = self._monotonic() - self.orphan_hold_seconds
        expired = []
        with self._lock:
            while self._orphans and self._orphans[0][0] <= cutoff:
                entry = self._orphans.popleft()
                for key in _receipt_keys(entry[1]):
                    waiting = self._orphan_keys.get(key)
                    if waiting is not None:
                        waiting[:] = [other for other in waiting if other is not entry]
                        if not waiting:
                            del self._orphan_keys[key]
                if not entry[3]:
                    entry[3] = True
                    expired.append(entry[2])
        return expired


def _number(text: str, base: int) -> int | None:
    """The id read as a number in that base, or None."""
    try:
        return int(text.strip(), base)
    except ValueError:
        return None


def _sent_keys(part_id: str) -> list[tuple[str, Any]]:
    """Index keys of an id from a submit_sm_resp: its spelling, its value read as hex and as decimal."""
    keys: list[tuple[str, Any]] = [("same", plain_id_key(part_id))]
    for reading, base in (("hex", 16), ("dec", 10)):
        value = _number(part_id, base)
        if value is not None:
            keys.append((reading, value))
    return keys


def _receipt_keys(raw_id: str) -> list[tuple[str, Any]]:
    """Lookup keys of a receipt id: same spelling; decimal of a hex id; hex of a decimal id."""
    keys: list[tuple[str, Any]] = [("same", plain_id_key(raw_id))]
    for reading, base in (("hex", 10), ("dec", 16)):
        value = _number(raw_id, base)
        if value is not None:
            keys.append((reading, value))
    return keys


def _with_id(update: StatusUpdate, provider_message_id: str) -> StatusUpdate:
    """The same update about another id."""
    return StatusUpdate(
        provider_message_id=provider_message_id, status=update.status, raw_status=update.raw_status,
        error_code=update.error_code, occurred_at=update.occurred_at, effect=update.effect,
    )


# -- customer messages -------------------------------------------------------------------------------------


@dataclass
class _Assembly:
    """Parts of one concatenated customer message received so far."""

    started: float
    total: int
    parts: dict[int, str] = field(default_factory=dict)
    first: pdu.Pdu | None = None


class MessageAssembler:
    """Joins concatenated customer messages; single-part ones pass straight through."""

    def __init__(self, hold_seconds: float = MO_ASSEMBLY_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        """No parts yet."""
        self.hold_seconds = hold_seconds
        self._monotonic = monotonic
        self._assemblies: dict[tuple[str, str, int, int], _Assembly] = {}
        self._lock = threading.Lock()

    def add(self, message: pdu.Pdu, concatenation: Concatenation | None, text: str) -> tuple[pdu.Pdu, str, int] | None:
        """The whole message (first PDU, text, part count) once complete, else None."""
        if concatenation is None or concatenation.total <= 1:
            return message, text, 1
        key = (message.get("source_addr", ""), message.get("destination_addr", ""),
               concatenation.reference, concatenation.total)
        with self._lock:
            assembly = self._assemblies.setdefault(key, _Assembly(self._monotonic(), concatenation.total))
            assembly.parts[concatenation.sequence] = text
            if concatenation.sequence == 1 or assembly.first is None:
                assembly.first = message
            if len(assembly.parts) < assembly.total:
                return None
            del self._assemblies[key]
        joined = "".join(assembly.parts[number] for number in sorted(assembly.parts))
        return assembly.first or message, joined, assembly.total

    def expired(self) -> list[tuple[pdu.Pdu, str, int]]:
        """Incomplete messages held too long, with the parts that did arrive."""
        cutoff = self._monotonic() - self.hold_seconds
        with self._lock:
            stale = [key for key, assembly in self._assemblies.items() if assembly.started <= cutoff]
            taken = [self._assemblies.pop(key) for key in stale]
        return [(assembly.first, "".join(assembly.parts[n] for n in sorted(assembly.parts)), len(assembly.parts))
                for assembly in taken if assembly.first is not None]


# -- the adapter -------------------------------------------------------------------------------------------------


@dataclass
class _Submission:
    """One message on its way: its parts, their pending responses and the ids the SMSC gave."""

    message: OutboundMessage
    parts: list[EncodedPart]
    source: tuple[str, int, int]
    started: float
    pendings: list[PendingResponse | None] = field(default_factory=list)
    message_ids: list[str | None] = field(default_factory=list)
    statuses: list[int | None] = field(default_factory=list)
    result: SendResult | None = None


class SmppAdapter:
    """An SMS channel over SMPP v3.4; implements mannerly.channels.base.ChannelAdapter."""

    provider = "smpp"

    def __init__(self, settings: SmppChannelSettings, *, kind: str = "sms", channel_id: int | None = None,
                 sender_id: str | None = None, clock: Callable[[], datetime] | None = None,
                 start: bool = True) -> None:
        """Build the adapter and (unless start=False) start binding in the background."""
        self.settings = settings
        self.kind = kind
        self.channel_id = channel_id
        self.sender_id = sender_id
        self.status_map: dict[str, str] = dict(settings.status_map)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.client = EsmeClient(settings.esme, on_deliver=self._on_deliver)
        self.receipts = ReceiptTracker(settings.max_tracked)
        self.assembler = MessageAssembler()
        self._updates: deque[StatusUpdate] = deque()
        self._inbound: deque[InboundMessage] = deque()
        self._reference = int.from_bytes(hashlib.sha256(str(time.time_ns()).encode()).digest()[:1], "big")
        self._reference_lock = threading.Lock()
        self._throttled_until = 0.0
        self._throttle_backoff = settings.throttle_backoff_min
        self._inbound_counter = 0
        if start:
            self.client.start()

    # -- sending ------------------------------------------------------------------------------------------

    def send(self, message: OutboundMessage) -> SendResult:
        """Submit one message (all its parts) and wait for the SMSC's answers."""
        return self.send_many([message])[0]

    def send_many(self, messages: list[OutboundMessage]) -> list[SendResult]:
        """Submit several messages pipelined within the window; one SendResult each, in order."""
        submissions = [self._prepare(message) for message in messages]
        self._submit_first_parts([submission for submission in submissions if submission.result is None])
        for submission in submissions:
            if submission.result is None:
                self._await_first(submission)
        for submission in submissions:
            if submission.result is None:
                for index in range(1, len(submission.parts)):
                    self._submit_part(submission, index)
                    if submission.result is not None:
                        break
        for submission in submissions:
            if submission.result is None:
                self._await_rest(submission)
        accepted = [submission for submission in submissions if submission.result is None]
        if accepted:
            # Every accepted message's ids in one lock round (the session thread resolves receipts under it).
            registered = [([message_id or "" for message_id in submission.message_ids]) for submission in accepted]
            self._updates.extend(self.receipts.register_many([(ids[0], ids) for ids in registered]))
            for submission, ids in zip(accepted, registered, strict=True):
                submission.result = SendResult(accepted=True, status="sent", provider_message_id=ids[0],
                                               exchange=self._exchange(submission))
        return [submission.result for submission in submissions]

    def _prepare(self, message: OutboundMessage) -> _Submission:
        """Encode a message's parts; a text that cannot be encoded fails at once."""
        sender = message.sender_id or self.sender_id or ""
        source = source_addressing(sender, self.settings.source_addr_ton, self.settings.source_addr_npi)
        submission = _Submission(message=message, parts=[], source=source, started=time.monotonic())
        try:
            submission.parts = encode_parts(message.text, self._next_reference())
        except EncodingError as error:
            submission.result = SendResult(accepted=False, status="failed", error_code="ENCODING",
                                           error_detail=str(error), exchange=self._exchange(submission))
            return submission
        count = len(submission.parts)
        submission.pendings = [None] * count
        submission.message_ids = [None] * count
        submission.statuses = [None] * count
        return submission

    def _next_reference(self) -> int:
        """The next 8-bit concatenation reference."""
        with self._reference_lock:
            self._reference = (self._reference + 1) % 256
            return self._reference

    def _submit_sm(self, submission: _Submission, index: int) -> pdu.Pdu:
        """The submit_sm PDU of one part."""
        part = submission.parts[index]
        source_addr, source_ton, source_npi = submission.source
        return pdu.Pdu(pdu.SUBMIT_SM, params=pdu.short_message_params(
            source_addr=source_addr, source_addr_ton=source_ton, source_addr_npi=source_npi,
            destination_addr=submission.message.to.lstrip("+"),
            dest_addr_ton=self.settings.dest_addr_ton, dest_addr_npi=self.settings.dest_addr_npi,
            short_message=part.short_message, data_coding=part.data_coding, esm_class=part.esm_class,
            registered_delivery=self.settings.registered_delivery, service_type=self.settings.service_type,
            validity_period=self.settings.validity_period,
        ))

    def _submit_first_parts(self, submissions: list[_Submission]) -> None:
        """Write the first part of each message, as many per write as the window allows; failures set results."""
        if not submissions:
            return
        if not self._wait_out_throttle():
            for submission in submissions:
                submission.result = self._refused(submission, pdu.ESME_RTHROTTLED, retryable=True,
                                                  detail="the SMSC is throttling us; backing off")
            return
        going, requests = [], []
        for submission in submissions:
            try:
                requests.append(self._submit_sm(submission, 0))
            except pdu.PduError as error:
                submission.result = self._not_written(submission, 0, error)
            else:
                going.append(submission)
        for submission, outcome in zip(going, self.client.submit_many(requests), strict=True):
            if isinstance(outcome, PendingResponse):
                submission.pendings[0] = outcome
            else:
                submission.result = self._not_written(submission, 0, outcome)

    def _submit_part(self, submission: _Submission, index: int) -> None:
        """Write a later part's submit_sm (first parts go together); on failure set the submission's result."""
        try:
            submission.pendings[index] = self.client.submit(self._submit_sm(submission, index))
        except (NotConnected, ConnectionLost, pdu.PduError) as error:
            submission.result = self._not_written(submission, index, error)

    def _not_written(self, submission: _Submission, index: int, error: Exception) -> SendResult:
        """The result of a part whose submit_sm could not be written, or was lost while being written."""
        if isinstance(error, NotConnected):
            if index == 0:  # nothing reached the SMSC: safe to hand off again later
                return SendResult(accepted=False, status="failed", retryable=True, error_code="NOT_BOUND",
                                  error_detail=f"not bound to the SMSC: {error}", exchange=self._exchange(submission))
            return self._partial_unknown(submission, index, f"not bound to the SMSC: {error}")
        if isinstance(error, pdu.PduError):
            return SendResult(accepted=False, status="failed", error_code="INVALID_PDU",
                              error_detail=str(error), exchange=self._exchange(submission))
        return self._unknown(submission, str(error))

    def _wait_response(self, submission: _Submission, index: int) -> pdu.Pdu | None:
        """A part's response; on timeout or a dropped connection set the result (unknown) and return None."""
        pending = submission.pendings[index]
        assert pending is not None
        remaining = self.settings.esme.response_timeout - (time.monotonic() - pending.written_at)
        try:
            return pending.wait(max(remaining, 0.0))
        except ResponseTimeout as error:
            self.client.forget(pending)
            submission.result = self._unknown(submission, str(error))
        except ConnectionLost as error:
            submission.result = self._unknown(submission, str(error))
        return None

    def _await_first(self, submission: _Submission) -> None:
        """Wait for the first part's answer: accepted, refused (maybe retryable) or unknown."""
        response = self._wait_response(submission, 0)
        if response is None:
            return
        submission.statuses[0] = response.command_status
        if response.command_status == pdu.ESME_ROK:
            submission.message_ids[0] = response.get("message_id", "")
            self._throttle_relief()
            return
        if response.command_status == pdu.ESME_RTHROTTLED:
            self._throttle_hit()
        submission.result = self._refused(submission, response.command_status,
                                          retryable=response.command_status in RETRYABLE_STATUSES)

    def _await_rest(self, submission: _Submission) -> None:
        """Wait for the later parts; a throttled part is submitted again after a pause."""
        for index in range(1, len(submission.parts)):
            attempts = 0
            while True:
                response = self._wait_response(submission, index)
                if response is None:
                    return
                submission.statuses[index] = response.command_status
                if response.command_status == pdu.ESME_ROK:
                    submission.message_ids[index] = response.get("message_id", "")
                    break
                attempts += 1
                if response.command_status != pdu.ESME_RTHROTTLED or attempts >= LATER_PART_THROTTLE_ATTEMPTS:
                    submission.result = self._refused(
                        submission, response.command_status, retryable=False,
                        detail=f"part {index + 1} of {len(submission.parts)} refused after earlier parts were "
                               f"accepted ({pdu.status_name(response.command_status)}); not resent")
                    return
                self._throttle_hit()
                time.sleep(self._throttle_backoff)
                self._submit_part(submission, index)
                if submission.result is not None:
                    return

    def _refused(self, submission: _Submission, command_status: int, *, retryable: bool,
                 detail: str | None = None) -> SendResult:
        """The SMSC refused (nothing or only earlier parts were accepted)."""
        name = pdu.status_name(command_status)
        return SendResult(accepted=False, status="failed", retryable=retryable, error_code=name,
                          error_detail=detail or f"submit_sm refused: {name}", exchange=self._exchange(submission))

    def _unknown(self, submission: _Submission, detail: str) -> SendResult:
        """A part was written but its answer never came: the message's outcome is unknown."""
        return SendResult(accepted=False, status="unknown", error_detail=f"{detail}; not resent",
                          exchange=self._exchange(submission))

    def _partial_unknown(self, submission: _Submission, index: int, detail: str) -> SendResult:
        """Earlier parts were accepted but a later one could not be written: unknown, never resent."""
        return self._unknown(submission, f"part {index + 1} of {len(submission.parts)} not written ({detail})")

    def _exchange(self, submission: _Submission) -> Exchange:
        """The redacted record of this hand-off for the provider_exchanges log (no credentials in it)."""
        source_addr, source_ton, source_npi = submission.source
        request = {
            "command": "submit_sm",
            "host": self.settings.esme.host,
            "port": self.settings.esme.port,
            "system_id": self.settings.esme.system_id,
            "source_addr": source_addr, "source_addr_ton": source_ton, "source_addr_npi": source_npi,
            "destination_addr": submission.message.to.lstrip("+"),
            "data_coding": submission.parts[0].data_coding if submission.parts else None,
            "esm_class": submission.parts[0].esm_class if submission.parts else None,
            "registered_delivery": self.settings.registered_delivery,
            "parts": len(submission.parts),
            "sequence_numbers": [pending.request.sequence_number if pending else None
                                 for pending in submission.pendings],
            "text": submission.message.text,
        }
        response = {
            "command_status": [pdu.status_name(status) if status is not None else None
                               for status in submission.statuses],
            "message_ids": list(submission.message_ids),
        }
        return Exchange(request=request, response=response, status_code=None,
                        duration_ms=int((time.monotonic() - submission.started) * 1000))

    # -- throttling -----------------------------------------------------------------------------------------

    def _throttle_hit(self) -> None:
        """The SMSC said ESME_RTHROTTLED: pause new sends, longer each time."""
        self._throttled_until = time.monotonic() + self._throttle_backoff
        self._throttle_backoff = min(self._throttle_backoff * 2, self.settings.throttle_backoff_max)

    def _throttle_relief(self) -> None:
        """A submit went through: start the backoff from its minimum again."""
        self._throttle_backoff = self.settings.throttle_backoff_min

    def _wait_out_throttle(self) -> bool:
        """Sleep out a short throttle pause; False when the pause is longer than throttle_wait_max."""
        remaining = self._throttled_until - time.monotonic()
        if remaining <= 0:
            return True
        if remaining > self.settings.throttle_wait_max:
            return False
        time.sleep(remaining)
        return True

    # -- receiving ----------------------------------------------------------------------------------------------

    def _on_deliver(self, message: pdu.Pdu) -> None:
        """A deliver_sm from the SMSC (session thread): queue a receipt or a customer message."""
        esm_class = message.get("esm_class", 0)
        message_type = esm_class & pdu.ESM_CLASS_TYPE_MASK
        if message_type in (pdu.ESM_CLASS_DELIVERY_RECEIPT, pdu.ESM_CLASS_INTERMEDIATE_NOTIFICATION):
            self._on_receipt(message)
        else:
            self._on_customer_message(message)

    def _on_receipt(self, message: pdu.Pdu) -> None:
        """Parse a delivery receipt (TLVs preferred over the text) and queue its status update."""
        parsed = receipt_fields(message)
        if parsed is None:
            log.warning("a delivery receipt without a message id was ignored")
            return
        raw_id, raw_status, error_code = parsed
        update = StatusUpdate(
            provider_message_id=raw_id,
            status=normalize_status(self.status_map, raw_status),
            raw_status=raw_status,
            error_code=error_code,
            occurred_at=self.clock(),
        )
        resolved = self.receipts.resolve(raw_id, update)
        if resolved is not None:
            self._updates.append(resolved)

    def _on_customer_message(self, message: pdu.Pdu) -> None:
        """Decode a customer's deliver_sm (joining concatenated parts) and queue it once complete."""
        octets = message.get("short_message", b"") or message.tlvs.get(pdu.TAG_MESSAGE_PAYLOAD, b"")
        concatenation, payload = split_user_data(octets, message.get("esm_class", 0))
        concatenation = concatenation or sar_concatenation(message)
        text = decode_text(payload, message.get("data_coding", 0))
        complete = self.assembler.add(message, concatenation, text)
        if complete is not None:
            self._inbound.append(self._inbound_message(*complete))

    def _inbound_message(self, message: pdu.Pdu, text: str, parts: int) -> InboundMessage:
        """The pipeline's view of a customer message."""
        with self._reference_lock:
            self._inbound_counter += 1
            counter = self._inbound_counter
        source = inbound_address(message.get("source_addr", ""), message.get("source_addr_ton", 0))
        destination = inbound_address(message.get("destination_addr", ""), message.get("dest_addr_ton", 0))
        # deliver_sm carries no message id: this one is unique per PDU we accepted, so an SMSC
        # redelivery after a lost deliver_sm_resp is stored again (SMPP gives nothing to dedupe on).
        digest = hashlib.sha256(
            f"{self.settings.esme.system_id}|{source}|{destination}|{text}|{time.time_ns()}|{counter}".encode()
        ).hexdigest()[:32]
        received_at = self.clock()
        return InboundMessage(
            provider_message_id=f"smpp-mo-{digest}",
            from_address=source,
            to_address=destination,
            text=text,
            received_at=received_at,
            raw={
                "command": "deliver_sm", "source_addr": message.get("source_addr"),
                "source_addr_ton": message.get("source_addr_ton"), "destination_addr": message.get("destination_addr"),
                "data_coding": message.get("data_coding"), "esm_class": message.get("esm_class"),
                "parts": parts, "text": text,
            },
        )

    def due_status_updates(self, now: datetime) -> list[StatusUpdate]:
        """Delivery receipts received since the last call (the dispatcher polls this each pass)."""
        updates = _drain(self._updates)
        updates.extend(self.receipts.expired_orphans())
        return updates

    def pending_inbound(self, now: datetime) -> list[InboundMessage]:
        """Customer messages received since the last call (the dispatcher polls this each pass)."""
        for complete in self.assembler.expired():
            self._inbound.append(self._inbound_message(*complete))
        return _drain(self._inbound)

    # -- status lookup and shutdown -------------------------------------------------------------------------------

    def lookup_status(self, provider_message_id: str) -> StatusUpdate | None:
        """Ask the SMSC with query_sm; None when not bound, refused or unanswered."""
        source_addr, source_ton, source_npi = source_addressing(
            self.sender_id or "", self.settings.source_addr_ton, self.settings.source_addr_npi)
        query = pdu.Pdu(pdu.QUERY_SM, params={
            "message_id": provider_message_id, "source_addr_ton": source_ton,
            "source_addr_npi": source_npi, "source_addr": source_addr,
        })
        try:
            response = self.client.request(query)
        except (SmppError, pdu.PduError):
            return None
        if response.command_status != pdu.ESME_ROK or response.command_id != pdu.QUERY_SM_RESP:
            return None
        raw_status = pdu.MESSAGE_STATES.get(response.get("message_state", 0))
        error = response.get("error_code", 0)
        return StatusUpdate(
            provider_message_id=provider_message_id,
            status=normalize_status(self.status_map, raw_status),
            raw_status=raw_status or str(response.get("message_state")),
            error_code=f"{error:03d}" if error else None,
            occurred_at=self.clock(),
        )

    def wait_bound(self, timeout: float) -> bool:
        """Whether the session is bound, waiting up to timeout seconds for it."""
        return self.client.wait_bound(timeout)

    def close(self) -> None:
        """Unbind and disconnect (the registry calls this on shutdown or when the channel changes)."""
        self.client.close()


def receipt_fields(message: pdu.Pdu) -> tuple[str, str, str | None] | None:
    """(message id, stat word, error code) of a receipt: TLVs first, the receipt text filling gaps."""
    text = decode_text(message.get("short_message", b"") or message.tlvs.get(pdu.TAG_MESSAGE_PAYLOAD, b""),
                       message.get("data_coding", 0))
    parsed = parse_receipt_text(text)
    raw_id = message.tlv_cstring(pdu.TAG_RECEIPTED_MESSAGE_ID) or (parsed.message_id if parsed else None)
    if not raw_id:
        return None
    state = message.tlv_int(pdu.TAG_MESSAGE_STATE)
    raw_status = pdu.MESSAGE_STATES.get(state) if state is not None else None
    raw_status = raw_status or (parsed.stat if parsed else None) or (str(state) if state is not None else "UNKNOWN")
    error_code = parsed.err if parsed and parsed.err and parsed.err.strip("0") else None
    network_error = message.tlvs.get(pdu.TAG_NETWORK_ERROR_CODE)
    if error_code is None and network_error and len(network_error) == 3 and network_error[1:] != b"\x00\x00":
        error_code = f"{network_error[0]}:{int.from_bytes(network_error[1:], 'big')}"
    return raw_id, raw_status, error_code


def _drain(queue: deque) -> list:
    """Everything in a deque, removed (safe against the session thread appending meanwhile)."""
    items = []
    while True:
        try:
            items.append(queue.popleft())
        except IndexError:
            return items


CONNECTORS = ("process", "thread")


def connector_of(config: Mapping[str, Any]) -> str:
    """Where a channel's session runs ("process" unless the config says "thread"); raises ValueError otherwise."""
    connector = config.get("connector") or "process"
    if connector not in CONNECTORS:
        raise ValueError(f"connector must be one of {', '.join(CONNECTORS)}, not {connector!r}")
    return connector


def create_adapter(channel: Any, runtime: Any) -> Any:
    """Registry factory: an SMPP adapter for a channel row; starts binding in the background.

    The session runs in a child process (`connector: "process"`, the default) or on a thread of
    this process (`"thread"`); see connector.py for why.
    """
    config = channel.config or {}
    settings = SmppChannelSettings.from_config(config)
    if connector_of(config) == "process":
        from mannerly.channels.smpp.connector import ProcessSmppAdapter  # it imports this module

        return ProcessSmppAdapter(settings, kind=channel.kind, channel_id=channel.id, sender_id=channel.sender_id,
                                  log_level=runtime.settings.log_level, log_format=runtime.settings.log_format)
    return SmppAdapter(settings, kind=channel.kind, channel_id=channel.id, sender_id=channel.sender_id,
                       clock=runtime.clock)
