"""Fuzzing the real /webhooks/{channel_id} route: WhatsApp-shaped payloads with any field values, correctly
signed, never give a 5xx (which providers retry for days); each stored message is stored once."""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mannerly.channels.whatsapp_cloud.adapter import signature_for
from tests.channels.whatsapp_cloud.conftest import api, fake_graph, whatsapp_channel  # noqa: F401 - fixtures

LONG = os.environ.get("LONG_TESTS") == "1"
VALUES = st.none() | st.integers() | st.text(max_size=30) | st.sampled_from(
    ["821023456789", "+821023456789", "6281234567890", "", "0", "abc", "1" * 20, "text", "image", "delivered",
     "read", "failed", "sent", "1732400000", "-1", "9" * 30])


def envelope(phone_number_id: str) -> st.SearchStrategy:
    """A WhatsApp Cloud API webhook whose message and status fields take any value."""
    message = st.fixed_dictionaries({"from": VALUES, "id": VALUES, "timestamp": VALUES, "type": VALUES},
                                    optional={"text": st.fixed_dictionaries({"body": VALUES}),
                                              "context": st.dictionaries(st.text(max_size=5), VALUES, max_size=2)})
    status = st.fixed_dictionaries({"id": VALUES, "status": VALUES, "timestamp": VALUES, "recipient_id": VALUES},
                                   optional={"errors": st.lists(st.dictionaries(st.sampled_from(
                                       ["code", "title", "message"]), VALUES, max_size=3), max_size=2)})
    value = st.fixed_dictionaries({
        "messaging_product": st.just("whatsapp"),
        "metadata": st.fixed_dictionaries({"display_phone_number": VALUES,
                                           "phone_number_id": st.just(phone_number_id) | VALUES}),
    }, optional={"messages": st.lists(message, max_size=3), "statuses": st.lists(status, max_size=3),
                 "contacts": st.lists(st.dictionaries(st.sampled_from(["wa_id", "profile"]), VALUES), max_size=2)})
    return st.fixed_dictionaries({
        "object": st.just("whatsapp_business_account") | VALUES,
        "entry": st.lists(st.fixed_dictionaries({"id": VALUES, "changes": st.lists(
            st.fixed_dictionaries({"field": st.just("messages") | VALUES, "value": value}), max_size=2)}),
            max_size=2),
    })


def test_signed_whatsapp_webhooks_with_any_field_values_never_fail_with_5xx(api, fake_graph, whatsapp_channel):  # noqa: F811
    url = f"/webhooks/{whatsapp_channel}"
    statuses: list[int] = []

    @settings(max_examples=5_000 if LONG else 40, deadline=None, derandomize=not LONG,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(envelope(fake_graph.phone_number_id))
    def run(payload):
        body = json.dumps(payload).encode()
        response = api.client.post(url, content=body, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": signature_for(fake_graph.app_secret, body)})
        statuses.append(response.status_code)
        assert response.status_code < 500, (response.status_code, response.text, payload)

    run()
    assert 200 in statuses  # the generator reaches the accepting path, not only refusals
