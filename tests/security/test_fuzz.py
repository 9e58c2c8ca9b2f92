"""Fuzzing (hypothesis) of everything that parses bytes from outside: no unhandled exception.

Each target must either accept its input or refuse it with the protocol's own error
(WebhookRejected → a 4xx; PduError → a generic_nack), never raise anything else, which
would become a 5xx and make the provider retry forever. The webhook targets are signed
with the channel's secret, so the fuzzing reaches the parsers behind the signature check.

Default: a few hundred examples per target. `LONG_TESTS=1` runs 10,000 per target
(docs/reliability.md records such a run).
"""

from __future__ import annotations

import json
import os
import struct
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mannerly.channels.base import WebhookRejected, WebhookResult
from mannerly.channels.smpp import pdu
from mannerly.channels.smpp.adapter import receipt_fields
from mannerly.channels.smpp.shortmessage import decode_text, parse_receipt_text, split_user_data
from mannerly.channels.twilio.signature import compute_signature
from tests.channels.twilio.helpers import AUTH_TOKEN, WEBHOOK_URL, make_adapter
from tests.security.test_forged_signatures import (
    meta_request,
    meta_signature,
    messenger_adapter,
    twilio_request,
    whatsapp_adapter,
)

LONG = os.environ.get("LONG_TESTS") == "1"
FUZZ = settings(max_examples=10_000 if LONG else 100, deadline=None, derandomize=not LONG,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# JSON values of any shape, with the keys the parsers look for mixed into random ones.
KEYS = st.sampled_from(["object", "entry", "changes", "value", "messages", "statuses", "from", "id", "text",
                        "body", "type", "timestamp", "messaging", "sender", "recipient", "message", "mid",
                        "delivery", "read", "watermark", "postback", "payload", "metadata", "contacts",
                        "phone_number_id", "wa_id", "status", "errors", "code", "field", "interactive",
                        "button_reply", "attachments", "is_echo", "quick_reply"]) | st.text(max_size=8)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=40,
)
TWILIO_FIELDS = st.sampled_from(["MessageSid", "SmsSid", "AccountSid", "From", "To", "Body", "NumMedia",
                                 "MessageStatus", "SmsStatus", "ErrorCode", "MediaUrl0", "MediaContentType0",
                                 "ApiVersion", "NumSegments", "ProfileName", "WaId"]) | st.text(max_size=10)


# One adapter for every example: building an HTTP client per example would dominate the run.
TWILIO = make_adapter()


def handled(adapter, request) -> None:
    """Run one webhook through an adapter: a result or a 4xx refusal are the only allowed outcomes."""
    try:
        result = adapter.handle_webhook(request)
    except WebhookRejected as refusal:
        assert 400 <= refusal.status < 500
        return
    assert isinstance(result, WebhookResult)


@FUZZ
@given(st.lists(st.tuples(TWILIO_FIELDS, st.text(max_size=60)), max_size=12))
def test_twilio_webhooks_with_any_fields(pairs):
    body = urlencode(pairs).encode()
    handled(TWILIO, twilio_request(body, compute_signature(AUTH_TOKEN, WEBHOOK_URL, pairs)))


@FUZZ
@given(st.binary(max_size=400))
def test_twilio_webhooks_with_any_bytes(body):
    from urllib.parse import parse_qsl

    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        pairs = []
    handled(TWILIO, twilio_request(body, compute_signature(AUTH_TOKEN, WEBHOOK_URL, pairs)))


@pytest.mark.parametrize("build", [whatsapp_adapter, messenger_adapter], ids=["whatsapp_cloud", "messenger"])
def test_meta_webhooks_with_any_json(build):
    adapter = build()

    @FUZZ
    @given(JSON)
    def run(payload):
        body = json.dumps(payload).encode()
        handled(adapter, meta_request(body, meta_signature(body)))

    run()


@pytest.mark.parametrize("build", [whatsapp_adapter, messenger_adapter], ids=["whatsapp_cloud", "messenger"])
def test_meta_webhooks_with_any_bytes(build):
    adapter = build()

    @FUZZ
    @given(st.binary(max_size=400))
    def run(body):
        handled(adapter, meta_request(body, meta_signature(body)))

    run()


def pdu_bytes(command_id: int, body: bytes, status: int = 0, sequence: int = 1) -> bytes:
    """A framed PDU with this header and body."""
    return struct.pack(">IIII", 16 + len(body), command_id, status, sequence) + body


COMMANDS = st.sampled_from(sorted(pdu.BODY_LAYOUTS)) | st.integers(0, 2**32 - 1)


@FUZZ
@given(COMMANDS, st.binary(max_size=300), st.integers(0, 2**32 - 1))
def test_the_smpp_decoder_takes_any_body(command_id, body, status):
    try:
        decoded = pdu.decode(pdu_bytes(command_id, body, status))
    except pdu.PduError:
        return
    assert decoded.command_id == command_id


@FUZZ
@given(st.binary(max_size=300))
def test_the_smpp_decoder_takes_any_bytes(data):
    try:
        pdu.decode(data)
    except pdu.PduError:
        pass
    buffer = bytearray(data)
    try:
        for frame in pdu.split_frames(buffer):
            try:
                pdu.decode(frame)
            except pdu.PduError:
                pass
    except pdu.PduError:
        pass


@FUZZ
@given(st.binary(max_size=254), st.integers(0, 255), st.integers(0, 255),
       st.dictionaries(st.sampled_from([pdu.TAG_RECEIPTED_MESSAGE_ID, pdu.TAG_MESSAGE_STATE,
                                        pdu.TAG_NETWORK_ERROR_CODE, pdu.TAG_MESSAGE_PAYLOAD]) | st.integers(0, 0xFFFF),
                       st.binary(max_size=40), max_size=4))
def test_deliver_sm_contents_never_break_the_receiver(short_message, esm_class, data_coding, tlvs):
    message = pdu.Pdu(pdu.DELIVER_SM, 1, 0, {"short_message": short_message, "esm_class": esm_class,
                                             "data_coding": data_coding, "source_addr": "821023456789"}, tlvs)
    receipt_fields(message)
    concatenation, payload = split_user_data(short_message, esm_class)
    assert isinstance(decode_text(payload, data_coding), str)
    parse_receipt_text(decode_text(short_message, data_coding))
