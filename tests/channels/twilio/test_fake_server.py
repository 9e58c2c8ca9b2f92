"""The fake Twilio itself: documented refusals, and automatic signed callbacks (what bench relies on)."""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qsl

import httpx
import pytest

from mannerly.channels.twilio.fake_server import FakeTwilio
from mannerly.channels.twilio.signature import signature_matches

CALLBACK_URL = "https://mannerly.example.com/webhooks/5"


def create(fake: FakeTwilio, form: dict, auth: tuple[str, str] | None = None) -> httpx.Response:
    """POST a create-Message request straight to the fake."""
    return httpx.post(f"{fake.base_url}/2010-04-01/Accounts/{fake.account_sid}/Messages.json", data=form,
                      auth=auth or (fake.account_sid, fake.auth_token))


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"From": "+15017122661", "Body": "hi"}, 400, 21604),
        ({"To": "+15558675310", "Body": "hi"}, 400, 21603),
        ({"To": "+15558675310", "From": "+15017122661"}, 400, 21602),
        ({"To": "5558675310", "From": "+15017122661", "Body": "hi"}, 400, 21211),
        ({"To": "+15558675310", "From": "+15017122661", "Body": "x" * 1601}, 400, 21617),
    ],
)
def test_documented_refusals(fake_twilio, form, status, code):
    """Missing or invalid fields get Twilio's error body and create nothing."""
    response = create(fake_twilio, form)
    assert response.status_code == status
    body = response.json()
    assert (body["code"], body["status"]) == (code, status)
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert fake_twilio.handoffs == []


def test_bad_credentials_and_unknown_sid(fake_twilio):
    """Wrong password → 401 / 20003; fetching a sid that does not exist → 404 / 20404."""
    response = create(fake_twilio, {"To": "+15558675310", "From": "+15017122661", "Body": "hi"},
                      auth=(fake_twilio.account_sid, "nope"))
    assert (response.status_code, response.json()["code"]) == (401, 20003)
    missing = httpx.get(f"{fake_twilio.base_url}/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages/SM0.json",
                        auth=(fake_twilio.account_sid, fake_twilio.auth_token))
    assert (missing.status_code, missing.json()["code"]) == (404, 20404)


def test_auto_callbacks_are_signed_and_in_order():
    """With auto_callbacks, each accepted message's StatusCallback gets every status, signed like Twilio."""
    received: list[tuple[str, dict, str]] = []
    done = threading.Event()

    def receiver(request: httpx.Request) -> httpx.Response:
        """The application's webhook: record what arrives."""
        form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        received.append((str(request.url), form, request.headers["x-twilio-signature"]))
        if len(received) == 2:
            done.set()
        return httpx.Response(200)

    client = httpx.Client(transport=httpx.MockTransport(receiver))
    with FakeTwilio(auto_callbacks=("sent", "delivered"), callback_client=client) as fake:
        response = create(fake, {"To": "+15558675310", "From": "+15017122661", "Body": "hi",
                                 "StatusCallback": CALLBACK_URL})
        assert response.status_code == 201
        assert done.wait(5)
        time.sleep(0.05)
    sid = response.json()["sid"]
    assert [form["MessageStatus"] for _, form, _ in received] == ["sent", "delivered"]
    for url, form, signature in received:
        assert url == CALLBACK_URL and form["MessageSid"] == sid
        assert signature_matches(fake.auth_token, url, form, signature)
    assert "RawDlrDoneDate" in received[1][1]
