"""Reports (I1/I3): /v1/reports (every table as JSON) and /v1/reports/{table}.csv."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from mannerly.api.deps import NowDep, SessionDep, WorkspaceDep
from mannerly.errors import not_found
from mannerly.reports.export import table_csv
from mannerly.reports.service import build_report, report_period, report_tables

router = APIRouter(prefix="/v1/reports", tags=["reports"])

SinceQuery = Query(None, description="First day (UTC), default 30 days before `until`")
UntilQuery = Query(None, description="Last day (UTC, included), default today")


@router.get("", summary="Every report table")
def get_reports(session: SessionDep, workspace: WorkspaceDep, now: NowDep, since: date | None = SinceQuery,
                until: date | None = UntilQuery) -> dict[str, Any]:
    """Delivery, response, opt-out and click rates per campaign, automation and topic (also per day), CSAT,
    response times, agents, targets and quick-reply answers for the period."""
    start, end = report_period(since, until, now)
    tables = report_tables(build_report(session, workspace.id, start, end, now))
    return {"since": start.isoformat(), "until": end.isoformat(),
            "tables": {name: {"title": table.title, "columns": list(table.columns),
                              "rows": [list(row) for row in table.rows]} for name, table in tables.items()}}


@router.get("/{table}.csv", summary="One report table as CSV", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def get_report_csv(table: str, session: SessionDep, workspace: WorkspaceDep, now: NowDep,
                   since: date | None = SinceQuery, until: date | None = UntilQuery) -> Response:
    """One table of the reports as a CSV file (names as in GET /v1/reports)."""
    start, end = report_period(since, until, now)
    tables = report_tables(build_report(session, workspace.id, start, end, now))
    if table not in tables:
        raise not_found("report table", table)
    filename = f"mannerly-{table}-{start.date().isoformat()}-{(end - timedelta(days=1)).date().isoformat()}.csv"
    return Response(table_csv(tables[table]), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
