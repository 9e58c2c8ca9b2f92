"""Twilio's request signature (`X-Twilio-Signature`): compute it and check it, in pure code.

The rule, from Twilio's webhook security documentation: take the full URL Twilio
called (scheme, host, path and query exactly as configured); for a POST with a form
body, append every parameter's name immediately followed by its value, parameters
sorted by name; HMAC-SHA1 that string with the account's Auth Token as the key;
Base64-encode the digest.

Twilio's own helper libraries check the URL both with and without the port, because
Twilio's side is not consistent about writing the default port (443 for https, 80 for
http). `signature_matches` accepts exactly those two spellings of the same URL and
nothing else: a non-default port, another host or another path never matches.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"https": 443, "http": 80}


def _sorted_pairs(params: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Parameters as (name, value) pairs sorted by name, repeated names sorted by value."""
    pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
    return sorted(pairs)


def signing_string(url: str, params: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> str:
    """The text Twilio signs: the URL followed by name+value of every sorted parameter."""
    return url + "".join(name + value for name, value in _sorted_pairs(params))


def compute_signature(auth_token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> str:
    """The X-Twilio-Signature value Twilio sends for this URL and these POST parameters."""
    digest = hmac.new(auth_token.encode("utf-8"), signing_string(url, params).encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def url_spellings(url: str) -> list[str]:
    """The URL as given plus its other default-port spelling (with ":443"/":80" added or removed)."""
    parts = urlsplit(url)
    default_port = DEFAULT_PORTS.get(parts.scheme.lower())
    spellings = [url]
    if default_port is None or parts.hostname is None:
        return spellings
    try:
        port = parts.port
    except ValueError:  # a port that is not a number: only the URL as given can match
        return spellings
    host = parts.netloc.rsplit("@", 1)[-1]
    userinfo = parts.netloc[: len(parts.netloc) - len(host)]
    if port is None:
        spellings.append(urlunsplit(parts._replace(netloc=f"{userinfo}{host}:{default_port}")))
    elif port == default_port:
        bare_host = host[: host.rfind(":")]
        spellings.append(urlunsplit(parts._replace(netloc=f"{userinfo}{bare_host}")))
    return spellings


def signature_matches(
    auth_token: str,
    url: str,
    params: Mapping[str, str] | Iterable[tuple[str, str]],
    signature: str | None,
) -> bool:
    """True when `signature` is Twilio's signature of this URL (either port spelling) and parameters."""
    if not signature or not auth_token:
        return False
    pairs = _sorted_pairs(params)
    given = signature.strip().encode("utf-8")
    matched = False
    # Compare against every spelling (no early exit) so timing does not tell which one was close.
    for spelling in url_spellings(url):
        expected = compute_signature(auth_token, spelling, pairs).encode("ascii")
        matched |= hmac.compare_digest(expected, given)
    return matched
