"""Sending through the Send API against a fake Graph API on 127.0.0.1: format, outcomes and redaction."""

from __future__ import annotations

import json

import httpx
import pytest

from mannerly.channels.base import Exchange, OutboundMessage
from mannerly.channels.messenger import fake_server
from mannerly.channels.messenger.adapter import MessengerAdapter, MessengerConfig, result_from_response
from tests.channels.messenger.conftest import load

PSID = "6912345678901234"
RESPONSE = {"messaging_type": "RESPONSE"}
HUMAN_AGENT = {"messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
ORDER_TAG = {"messaging_type": "MESSAGE_TAG", "tag": "POST_PURCHASE_UPDATE"}


@pytest.fixture
def http():
    """A real HTTP client (the fake is a real server on loopback)."""
    with httpx.Client() as client:
        yield client


def make_adapter(fake, http, clock, **overrides) -> MessengerAdapter:
    """An adapter configured from the fake's channel config."""
    return MessengerAdapter(MessengerConfig.from_channel(fake.channel_config(**overrides)), http=http, clock=clock)


def outbound(options, text="주문하신 상품이 발송되었습니다.", to=PSID, message_id=7) -> OutboundMessage:
    """One message as the dispatcher builds it."""
    return OutboundMessage(message_id=message_id, to=to, text=text, options=options)


def test_response_inside_the_window_is_sent_in_the_documented_format(fake, http, clock):
    """POST /v25.0/{page}/messages, Bearer token, appsecret_proof, JSON recipient/messaging_type/message."""
    fake.customer_writes(PSID)
    result = make_adapter(fake, http, clock).send(outbound(RESPONSE))
    assert result.accepted and result.status == "sent"
    request = fake.requests[-1]
    assert request.path == f"/v25.0/{fake.page_id}/messages"
    assert request.headers["authorization"] == f"Bearer {fake.page_access_token}"
    assert request.headers["content-type"] == "application/json"
    assert set(request.query) == {"appsecret_proof"}
    assert request.body == {"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
                            "message": {"text": "주문하신 상품이 발송되었습니다."}}
    assert result.provider_message_id in fake.sent
    assert fake.sent[result.provider_message_id].messaging_type == "RESPONSE"


def test_message_tag_outside_the_window_carries_the_tag(fake, http, clock):
    """Three days after the customer wrote, a tagged update goes with messaging_type MESSAGE_TAG and its tag."""
    fake.customer_writes(PSID)
    clock.advance(days=3)
    result = make_adapter(fake, http, clock).send(outbound(ORDER_TAG))
    assert result.accepted
    assert fake.requests[-1].body["messaging_type"] == "MESSAGE_TAG"
    assert fake.requests[-1].body["tag"] == "POST_PURCHASE_UPDATE"


def test_human_agent_within_seven_days(fake, http, clock):
    """An agent may answer with HUMAN_AGENT within 7 days; on day 8 Meta refuses it as outside the window."""
    fake.customer_writes(PSID)
    clock.advance(days=6, hours=23)
    assert make_adapter(fake, http, clock).send(outbound(HUMAN_AGENT)).accepted
    assert fake.requests[-1].body["tag"] == "HUMAN_AGENT"
    clock.advance(hours=2)
    late = make_adapter(fake, http, clock).send(outbound(HUMAN_AGENT))
    assert (late.accepted, late.status, late.retryable, late.error_code) == (False, "failed", False, "10/2018278")


def test_response_after_24_hours_is_refused_by_meta_with_a_clear_detail(fake, http, clock):
    """Error 10/2018278 is a failure (not retried) that says it is about the 24-hour window."""
    fake.customer_writes(PSID)
    clock.advance(hours=24, seconds=1)
    result = make_adapter(fake, http, clock).send(outbound(RESPONSE))
    assert (result.status, result.retryable, result.effect) == ("failed", False, None)
    assert "24-hour window" in result.error_detail and "outside of allowed window" in result.error_detail


def test_token_can_travel_as_a_parameter(fake, http, clock):
    """access_token_in=query sends access_token as a parameter (Meta's samples) and no Authorization header."""
    fake.customer_writes(PSID)
    result = make_adapter(fake, http, clock, access_token_in="query").send(outbound(RESPONSE))
    assert result.accepted
    assert fake.requests[-1].query["access_token"] == fake.page_access_token
    assert "authorization" not in fake.requests[-1].headers
    assert fake.page_access_token not in json.dumps(result.exchange.request)


def test_wrong_app_secret_gives_a_proof_error(fake, http, clock):
    """A wrong app secret makes a wrong appsecret_proof, which Meta refuses (not retried)."""
    fake.customer_writes(PSID)
    result = make_adapter(fake, http, clock, app_secret="not-the-secret").send(outbound(RESPONSE))
    assert (result.status, result.retryable, result.error_code) == ("failed", False, "100")


REFUSED_BEFORE_SENDING = [
    ({}, "messaging_type"),
    ({"messaging_type": "MESSAGE_TAG"}, "messaging_type"),
    ({"messaging_type": "PROMOTION"}, "messaging_type"),
]


@pytest.mark.parametrize(("options", "code"), REFUSED_BEFORE_SENDING)
def test_missing_or_bad_options_are_refused_without_a_request(fake, http, clock, options, code):
    """Without a decided messaging type the adapter refuses (not retryable) and calls nobody."""
    fake.customer_writes(PSID)
    result = make_adapter(fake, http, clock).send(outbound(options))
    assert (result.accepted, result.status, result.retryable, result.error_code) == (False, "failed", False, code)
    assert "messaging_type" in result.error_detail
    assert fake.requests == []


def test_other_refusals_before_sending(fake, http, clock):
    """No PSID, text over 2000 characters, no token: refused locally with a reason."""
    adapter = make_adapter(fake, http, clock)
    assert adapter.send(outbound(RESPONSE, to="")).error_code == "no_psid"
    assert adapter.send(outbound(RESPONSE, text="a" * 2001)).error_code == "too_long"
    assert make_adapter(fake, http, clock, page_access_token="").send(outbound(RESPONSE)).error_code == "config"
    assert fake.requests == []


FAULTS = [
    (fake_server.FAULT_RATE_LIMITED, "failed", True, "613"),
    (fake_server.FAULT_HTTP_429, "failed", True, "4"),
    (fake_server.FAULT_SERVER_ERROR, "failed", True, "2"),
    (fake_server.FAULT_UNAVAILABLE, "failed", False, "551/1545041"),
    (fake_server.FAULT_INVALID_TOKEN, "failed", False, "190/463"),
    (fake_server.FAULT_DROP_AFTER_ACCEPT, "unknown", False, None),
    (fake_server.FAULT_SLOW_AFTER_ACCEPT, "unknown", False, None),
]


@pytest.mark.parametrize(("fault", "status", "retryable", "error_code"), FAULTS, ids=[case[0] for case in FAULTS])
def test_provider_faults_are_classified(fake, http, clock, fault, status, retryable, error_code):
    """Rate limits and 5xx are retried later; 551 and bad tokens fail; no answer after sending is unknown."""
    fake.customer_writes(PSID)
    fake.fail_next(fault)
    result = make_adapter(fake, http, clock, timeout_seconds=0.3).send(outbound(RESPONSE))
    assert (result.accepted, result.status, result.retryable, result.error_code) == (
        False, status, retryable, error_code)
    if status == "unknown":
        assert len(fake.sent) == 1  # Meta took it: the dispatcher must not send it again


def test_person_unavailable_says_not_delivered(fake, http, clock):
    """551 reads as 'not available / not delivered'."""
    fake.customer_writes(PSID)
    fake.fail_next(fake_server.FAULT_UNAVAILABLE)
    result = make_adapter(fake, http, clock).send(outbound(RESPONSE))
    assert "isn't available" in result.error_detail and "not delivered" in result.error_detail


def test_unknown_psid_is_refused(fake, http, clock):
    """A PSID that never wrote to the Page: 100/2018001."""
    result = make_adapter(fake, http, clock).send(outbound(RESPONSE, to="1111111111111111"))
    assert (result.status, result.error_code) == ("failed", "100/2018001")
    assert "no Messenger user" in result.error_detail


def test_retired_tag_refusal_names_the_tag(clock, http):
    """When Meta refuses a retired tag (error 100), the detail says which tag and what to do."""
    with fake_server.FakeGraphApi(clock=clock, refuse_retired_tags=True) as strict:
        strict.customer_writes(PSID)
        clock.advance(days=3)
        result = make_adapter(strict, http, clock).send(outbound(ORDER_TAG))
    assert (result.status, result.retryable, result.error_code) == ("failed", False, "100")
    assert "POST_PURCHASE_UPDATE" in result.error_detail and "retired" in result.error_detail


def test_nothing_listening_is_retryable(http, clock):
    """A connection refused means nothing left: safe to try again."""
    config = MessengerConfig(page_id="1", page_access_token="t", api_base_url="http://127.0.0.1:9")
    result = MessengerAdapter(config, http=http, clock=clock).send(outbound(RESPONSE))
    assert (result.status, result.retryable, result.error_code) == ("failed", True, "connect")


def test_secrets_never_reach_the_exchange_log(fake, http, clock):
    """Token, app secret and the proof derived from them are redacted in the recorded exchange."""
    fake.customer_writes(PSID)
    for mode in ("header", "query"):
        result = make_adapter(fake, http, clock, access_token_in=mode).send(outbound(RESPONSE))
        logged = json.dumps([result.exchange.request, result.exchange.response])
        config = MessengerConfig.from_channel(fake.channel_config())
        for secret in (fake.page_access_token, fake.app_secret, config.appsecret_proof()):
            assert secret not in logged
        assert "[redacted]" in logged


RECORDED_ANSWERS = [
    ("send_success.json", 200, True, "sent", False, None),
    ("error_outside_window.json", 400, False, "failed", False, "10/2018278"),
    ("error_person_unavailable.json", 400, False, "failed", False, "551/1545041"),
    ("error_rate_limited.json", 400, False, "failed", True, "613"),
    ("error_invalid_token.json", 400, False, "failed", False, "190/463"),
    ("error_no_matching_user.json", 400, False, "failed", False, "100/2018001"),
    ("error_service_unavailable.json", 503, False, "failed", True, "2"),
    ("error_invalid_parameter.json", 400, False, "failed", False, "100"),
]


@pytest.mark.parametrize(("filename", "http_status", "accepted", "status", "retryable", "error_code"),
                         RECORDED_ANSWERS, ids=[case[0] for case in RECORDED_ANSWERS])
def test_recorded_send_api_answers(filename, http_status, accepted, status, retryable, error_code):
    """Meta's documented answers classify as expected (success keeps message_id as the provider id)."""
    result = result_from_response(http_status, load(filename), None, Exchange())
    assert (result.accepted, result.status, result.retryable, result.error_code) == (
        accepted, status, retryable, error_code)
    if accepted:
        assert result.provider_message_id == "m_Sent0123456789AbCdEfGhIjKlMnOpQrStUv11"
    else:
        assert result.error_detail


def test_success_without_message_id_is_unknown():
    """A 200 we cannot tie to a message is 'unknown', never resent."""
    result = result_from_response(200, {"recipient_id": PSID}, None, Exchange())
    assert (result.accepted, result.status) == (False, "unknown")
