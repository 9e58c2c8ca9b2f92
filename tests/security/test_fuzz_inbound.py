"""Fuzzing the inbound edges end to end (test_fuzz.py fuzzes the parsers and the SMPP decoder alone):

- the real /webhooks route of Twilio, WhatsApp Cloud and Messenger channels with correctly signed bodies:
  random forms and JSON, and recorded provider payloads with one part (root to leaf) replaced by random JSON,
  parsed and stored: never a 5xx;
- the simulator's customer-side endpoint with random senders, texts and channels: never a 5xx;
- the SMPP client's answer to a well-framed but malformed PDU: a protocol error response, session kept.

Examples per route: 25 by default; LONG_TESTS=1 runs 2,000.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mannerly.channels.smpp import pdu
from mannerly.channels.twilio.signature import compute_signature
from mannerly.models import Channel

from tests.api.conftest import api  # noqa: F401 - a fixture, used by name

LONG = os.environ.get("LONG_TESTS") == "1"
ROUTE_FUZZ = settings(max_examples=2000 if LONG else 25, deadline=None, derandomize=not LONG, database=None,
                      suppress_health_check=list(HealthCheck))
TESTDATA = Path(__file__).resolve().parents[2] / "src" / "mannerly" / "channels"
SECRET = "fuzz-app-secret"
TOKEN = "fuzz-auth-token"
ACCOUNT = "AC" + "0" * 32

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def recorded(folder: str, names: list[str]) -> list[Any]:
    """Recorded provider payloads, parsed."""
    return [json.loads((TESTDATA / folder / "testdata" / name).read_bytes()) for name in names]


WHATSAPP_SAMPLES = recorded("whatsapp_cloud", ["inbound_text.json", "inbound_image.json", "status_failed_131047.json",
                                               "inbound_interactive_button_reply.json", "status_read.json"])
MESSENGER_SAMPLES = recorded("messenger", ["message_text.json", "message_deliveries.json", "message_reads.json",
                                           "messaging_postback.json", "message_quick_reply.json"])
TWILIO_NAMES = ["MessageSid", "SmsSid", "AccountSid", "From", "To", "Body", "NumMedia", "MediaUrl0",
                "MediaContentType0", "MessageStatus", "SmsStatus", "ErrorCode", "ChannelPrefix", "ButtonPayload"]


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (tuple of keys and indexes) into a JSON value, the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, prefix + (index,))
    return found


def replaced(value: Any, path: tuple, new: Any) -> Any:
    """A copy of the JSON value with the part at `path` replaced."""
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    holder = copy
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = new
    return copy


@st.composite
def mutated_payloads(draw, samples: list[Any]) -> bytes:
    """A recorded payload with one part (anything from the root to a leaf) replaced by random JSON."""
    sample = draw(st.sampled_from(samples))
    path = draw(st.sampled_from(paths(sample)))
    return json.dumps(replaced(sample, path, draw(JSON_VALUES))).encode()


META_BODIES = st.one_of(
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=200),
)


@st.composite
def twilio_bodies(draw) -> bytes:
    """A form body of Twilio-like and random fields (or random bytes)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    names = st.sampled_from(TWILIO_NAMES) | st.text(max_size=10)
    values = st.sampled_from(["+15017122661", "+821023456789", ACCOUNT, "delivered", "30008", "1", "-1", ""]) \
        | st.text(max_size=30)
    return urlencode(draw(st.lists(st.tuples(names, values), max_size=12))).encode()


def meta_signature(body: bytes) -> str:
    """The X-Hub-Signature-256 Meta sends for this body."""
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


# -- through the route: parsing and storing, never a 5xx --------------------------------------------------


ROUTE_CHANNELS = {
    "twilio": ("sms", {"account_sid": ACCOUNT, "auth_token": TOKEN, "from_number": "+15017122661"}),
    "whatsapp_cloud": ("whatsapp", {"phone_number_id": "109876543210987", "access_token": "t", "app_secret": SECRET,
                                    "verify_token": "v"}),
    "messenger": ("messenger", {"page_id": "104857329218734", "page_access_token": "t", "app_secret": SECRET,
                                "verify_token": "v"}),
}
ROUTE_BODIES = {
    "twilio": twilio_bodies(),
    "whatsapp_cloud": st.one_of(mutated_payloads(WHATSAPP_SAMPLES), META_BODIES),
    "messenger": st.one_of(mutated_payloads(MESSENGER_SAMPLES), META_BODIES),
}


@pytest.mark.parametrize("provider", list(ROUTE_CHANNELS))
def test_webhook_route_never_answers_5xx(api, provider):
    """Fuzzed, correctly signed bodies through /webhooks/{id} (parse and store): every answer below 500."""
    kind, config = ROUTE_CHANNELS[provider]
    with api.runtime.session() as session:
        channel = Channel(workspace_id=api.workspace_id, kind=kind, provider=provider, name=provider,
                          config=config, rate_limit_per_second=0)
        session.add(channel)
        session.commit()
        path = f"/webhooks/{channel.id}"
    url = f"http://testserver{path}"

    @ROUTE_FUZZ
    @given(body=ROUTE_BODIES[provider])
    def post(body):
        """One fuzzed call."""
        if provider == "twilio":
            headers = {"X-Twilio-Signature": compute_signature(TOKEN, url, twilio_pairs(body)),
                       "Content-Type": "application/x-www-form-urlencoded"}
        else:
            headers = {"X-Hub-Signature-256": meta_signature(body), "Content-Type": "application/json"}
        response = api.client.post(path, content=body, headers=headers)
        assert response.status_code < 500, (body[:200], response.text[:300])

    post()


def twilio_pairs(body: bytes) -> list[tuple[str, str]]:
    """The form pairs Twilio signs, as the route will parse them."""
    from urllib.parse import parse_qsl

    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return []


def test_simulator_inbound_never_answers_5xx(api):
    """The simulator's customer-side endpoint with random senders, texts and channels: below 500 each time."""
    api.post("/v1/channels", json={"kind": "sms", "provider": "simulator", "name": "Sim", "rate_limit_per_second": 0})

    @ROUTE_FUZZ
    @given(body=st.fixed_dictionaries({}, optional={
        "from": st.sampled_from(["+821023456789", "010-2345-6789", "+1", ""]) | st.text(max_size=30) | JSON_VALUES,
        "text": st.text(max_size=200) | JSON_VALUES,
        "channel": st.sampled_from(["sms", "whatsapp", "messenger", "fax"]) | JSON_VALUES,
    }))
    def post(body):
        """One fuzzed simulated customer message."""
        response = api.post("/v1/simulator/inbound", json=body)
        assert response.status_code < 500, (body, response.text[:300])

    post()


class RawSmsc:
    """A minimal SMSC on 127.0.0.1 that binds one ESME, then sends whatever octets the test gives it."""

    def __init__(self) -> None:
        """Listen on a free loopback port."""
        import socket

        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connection = None

    def accept_bind(self) -> None:
        """Accept the ESME's connection and answer its bind_transceiver."""
        self.server.settimeout(5)
        self.connection, _ = self.server.accept()
        self.connection.settimeout(5)
        bind = self.read_pdu()
        self.send(pdu.encode(pdu.response_to(bind, system_id="RAWSMSC")))

    def read_pdu(self) -> pdu.Pdu:
        """The next PDU from the ESME."""
        header = self._read(16)
        length = int.from_bytes(header[:4], "big")
        return pdu.decode(header + self._read(length - 16))

    def _read(self, count: int) -> bytes:
        """Exactly `count` octets."""
        data = b""
        while len(data) < count:
            chunk = self.connection.recv(count - len(data))
            assert chunk, "the ESME closed the connection"
            data += chunk
        return data

    def send(self, data: bytes) -> None:
        """Write raw octets to the ESME."""
        self.connection.sendall(data)

    def close(self) -> None:
        """Close both sockets."""
        if self.connection:
            self.connection.close()
        self.server.close()


def malformed_deliver_sm(sequence: int) -> bytes:
    """A deliver_sm whose header is fine but whose sm_length runs past the end of the PDU."""
    body = b"\x00" + b"\x01\x01" + b"821023456789\x00" + b"\x00\x00" + b"ACME\x00" + bytes(3) + b"\x00\x00" \
        + bytes(3) + b"\xff" + b"hi"
    return struct.pack(">IIII", 16 + len(body), pdu.DELIVER_SM, 0, sequence) + body


def test_esme_refuses_a_malformed_pdu_and_keeps_the_session():
    """A malformed deliver_sm is answered with deliver_sm_resp ESME_RX_P_APPN, an unknown malformed request
    with generic_nack; the session stays bound (no reconnect) and a valid deliver_sm is still accepted."""
    from mannerly.channels.smpp.esme import EsmeClient, EsmeSettings

    smsc = RawSmsc()
    delivered = []
    client = EsmeClient(EsmeSettings(host="127.0.0.1", port=smsc.port, system_id="fuzz", password="fuzz"),
                        on_deliver=delivered.append)
    client.start()
    try:
        smsc.accept_bind()
        assert client.wait_bound(5)
        smsc.send(malformed_deliver_sm(7))
        answer = smsc.read_pdu()
        assert (answer.command_id, answer.sequence_number, answer.command_status) == (
            pdu.DELIVER_SM_RESP, 7, pdu.ESME_RX_P_APPN)
        smsc.send(struct.pack(">IIII", 17, pdu.SUBMIT_SM, 0, 8) + b"\x01")  # submit_sm body cut short
        nack = smsc.read_pdu()
        assert (nack.command_id, nack.sequence_number) == (pdu.GENERIC_NACK, 8) and nack.command_status
        valid = pdu.Pdu(pdu.DELIVER_SM, 9, pdu.ESME_ROK, pdu.short_message_params(
            source_addr="821023456789", destination_addr="ACME", short_message=b"hello"))
        smsc.send(pdu.encode(valid))
        ok = smsc.read_pdu()
        assert (ok.command_id, ok.sequence_number, ok.command_status) == (pdu.DELIVER_SM_RESP, 9, pdu.ESME_ROK)
        assert len(delivered) == 1 and client.binds == 1
    finally:
        client.close()
        smsc.close()
