"""The reports page's numbers for a period, and every table it shows (for the page, the API and CSV export)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mannerly.errors import invalid
from mannerly.inbox.metrics import AgentMetrics, SlaRow, agent_metrics, percentile, sla_report
from mannerly.models import ConversationEvent, CsatResponse
from mannerly.models.quickreply import QuickReplyAnswer, QuickReplyPrompt
from mannerly.reports import sources
from mannerly.reports.export import Table
from mannerly.reports.rates import GROUPINGS, Counts, GroupRates, group_rates

RATE_COLUMNS = ("sent", "delivered", "responded", "opted_out", "clicked", "not_sent",
                "delivery_rate", "response_rate", "opt_out_rate", "click_rate")


@dataclass
class CsatSummary:
    """Satisfaction answers in the period: how many, the average, and how many gave each score."""

    count: int = 0
    average: float | None = None
    by_score: dict[int, int] = field(default_factory=lambda: dict.fromkeys(range(1, 6), 0))


@dataclass
class ResponseTimes:
    """How fast agents answered: first responses of an episode, and every response."""

    first_count: int = 0
    first_median_seconds: float | None = None
    first_p90_seconds: float | None = None
    all_count: int = 0
    all_median_seconds: float | None = None


@dataclass
class QuickReplyRow:
    """How customers answered one template's quick-reply options."""

    template_name: str
    prompts: int
    answered: int
    by_meaning: dict[str, int]

    @property
    def answer_rate(self) -> float | None:
        """Answered prompts / prompts."""
        return round(self.answered / self.prompts, 4) if self.prompts else None


@dataclass
class Report:
    """Everything the reports page shows for [since, until)."""

    since: datetime
    until: datetime
    rates: dict[str, list[GroupRates]]  # grouping -> groups
    csat: CsatSummary
    response_times: ResponseTimes
    agents: list[AgentMetrics]
    sla: list[SlaRow]
    quick_replies: list[QuickReplyRow]


def csat_summary(session: Session, workspace_id: int, since: datetime, until: datetime) -> CsatSummary:
    """Count, average and distribution of CSAT scores given in the period."""
    summary = CsatSummary()
    for score, count in session.execute(select(CsatResponse.score, func.count(CsatResponse.id)).where(
            CsatResponse.workspace_id == workspace_id, CsatResponse.created_at >= since,
            CsatResponse.created_at < until).group_by(CsatResponse.score)):
        summary.by_score[int(score)] = int(count)
    summary.count = sum(summary.by_score.values())
    if summary.count:
        total = sum(score * count for score, count in summary.by_score.items())
        summary.average = round(total / summary.count, 2)
    return summary


def response_times(session: Session, workspace_id: int, since: datetime, until: datetime) -> ResponseTimes:
    """Median and p90 of first-response times, and the median of all response times, in the period."""
    first: list[float] = []
    every: list[float] = []
    for (detail,) in session.execute(select(ConversationEvent.detail).where(
            ConversationEvent.workspace_id == workspace_id, ConversationEvent.kind == "response",
            ConversationEvent.occurred_at >= since, ConversationEvent.occurred_at < until)):
        seconds = (detail or {}).get("seconds")
        if seconds is None:
            continue
        every.append(float(seconds))
        if (detail or {}).get("first"):
            first.append(float(seconds))
    return ResponseTimes(
        first_count=len(first), first_median_seconds=float(statistics.median(first)) if first else None,
        first_p90_seconds=percentile(first, 0.9), all_count=len(every),
        all_median_seconds=float(statistics.median(every)) if every else None)


def quick_reply_rows(session: Session, workspace_id: int, since: datetime, until: datetime) -> list[QuickReplyRow]:
    """Per template: prompts opened in the period, how many were answered, and the answers by meaning."""
    prompts = dict(session.execute(select(QuickReplyPrompt.template_name, func.count(QuickReplyPrompt.id)).where(
        QuickReplyPrompt.workspace_id == workspace_id, QuickReplyPrompt.created_at >= since,
        QuickReplyPrompt.created_at < until).group_by(QuickReplyPrompt.template_name)).all())
    meanings: dict[str, dict[str, int]] = {}
    for name, meaning, count in session.execute(
            select(QuickReplyAnswer.template_name, QuickReplyAnswer.meaning, func.count(QuickReplyAnswer.id))
            .join(QuickReplyPrompt, QuickReplyPrompt.id == QuickReplyAnswer.prompt_id)
            .where(QuickReplyPrompt.workspace_id == workspace_id, QuickReplyPrompt.created_at >= since,
                   QuickReplyPrompt.created_at < until)
            .group_by(QuickReplyAnswer.template_name, QuickReplyAnswer.meaning)):
        meanings.setdefault(name, {})[meaning] = int(count)
    names = sorted(set(prompts) | set(meanings))
    return [QuickReplyRow(template_name=name, prompts=int(prompts.get(name, 0)),
                          answered=sum(meanings.get(name, {}).values()),
                          by_meaning=dict(sorted(meanings.get(name, {}).items()))) for name in names]


def build_report(session: Session, workspace_id: int, since: datetime, until: datetime, now: datetime) -> Report:
    """Every number of the reports page for messages and answers in [since, until)."""
    rates = {grouping: group_rates(session, workspace_id, grouping, since, until,
                                   clicked_ids=sources.clicked_message_ids, campaign_of=sources.campaign_of)
             for grouping in GROUPINGS}
    return Report(
        since=since, until=until, rates=rates,
        csat=csat_summary(session, workspace_id, since, until),
        response_times=response_times(session, workspace_id, since, until),
        agents=agent_metrics(session, workspace_id, since=since, until=until),
        sla=sla_report(session, workspace_id, since=since, until=until, now=now),
        quick_replies=quick_reply_rows(session, workspace_id, since, until),
    )


def _rate_values(counts: Counts) -> tuple:
    """The rate columns of one count, in RATE_COLUMNS order."""
    values = counts.as_dict()
    return tuple(values[name] for name in RATE_COLUMNS)


def report_tables(report: Report) -> dict[str, Table]:
    """Every table the page shows, by name (the CSV export offers each one)."""
    tables: dict[str, Table] = {}
    for grouping, groups in report.rates.items():
        tables[f"{grouping}s"] = Table(
            name=f"{grouping}s", title=f"Per {grouping}", columns=(grouping, "id", *RATE_COLUMNS),
            rows=[(group.label, group.key, *_rate_values(group.total)) for group in groups])
        tables[f"{grouping}s_daily"] = Table(
            name=f"{grouping}s_daily", title=f"Per {grouping} and day", columns=("day", grouping, "id", *RATE_COLUMNS),
            rows=[(day, group.label, group.key, *_rate_values(counts))
                  for group in groups for day, counts in sorted(group.days.items())])
    csat = report.csat
    tables["csat"] = Table(name="csat", title="Customer satisfaction", columns=("score", "answers"),
                           rows=[(score, count) for score, count in sorted(csat.by_score.items())])
    times = report.response_times
    tables["response_times"] = Table(
        name="response_times", title="Response times", columns=("measure", "count", "median_seconds", "p90_seconds"),
        rows=[("first response", times.first_count, times.first_median_seconds, times.first_p90_seconds),
              ("every response", times.all_count, times.all_median_seconds, None)])
    tables["agents"] = Table(
        name="agents", title="Agents",
        columns=("agent", "first_responses", "first_response_median_seconds", "first_response_p90_seconds",
                 "resolved", "resolution_median_seconds", "csat_average", "csat_count"),
        rows=[(row.name, row.first_responses, row.first_response_median_seconds, row.first_response_p90_seconds,
               row.resolved, row.resolution_median_seconds, row.csat_average, row.csat_count)
              for row in report.agents])
    tables["sla"] = Table(
        name="sla", title="First-response targets",
        columns=("team", "first_responses", "with_target", "met", "breached", "met_rate", "overdue_now"),
        rows=[(row.team_name, row.first_responses, row.with_target, row.met, row.breached, row.met_rate,
               row.overdue_now) for row in report.sla])
    tables["quick_replies"] = Table(
        name="quick_replies", title="Quick replies", columns=("template", "prompts", "answered", "answer_rate",
                                                              "meaning", "answers"),
        rows=[(row.template_name, row.prompts, row.answered, row.answer_rate, meaning, count)
              for row in report.quick_replies for meaning, count in (row.by_meaning.items() or [("", 0)])])
    return tables


DEFAULT_DAYS = 30
MAX_DAYS = 366


def report_period(since: date | None, until: date | None, now: datetime) -> tuple[datetime, datetime]:
    """[since, until) as UTC midnights: the given days (until inclusive), by default the last 30 days to today."""
    last = until or now.astimezone(UTC).date()
    first = since or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise invalid("since", "since must not be after until")
    if (last - first).days >= MAX_DAYS:
        raise invalid("since", f"a report covers at most {MAX_DAYS} days")
    start = datetime.combine(first, time(0), tzinfo=UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC)
    return start, end
