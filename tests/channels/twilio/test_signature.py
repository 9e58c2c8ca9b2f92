"""X-Twilio-Signature: Twilio's documented example, port spellings, and forged requests refused with 403."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest

from mannerly.channels.base import WebhookRejected
from mannerly.channels.twilio.signature import (
    compute_signature,
    signature_matches,
    signing_string,
    url_spellings,
)
from tests.channels.twilio.conftest import read_testdata
from tests.channels.twilio.helpers import AUTH_TOKEN, WEBHOOK_URL, make_adapter, signed_request

# The worked example in Twilio's webhook security documentation.
DOC_TOKEN = "12345"
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_documented_example_signature():
    """Our computation gives the signature printed in Twilio's documentation."""
    assert signing_string(DOC_URL, DOC_PARAMS) == (
        "https://mycompany.com/myapp.php?foo=1&bar=2"
        "CallSidCA1234567890ABCDECaller+12349013030Digits1234From+12349013030To+18005551212"
    )
    assert compute_signature(DOC_TOKEN, DOC_URL, DOC_PARAMS) == DOC_SIGNATURE
    assert signature_matches(DOC_TOKEN, DOC_URL, DOC_PARAMS, DOC_SIGNATURE)


def test_parameter_order_does_not_matter():
    """Parameters arrive in any order; they are signed sorted by name (the documented example, reversed)."""
    reversed_params = dict(reversed(list(DOC_PARAMS.items())))
    assert list(reversed_params)[0] == "To"
    assert compute_signature(DOC_TOKEN, DOC_URL, reversed_params) == DOC_SIGNATURE
    assert compute_signature(DOC_TOKEN, DOC_URL, list(reversed_params.items())) == DOC_SIGNATURE


def test_recorded_webhook_signature_is_independent_of_body_order():
    """A fixed vector over the recorded inbound SMS, whose body is not in sorted order."""
    body = read_testdata("inbound_sms.txt").decode()
    assert not body.startswith("AccountSid")  # Twilio's order, not ours
    assert compute_signature("12345", "https://mycompany.com/webhooks/7", parse_qsl(body, keep_blank_values=True)) == (
        "tgOkLxA0G4AgcfXN+0xnj7qO17g=")


@pytest.mark.parametrize(
    ("signed_url", "checked_url", "matches"),
    [
        ("https://mycompany.com/myapp.php?foo=1&bar=2", "https://mycompany.com:443/myapp.php?foo=1&bar=2", True),
        ("https://mycompany.com:443/myapp.php?foo=1&bar=2", "https://mycompany.com/myapp.php?foo=1&bar=2", True),
        ("http://mycompany.com/myapp.php", "http://mycompany.com:80/myapp.php", True),
        ("https://mycompany.com:8443/myapp.php", "https://mycompany.com/myapp.php", False),
        ("https://mycompany.com/myapp.php", "https://mycompany.com:8443/myapp.php", False),
        ("https://mycompany.com/myapp.php", "https://mycompany.com:80/myapp.php", False),
        ("https://mycompany.com/myapp.php", "http://mycompany.com/myapp.php", False),
    ],
)
def test_default_port_spellings(signed_url, checked_url, matches):
    """With or without the scheme's default port is the same URL; anything else is not."""
    signature = compute_signature(DOC_TOKEN, signed_url, DOC_PARAMS)
    assert signature_matches(DOC_TOKEN, checked_url, DOC_PARAMS, signature) is matches


def test_url_spellings_lists_at_most_two():
    """The URL itself first, then the other default-port spelling."""
    assert url_spellings("https://a.example/x?y=1") == ["https://a.example/x?y=1", "https://a.example:443/x?y=1"]
    assert url_spellings("https://a.example:8443/x") == ["https://a.example:8443/x"]


GENUINE = read_testdata("inbound_sms.txt")


def _changed(pairs_change) -> bytes:
    """The genuine inbound body with its parameters edited."""
    from urllib.parse import parse_qsl

    pairs = parse_qsl(GENUINE.decode(), keep_blank_values=True)
    return urlencode(pairs_change(pairs)).encode()


SIGNED_GENUINE = signed_request(GENUINE).headers["x-twilio-signature"]

# (case, request) — every one must be refused with 403.
FORGED = [
    ("other path", signed_request(GENUINE, url=WEBHOOK_URL.replace("/7", "/8"), signature=SIGNED_GENUINE)),
    ("other host", signed_request(GENUINE, url=WEBHOOK_URL.replace("mannerly.example.com", "evil.example"),
                                  signature=SIGNED_GENUINE)),
    ("query added", signed_request(GENUINE, url=WEBHOOK_URL + "?x=1", signature=SIGNED_GENUINE)),
    ("http instead of https", signed_request(GENUINE, url=WEBHOOK_URL.replace("https", "http"),
                                             signature=SIGNED_GENUINE)),
    ("body changed", signed_request(_changed(lambda p: [(k, "STOP" if k == "Body" else v) for k, v in p]),
                                    signature=SIGNED_GENUINE)),
    ("parameter added", signed_request(_changed(lambda p: p + [("Extra", "1")]), signature=SIGNED_GENUINE)),
    ("parameter removed", signed_request(_changed(lambda p: [(k, v) for k, v in p if k != "FromCity"]),
                                         signature=SIGNED_GENUINE)),
    ("parameter renamed", signed_request(_changed(lambda p: [("X" + k if k == "ToZip" else k, v) for k, v in p]),
                                         signature=SIGNED_GENUINE)),
    ("wrong token", signed_request(GENUINE, token="not-the-auth-token")),
    ("signed without parameters", signed_request(GENUINE, signature=compute_signature(AUTH_TOKEN, WEBHOOK_URL))),
    ("missing header", signed_request(GENUINE, signature="")),
    ("garbage header", signed_request(GENUINE, signature="bm90IGEgc2lnbmF0dXJl")),
    ("other account", signed_request(_changed(
        lambda p: [(k, "AC" + "0" * 32 if k == "AccountSid" else v) for k, v in p]))),
]


@pytest.mark.parametrize(("case", "request_"), FORGED, ids=[case for case, _ in FORGED])
def test_forged_webhooks_are_refused_with_403(case, request_):
    """A request that is not exactly what Twilio signed with this channel's token is refused."""
    with pytest.raises(WebhookRejected) as refused:
        make_adapter().handle_webhook(request_)
    assert refused.value.status == 403, case


def test_genuine_webhook_is_accepted():
    """The same body signed over the exact URL with the channel's token is parsed."""
    result = make_adapter().handle_webhook(signed_request(GENUINE))
    assert len(result.events) == 1 and result.events[0].text == "Is my order ready for pickup?"


def test_genuine_webhook_signed_with_default_port_is_accepted():
    """Twilio sometimes signs the URL with ":443"; the request URL without it still verifies."""
    request = signed_request(GENUINE, sign_url=WEBHOOK_URL.replace(".com/", ".com:443/"))
    assert len(make_adapter().handle_webhook(request).events) == 1


def test_channel_without_auth_token_refuses_every_webhook():
    """An API-key-only channel cannot check signatures: nothing is trusted."""
    adapter = make_adapter(auth_token=None, api_key_sid="SK" + "1" * 32, api_key_secret="secret")
    with pytest.raises(WebhookRejected) as refused:
        adapter.handle_webhook(signed_request(GENUINE))
    assert refused.value.status == 403


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("not a form", b"{\"MessageSid\": \"SM1\"}"),
        ("not UTF-8", b"Body=\xff\xfe&MessageSid=SM1"),
        ("no MessageSid", b"From=%2B15558675310&Body=hi"),
        ("neither status nor message", b"MessageSid=SM1&AccountSid=AC" + b"1b7c6e4a9f3d2c8b5a0e7f6d4c3b2a19"),
        ("NumMedia not a number", b"MessageSid=SM1&From=%2B15558675310&Body=hi&NumMedia=two"),
    ],
)
def test_malformed_bodies_are_refused_with_400(case, body):
    """A payload that is not a Twilio form (signed or not, when parseable) is a 400 with a reason."""
    with pytest.raises(WebhookRejected) as refused:
        make_adapter().handle_webhook(signed_request(body, signature="x" if case in ("not a form", "not UTF-8")
                                                     else None))
    assert refused.value.status == 400, case
    assert refused.value.reason
