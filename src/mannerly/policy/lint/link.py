"""link (L9): links that look like phishing.

Public URL shorteners hide where a link goes and are used by scammers, so
carriers and customers distrust them; raw IP-address links look the same. Both
get a warning suggesting a tracked link on the business's own domain. Hosts
under policy.tracked_link_domains never warn.
"""

from __future__ import annotations

import re

from mannerly.policy.lint._common import URL_PATTERN, LintContext, may_hold_url
from mannerly.policy.types import LintFinding, Severity

CHECK = "link"

PUBLIC_SHORTENERS = frozenset(
    {
        # international
        "bit.ly", "bitly.com", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "v.gd", "buff.ly",
        "rebrand.ly", "cutt.ly", "tiny.cc", "shorturl.at", "rb.gy", "t.ly", "bl.ink", "short.io",
        "adf.ly", "shorte.st", "soo.gd", "clck.ru", "qr.ae", "lnkd.in", "tr.im", "x.co", "bit.do",
        "tiny.one", "s.coop", "shorturl.com",
        # Indonesia
        "s.id", "sh.id",
        # Korea
        "han.gl", "me2.do", "vo.la", "url.kr", "naver.me", "zrr.kr", "buly.kr", "muz.so", "c11.kr",
    }
)
_IPV4_LINK = re.compile(r"\b(?:https?://)?(\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?(?=[/\s]|$)", re.IGNORECASE)
_IPV6_LINK = re.compile(r"https?://\[[0-9a-f:]+\]", re.IGNORECASE)
_DOT_DIGIT = re.compile(r"\.\d")
_HOST = re.compile(r"^(?:https?://)?([^/:?#\s]+)", re.IGNORECASE)


def link_hosts(text: str) -> list[str]:
    """The host names of the links in a text, lower case, without a leading www."""
    if not may_hold_url(text):
        return []
    hosts = []
    for match in URL_PATTERN.finditer(text):
        host_match = _HOST.match(match.group(0))
        if host_match:
            host = host_match.group(1).lower().rstrip(".")
            hosts.append(host[4:] if host.startswith("www.") else host)
    return hosts


def _is_own_domain(host: str, own_domains: tuple[str, ...]) -> bool:
    """True when the host is one of the business's domains or under one."""
    for domain in own_domains:
        domain = domain.lower().strip().removeprefix("www.")
        if domain and (host == domain or host.endswith("." + domain)):
            return True
    return False


def _ip_links(text: str) -> list[str]:
    """Raw IP addresses used as link hosts."""
    if "://" not in text and text.count(".") < 3:
        return []  # an IPv4 address has three dots, an IPv6 link a scheme
    found = []
    # Every IPv4 match holds a dot followed by a digit, and every IPv6 link a scheme: plain
    # quick tests, so the full patterns run only over texts that may hold one.
    ipv4_matches = _IPV4_LINK.finditer(text) if _DOT_DIGIT.search(text) else ()
    for match in ipv4_matches:
        whole = match.group(0)
        # A bare dotted number is a link only with a scheme, a path or a port.
        after = text[match.end() : match.end() + 1]
        if whole.lower().startswith("http") or after == "/" or ":" in whole:
            octets = match.group(1).split(".")
            if all(int(octet) <= 255 for octet in octets):
                found.append(match.group(1))
    if "://" in text:
        found.extend(match.group(0) for match in _IPV6_LINK.finditer(text))
    return found


def has_foreign_link(text: str, own_domains: tuple[str, ...] = ()) -> bool:
    """True when the text links anywhere outside the business's own domains."""
    if any(not _is_own_domain(host, own_domains) for host in link_hosts(text)):
        return True
    return bool(_ip_links(text))


def check(text: str, context: LintContext) -> list[LintFinding]:
    """Warn about public shorteners and raw IP-address links."""
    url_like = may_hold_url(text)
    if not url_like and "://" not in text and text.count(".") < 3:
        return []  # no link of any kind (see link_hosts and _ip_links)
    own_domains = context.policy.tracked_link_domains
    if own_domains:
        suggestion = f"Use a tracked link on your own domain ({', '.join(own_domains)}) instead."
    else:
        suggestion = "Use a tracked link on your own domain instead (add it to the policy's tracked link domains)."
    findings = []
    shorteners = []
    for host in link_hosts(text) if url_like else ():  # link_hosts finds nothing without url_like
        if host in PUBLIC_SHORTENERS and not _is_own_domain(host, own_domains) and host not in shorteners:
            shorteners.append(host)
    if shorteners:
        findings.append(
            LintFinding(
                CHECK,
                Severity.WARNING,
                f"Public link shortener ({', '.join(shorteners)}): customers and carriers cannot see where it "
                "leads, so it looks like phishing and may be filtered.",
                suggestion=suggestion,
            )
        )
    addresses = [address for address in _ip_links(text) if not _is_own_domain(address, own_domains)]
    if addresses:
        findings.append(
            LintFinding(
                CHECK,
                Severity.WARNING,
                f"Link to a raw IP address ({', '.join(addresses)}): this is how phishing messages look.",
                suggestion=suggestion,
            )
        )
    return findings
