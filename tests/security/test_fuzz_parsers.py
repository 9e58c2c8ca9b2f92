"""Fuzzing every inbound parser with hypothesis: bad input becomes a clear rejection, never an unhandled exception.

Targets: the Twilio, WhatsApp Cloud and Messenger webhook adapters (correctly signed bodies, so the parser
itself is reached: random forms and JSON, and recorded payloads with one part replaced by random JSON), the
same bodies through the real /webhooks route and the simulator's inbound endpoint (4xx, never 5xx), the SMPP
PDU decoder and frame splitter (only PduError), and the SMPP deliver_sm handler (no exception at all).

Examples per target: 60 by default; MANNERLY_LONG=1 runs 5,000; MANNERLY_SECURITY_EXAMPLES=N runs N.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mannerly.channels.base import WebhookRejected, WebhookRequest
from mannerly.channels.messenger.adapter import MessengerAdapter, MessengerConfig
from mannerly.channels.smpp import pdu
from mannerly.channels.smpp.adapter import SmppAdapter, SmppChannelSettings
from mannerly.channels.twilio.adapter import TwilioAdapter, TwilioConfig
from mannerly.channels.twilio.signature import compute_signature
from mannerly.channels.whatsapp_cloud.adapter import WhatsAppCloudAdapter, WhatsAppConfig
from mannerly.models import Channel

from .conftest import scaled

EXAMPLES = scaled(60, 5000)
ROUTE_EXAMPLES = max(10, EXAMPLES // 3)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
ROUTE_FUZZ = settings(FUZZ, max_examples=ROUTE_EXAMPLES)
NOW = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)
TESTDATA = Path(__file__).resolve().parents[2] / "src" / "mannerly" / "channels"
SECRET = "fuzz-app-secret"
TOKEN = "fuzz-auth-token"
ACCOUNT = "AC" + "0" * 32
URL = "https://mannerly.example.com/webhooks/1"

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


def twilio_adapter() -> TwilioAdapter:
    """A Twilio adapter with the fuzz credentials (no network: webhooks only)."""
    config = TwilioConfig.from_channel({"account_sid": ACCOUNT, "auth_token": TOKEN, "from_number": "+15017122661"})
    return TwilioAdapter(config, http=httpx.Client(), clock=lambda: NOW, kind="sms", channel_id=1,
                         public_base_url=None)


def whatsapp_adapter() -> WhatsAppCloudAdapter:
    """A WhatsApp Cloud adapter whose phone number id is the recorded payloads'."""
    config = WhatsAppConfig.from_channel({"phone_number_id": "109876543210987", "access_token": "t",
                                          "app_secret": SECRET, "verify_token": "v"})
    return WhatsAppCloudAdapter(config, http=httpx.Client(), clock=lambda: NOW, kind="whatsapp", channel_id=1)


def messenger_adapter() -> MessengerAdapter:
    """A Messenger adapter for the recorded payloads' page."""
    config = MessengerConfig.from_channel({"page_id": "104857329218734", "page_access_token": "t",
                                           "app_secret": SECRET, "verify_token": "v"})
    return MessengerAdapter(config, http=httpx.Client(), clock=lambda: NOW)


def meta_request(body: bytes) -> WebhookRequest:
    """A correctly signed Meta webhook POST."""
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return WebhookRequest(method="POST", url=URL, headers={"x-hub-signature-256": signature,
                                                           "content-type": "application/json"}, query={}, body=body)


def twilio_request(body: bytes) -> WebhookRequest:
    """A correctly signed Twilio webhook POST (signed over the pairs as parsed, so the parser is reached)."""
    from urllib.parse import parse_qsl

    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        pairs = []
    return WebhookRequest(method="POST", url=URL, body=body, query={}, headers={
        "x-twilio-signature": compute_signature(TOKEN, URL, pairs),
        "content-type": "application/x-www-form-urlencoded"})


def accepted_or_rejected(adapter, request: WebhookRequest) -> None:
    """The adapter either parses the call or rejects it with WebhookRejected (4xx); nothing else escapes."""
    try:
        result = adapter.handle_webhook(request)
    except WebhookRejected as rejection:
        assert 400 <= rejection.status < 500 and rejection.reason
        return
    assert 200 <= result.status_code < 300
    for event in result.events:
        assert isinstance(event.provider_message_id, str) and event.provider_message_id


@FUZZ
@given(body=twilio_bodies())
def test_twilio_webhook_parser(body):
    """Random Twilio forms, correctly signed: parsed or a 4xx rejection."""
    accepted_or_rejected(twilio_adapter(), twilio_request(body))


@FUZZ
@given(body=st.one_of(mutated_payloads(WHATSAPP_SAMPLES), META_BODIES))
def test_whatsapp_cloud_webhook_parser(body):
    """Random and mutated WhatsApp notifications, correctly signed: parsed or a 4xx rejection."""
    accepted_or_rejected(whatsapp_adapter(), meta_request(body))


@FUZZ
@given(body=st.one_of(mutated_payloads(MESSENGER_SAMPLES), META_BODIES))
def test_messenger_webhook_parser(body):
    """Random and mutated Messenger events, correctly signed: parsed or a 4xx rejection."""
    accepted_or_rejected(messenger_adapter(), meta_request(body))


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
            request = twilio_request(body)
            headers = {"X-Twilio-Signature": compute_signature(TOKEN, url, twilio_pairs(body)),
                       "Content-Type": request.headers["content-type"]}
        else:
            headers = {"X-Hub-Signature-256": meta_request(body).headers["x-hub-signature-256"],
                       "Content-Type": "application/json"}
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


# -- SMPP ---------------------------------------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=300))
def test_pdu_decoder_raises_only_pdu_errors(data):
    """Random octets as one PDU: decoded, or PduError (which the ESME answers with generic_nack)."""
    try:
        pdu.decode(data)
    except pdu.PduError as error:
        assert str(error)


@FUZZ
@given(command_id=st.sampled_from(sorted(pdu.BODY_LAYOUTS)) | st.integers(0, 2**32 - 1),
       body=st.binary(max_size=300), status=st.integers(0, 2**32 - 1), sequence=st.integers(0, 2**32 - 1))
def test_pdu_decoder_with_valid_headers(command_id, body, status, sequence):
    """A well-framed header over a random body: decoded, or PduError."""
    data = struct.pack(">IIII", 16 + len(body), command_id, status, sequence) + body
    try:
        decoded = pdu.decode(data)
    except pdu.PduError:
        return
    assert decoded.command_id == command_id and decoded.sequence_number == sequence


@FUZZ
@given(stream=st.binary(max_size=400))
def test_frame_splitter_raises_only_pdu_errors(stream):
    """Random octets on the wire: frames, or PduError for an impossible command_length."""
    buffer = bytearray(stream)
    try:
        for frame in pdu.split_frames(buffer):
            assert len(frame) >= 16
    except pdu.PduError:
        pass


@st.composite
def deliver_sms(draw) -> pdu.Pdu:
    """A deliver_sm with random addresses, esm_class, data_coding, short_message and TLVs, as it comes off the wire."""
    short_message = draw(st.binary(max_size=254))
    tlv_tags = st.sampled_from([pdu.TAG_RECEIPTED_MESSAGE_ID, pdu.TAG_MESSAGE_STATE, pdu.TAG_NETWORK_ERROR_CODE,
                                pdu.TAG_MESSAGE_PAYLOAD, pdu.TAG_SAR_MSG_REF_NUM, pdu.TAG_SAR_TOTAL_SEGMENTS,
                                pdu.TAG_SAR_SEGMENT_SEQNUM]) | st.integers(0, 0xFFFF)
    tlvs = draw(st.dictionaries(tlv_tags, st.binary(max_size=40), max_size=4))
    addresses = st.sampled_from(["821023456789", "+821023456789", "ACME", ""]) | st.text(
        st.characters(min_codepoint=1, max_codepoint=127), max_size=20)
    params = {
        "service_type": "", "source_addr_ton": draw(st.integers(0, 255)), "source_addr_npi": 1,
        "source_addr": draw(addresses), "dest_addr_ton": draw(st.integers(0, 255)), "dest_addr_npi": 1,
        "destination_addr": draw(addresses),
        "esm_class": draw(st.sampled_from([0, 0x04, 0x20, 0x40, 0x44]) | st.integers(0, 255)),
        "protocol_id": 0, "priority_flag": 0, "schedule_delivery_time": "", "validity_period": "",
        "registered_delivery": 0, "replace_if_present_flag": 0,
        "data_coding": draw(st.sampled_from([0, 1, 3, 8]) | st.integers(0, 255)), "sm_default_msg_id": 0,
        "short_message": short_message,
    }
    wire = bytearray(pdu.encode(pdu.Pdu(pdu.DELIVER_SM, 1, pdu.ESME_ROK, params, tlvs)))
    # Some octets of the body overwritten (non-ASCII addresses, wrong lengths...), the header kept.
    for position, octet in draw(st.lists(st.tuples(st.integers(16, len(wire) - 1), st.integers(0, 255)),
                                         max_size=3)):
        wire[position] = octet
    try:
        return pdu.decode(bytes(wire))
    except pdu.PduError:
        return draw(st.nothing())  # the decoder's refusal is tested above; here only decodable PDUs matter


@FUZZ
@given(messages=st.lists(deliver_sms(), min_size=1, max_size=4))
def test_smpp_deliver_sm_handler(messages):
    """Random deliver_sm PDUs (receipts, customer messages, concatenated parts): handled without an exception;
    customer messages come out as inbound events with a sender and text."""
    settings = SmppChannelSettings.from_config({"host": "127.0.0.1", "port": 9, "system_id": "fuzz",
                                                "password": "fuzz"})
    adapter = SmppAdapter(settings, clock=lambda: NOW, start=False)
    for message in messages:
        adapter._on_deliver(message)
    for event in adapter.pending_inbound(NOW):
        assert isinstance(event.text, str) and isinstance(event.from_address, str)
    adapter.due_status_updates(NOW)


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
