"""Sends against the fake Graph API on 127.0.0.1: the request format, the answers, errors and lost answers."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import httpx
import pytest

from mannerly.channels.base import EFFECT_MARKETING_OPT_OUT, EFFECT_WINDOW_CLOSED, OutboundMessage
from mannerly.channels.whatsapp_cloud import fake_server
from mannerly.channels.whatsapp_cloud.adapter import (
    WhatsAppCloudAdapter,
    WhatsAppConfig,
    create_adapter,
    parse_graph_error,
)

from .conftest import load_testdata

NOW = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)


@pytest.fixture
def http():
    """A real HTTP client, as the runtime has."""
    with httpx.Client() as client:
        yield client


def adapter_for(fake, http, **overrides) -> WhatsAppCloudAdapter:
    """An adapter configured like a channel row pointing at the fake."""
    return WhatsAppCloudAdapter(WhatsAppConfig.from_channel(fake.channel_config(**overrides)), http=http,
                                clock=lambda: NOW)


def text_message(to: str = "+821023456789", text: str = "주문하신 상품이 발송되었습니다.", **options) -> OutboundMessage:
    """One outbound message as the dispatcher builds it."""
    return OutboundMessage(message_id=7, to=to, text=text, options=options)


def test_text_send_has_the_documented_request_and_answer(fake_graph, http):
    """POST /{version}/{phone_number_id}/messages, Bearer token, the documented text JSON; wamid comes back."""
    result = adapter_for(fake_graph, http).send(text_message())
    assert result.accepted and result.status == "queued"
    assert result.provider_message_id.startswith("wamid.")
    (sent,) = fake_graph.sends()
    assert sent.path == f"/v26.0/{fake_graph.phone_number_id}/messages"
    assert sent.authorization == f"Bearer {fake_graph.access_token}"
    assert sent.content_type.startswith("application/json")
    assert sent.body == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "821023456789",
                         "type": "text", "text": {"preview_url": False, "body": "주문하신 상품이 발송되었습니다."},
                         "biz_opaque_callback_data": "mannerly:7"}
    assert fake_graph.handoffs() == [result.provider_message_id]


def test_template_send_has_body_parameters_and_the_whatsapp_language_code(fake_graph, http):
    """A template send names the template, the WhatsApp locale (mapped from "en") and the body parameters in order."""
    fake_graph.add_template("order_shipped", "en_US", "Hi {{1}}, your order {{2}} has shipped.")
    adapter = adapter_for(fake_graph, http, template_languages={"order_shipped": {"en": "en_US"}})
    template = {"name": "order_shipped", "language": "en", "parameters": ["Ana", "#1234"]}
    result = adapter.send(text_message(text="Hi Ana, your order #1234 has shipped.", whatsapp_template=template))
    assert result.accepted, result.error_detail
    assert fake_graph.sends()[0].body == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "821023456789", "type": "template",
        "template": {"name": "order_shipped", "language": {"code": "en_US"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "#1234"}]}]},
        "biz_opaque_callback_data": "mannerly:7",
    }


def test_template_without_parameters_has_no_components(fake_graph, http):
    """A template with no variables is sent without a components array."""
    fake_graph.add_template("hello_world", "ko", "안녕하세요!")
    result = adapter_for(fake_graph, http).send(text_message(
        whatsapp_template={"name": "hello_world", "language": "ko", "parameters": []}))
    assert result.accepted
    assert "components" not in fake_graph.sends()[0].body["template"]


def test_a_template_the_account_does_not_have_fails_with_its_code(fake_graph, http):
    """Unknown template or wrong parameter count: failed, not retryable, Graph code kept."""
    fake_graph.add_template("order_shipped", "en_US", "Hi {{1}}, your order {{2}} has shipped.")
    adapter = adapter_for(fake_graph, http)
    unknown = adapter.send(text_message(whatsapp_template={"name": "order_shipped", "language": "en",
                                                           "parameters": ["Ana", "#1"]}))
    assert (unknown.accepted, unknown.status, unknown.error_code, unknown.retryable) == (False, "failed", "132001", False)
    wrong_count = adapter.send(text_message(whatsapp_template={"name": "order_shipped", "language": "en_US",
                                                               "parameters": ["Ana"]}))
    assert wrong_count.error_code == "132000"
    assert fake_graph.handoffs() == []


# fault -> (status, retryable, error_code, effect)
FAULT_CASES = [
    (fake_server.FAULT_RATE_LIMITED, "failed", True, "130429", None),
    (fake_server.FAULT_PAIR_RATE_LIMITED, "failed", True, "131056", None),
    (fake_server.FAULT_SERVER_ERROR, "failed", True, "2", None),
    (fake_server.FAULT_TOKEN_EXPIRED, "failed", False, "190", None),
    (fake_server.FAULT_WINDOW_CLOSED, "failed", False, "131047", EFFECT_WINDOW_CLOSED),
    (fake_server.FAULT_MARKETING_OPT_OUT, "failed", False, "131050", EFFECT_MARKETING_OPT_OUT),
]


@pytest.mark.parametrize(("fault", "status", "retryable", "code", "effect"), FAULT_CASES)
def test_error_answers_are_classified(fake_graph, http, fault, status, retryable, code, effect):
    """Throttling and 5xx are retryable; token, window and marketing errors are final, with their effect."""
    fake_graph.fail_next(fault)
    result = adapter_for(fake_graph, http).send(text_message())
    assert (result.accepted, result.status, result.retryable, result.error_code, result.effect) == (
        False, status, retryable, code, effect)
    assert result.exchange.status_code >= 400
    assert fake_graph.handoffs() == []


def test_token_error_says_what_to_do_and_never_shows_the_token(fake_graph, http):
    """Code 190 explains the fix; neither the token nor the app secret appear in the exchange or the detail."""
    fake_graph.fail_next(fake_server.FAULT_TOKEN_EXPIRED)
    result = adapter_for(fake_graph, http).send(text_message())
    assert "access_token" in result.error_detail and "190" in result.error_detail
    logged = json.dumps([result.exchange.request, result.exchange.response, result.error_detail])
    assert fake_graph.access_token not in logged and fake_graph.app_secret not in logged
    assert result.exchange.request["headers"]["Authorization"] == "[redacted]"


def test_accepted_exchange_is_redacted_too(fake_graph, http):
    """A successful exchange logs the request JSON and the answer, with the token redacted."""
    result = adapter_for(fake_graph, http).send(text_message())
    assert result.exchange.request["json"]["to"] == "821023456789"
    assert result.exchange.response["messages"][0]["id"] == result.provider_message_id
    assert fake_graph.access_token not in json.dumps(result.exchange.request)


def test_a_token_echoed_by_the_provider_is_redacted(fake_graph, http):
    """Even when an answer contains the token (e.g. a proxy echoing the request), the log shows [redacted]."""
    def echo(request: httpx.Request) -> httpx.Response:
        """Answer with the Authorization header in the error message."""
        return httpx.Response(400, json={"error": {"message": f"bad {request.headers['authorization']}",
                                                   "type": "OAuthException", "code": 100}})

    with httpx.Client(transport=httpx.MockTransport(echo)) as client:
        result = adapter_for(fake_graph, client).send(text_message())
    assert fake_graph.access_token not in json.dumps(result.exchange.response)
    assert fake_graph.access_token not in result.error_detail


def test_lost_answers_are_unknown_and_never_resent(fake_graph, http):
    """A dropped connection or an answer slower than the timeout after acceptance: "unknown", exactly one hand-off."""
    adapter = adapter_for(fake_graph, http, timeout_seconds=0.3)
    for fault in (fake_server.FAULT_DROP_AFTER_ACCEPT, fake_server.FAULT_SLOW_AFTER_ACCEPT):
        fake_graph.fail_next(fault)
        result = adapter.send(text_message())
        assert (result.accepted, result.status, result.retryable) == (False, "unknown", False), fault
    assert len(fake_graph.handoffs()) == 2


def test_nothing_listening_is_retryable(http):
    """A refused connection means nothing was sent: try again later."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = WhatsAppConfig(phone_number_id="1", access_token="t", api_base_url=f"http://127.0.0.1:{port}")
    result = WhatsAppCloudAdapter(config, http=http, clock=lambda: NOW).send(text_message())
    assert (result.status, result.retryable, result.error_code) == ("failed", True, "connect")


def test_answer_without_message_id_is_unknown(fake_graph):
    """A 200 that names no message cannot be tied to ours: unknown, not accepted."""
    with httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json={}))) as client:
        result = adapter_for(fake_graph, client).send(text_message())
    assert (result.accepted, result.status) == (False, "unknown")


LOCAL_REFUSALS = [
    ({"phone_number_id": ""}, text_message(), "config"),
    ({"access_token": ""}, text_message(), "config"),
    ({}, text_message(to="+82"), "invalid_recipient"),
    ({}, text_message(to=""), "invalid_recipient"),
    ({}, text_message(text="   "), "empty_body"),
]


@pytest.mark.parametrize(("overrides", "message", "code"), LOCAL_REFUSALS)
def test_refused_before_any_request(fake_graph, http, overrides, message, code):
    """Missing credentials, an unusable number or an empty text never reach the Graph API."""
    result = adapter_for(fake_graph, http, **overrides).send(message)
    assert (result.accepted, result.status, result.error_code, result.retryable) == (False, "failed", code, False)
    assert fake_graph.sends() == []


# testdata error file -> (HTTP status, code, retryable, effect)
ERROR_FILES = [
    ("error_190_token_expired.json", 401, "190", False, None),
    ("error_130429_rate_limit.json", 400, "130429", True, None),
    ("error_131056_pair_rate_limit.json", 400, "131056", True, None),
    ("error_80007_waba_rate_limit.json", 400, "80007", True, None),
    ("error_131047_reengagement.json", 400, "131047", False, EFFECT_WINDOW_CLOSED),
    ("error_131050_marketing_stopped.json", 400, "131050", False, EFFECT_MARKETING_OPT_OUT),
    ("error_100_invalid_parameter.json", 400, "100", False, None),
    ("error_100_invalid_parameter.json", 503, "100", True, None),  # any 5xx is worth another try
]


@pytest.mark.parametrize(("name", "http_status", "code", "retryable", "effect"), ERROR_FILES)
def test_recorded_error_bodies(name, http_status, code, retryable, effect):
    """The documented Graph error bodies map to code, retryability and effect; the details are kept."""
    body = load_testdata(name)
    error = parse_graph_error(http_status, body)
    assert (error.code, error.retryable, error.effect) == (code, retryable, effect)
    assert body["error"]["error_data"]["details"] in error.detail


def test_send_response_testdata_is_what_the_adapter_reads(fake_graph):
    """The recorded send answer gives its wamid as the provider message id."""
    answer = load_testdata("send_response.json")
    with httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json=answer))) as client:
        result = adapter_for(fake_graph, client).send(text_message())
    assert result.accepted and result.provider_message_id == answer["messages"][0]["id"]


def test_lookup_status_has_nothing_to_ask(fake_graph, http):
    """The Cloud API has no per-message status endpoint: None, and no request is made."""
    assert adapter_for(fake_graph, http).lookup_status("wamid.X") is None
    assert fake_graph.sends() == []


def test_create_adapter_reads_the_channel_row(runtime):
    """The registry factory takes config from the row; sender_id stands in for a missing phone_number_id."""
    class Row:
        """Just the attributes a channel row has."""

        id, kind, sender_id = 3, "whatsapp", "555000111"
        config = {"access_token": "t", "api_base_url": "http://127.0.0.1:9/", "display_phone_number": "+30 691 234 5678"}

    adapter = create_adapter(Row(), runtime)
    assert adapter.config.phone_number_id == "555000111"
    assert adapter.config.messages_url() == "http://127.0.0.1:9/v26.0/555000111/messages"
    assert adapter.config.display_phone_number == "306912345678"
    assert (adapter.kind, adapter.provider, adapter.http) == ("whatsapp", "whatsapp_cloud", runtime.http)


def test_status_webhook_echoing_our_callback_data_carries_our_message_id():
    """biz_opaque_callback_data comes back in statuses and names our message, even without the wamid."""
    from mannerly.channels.whatsapp_cloud.adapter import status_from

    update = status_from({"id": "wamid.X", "status": "delivered", "timestamp": "1700000000",
                          "biz_opaque_callback_data": "mannerly:42"})
    assert (update.message_id, update.status) == (42, "delivered")
    assert status_from({"id": "wamid.Y", "status": "sent", "biz_opaque_callback_data": "other"}).message_id is None
