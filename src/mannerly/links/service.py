"""Tracked short links (O8): replace URLs in a text by `<base>/l/<code>`, one code per recipient; record clicks."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, literal, select, update
from sqlalchemy.orm import Session

from mannerly.config import Settings
from mannerly.models import LinkClick, ShortLink, UTCDateTime, Workspace
from mannerly.policy.lint._common import URL_PATTERN, may_hold_url
from mannerly.policy.types import Policy

# About 60 random bits (9 URL-safe characters and a letter or digit): a million codes collide with odds
# of about 1 in 2 million; the unique key catches that.
CODE_BYTES = 8
CODE_LENGTH = 10
# The last character of a code: SMS apps and URL detection leave a trailing "-" or "_" out of the link.
CODE_LAST = string.ascii_letters + string.digits
LINK_PATH = "/l/"
# Codes a LinkBatch draws at once.
CODES_AT_ONCE = 1000
USER_AGENT_LENGTH = 300


def new_code() -> str:
    """A random, URL-safe short code of CODE_LENGTH characters that ends in a letter or digit."""
    return secrets.token_urlsafe(CODE_BYTES)[:CODE_LENGTH - 1] + CODE_LAST[secrets.randbelow(len(CODE_LAST))]


# Random bytes to code characters: any byte to one of the 64 URL-safe characters (256 = 4 x 64, so
# uniform), and a byte below LAST_BYTES to one of the 62 letters and digits (248 = 4 x 62).
URL_SAFE = string.ascii_letters + string.digits + "-_"
TO_URL_SAFE = bytes(ord(URL_SAFE[value % 64]) for value in range(256))
LAST_BYTES = 4 * len(CODE_LAST)


def new_codes(count: int) -> list[str]:
    """`count` codes like new_code() (same length, alphabet and last character), from one read of randomness."""
    raw = secrets.token_bytes(CODE_LENGTH * count)
    text = raw.translate(TO_URL_SAFE).decode("ascii")
    codes = []
    for start in range(0, CODE_LENGTH * count, CODE_LENGTH):
        last = raw[start + CODE_LENGTH - 1]
        # A last byte of 248 or more would favour some characters: draw that character again instead.
        ending = CODE_LAST[last % len(CODE_LAST)] if last < LAST_BYTES else secrets.choice(CODE_LAST)
        codes.append(text[start:start + CODE_LENGTH - 1] + ending)
    return codes


def links_base_url(settings: Settings, workspace: Workspace | None = None) -> str | None:
    """Where short links point: MANNERLY_PUBLIC_BASE_URL (without a trailing slash), or None when unset.

    A per-workspace `links_base_url` would come first; the workspace policy settings do not
    hold one yet (see docs/campaigns.md).
    """
    return settings.public_base_url.rstrip("/") if settings.public_base_url else None


def link_host(base_url: str | None) -> str | None:
    """The host name of the short-link base, lower case without www (what the link lint compares)."""
    if not base_url:
        return None
    host = (urlsplit(base_url).hostname or "").lower()
    return host.removeprefix("www.") or None


def with_own_short_links(policy: Policy, base_url: str | None) -> Policy:
    """The policy with the short-link host counted as one of the business's own link domains."""
    host = link_host(base_url)
    if host is None or host in policy.tracked_link_domains:
        return policy
    # Short links point at the business's own domain: the link and data-request checks must not
    # treat them as foreign, at planning time and when the dispatcher decides again.
    return replace(policy, tracked_link_domains=policy.tracked_link_domains + (host,))


def find_urls(text: str) -> list[tuple[int, int, str]]:
    """The URLs in a text as (start, end, url), trailing sentence punctuation left outside."""
    if not may_hold_url(text):
        return []
    # URL_PATTERN never takes trailing sentence punctuation into a match.
    return [(match.start(), match.end(), match.group(0)) for match in URL_PATTERN.finditer(text)]


def absolute(url: str) -> str:
    """A URL with a scheme (https:// is added to 'www.shop.example/sale')."""
    return url if url.lower().startswith(("http://", "https://")) else "https://" + url


def rewrite_links(text: str, shorten: Callable[[str], str], *, skip_prefix: str | None = None) -> str:
    """The text with every URL replaced by shorten(url); URLs already under skip_prefix stay."""
    pieces, urls = split_links(text, skip_prefix=skip_prefix)
    return join_links(pieces, [shorten(url) for url in urls])


def split_links(text: str, *, skip_prefix: str | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The text cut around the URLs rewrite_links would replace: (the n+1 pieces between them, the n absolute URLs)."""
    pieces: list[str] = []
    urls: list[str] = []
    position = 0
    for start, end, url in find_urls(text):
        if skip_prefix and absolute(url).startswith(skip_prefix):
            continue  # stays as it is, part of the piece around it
        pieces.append(text[position:start])
        urls.append(absolute(url))
        position = end
    pieces.append(text[position:])
    return tuple(pieces), tuple(urls)


def join_links(pieces: tuple[str, ...], links: list[str]) -> str:
    """The pieces of split_links joined again with one link in place of each URL."""
    if not links:
        return pieces[0]
    parts = [pieces[0]]
    for link, piece in zip(links, pieces[1:], strict=True):
        parts.append(link)
        parts.append(piece)
    return "".join(parts)


@dataclass
class LinkBatch:
    """Short links made for a batch of messages, inserted together once the messages have ids."""

    base_url: str
    workspace_id: int
    campaign_id: int | None = None
    automation_id: int | None = None
    now: datetime | None = None
    # Per recipient (the key the caller uses, e.g. the contact id): the rows of its links.
    pending: dict[Any, list[dict[str, Any]]] = field(default_factory=dict)
    # Codes drawn in bulk (new_codes), used up one by one.
    codes: list[str] = field(default_factory=list)

    def rewrite(self, key: Any, contact_id: int | None, text: str) -> str:
        """The text with each URL replaced by a new short link for this recipient."""
        pieces, urls = split_links(text, skip_prefix=self.base_url + LINK_PATH)
        return self.rewrite_split(key, contact_id, pieces, urls)

    def rewrite_split(self, key: Any, contact_id: int | None, pieces: tuple[str, ...], urls: tuple[str, ...]) -> str:
        """rewrite() for a text already cut by split_links (a campaign cuts each distinct text once)."""
        links = []
        for url in urls:
            if not self.codes:
                self.codes = new_codes(CODES_AT_ONCE)
            code = self.codes.pop()
            self.pending.setdefault(key, []).append({
                "workspace_id": self.workspace_id, "code": code, "url": url, "contact_id": contact_id,
                "campaign_id": self.campaign_id, "automation_id": self.automation_id, "click_count": 0,
                "created_at": self.now,
            })
            links.append(f"{self.base_url}{LINK_PATH}{code}")
        return join_links(pieces, links)

    def forget(self, key: Any) -> None:
        """Drop the links of a recipient whose message is not written."""
        self.pending.pop(key, None)

    def insert(self, session: Session, message_ids: dict[Any, int]) -> int:
        """Insert the remembered links with their message ids; returns how many."""
        rows = []
        for key, links in self.pending.items():
            for row in links:
                rows.append({**row, "message_id": message_ids.get(key)})
        if rows:
            from mannerly.campaigns.service import bulk_insert  # the campaigns module imports this one

            bulk_insert(session, ShortLink.__table__, rows)
        self.pending.clear()
        return len(rows)


def create_link(session: Session, workspace_id: int, url: str, now: datetime, *, contact_id: int | None = None,
                campaign_id: int | None = None, automation_id: int | None = None,
                message_id: int | None = None) -> ShortLink:
    """One short link (for automations and single messages)."""
    link = ShortLink(workspace_id=workspace_id, code=new_code(), url=absolute(url), contact_id=contact_id,
                     campaign_id=campaign_id, automation_id=automation_id, message_id=message_id, click_count=0,
                     created_at=now)
    session.add(link)
    session.flush()
    return link


def shorten_text(session: Session, base_url: str | None, workspace_id: int, text: str, now: datetime, *,
                 contact_id: int | None = None, campaign_id: int | None = None,
                 automation_id: int | None = None) -> tuple[str, list[ShortLink]]:
    """The text with its URLs replaced by new short links (unchanged when no base URL is set)."""
    if not base_url:
        return text, []
    made: list[ShortLink] = []

    def shorten(url: str) -> str:
        """A stored short link for url."""
        link = create_link(session, workspace_id, url, now, contact_id=contact_id, campaign_id=campaign_id,
                           automation_id=automation_id)
        made.append(link)
        return f"{base_url}{LINK_PATH}{link.code}"

    return rewrite_links(text, shorten, skip_prefix=base_url + LINK_PATH), made


def attach_message(session: Session, links: list[ShortLink], message_id: int) -> None:
    """Record which message carries these links (for click rates per message)."""
    for link in links:
        link.message_id = message_id
    session.flush()


def record_click(session: Session, code: str, now: datetime, user_agent: str | None = None) -> str | None:
    """Count one click on a code and return where it leads, or None for an unknown code."""
    if not code or len(code) > 16:
        return None
    found = session.execute(
        update(ShortLink)
        .where(ShortLink.code == code)
        .values(click_count=ShortLink.click_count + 1, last_clicked_at=now,
                first_clicked_at=func.coalesce(ShortLink.first_clicked_at, literal(now, UTCDateTime())))
        .returning(ShortLink.id, ShortLink.workspace_id, ShortLink.url)
    ).first()
    if found is None:
        return None
    session.add(LinkClick(workspace_id=found.workspace_id, short_link_id=found.id, clicked_at=now,
                          user_agent=(user_agent or "")[:USER_AGENT_LENGTH] or None))
    session.flush()
    return found.url


def link_target(session: Session, code: str) -> str | None:
    """Where a code leads, without counting a click (HEAD requests, link previews)."""
    return session.scalar(select(ShortLink.url).where(ShortLink.code == code))
