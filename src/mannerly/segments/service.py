"""Saved segments (O5): create, change, delete, count and sample the contacts a filter selects."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mannerly.errors import FieldError, ProblemError, conflict, invalid, not_found
from mannerly.models import Campaign, Contact, Segment, Workspace
from mannerly.segments.compiler import REFINE_COLUMNS, CompiledFilter, compile_filter
from mannerly.segments.filters import SegmentFilterError, parse_text, validate_filter

SAMPLE_SIZE = 10
# Rows read at a time when a Python check (birthdays) must look at each candidate.
REFINE_CHUNK = 5000


def filter_problem(error: SegmentFilterError, prefix: str = "filter") -> ProblemError:
    """A 422 naming the bad node of a filter, e.g. field 'filter.all[2].op'."""
    if error.path.startswith("text"):
        where = error.path  # a position in the text form, e.g. text[2]
    else:
        where = f"{prefix}.{error.path}" if error.path else prefix
    return ProblemError(422, "Invalid segment filter", str(error), [FieldError(where, error.message)])


def resolve_filter(filter_: Any = None, text: str | None = None) -> dict[str, Any]:
    """The validated JSON filter from either the JSON form or the text form (not both), or a 422."""
    if filter_ is not None and text is not None:
        raise invalid("filter", "give either filter (JSON) or text, not both")
    try:
        if text is not None:
            return parse_text(text)
        return validate_filter(filter_ if filter_ is not None else {})
    except SegmentFilterError as error:
        raise filter_problem(error) from error


def compiled_for(session: Session, workspace_id: int, filter_: dict[str, Any], now: datetime) -> CompiledFilter:
    """The filter compiled for this session's database, or a 422 when a condition cannot be used there."""
    try:
        return compile_filter(filter_, dialect=session.get_bind().dialect.name, now=now, workspace_id=workspace_id)
    except SegmentFilterError as error:
        raise filter_problem(error) from error


def count_matching(session: Session, compiled: CompiledFilter) -> int:
    """How many contacts match: one COUNT, or a pass over the SQL candidates when Python checks apply."""
    if compiled.count_statement is not None:
        return int(session.scalar(compiled.count_statement) or 0)
    if not compiled.refine:
        return int(session.scalar(select(func.count()).select_from(Contact).where(compiled.where)) or 0)
    total = 0
    for rows in iter_matching(session, compiled, REFINE_COLUMNS):
        total += len(rows)
    return total


def next_chunk(session: Session, compiled: CompiledFilter, columns: Sequence[Any], *, after_id: int = 0,
               chunk: int = REFINE_CHUNK, extra: Any = None) -> tuple[list[Any], int]:
    """The next matching rows after an id (columns must include Contact.id), and the last id the SQL scanned.

    With Python checks (birthdays) some SQL candidates are dropped, so the rows may be fewer
    than `chunk` (even none) while more follow; the scanned id is where to continue.
    """
    wanted = list(columns)
    names = {column.key for column in wanted}
    for column in REFINE_COLUMNS if compiled.refine else ():
        if column.key not in names:
            wanted.append(column)
    query = select(*wanted).where(compiled.where, Contact.id > after_id).order_by(Contact.id).limit(chunk)
    if extra is not None:
        query = query.where(extra)
    # Through the session's connection (Core): column rows need none of the ORM's per-row work.
    rows = session.connection().execute(query).all()
    if not rows:
        return [], after_id
    kept = [row for row in rows if compiled.accepts(row)] if compiled.refine else list(rows)
    return kept, rows[-1].id


def iter_matching(session: Session, compiled: CompiledFilter, columns: Sequence[Any], *, after_id: int = 0,
                  chunk: int = REFINE_CHUNK, extra: Any = None) -> Iterator[list[Any]]:
    """Matching contact rows (the given columns, which must include Contact.id) in id order, a chunk at a time."""
    cursor = after_id
    while True:
        rows, scanned = next_chunk(session, compiled, columns, after_id=cursor, chunk=chunk, extra=extra)
        if scanned == cursor:
            return
        yield rows
        cursor = scanned


def sample_matching(session: Session, compiled: CompiledFilter, size: int = SAMPLE_SIZE) -> list[Contact]:
    """The first few matching contacts (by id)."""
    if not compiled.refine:
        return list(session.scalars(select(Contact).where(compiled.where).order_by(Contact.id).limit(size)))
    ids: list[int] = []
    for rows in iter_matching(session, compiled, (Contact.id,), chunk=max(size * 20, 500)):
        ids.extend(row.id for row in rows)
        if len(ids) >= size:
            break
    ids = ids[:size]
    if not ids:
        return []
    return list(session.scalars(select(Contact).where(Contact.id.in_(ids)).order_by(Contact.id)))


def find_segment(session: Session, workspace_id: int, segment_id: int) -> Segment:
    """A segment of the workspace, or a 404."""
    segment = session.get(Segment, segment_id)
    if segment is None or segment.workspace_id != workspace_id:
        raise not_found("segment", segment_id)
    return segment


def list_segments(session: Session, workspace_id: int) -> list[Segment]:
    """The workspace's segments by name."""
    return list(session.scalars(select(Segment).where(Segment.workspace_id == workspace_id).order_by(Segment.name)))


def _check_name(session: Session, workspace_id: int, name: str, segment_id: int | None = None) -> str:
    """A trimmed, unused segment name, or a 422/409."""
    name = (name or "").strip()
    if not name:
        raise invalid("name", "a segment needs a name")
    if len(name) > 100:
        raise invalid("name", "at most 100 characters")
    clash = session.scalar(select(Segment.id).where(Segment.workspace_id == workspace_id, Segment.name == name))
    if clash is not None and clash != segment_id:
        raise conflict(f"a segment named '{name}' already exists")
    return name


def create_segment(session: Session, workspace: Workspace, name: str, filter_: dict[str, Any], now: datetime,
                   description: str | None = None) -> Segment:
    """Save a validated filter under a name."""
    segment = Segment(workspace_id=workspace.id, name=_check_name(session, workspace.id, name),
                      description=description, filter=filter_, created_at=now, updated_at=now)
    compiled_for(session, workspace.id, filter_, now)  # refuse filters the database cannot run
    session.add(segment)
    session.flush()
    return segment


def update_segment(session: Session, segment: Segment, now: datetime, *, name: str | None = None,
                   filter_: dict[str, Any] | None = None, description: str | None = None) -> Segment:
    """Change a segment's name, filter or description."""
    if name is not None:
        segment.name = _check_name(session, segment.workspace_id, name, segment.id)
    if filter_ is not None:
        compiled_for(session, segment.workspace_id, filter_, now)
        segment.filter = filter_
    if description is not None:
        segment.description = description
    segment.updated_at = now
    session.flush()
    return segment


def delete_segment(session: Session, segment: Segment) -> None:
    """Delete a segment unless a campaign that is not finished uses it."""
    busy = session.scalar(select(Campaign.name).where(Campaign.segment_id == segment.id,
                                                      Campaign.status.in_(("draft", "running", "paused"))))
    if busy:
        raise conflict(f"campaign '{busy}' uses this segment")
    session.delete(segment)
    session.flush()
