"""What the queue mode's webhook fast path needs to know of a channel, read once every few seconds.

Reading the channel row and the workspace's topic keywords on every call costs more than
storing the event itself, so each process keeps them for TARGET_SECONDS. A channel that is
disabled or re-configured is therefore seen by the fast path within that time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mannerly.models import Channel, Topic, Workspace

TARGET_SECONDS = 2.0


@dataclass(frozen=True)
class WebhookTarget:
    """A channel as the fast path sees it: the row, its workspace's default country and topic keywords."""

    channel: Channel
    default_country: str | None
    topic_keywords: dict[str, str]


class WebhookTargets:
    """A per-process cache of WebhookTarget by channel id, each entry kept TARGET_SECONDS."""

    def __init__(self) -> None:
        """An empty cache."""
        self._lock = threading.Lock()
        self._targets: dict[int, WebhookTarget | None] = {}
        self._loaded: dict[int, float] = {}
        self._refreshing: set[int] = set()

    def cached(self, channel_id: int) -> WebhookTarget | None:
        """The target as last read (also while one caller re-reads it), or None: the caller must call get()."""
        with self._lock:
            loaded = self._loaded.get(channel_id)
            if loaded is None:
                return None
            if time.monotonic() - loaded >= TARGET_SECONDS and channel_id not in self._refreshing:
                self._refreshing.add(channel_id)  # this caller re-reads; the others keep the old copy meanwhile
                return None
            return self._targets[channel_id]

    def get(self, sessions: sessionmaker[Session], channel_id: int) -> WebhookTarget | None:
        """Read the channel now (an enabled one, or None) and remember it."""
        now = time.monotonic()
        try:
            target = self._load(sessions, channel_id)
        finally:
            with self._lock:
                self._refreshing.discard(channel_id)
        with self._lock:
            self._targets[channel_id] = target
            self._loaded[channel_id] = now
        return target

    @staticmethod
    def _load(sessions: sessionmaker[Session], channel_id: int) -> WebhookTarget | None:
        """Read the channel, its workspace's country and its topic keywords."""
        with sessions() as session:
            channel = session.get(Channel, channel_id)
            if channel is None or not channel.enabled:
                return None
            country = session.scalar(select(Workspace.default_country).where(Workspace.id == channel.workspace_id))
            keywords = session.execute(select(Topic.keyword, Topic.name).where(
                Topic.workspace_id == channel.workspace_id, Topic.keyword.is_not(None))).all()
            session.expunge(channel)
        return WebhookTarget(channel=channel, default_country=country,
                             topic_keywords={keyword: name for keyword, name in keywords if keyword})
