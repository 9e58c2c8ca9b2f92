"""The reports page (I1/I3): rates per campaign, automation and topic over time, CSAT, response times; CSV export."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from mannerly.errors import ProblemError
from mannerly.reports.charts import daily_bars, days_between, distribution, meter, percent
from mannerly.reports.export import table_csv
from mannerly.reports.service import build_report, report_period, report_tables
from mannerly.web.routes import WebDep, WebError

router = APIRouter(include_in_schema=False)

RATES = {"delivery_rate": "Delivery rate", "response_rate": "Response rate", "opt_out_rate": "Opt-out rate",
         "click_rate": "Click rate"}
RATE_COUNTS = {"delivery_rate": "delivered", "response_rate": "responded", "opt_out_rate": "opted_out",
               "click_rate": "clicked"}
GROUP_TITLES = {"campaign": "Campaigns", "automation": "Automations", "topic": "Topics"}


def parse_day(value: str | None) -> date | None:
    """A YYYY-MM-DD query value, or None when empty; a 400 page when it is not a date."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise WebError(400, f"“{value}” is not a date (use YYYY-MM-DD).") from error


def period_of(web: Any, since: str | None, until: str | None):
    """The report period from the query string, or a 400 page."""
    try:
        return report_period(parse_day(since), parse_day(until), web.now)
    except ProblemError as error:
        raise WebError(400, error.detail) from error


@router.get("/reports", response_class=HTMLResponse)
def get_reports(web: WebDep, since: str = "", until: str = "", rate: str = "delivery_rate") -> HTMLResponse:
    """Charts and tables for a period (default the last 30 days); every table links to its CSV."""
    rate = rate if rate in RATES else "delivery_rate"
    start, end = period_of(web, since, until)
    report = build_report(web.session, web.workspace.id, start, end, web.now)
    days = days_between(start.date(), (end - timedelta(days=1)).date())
    sections = []
    for grouping, groups in report.rates.items():
        rows = []
        for group in groups:
            daily = {day: counts.rate(RATE_COUNTS[rate]) for day, counts in group.days.items()}
            totals = group.total.as_dict()
            rows.append({"group": group, "totals": totals, "meters": {name: meter(totals[name]) for name in RATES},
                         "series": daily_bars(days, daily, top=1.0)})
        sections.append({"grouping": grouping, "title": GROUP_TITLES[grouping], "rows": rows,
                         "table": f"{grouping}s", "daily_table": f"{grouping}s_daily"})
    overall = _overall(report)
    query = f"since={start.date().isoformat()}&until={(end - timedelta(days=1)).date().isoformat()}"
    return web.render("reports.html", nav="reports", report=report, sections=sections, rates=RATES, rate=rate,
                      since=start.date().isoformat(), until=(end - timedelta(days=1)).date().isoformat(),
                      query=query, overall=overall, percent=percent, first_day=days[0], last_day=days[-1],
                      csat_bars=distribution(report.csat.by_score))


def _overall(report: Any) -> dict[str, Any]:
    """All messages together (every outbound message has a topic row or 'No topic')."""
    from mannerly.reports.rates import Counts

    total = Counts()
    for group in report.rates["topic"]:
        total.add(group.total)
    return total.as_dict()


@router.get("/reports/export/{table}.csv")
def get_report_csv(table: str, web: WebDep, since: str = "", until: str = "") -> Response:
    """One table of the reports page as a CSV download."""
    start, end = period_of(web, since, until)
    tables = report_tables(build_report(web.session, web.workspace.id, start, end, web.now))
    if table not in tables:
        raise WebError(404, "There is no such report table.")
    last = (end - timedelta(days=1)).date().isoformat()
    filename = f"mannerly-{table}-{start.date().isoformat()}-{last}.csv"
    return Response(table_csv(tables[table]), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
