"""The verification handshake and X-Hub-Signature-256, through the real /webhooks/{channel_id} route."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from mannerly.channels.whatsapp_cloud.adapter import signature_for, signature_matches
from mannerly.models import Message, ProviderExchange

from .conftest import read_testdata


def count(api, model) -> int:
    """Rows in a table."""
    with api.runtime.session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_handshake_with_the_right_token_echoes_the_challenge(api, fake_graph, whatsapp_channel):
    """hub.mode=subscribe and the channel's verify_token: 200, the challenge as text/plain."""
    response = api.client.get(f"/webhooks/{whatsapp_channel}", params={
        "hub.mode": "subscribe", "hub.verify_token": fake_graph.verify_token, "hub.challenge": "1158201444"})
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


HANDSHAKE_REFUSALS = [
    ("wrong token", {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}, 403),
    ("token differs by case", {"hub.mode": "subscribe", "hub.verify_token": "VERIFY", "hub.challenge": "1"}, 403),
    ("no token", {"hub.mode": "subscribe", "hub.challenge": "1"}, 403),
    ("wrong mode", {"hub.mode": "unsubscribe", "hub.verify_token": None, "hub.challenge": "1"}, 403),
    ("no challenge", {"hub.mode": "subscribe", "hub.verify_token": None}, 400),
]


@pytest.mark.parametrize(("case", "params", "status"), HANDSHAKE_REFUSALS, ids=[c[0] for c in HANDSHAKE_REFUSALS])
def test_handshake_refusals(api, fake_graph, whatsapp_channel, case, params, status):
    """A wrong, missing or differently-cased token or a wrong mode is 403; a missing challenge is 400."""
    params = {key: (fake_graph.verify_token if value is None else value) for key, value in params.items()}
    if case == "token differs by case":
        params["hub.verify_token"] = fake_graph.verify_token.upper()
    response = api.client.get(f"/webhooks/{whatsapp_channel}", params=params)
    assert response.status_code == status
    assert fake_graph.verify_token not in response.text


def test_handshake_is_refused_when_the_channel_has_no_verify_token(api, fake_graph):
    """No verify_token configured: no token can match, not even an empty one."""
    from .conftest import add_whatsapp_channel

    channel_id = add_whatsapp_channel(api, fake_graph, verify_token="")
    response = api.client.get(f"/webhooks/{channel_id}", params={
        "hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"})
    assert response.status_code == 403


def test_genuine_signature_is_accepted_and_stored(api, fake_graph, whatsapp_channel):
    """The exact bytes signed with the app secret: 200 and the message stored; the signature is not logged."""
    body, headers = fake_graph.signed(read_testdata("inbound_text.json"))
    response = api.client.post(f"/webhooks/{whatsapp_channel}", content=body, headers=headers)
    assert response.status_code == 200
    assert count(api, Message) == 1
    with api.runtime.session() as session:
        exchange = session.scalar(select(ProviderExchange).where(ProviderExchange.direction == "inbound_webhook"))
        assert "x-hub-signature-256" not in exchange.request["headers"]


def forged_requests(fake, body: bytes) -> list[tuple[str, bytes, dict[str, str]]]:
    """Requests whose signature must not pass: (case, body, headers)."""
    genuine = signature_for(fake.app_secret, body)
    other_body = body.replace("배송".encode(), "환불".encode())
    return [
        ("missing header", body, {}),
        ("empty header", body, {"X-Hub-Signature-256": ""}),
        ("wrong secret", body, {"X-Hub-Signature-256": signature_for("not-the-secret", body)}),
        ("body changed after signing", other_body, {"X-Hub-Signature-256": genuine}),
        ("without the sha256= prefix", body, {"X-Hub-Signature-256": genuine.removeprefix("sha256=")}),
        ("sha1 instead", body, {"X-Hub-Signature": "sha1=" + genuine[7:47]}),
        ("truncated", body, {"X-Hub-Signature-256": genuine[:-2]}),
        ("re-serialized JSON", json.dumps(json.loads(body)).encode(), {"X-Hub-Signature-256": genuine}),
    ]


def test_forged_or_missing_signatures_are_403_and_store_nothing(api, fake_graph, whatsapp_channel):
    """Every forgery is refused with 403 and leaves no message behind."""
    body = read_testdata("inbound_text.json")
    for case, forged_body, headers in forged_requests(fake_graph, body):
        response = api.client.post(f"/webhooks/{whatsapp_channel}", content=forged_body,
                                   headers={"Content-Type": "application/json", **headers})
        assert response.status_code == 403, case
        assert response.headers["content-type"].startswith("application/problem+json"), case
    assert count(api, Message) == 0


def test_channel_without_app_secret_refuses_every_post(api, fake_graph):
    """With no app_secret nothing can be verified, so nothing is accepted (even an unsigned body)."""
    from .conftest import add_whatsapp_channel

    channel_id = add_whatsapp_channel(api, fake_graph, app_secret="")
    body = read_testdata("inbound_text.json")
    for headers in ({}, {"X-Hub-Signature-256": signature_for("", body)}):
        assert api.client.post(f"/webhooks/{channel_id}", content=body, headers=headers).status_code == 403
    assert count(api, Message) == 0


def test_signed_but_malformed_is_400_and_stores_nothing(api, fake_graph, whatsapp_channel):
    """A genuine signature over a body that is not a notification: 400 with a reason."""
    body, headers = fake_graph.signed(b'{"object": "whatsapp_business_account", "entry": {"id": 1}}')
    response = api.client.post(f"/webhooks/{whatsapp_channel}", content=body, headers=headers)
    assert response.status_code == 400 and "entry is not an array" in response.json()["detail"]
    assert count(api, Message) == 0


def test_replayed_notification_is_stored_once(api, fake_graph, whatsapp_channel):
    """Meta retries deliveries: the same message twice answers 200 both times and is stored once."""
    body, headers = fake_graph.signed(read_testdata("inbound_interactive_button_reply.json"))
    assert api.client.post(f"/webhooks/{whatsapp_channel}", content=body, headers=headers).status_code == 200
    assert api.client.post(f"/webhooks/{whatsapp_channel}", content=body, headers=headers).status_code == 200
    assert count(api, Message) == 1


SIGNATURE_TABLE = [
    ("secret", b"{}", signature_for("secret", b"{}"), True),
    ("secret", b"{}", signature_for("secret", b"{}").upper().replace("SHA256=", "sha256="), True),
    ("secret", b"{}", signature_for("secret", b"{} "), False),
    ("secret", b"{}", None, False),
    ("", b"{}", signature_for("", b"{}"), False),
]


@pytest.mark.parametrize(("secret", "body", "header", "matches"), SIGNATURE_TABLE)
def test_signature_matches_table(secret, body, header, matches):
    """Hex case does not matter; a different body, no header or no secret never matches."""
    assert signature_matches(secret, body, header) is matches


def test_known_signature_vector():
    """HMAC-SHA256 over the raw bytes, hex, with the sha256= prefix (a value computed independently)."""
    assert signature_for("key", b"The quick brown fox jumps over the lazy dog") == (
        "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")
