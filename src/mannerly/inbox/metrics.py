"""Agent metrics (I2) and the SLA report (S3), from conversation events and CSAT answers.

First response time is counted from when the customer started waiting to the agent's first
reply of the episode (wall-clock seconds); resolution time from the start of the episode to
resolution. Medians and 90th percentiles use the nearest-rank method.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mannerly.inbox.common import service_settings
from mannerly.inbox.sla import is_overdue
from mannerly.models import Conversation, ConversationEvent, CsatResponse, Team, User


@dataclass
class AgentMetrics:
    """One agent's numbers over a period."""

    user_id: int
    name: str
    first_responses: int
    first_response_median_seconds: float | None
    first_response_p90_seconds: float | None
    resolved: int
    resolution_median_seconds: float | None
    csat_average: float | None
    csat_count: int


@dataclass
class SlaRow:
    """How one team (or "no team") kept its first-response target over a period."""

    team_id: int | None
    team_name: str
    first_responses: int
    with_target: int  # responses that had a target to meet
    met: int
    breached: int
    met_rate: float | None  # met / with_target
    overdue_now: int  # conversations waiting past their target at `now`


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of some values (fraction 0.9 = p90), None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return float(ordered[rank - 1])


def _events(session: Session, workspace_id: int, kind: str, since: datetime, until: datetime) -> list[ConversationEvent]:
    """Events of one kind in [since, until)."""
    return list(session.scalars(select(ConversationEvent).where(
        ConversationEvent.workspace_id == workspace_id, ConversationEvent.kind == kind,
        ConversationEvent.occurred_at >= since, ConversationEvent.occurred_at < until)))


def agent_metrics(session: Session, workspace_id: int, *, since: datetime, until: datetime) -> list[AgentMetrics]:
    """First response time (median, p90), resolution time and CSAT per agent for [since, until)."""
    first_times: dict[int, list[float]] = {}
    for event in _events(session, workspace_id, "response", since, until):
        if event.actor_user_id is not None and (event.detail or {}).get("first"):
            first_times.setdefault(event.actor_user_id, []).append(float(event.detail.get("seconds", 0)))
    resolution_times: dict[int, list[float]] = {}
    for event in _events(session, workspace_id, "status", since, until):
        detail = event.detail or {}
        agent = detail.get("agent_user_id") or event.actor_user_id
        if detail.get("to") == "resolved" and agent is not None:
            resolution_times.setdefault(agent, []).append(float(detail.get("seconds_open", 0)))
    csat = {agent: (float(average), int(count)) for agent, average, count in session.execute(
        select(CsatResponse.agent_user_id, func.avg(CsatResponse.score), func.count(CsatResponse.id))
        .where(CsatResponse.workspace_id == workspace_id, CsatResponse.created_at >= since,
               CsatResponse.created_at < until, CsatResponse.agent_user_id.is_not(None))
        .group_by(CsatResponse.agent_user_id))}
    users = session.scalars(select(User).where(User.workspace_id == workspace_id).order_by(User.name)).all()
    rows = []
    for user in users:
        firsts = first_times.get(user.id, [])
        resolutions = resolution_times.get(user.id, [])
        average, count = csat.get(user.id, (None, 0))
        if user.role == "marketer" and not (firsts or resolutions or count):
            continue
        rows.append(AgentMetrics(
            user_id=user.id, name=user.name, first_responses=len(firsts),
            first_response_median_seconds=float(statistics.median(firsts)) if firsts else None,
            first_response_p90_seconds=percentile(firsts, 0.9), resolved=len(resolutions),
            resolution_median_seconds=float(statistics.median(resolutions)) if resolutions else None,
            csat_average=round(average, 2) if average is not None else None, csat_count=count,
        ))
    return rows


def sla_report(session: Session, workspace_id: int, *, since: datetime, until: datetime,
               now: datetime | None = None) -> list[SlaRow]:
    """Per team: first responses in [since, until), how many met the target, and how many wait overdue now."""
    teams = {team.id: team for team in session.scalars(select(Team).where(Team.workspace_id == workspace_id))}
    rows: dict[int | None, SlaRow] = {}

    def row_for(team_id: int | None) -> SlaRow:
        """The report row of one team, created on first use."""
        if team_id not in rows:
            name = teams[team_id].name if team_id in teams else "No team"
            rows[team_id] = SlaRow(team_id if team_id in teams else None, name, 0, 0, 0, 0, None, 0)
        return rows[team_id]

    for event in _events(session, workspace_id, "response", since, until):
        detail = event.detail or {}
        if not detail.get("first"):
            continue
        row = row_for(detail.get("team_id") if detail.get("team_id") in teams else None)
        row.first_responses += 1
        if detail.get("met") is not None:
            row.with_target += 1
            row.met += 1 if detail["met"] else 0
            row.breached += 0 if detail["met"] else 1
    if now is not None:
        default_team = teams.get(service_settings(session, workspace_id).default_team_id or -1)
        waiting = session.scalars(select(Conversation).where(Conversation.workspace_id == workspace_id,
                                                             Conversation.waiting_since.is_not(None),
                                                             Conversation.status != "resolved"))
        for conversation in waiting:
            team = teams.get(conversation.team_id) if conversation.team_id else default_team
            if is_overdue(conversation, team, now):
                row_for(team.id if team else None).overdue_now += 1
    for row in rows.values():
        row.met_rate = round(row.met / row.with_target, 4) if row.with_target else None
    return sorted(rows.values(), key=lambda row: (row.team_id is None, row.team_name))
