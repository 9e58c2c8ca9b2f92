"""1,000 forged webhook signatures per provider: none accepted; every genuine request accepted.

Forgeries are generated from a seed, so a failure names a case that can be replayed: bit
flips anywhere in the signature, the body or parameters changed, the URL changed (Twilio
signs it), the wrong secret, the wrong algorithm, a missing, empty, truncated or garbage
header. `LONG_TESTS=1` tries 20,000 per provider.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from mannerly.channels.base import WebhookRejected, WebhookRequest
from mannerly.channels.messenger.adapter import MessengerAdapter, MessengerConfig
from mannerly.channels.twilio.signature import compute_signature
from mannerly.channels.whatsapp_cloud.adapter import WhatsAppCloudAdapter, WhatsAppConfig
from tests.api.conftest import api  # noqa: F401 - a fixture, used by name
from tests.channels.twilio.helpers import ACCOUNT_SID, AUTH_TOKEN, BUSINESS_NUMBER, WEBHOOK_URL, make_adapter

CASES = 20_000 if os.environ.get("LONG_TESTS") == "1" else 1_000
SRC = Path(__file__).resolve().parents[2] / "src" / "mannerly" / "channels"
META_SECRET = "5ec7e7a5ec7e7a5ec7e7a5ec7e7a0001"
NOW = datetime(2025, 3, 4, 1, 0, tzinfo=UTC)


def flip_bit(data: bytes, chooser: random.Random) -> bytes:
    """The bytes with one random bit flipped."""
    index = chooser.randrange(len(data))
    return data[:index] + bytes([data[index] ^ (1 << chooser.randrange(8))]) + data[index + 1:]


def flip_char(text: str, chooser: random.Random) -> str:
    """The text with one character replaced by a different one of the same alphabet."""
    index = chooser.randrange(len(text))
    alphabet = "0123456789abcdef" if all(c in "0123456789abcdef" for c in text) else \
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    replacement = chooser.choice([c for c in alphabet if c != text[index]])
    return text[:index] + replacement + text[index + 1:]


# -- Twilio: HMAC-SHA1 over the URL and the sorted parameters, base64 ---------------------

TWILIO_BODY = (SRC / "twilio" / "testdata" / "inbound_sms.txt").read_bytes().rstrip(b"\n")


def twilio_request(body: bytes, signature: str | None, url: str = WEBHOOK_URL) -> WebhookRequest:
    """A Twilio webhook POST as the route hands it to the adapter."""
    headers = {"content-type": "application/x-www-form-urlencoded"}
    if signature is not None:
        headers["x-twilio-signature"] = signature
    return WebhookRequest(method="POST", url=url, headers=headers, query={}, body=body)


def twilio_forgery(chooser: random.Random) -> tuple[str, WebhookRequest]:
    """One forged Twilio request and the name of its kind."""
    pairs = parse_qsl(TWILIO_BODY.decode(), keep_blank_values=True)
    genuine = compute_signature(AUTH_TOKEN, WEBHOOK_URL, pairs)
    kind = chooser.choice(("signature bit", "signature char", "body param", "body added", "url", "secret",
                           "algorithm", "missing", "empty", "truncated", "garbage"))
    if kind == "signature bit":
        raw = base64.b64decode(genuine)
        return kind, twilio_request(TWILIO_BODY, base64.b64encode(flip_bit(raw, chooser)).decode())
    if kind == "signature char":
        return kind, twilio_request(TWILIO_BODY, flip_char(genuine.rstrip("="), chooser) + "=")
    if kind == "body param":
        index = chooser.randrange(len(pairs))
        key, value = pairs[index]
        changed = pairs[:index] + [(key, value + chooser.choice("x1 "))] + pairs[index + 1:]
        return kind, twilio_request(urlencode(changed).encode(), genuine)
    if kind == "body added":
        return kind, twilio_request(urlencode(pairs + [("Extra", str(chooser.random()))]).encode(), genuine)
    if kind == "url":
        url = chooser.choice((WEBHOOK_URL.replace("/7", "/8"), WEBHOOK_URL + "?a=1",
                              WEBHOOK_URL.replace("https", "http"), WEBHOOK_URL.replace(".com", ".net")))
        return kind, twilio_request(TWILIO_BODY, genuine, url=url)
    if kind == "secret":
        return kind, twilio_request(TWILIO_BODY, compute_signature(AUTH_TOKEN + str(chooser.randrange(10**6)),
                                                                   WEBHOOK_URL, pairs))
    if kind == "algorithm":
        signing = WEBHOOK_URL + "".join(k + v for k, v in sorted(pairs))
        digest = hmac.new(AUTH_TOKEN.encode(), signing.encode(), hashlib.sha256).digest()
        return kind, twilio_request(TWILIO_BODY, base64.b64encode(digest).decode())
    if kind == "missing":
        return kind, twilio_request(TWILIO_BODY, None)
    if kind == "empty":
        return kind, twilio_request(TWILIO_BODY, "")
    if kind == "truncated":
        return kind, twilio_request(TWILIO_BODY, genuine[:chooser.randrange(1, len(genuine) - 1)])
    return kind, twilio_request(TWILIO_BODY, base64.b64encode(chooser.randbytes(20)).decode())


# -- Meta (WhatsApp Cloud API, Messenger): sha256= HMAC-SHA256 of the raw body, hex --------


def meta_request(body: bytes, signature: str | None) -> WebhookRequest:
    """A Meta webhook POST as the route hands it to the adapter."""
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["x-hub-signature-256"] = signature
    return WebhookRequest(method="POST", url="https://mannerly.example.com/webhooks/3", headers=headers, query={},
                          body=body)


def meta_signature(body: bytes, secret: str = META_SECRET) -> str:
    """What Meta sends for this body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def meta_forgery(body: bytes, chooser: random.Random) -> tuple[str, WebhookRequest]:
    """One forged Meta request and the name of its kind."""
    genuine = meta_signature(body)
    kind = chooser.choice(("signature bit", "body bit", "body appended", "secret", "sha1", "no prefix",
                           "other prefix", "missing", "empty", "truncated", "garbage"))
    if kind == "signature bit":
        raw = bytes.fromhex(genuine.removeprefix("sha256="))
        return kind, meta_request(body, "sha256=" + flip_bit(raw, chooser).hex())
    if kind == "body bit":
        return kind, meta_request(flip_bit(body, chooser), genuine)
    if kind == "body appended":
        return kind, meta_request(body + chooser.choice((b" ", b"\n", b"{}", b"\x00")), genuine)
    if kind == "secret":
        return kind, meta_request(body, meta_signature(body, META_SECRET + str(chooser.randrange(10**6))))
    if kind == "sha1":
        return kind, meta_request(body, "sha1=" + hmac.new(META_SECRET.encode(), body, hashlib.sha1).hexdigest())
    if kind == "no prefix":
        return kind, meta_request(body, genuine.removeprefix("sha256="))
    if kind == "other prefix":
        return kind, meta_request(body, "sha512=" + genuine.removeprefix("sha256="))
    if kind == "missing":
        return kind, meta_request(body, None)
    if kind == "empty":
        return kind, meta_request(body, chooser.choice(("", "sha256=", " ")))
    if kind == "truncated":
        return kind, meta_request(body, genuine[:chooser.randrange(1, len(genuine) - 1)])
    return kind, meta_request(body, "sha256=" + chooser.randbytes(32).hex())


def whatsapp_adapter() -> WhatsAppCloudAdapter:
    """A WhatsApp Cloud API adapter with the test app secret."""
    config = WhatsAppConfig(phone_number_id="106540352242922", access_token="EAAtoken", app_secret=META_SECRET,
                            verify_token="verify-me")
    return WhatsAppCloudAdapter(config, http=httpx.Client(), clock=lambda: NOW)


def messenger_adapter() -> MessengerAdapter:
    """A Messenger adapter with the test app secret."""
    config = MessengerConfig(page_id="104857329218734", page_access_token="EAAGtoken", app_secret=META_SECRET,
                             verify_token="verify-me")
    return MessengerAdapter(config, http=httpx.Client(), clock=lambda: NOW)


PROVIDERS = {
    "twilio": (make_adapter, lambda: [("genuine", twilio_request(
        TWILIO_BODY, compute_signature(AUTH_TOKEN, WEBHOOK_URL, parse_qsl(TWILIO_BODY.decode(), keep_blank_values=True))))],
        lambda chooser: twilio_forgery(chooser)),
    "whatsapp_cloud": (whatsapp_adapter, lambda: [
        (name, meta_request(body, meta_signature(body))) for name, body in (
            (path.name, path.read_bytes()) for path in sorted((SRC / "whatsapp_cloud" / "testdata").glob("inbound_*.json")))],
        lambda chooser: meta_forgery((SRC / "whatsapp_cloud" / "testdata" / "inbound_text.json").read_bytes(), chooser)),
    "messenger": (messenger_adapter, lambda: [
        (name, meta_request(body, meta_signature(body))) for name, body in (
            (path.name, path.read_bytes()) for path in sorted((SRC / "messenger" / "testdata").glob("message_*.json")))],
        lambda chooser: meta_forgery((SRC / "messenger" / "testdata" / "message_text.json").read_bytes(), chooser)),
}


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_every_forged_signature_is_refused_and_every_genuine_one_accepted(provider):
    build, genuine_requests, forge = PROVIDERS[provider]
    adapter = build()
    genuine = genuine_requests()
    for name, request in genuine:
        adapter.handle_webhook(request)  # raises on refusal
    chooser = random.Random(f"forged-{provider}")
    accepted: list[str] = []
    kinds: Counter = Counter()
    for _ in range(CASES):
        kind, request = forge(chooser)
        kinds[kind] += 1
        try:
            adapter.handle_webhook(request)
        except WebhookRejected as refusal:
            assert refusal.status in (400, 403), (kind, refusal.status)
        else:
            accepted.append(kind)
    assert accepted == [], f"{provider}: forged requests accepted: {Counter(accepted)}"
    assert len(kinds) >= 10  # every kind of forgery was tried
    print(f"\n{provider}: {CASES} forged ({dict(kinds)}) refused; {len(genuine)} genuine accepted")


ROUTE_CASES = 1_000 if os.environ.get("LONG_TESTS") == "1" else 150
ROUTE_CHANNELS = {
    "twilio": ("sms", {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": BUSINESS_NUMBER}),
    "whatsapp_cloud": ("whatsapp", {"phone_number_id": "106540352242922", "access_token": "EAAtoken",
                                    "app_secret": META_SECRET, "verify_token": "verify-me"}),
    "messenger": ("messenger", {"page_id": "104857329218734", "page_access_token": "EAAGtoken",
                                "app_secret": META_SECRET, "verify_token": "verify-me"}),
}


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_forged_webhooks_through_the_route_store_nothing(api, monkeypatch, provider):
    """The same seeded forgeries POSTed to the real /webhooks route: each refused, and not one message, contact
    or logged exchange is stored; the genuine requests sent the same way are accepted."""
    from sqlalchemy import func, select

    from mannerly.models import Channel, Contact, Message, ProviderExchange

    # Twilio signs the public URL: serve the route under the URL the forgeries were made for (channel 7).
    monkeypatch.setattr(api.runtime, "settings",
                        api.runtime.settings.model_copy(update={"public_base_url": "https://mannerly.example.com"}))
    kind, config = ROUTE_CHANNELS[provider]
    with api.runtime.session() as session:
        session.add(Channel(id=7, workspace_id=api.workspace_id, kind=kind, provider=provider, name=provider,
                            config=config, rate_limit_per_second=0))
        session.commit()
    chooser = random.Random(f"forged-route-{provider}")
    answers: Counter = Counter()
    for _ in range(ROUTE_CASES):
        _kind, request = PROVIDERS[provider][2](chooser)
        answers[api.client.post("/webhooks/7", content=request.body, headers=dict(request.headers)).status_code] += 1
    # 403, or 400 for a Twilio body that is not a form (its signature cannot even be computed).
    assert set(answers) <= {400, 403} and answers[403] > 0 and sum(answers.values()) == ROUTE_CASES, answers
    with api.runtime.session() as session:
        stored = [session.scalar(select(func.count()).select_from(model)) for model in (Message, ProviderExchange)]
        contacts = session.scalar(select(func.count()).select_from(Contact))
    assert stored == [0, 0] and contacts == 0
    # The control: the genuine requests, sent the same way, pass the signature check (Twilio's recorded sample
    # is then refused for its fictional 555 number, after verification: a 400, not a 403).
    for _name, request in PROVIDERS[provider][1]():
        response = api.client.post("/webhooks/7", content=request.body, headers=dict(request.headers))
        assert response.status_code == (400 if provider == "twilio" else 200), response.text
