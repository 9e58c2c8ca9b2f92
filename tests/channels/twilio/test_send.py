"""Sending through the fake Twilio server: the exact request, the answer mapping, redaction, status lookup."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from mannerly.channels.base import EFFECT_OPT_OUT, OutboundMessage
from mannerly.channels.twilio import fake_server
from mannerly.channels.twilio.adapter import REDACTED
from tests.channels.twilio.conftest import read_testdata
from tests.channels.twilio.helpers import BUSINESS_NUMBER, make_adapter

CUSTOMER = "+821023456789"


def outbound(text: str = "Your order has shipped.", to: str = CUSTOMER) -> OutboundMessage:
    """One message as the dispatcher hands it over."""
    return OutboundMessage(message_id=42, to=to, text=text)


def adapter_for(fake, **config):
    """An adapter pointed at the fake server with its credentials."""
    settings = {"account_sid": fake.account_sid, "auth_token": fake.auth_token, "api_base_url": fake.base_url,
                **config}
    return make_adapter(**settings)


def test_accepted_send_posts_the_documented_request(fake_twilio):
    """Form-encoded To/From/Body/StatusCallback with Basic auth; 201 gives the SM sid and "queued"."""
    result = adapter_for(fake_twilio).send(outbound("안녕하세요, 주문하신 상품이 발송되었습니다."))
    (request,) = fake_twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    assert request.username == fake_twilio.account_sid
    assert request.content_type == "application/x-www-form-urlencoded"
    assert request.form == {
        "To": CUSTOMER,
        "From": BUSINESS_NUMBER,
        "Body": "안녕하세요, 주문하신 상품이 발송되었습니다.",
        "StatusCallback": "https://mannerly.example.com/webhooks/7?message_id=42",
    }
    assert result.accepted and result.status == "queued" and not result.retryable
    assert fake_twilio.handoffs == [result.provider_message_id]
    assert result.provider_message_id.startswith("SM") and len(result.provider_message_id) == 34


def test_exchange_is_redacted(fake_twilio):
    """Neither the auth token nor the Authorization header value appears in the logged exchange."""
    result = adapter_for(fake_twilio).send(outbound())
    exchange = result.exchange
    assert exchange.request["headers"]["Authorization"] == REDACTED
    assert exchange.status_code == 201 and exchange.response["sid"] == result.provider_message_id
    logged = json.dumps([exchange.request, exchange.response])
    assert fake_twilio.auth_token not in logged
    assert "Basic " not in logged


def test_api_key_credentials_are_used_when_configured(fake_twilio):
    """With an API key, Basic auth carries the key SID and secret instead of the Account SID."""
    fake_twilio.api_keys["SK" + "2" * 32] = "key-secret-value"
    result = adapter_for(fake_twilio, api_key_sid="SK" + "2" * 32, api_key_secret="key-secret-value").send(outbound())
    assert result.accepted
    assert fake_twilio.requests[0].username == "SK" + "2" * 32
    assert "key-secret-value" not in json.dumps([result.exchange.request, result.exchange.response])


def test_messaging_service_replaces_from(fake_twilio):
    """A Messaging Service SID is sent instead of From; Twilio answers "accepted" (reported as queued)."""
    service = "MG" + "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
    result = adapter_for(fake_twilio, messaging_service_sid=service).send(outbound())
    form = fake_twilio.requests[0].form
    assert form["MessagingServiceSid"] == service and "From" not in form
    assert result.status == "queued"
    assert result.exchange.response["status"] == "accepted"


def test_without_public_base_url_no_status_callback_is_requested(fake_twilio):
    """No public address, no StatusCallback (documented in the README)."""
    adapter_for(fake_twilio, public_base_url=None).send(outbound())
    assert "StatusCallback" not in fake_twilio.requests[0].form


def test_whatsapp_channel_prefixes_addresses(fake_twilio):
    """On a WhatsApp sender, To and From carry Twilio's "whatsapp:" prefix."""
    adapter_for(fake_twilio, kind="whatsapp").send(outbound())
    form = fake_twilio.requests[0].form
    assert (form["To"], form["From"]) == ("whatsapp:" + CUSTOMER, "whatsapp:" + BUSINESS_NUMBER)


# fault -> (status, retryable, error code, effect, messages Twilio created)
FAULT_OUTCOMES = [
    (fake_server.FAULT_OPT_OUT, "failed", False, "21610", EFFECT_OPT_OUT, 0),
    (fake_server.FAULT_INVALID_TO, "failed", False, "21211", None, 0),
    (fake_server.FAULT_RATE_LIMITED, "failed", True, "20429", None, 0),
    (fake_server.FAULT_SERVER_ERROR, "failed", True, "20500", None, 0),
    (fake_server.FAULT_DROP_AFTER_ACCEPT, "unknown", False, None, None, 1),
    (fake_server.FAULT_SLOW_AFTER_ACCEPT, "unknown", False, None, None, 1),
]


@pytest.mark.parametrize(("fault", "status", "retryable", "code", "effect", "created"), FAULT_OUTCOMES,
                         ids=[row[0] for row in FAULT_OUTCOMES])
def test_error_mapping(fake_twilio, fault, status, retryable, code, effect, created):
    """Refusals before acceptance keep their code; 429/5xx are retryable; a lost answer is "unknown"."""
    fake_twilio.fail_next(fault)
    result = adapter_for(fake_twilio, timeout_seconds=0.3).send(outbound())
    assert (result.accepted, result.status, result.retryable, result.error_code, result.effect) == (
        False, status, retryable, code, effect)
    assert len(fake_twilio.handoffs) == created
    assert result.exchange is not None


def test_opted_out_recipient_gets_21610(fake_twilio):
    """A number that texted STOP to Twilio is refused with 21610 and the opt-out effect."""
    fake_twilio.opt_out(CUSTOMER)
    result = adapter_for(fake_twilio).send(outbound())
    assert (result.status, result.error_code, result.effect) == ("failed", "21610", EFFECT_OPT_OUT)
    assert result.error_detail == "Attempt to send to unsubscribed recipient"


def test_invalid_to_number_is_refused_by_the_fake_like_twilio(fake_twilio):
    """The fake validates To itself: not E.164 → 400 / 21211, not retryable."""
    result = adapter_for(fake_twilio).send(outbound(to="010-2345-6789"))
    assert (result.status, result.error_code, result.retryable) == ("failed", "21211", False)


def test_wrong_credentials_fail_without_retry(fake_twilio):
    """401 / 20003 is a configuration problem: failed, not retried."""
    result = adapter_for(fake_twilio, auth_token="wrong-token").send(outbound())
    assert (result.status, result.error_code, result.retryable) == ("failed", "20003", False)
    assert fake_twilio.handoffs == []


def test_connection_refused_is_retryable():
    """Nothing listening: nothing was sent, so trying later is safe."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = make_adapter(api_base_url=f"http://127.0.0.1:{port}").send(outbound())
    assert (result.status, result.retryable, result.error_code) == ("failed", True, "connect")


def test_incomplete_config_fails_before_any_request():
    """A channel without credentials or sender is refused with the missing keys named."""
    result = make_adapter(account_sid=None, from_number=None).send(outbound())
    assert (result.status, result.error_code, result.retryable) == ("failed", "config", False)
    assert "account_sid" in result.error_detail and "from_number" in result.error_detail


def test_lookup_status_reads_the_message_resource(fake_twilio):
    """GET …/Messages/{sid}.json: the current status and error code; unknown sids give None."""
    adapter = adapter_for(fake_twilio)
    sid = adapter.send(outbound()).provider_message_id
    assert adapter.lookup_status(sid).status == "queued"
    fake_twilio.set_status(sid, "undelivered", 30003, "Unreachable destination handset")
    update = adapter.lookup_status(sid)
    assert (update.provider_message_id, update.status, update.raw_status, update.error_code) == (
        sid, "undelivered", "undelivered", "30003")
    fake_twilio.set_status(sid, "failed", 21610)
    assert adapter.lookup_status(sid).effect == EFFECT_OPT_OUT
    assert adapter.lookup_status("SM" + "0" * 32) is None


def test_lookup_status_parses_the_recorded_resource():
    """The documented Message JSON (undelivered, 30003) read through a mock transport."""
    recorded = read_testdata("message_fetched_undelivered.json")

    def answer(request: httpx.Request) -> httpx.Response:
        """Twilio's fetch endpoint, checking the path and auth header."""
        assert request.method == "GET"
        assert request.url.path.endswith("/Messages/SM3f1e2d4c5b6a79880a1b2c3d4e5f6a7b.json")
        assert request.headers["authorization"].startswith("Basic ")
        return httpx.Response(200, content=recorded, headers={"content-type": "application/json"})

    adapter = make_adapter(http=httpx.Client(transport=httpx.MockTransport(answer)))
    update = adapter.lookup_status("SM3f1e2d4c5b6a79880a1b2c3d4e5f6a7b")
    assert (update.status, update.error_code) == ("undelivered", "30003")
    assert update.occurred_at.isoformat() == "2025-03-04T01:02:10+00:00"


@pytest.mark.parametrize(
    ("config", "timeout", "problems"),
    [
        ({"account_sid": "AC1", "auth_token": "t", "from_number": "+15017122661"}, 10.0, []),
        ({"account_sid": "AC1", "api_key_sid": "SK1", "api_key_secret": "s", "messaging_service_sid": "MG1",
          "timeout_seconds": "2.5"}, 2.5, []),
        ({"account_sid": "AC1", "auth_token": "t", "timeout_seconds": "soon"}, 10.0,
         ["from_number or messaging_service_sid"]),
        ({"auth_token": "  ", "timeout_seconds": -1}, 10.0,
         ["account_sid", "auth_token (or api_key_sid and api_key_secret)", "from_number or messaging_service_sid"]),
    ],
)
def test_config_reading(config, timeout, problems):
    """Channel config JSON → settings; a bad timeout falls back to the default instead of breaking the channel."""
    from mannerly.channels.twilio.adapter import TwilioConfig

    read = TwilioConfig.from_channel(config)
    assert read.timeout_seconds == timeout
    assert read.problems() == problems
