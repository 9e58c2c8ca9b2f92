"""Channels of the workspace and their public business profile (C10): /v1/channels.

A channel is one sender on one provider. Its `config` holds credentials: responses show
every key that is set, but the values of secret keys (tokens, secrets, passwords) are
replaced by "[redacted]", and a PATCH changes only the keys it names, so a secret never
has to be sent back. The `profile` (name, description, logo_url) is what the business
shows customers about itself on this channel.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select

from mannerly.api.deps import NowDep, RuntimeDep, SessionDep, WorkspaceDep
from mannerly.channels.smpp.adapter import connector_of
from mannerly.errors import FieldError, ProblemError, invalid, not_found
from mannerly.models import Channel
from mannerly.models.channel import CHANNEL_PROVIDERS
from mannerly.policy.types import CHANNEL_KINDS

router = APIRouter(prefix="/v1/channels", tags=["channels"])

REDACTED = "[redacted]"
# Config keys whose names contain one of these words hold credentials.
SECRET_WORDS = ("token", "secret", "password", "passwd", "credential", "private")
# Keys that contain such a word but hold no secret.
NOT_SECRET_KEYS = frozenset({"access_token_in"})

# Which channel kinds each provider can carry.
PROVIDER_KINDS: dict[str, frozenset[str]] = {
    "simulator": frozenset(CHANNEL_KINDS),
    "smpp": frozenset({"sms"}),
    "twilio": frozenset({"sms", "whatsapp"}),
    "whatsapp_cloud": frozenset({"whatsapp"}),
    "messenger": frozenset({"messenger"}),
}
# What a provider's config must hold. "a|b" means a or b; "a+b" means a and b together;
# "sender_id" is the channel's own sender_id field.
REQUIRED_CONFIG: dict[str, tuple[str, ...]] = {
    "simulator": (),
    "smpp": ("host", "port", "system_id"),
    "twilio": ("account_sid", "auth_token|api_key_sid+api_key_secret", "from_number|messaging_service_sid|sender_id"),
    "whatsapp_cloud": ("phone_number_id|sender_id", "access_token", "app_secret", "verify_token"),
    "messenger": ("page_id|sender_id", "page_access_token", "app_secret", "verify_token"),
}
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class Profile(BaseModel):
    """The business as customers see it on one channel."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, min_length=1, max_length=100, description="Business name shown to customers")
    description: str | None = Field(None, max_length=512, description="One or two sentences about the business")
    logo_url: str | None = Field(None, max_length=2048, description="An https:// URL of a square logo image")

    @field_validator("logo_url")
    @classmethod
    def _https_logo(cls, value: str | None) -> str | None:
        """Logos are fetched by customers' phones: only https URLs with a host."""
        if value is not None and not re.match(r"^https://[^\s/?#]+\.[^\s/?#]+(/[^\s]*)?$", value):
            raise ValueError("logo_url must be an https:// URL")
        return value


class ChannelIn(BaseModel):
    """A new channel."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="sms, whatsapp or messenger")
    provider: str = Field(description="simulator, smpp, twilio, whatsapp_cloud or messenger")
    name: str = Field(min_length=1, max_length=200)
    sender_id: str | None = Field(None, max_length=64,
                                  description="Phone number, sender name, phone number id or Page id")
    config: dict[str, Any] = Field(default_factory=dict, description="Provider settings and credentials")
    profile: Profile = Field(default_factory=Profile)
    rate_limit_per_second: float = Field(10.0, ge=0, le=10_000, description="0 means no limit")
    countries: list[str] = Field(default_factory=list, description="ISO 3166-1 alpha-2 codes; empty means any")
    enabled: bool = True


class ChannelPatch(BaseModel):
    """Changes to a channel. `config` and `profile` are merged key by key; a null value removes a key."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    sender_id: str | None = Field(None, max_length=64)
    config: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    rate_limit_per_second: float | None = Field(None, ge=0, le=10_000)
    countries: list[str] | None = None
    enabled: bool | None = None


class ChannelOut(BaseModel):
    """A channel with its secrets redacted."""

    id: int
    kind: str
    provider: str
    name: str
    sender_id: str | None
    config: dict[str, Any] = Field(description='Every key that is set; secret values read "[redacted]"')
    profile: dict[str, Any]
    rate_limit_per_second: float
    countries: list[str]
    enabled: bool
    webhook_url: str = Field(description="Where the provider must send webhooks for this channel")
    created_at: datetime | None


# -- pure helpers -----------------------------------------------------------------------------


def is_secret_key(name: str) -> bool:
    """True when a config key holds a credential."""
    lowered = name.lower()
    return lowered not in NOT_SECRET_KEYS and any(word in lowered for word in SECRET_WORDS)


def redacted_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config as the API shows it: secret values replaced, everything else as stored."""
    return {key: (REDACTED if is_secret_key(key) and value not in (None, "") else value)
            for key, value in sorted(config.items())}


def missing_config(provider: str, config: dict[str, Any], sender_id: str | None) -> list[str]:
    """The requirements of REQUIRED_CONFIG this config does not meet, as written there."""
    present = {key for key, value in config.items() if value not in (None, "")}
    if sender_id:
        present.add("sender_id")
    missing = []
    for requirement in REQUIRED_CONFIG.get(provider, ()):
        alternatives = [set(option.split("+")) for option in requirement.split("|")]
        if not any(option <= present for option in alternatives):
            missing.append(requirement.replace("|", " or ").replace("+", " and "))
    return missing


def merged(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`current` with `changes` applied; a None value removes the key."""
    result = dict(current)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def validate_channel(kind: str, provider: str, config: dict[str, Any], sender_id: str | None,
                     countries: list[str]) -> list[str]:
    """Normalized countries for a channel's settings; raises a 422 naming every problem."""
    errors: list[FieldError] = []
    if kind not in CHANNEL_KINDS:
        errors.append(FieldError("kind", f"must be one of {', '.join(CHANNEL_KINDS)}"))
    if provider not in CHANNEL_PROVIDERS:
        errors.append(FieldError("provider", f"must be one of {', '.join(CHANNEL_PROVIDERS)}"))
    elif kind in CHANNEL_KINDS and kind not in PROVIDER_KINDS.get(provider, frozenset()):
        errors.append(FieldError("provider", f"{provider} cannot carry {kind} messages"))
    if provider in CHANNEL_PROVIDERS:
        bad_keys = [key for key in config if not isinstance(key, str) or not key]
        if bad_keys:
            errors.append(FieldError("config", "keys must be non-empty strings"))
        for requirement in missing_config(provider, config, sender_id):
            errors.append(FieldError("config", f"{provider} needs {requirement}"))
        if provider == "smpp":
            try:
                connector_of(config)
            except ValueError as error:
                errors.append(FieldError("config", f"smpp {error}"))
    normalized = [str(code).strip().upper() for code in countries]
    for code in normalized:
        if not _COUNTRY.match(code):
            errors.append(FieldError("countries", f"{code!r} is not an ISO 3166-1 alpha-2 code"))
    if errors:
        raise ProblemError(422, "Invalid channel", "; ".join(f"{e.field}: {e.message}" for e in errors), errors)
    return sorted(set(normalized))


def validated_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """The profile checked against Profile, without empty fields; raises a 422."""
    try:
        checked = Profile.model_validate(profile)
    except ValidationError as error:
        errors = [FieldError("profile." + ".".join(str(part) for part in item["loc"]), item["msg"])
                  for item in error.errors()]
        raise ProblemError(422, "Invalid profile", "; ".join(f"{e.field}: {e.message}" for e in errors),
                           errors) from error
    return checked.model_dump(exclude_none=True)


def channel_out(channel: Channel, public_base_url: str | None) -> ChannelOut:
    """The API form of a channel row (secrets redacted)."""
    path = f"/webhooks/{channel.id}"
    return ChannelOut(
        id=channel.id, kind=channel.kind, provider=channel.provider, name=channel.name,
        sender_id=channel.sender_id, config=redacted_config(dict(channel.config or {})),
        profile=dict(channel.profile or {}), rate_limit_per_second=channel.rate_limit_per_second,
        countries=list(channel.countries or []), enabled=channel.enabled,
        webhook_url=f"{public_base_url.rstrip('/')}{path}" if public_base_url else path,
        created_at=channel.created_at,
    )


def refuse_redacted_values(config: dict[str, Any]) -> None:
    """A 422 when a client echoes "[redacted]" back as if it were a credential."""
    echoed = sorted(key for key, value in config.items() if value == REDACTED)
    if echoed:
        raise invalid("config", f'{", ".join(echoed)}: send the real value or leave the key out; '
                                f'"{REDACTED}" is not a value')


def find_channel(session, workspace_id: int, channel_id: int) -> Channel:
    """A channel of this workspace, or a 404 (another workspace's channel does not exist for the caller)."""
    channel = session.get(Channel, channel_id)
    if channel is None or channel.workspace_id != workspace_id:
        raise not_found("channel", channel_id)
    return channel


# -- routes -----------------------------------------------------------------------------------


@router.get("", response_model=list[ChannelOut], summary="List channels")
def list_channels(session: SessionDep, workspace: WorkspaceDep, runtime: RuntimeDep) -> list[ChannelOut]:
    """Every channel of the workspace, secrets redacted."""
    rows = session.scalars(select(Channel).where(Channel.workspace_id == workspace.id).order_by(Channel.id))
    return [channel_out(row, runtime.settings.public_base_url) for row in rows]


@router.post("", status_code=201, response_model=ChannelOut, summary="Create a channel")
def post_channel(body: ChannelIn, session: SessionDep, workspace: WorkspaceDep, runtime: RuntimeDep,
                 now: NowDep) -> ChannelOut:
    """A new channel; kind and provider must fit together and the provider's required config must be there."""
    refuse_redacted_values(body.config)
    countries = validate_channel(body.kind, body.provider, body.config, body.sender_id, body.countries)
    channel = Channel(
        workspace_id=workspace.id, kind=body.kind, provider=body.provider, name=body.name.strip(),
        sender_id=body.sender_id, config=dict(body.config), profile=body.profile.model_dump(exclude_none=True),
        rate_limit_per_second=body.rate_limit_per_second, countries=countries, enabled=body.enabled,
        created_at=now,
    )
    session.add(channel)
    session.commit()
    return channel_out(channel, runtime.settings.public_base_url)


@router.get("/{channel_id}", response_model=ChannelOut, summary="Get a channel")
def get_channel(channel_id: int, session: SessionDep, workspace: WorkspaceDep, runtime: RuntimeDep) -> ChannelOut:
    """One channel, secrets redacted."""
    return channel_out(find_channel(session, workspace.id, channel_id), runtime.settings.public_base_url)


@router.patch("/{channel_id}", response_model=ChannelOut, summary="Change a channel")
def patch_channel(channel_id: int, body: ChannelPatch, session: SessionDep, workspace: WorkspaceDep,
                  runtime: RuntimeDep) -> ChannelOut:
    """Change settings; config and profile keys not named stay as they are (so secrets need not be resent)."""
    channel = find_channel(session, workspace.id, channel_id)
    changes = body.model_dump(exclude_unset=True)
    for field_name in ("name", "enabled", "rate_limit_per_second"):
        if field_name in changes and changes[field_name] is None:
            raise invalid(field_name, f"{field_name} cannot be null")
    refuse_redacted_values(changes.get("config") or {})
    config = merged(dict(channel.config or {}), changes.get("config") or {})
    sender_id = changes["sender_id"] if "sender_id" in changes else channel.sender_id
    countries = changes["countries"] if changes.get("countries") is not None else list(channel.countries or [])
    countries = validate_channel(channel.kind, channel.provider, config, sender_id, countries)
    profile = validated_profile(merged(dict(channel.profile or {}), changes.get("profile") or {}))
    channel.config, channel.profile, channel.sender_id, channel.countries = config, profile, sender_id, countries
    if "name" in changes:
        channel.name = changes["name"].strip()
    if "enabled" in changes:
        channel.enabled = changes["enabled"]
    if "rate_limit_per_second" in changes:
        channel.rate_limit_per_second = changes["rate_limit_per_second"]
    session.commit()
    return channel_out(channel, runtime.settings.public_base_url)
