"""The channels API (/v1/channels): create per provider, secrets never echoed, validation, isolation, profile."""

from __future__ import annotations

import json

import pytest

from mannerly.api import channels
from mannerly.models import Channel
from tests.api.conftest import make_workspace


@pytest.fixture
def capi(api):
    """The API client with the channels router mounted (once, whether or not app.py already includes it)."""
    app = api.client.app
    if not any(getattr(route, "path", None) == "/v1/channels" for route in app.routes):
        app.include_router(channels.router)
    return api


# provider, kind, sender_id, config (secret values are the strings that must never come back)
PROVIDERS = [
    ("simulator", "sms", "ACME", {}, []),
    ("smpp", "sms", "ACME", {"host": "127.0.0.1", "port": 2775, "system_id": "acme", "password": "smpp-pw-5521",
                             "system_type": ""}, ["smpp-pw-5521"]),
    ("twilio", "sms", "+15005550006", {"account_sid": "AC0123456789abcdef0123456789abcdef",
                                       "auth_token": "twilio-auth-token-77"}, ["twilio-auth-token-77"]),
    ("twilio", "whatsapp", None, {"account_sid": "AC0123456789abcdef0123456789abcdef",
                                  "api_key_sid": "SK0123", "api_key_secret": "twilio-key-secret-88",
                                  "messaging_service_sid": "MG0123"}, ["twilio-key-secret-88"]),
    ("whatsapp_cloud", "whatsapp", "106540352242922", {"access_token": "EAAwhatsapp-token-99",
                                                       "app_secret": "wa-app-secret-11",
                                                       "verify_token": "wa-verify-22"},
     ["EAAwhatsapp-token-99", "wa-app-secret-11", "wa-verify-22"]),
    ("messenger", "messenger", None, {"page_id": "104857329218734", "page_access_token": "EAAmessenger-token-33",
                                      "app_secret": "fb-app-secret-44", "verify_token": "fb-verify-55",
                                      "api_version": "v25.0"},
     ["EAAmessenger-token-33", "fb-app-secret-44", "fb-verify-55"]),
]


@pytest.mark.parametrize(("provider", "kind", "sender_id", "config", "secrets"), PROVIDERS,
                         ids=[f"{case[0]}-{case[1]}" for case in PROVIDERS])
def test_create_each_provider_and_never_echo_secrets(capi, provider, kind, sender_id, config, secrets):
    """A channel of each provider is created and stored as given; no response ever contains a secret."""
    body = {"kind": kind, "provider": provider, "name": f"{provider} {kind}", "sender_id": sender_id,
            "config": config, "countries": ["kr", "ID"], "rate_limit_per_second": 5,
            "profile": {"name": "Acme", "description": "Homewares from Seoul"}}
    created = capi.post("/v1/channels", json=body)
    assert created.status_code == 201, created.text
    channel = created.json()
    assert (channel["kind"], channel["provider"], channel["countries"]) == (kind, provider, ["ID", "KR"])
    assert channel["webhook_url"] == f"/webhooks/{channel['id']}"
    assert set(channel["config"]) == set(config)  # every key is shown...
    for key, value in config.items():
        if any(secret == value for secret in secrets):
            assert channel["config"][key] == "[redacted]"  # ...secret values are not
        else:
            assert channel["config"][key] == value
    listed = capi.get("/v1/channels")
    fetched = capi.get(f"/v1/channels/{channel['id']}")
    patched = capi.patch(f"/v1/channels/{channel['id']}", json={"name": "renamed"})
    for response in (created, listed, fetched, patched):
        assert response.status_code in (200, 201)
        for secret in secrets:
            assert secret not in response.text
    with capi.runtime.session() as session:
        assert session.get(Channel, channel["id"]).config == config  # stored in full


INVALID = [
    ({"kind": "fax"}, "kind"),
    ({"provider": "carrier-pigeon"}, "provider"),
    ({"kind": "sms", "provider": "messenger"}, "provider"),
    ({"kind": "whatsapp", "provider": "smpp", "config": {"host": "h", "port": 1, "system_id": "s"}}, "provider"),
    ({"config": {"page_id": "1", "app_secret": "s", "verify_token": "v"}}, "config"),  # no page token
    ({"config": {"page_access_token": "t", "app_secret": "s", "verify_token": "v"}}, "config"),  # no Page id
    ({"countries": ["Korea"]}, "countries"),
    ({"rate_limit_per_second": -1}, "rate_limit_per_second"),
    ({"unknown": True}, "unknown"),
    ({"config": {"page_id": "1", "page_access_token": "[redacted]", "app_secret": "s", "verify_token": "v"}},
     "config"),
]
VALID_MESSENGER = {"kind": "messenger", "provider": "messenger", "name": "Page",
                   "config": {"page_id": "1", "page_access_token": "t", "app_secret": "s", "verify_token": "v"}}


def test_invalid_channels_are_422_with_the_field(capi):
    """Bad kind, provider, kind/provider pair, missing credentials or countries: 422 naming the field."""
    for changes, field in INVALID:  # one app for the whole table keeps the test fast
        response = capi.post("/v1/channels", json={**VALID_MESSENGER, **changes})
        assert response.status_code == 422, (changes, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in {error["field"] for error in response.json().get("errors", [])}, (changes, response.text)
    assert capi.get("/v1/channels").json()[1:] == []  # nothing was stored


def test_sender_id_can_stand_in_for_the_page_id(capi):
    """A Messenger channel may give its Page id as sender_id instead of config.page_id."""
    config = {"page_access_token": "t", "app_secret": "s", "verify_token": "v"}
    response = capi.post("/v1/channels", json={**VALID_MESSENGER, "sender_id": "104857329218734", "config": config})
    assert response.status_code == 201


def test_other_workspaces_channels_are_404(capi):
    """A channel of another workspace is invisible: GET and PATCH answer 404, lists leave it out."""
    other_id, other_key = make_workspace(capi.runtime, "Other shop")
    other = capi.client.post("/v1/channels", json=VALID_MESSENGER, headers={"Authorization": f"Bearer {other_key}"})
    assert other.status_code == 201
    channel_id = other.json()["id"]
    assert capi.get(f"/v1/channels/{channel_id}").status_code == 404
    assert capi.patch(f"/v1/channels/{channel_id}", json={"name": "mine now"}).status_code == 404
    assert channel_id not in [channel["id"] for channel in capi.get("/v1/channels").json()]
    assert capi.get("/v1/channels/999999").status_code == 404
    assert capi.client.get("/v1/channels").status_code == 401


def test_patch_merges_config_and_keeps_secrets(capi):
    """PATCH changes only the named config keys; null removes a key; a required key cannot be removed."""
    channel_id = capi.post("/v1/channels", json=VALID_MESSENGER).json()["id"]
    response = capi.patch(f"/v1/channels/{channel_id}", json={"config": {"api_version": "v26.0",
                                                                         "page_access_token": "new-token-66"},
                                                              "enabled": False, "rate_limit_per_second": 1})
    assert response.status_code == 200, response.text
    assert response.json()["config"]["api_version"] == "v26.0"
    assert response.json()["enabled"] is False and "new-token-66" not in response.text
    with capi.runtime.session() as session:
        stored = session.get(Channel, channel_id).config
    assert stored == {"page_id": "1", "page_access_token": "new-token-66", "app_secret": "s", "verify_token": "v",
                      "api_version": "v26.0"}
    removed = capi.patch(f"/v1/channels/{channel_id}", json={"config": {"app_secret": None}})
    assert removed.status_code == 422 and "app_secret" in removed.text
    echoed = capi.patch(f"/v1/channels/{channel_id}", json={"config": {"app_secret": "[redacted]"}})
    assert echoed.status_code == 422
    assert capi.patch(f"/v1/channels/{channel_id}", json={"kind": "sms"}).status_code == 422
    assert capi.patch(f"/v1/channels/{channel_id}", json={"name": None}).status_code == 422


PROFILES = [
    ({"name": "아크미 홈", "description": "Perabot rumah dari Seoul", "logo_url": "https://cdn.acme.example/logo.png"},
     201),
    ({"name": "Acme"}, 201),
    ({}, 201),
    ({"name": ""}, 422),
    ({"name": "x" * 101}, 422),
    ({"description": "y" * 513}, 422),
    ({"logo_url": "http://acme.example/logo.png"}, 422),
    ({"logo_url": "javascript:alert(1)"}, 422),
    ({"logo_url": "https://"}, 422),
    ({"tagline": "Best prices"}, 422),
]


def test_profile_is_validated_on_create(capi):
    """Name 1–100 characters, description up to 512, https logo URL, nothing else."""
    for profile, status in PROFILES:
        response = capi.post("/v1/channels", json={**VALID_MESSENGER, "profile": profile})
        assert response.status_code == status, (profile, response.text)
        if status == 201:
            assert response.json()["profile"] == profile


def test_profile_patch_merges_and_validates(capi):
    """PATCH profile keys one at a time; null clears one; an invalid result is refused and nothing changes."""
    channel_id = capi.post("/v1/channels", json={**VALID_MESSENGER, "profile": {"name": "Acme"}}).json()["id"]
    response = capi.patch(f"/v1/channels/{channel_id}",
                          json={"profile": {"description": "Γλυκά από την Αθήνα",
                                            "logo_url": "https://a.example/l.svg"}})
    assert response.json()["profile"] == {"name": "Acme", "description": "Γλυκά από την Αθήνα",
                                          "logo_url": "https://a.example/l.svg"}
    response = capi.patch(f"/v1/channels/{channel_id}", json={"profile": {"logo_url": None}})
    assert response.json()["profile"] == {"name": "Acme", "description": "Γλυκά από την Αθήνα"}
    bad = capi.patch(f"/v1/channels/{channel_id}", json={"profile": {"logo_url": "ftp://a.example/l.png"}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "profile.logo_url"
    assert "logo_url" not in capi.get(f"/v1/channels/{channel_id}").json()["profile"]


def test_webhook_url_uses_the_public_base_url(capi):
    """With MANNERLY_PUBLIC_BASE_URL set, the channel shows the full URL to register at the provider."""
    public = {"public_base_url": "https://mannerly.acme.example"}
    capi.runtime.settings = capi.runtime.settings.model_copy(update=public)
    channel = capi.post("/v1/channels", json=VALID_MESSENGER).json()
    assert channel["webhook_url"] == f"https://mannerly.acme.example/webhooks/{channel['id']}"


def test_the_workspace_simulator_channel_is_listed(capi):
    """The channel a new workspace starts with shows up, with its empty config."""
    listed = capi.get("/v1/channels").json()
    assert [(row["provider"], row["kind"]) for row in listed] == [("simulator", "sms")]
    assert json.dumps(listed[0]["config"]) == "{}"
