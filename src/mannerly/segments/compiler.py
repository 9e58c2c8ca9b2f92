"""Compile a validated segment filter to a SQLAlchemy condition on `contacts`, for SQLite and PostgreSQL.

JSON attributes are read differently by the two databases (json_extract/json_type on
SQLite; ->>, jsonb_typeof and jsonpath on PostgreSQL, where the columns are jsonb), and a
tag test is json_each on SQLite but the jsonb `?|` operator on PostgreSQL, so the compiler
is told the dialect.

"Birthday today in the contact's time zone" cannot be decided in SQL (the zone may come
from the phone number), so it compiles to a cheap SQL pre-filter (the month-day is one
of the dates it is somewhere on Earth right now) plus a Python check per candidate:
`CompiledFilter.refine`. Such a condition may only be ANDed (top level or inside 'all').
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Text, and_, cast, exists, false, func, literal, not_, or_, select, true
from sqlalchemy.dialects.postgresql import JSONB, JSONPATH
from sqlalchemy.dialects.postgresql import array as pg_array
from sqlalchemy.sql.elements import ColumnElement

from mannerly.models import Consent, Contact, Topic
from mannerly.segments.filters import ATTRIBUTE_PREFIX, SegmentFilterError, field_kind, parse_moment

# What an anniversary check needs from a contact row.
REFINE_COLUMNS = (Contact.id, Contact.phone, Contact.time_zone, Contact.attributes)
# The widest offsets in use: at one moment local dates span from UTC-12 to UTC+14.
EARLIEST_OFFSET = timedelta(hours=-12)
LATEST_OFFSET = timedelta(hours=14)

Refine = Callable[[Any], bool]


@dataclass
class CompiledFilter:
    """A SQL condition on contacts and, when needed, a per-row check in Python (see the module docstring)."""

    where: ColumnElement[bool]
    refine: list[Refine] = field(default_factory=list)
    # A cheaper statement giving the same count, when the filter allows one (see _lone_consent_count).
    count_statement: Select | None = None

    def accepts(self, row: Any) -> bool:
        """True when a row (with REFINE_COLUMNS) passes every Python check."""
        return all(check(row) for check in self.refine)


def compile_filter(filter_: dict[str, Any], *, dialect: str, now: datetime, workspace_id: int,
                   zone_of: Callable[[Any], str | None] | None = None) -> CompiledFilter:
    """The SQL condition (and Python checks) selecting the contacts of one workspace that match."""
    compiler = _Compiler(dialect=dialect, now=now.astimezone(UTC), workspace_id=workspace_id,
                         zone_of=zone_of or _default_zone)
    condition = compiler.node(filter_, "", top=True)
    return CompiledFilter(where=and_(Contact.workspace_id == workspace_id, condition), refine=compiler.refine,
                          count_statement=_lone_consent_count(filter_, workspace_id))


def _lone_consent_count(filter_: dict[str, Any], workspace_id: int) -> Select | None:
    """For a filter that is only "opted in (or out) to topic X": count the consents instead of joining contacts.

    Each contact has at most one consent per topic and a consent row belongs to a contact of
    the same workspace (deleted with it), so the counts are equal; the consents index answers
    it without reading a million contacts.
    """
    while set(filter_) == {"all"} and len(filter_["all"]) == 1:  # the text form wraps one condition in 'all'
        filter_ = filter_["all"][0]
    spec = filter_.get("consent") if len(filter_) == 1 else None
    if spec is None or spec.get("status") not in ("opted_in", "opted_out"):
        return None
    topic_id = (select(Topic.id).where(Topic.workspace_id == workspace_id, Topic.name == spec["topic"])
                .scalar_subquery())
    return (select(func.count()).select_from(Consent)
            .where(Consent.topic_id == topic_id, Consent.status == spec["status"],
                   Consent.workspace_id == workspace_id))


def _default_zone(row: Any) -> str | None:
    """The contact's first zone: explicit, else from the phone number."""
    from mannerly.contacts.state import phone_time_zones

    if row.time_zone:
        return row.time_zone
    zones = phone_time_zones(row.phone) if row.phone else ()
    return zones[0] if zones else None


@dataclass
class _Compiler:
    """Walks a validated filter and builds the condition."""

    dialect: str
    now: datetime
    workspace_id: int
    zone_of: Callable[[Any], str | None]
    refine: list[Refine] = field(default_factory=list)

    @property
    def postgres(self) -> bool:
        """True on PostgreSQL; anything else is compiled for SQLite."""
        return self.dialect == "postgresql"

    def node(self, node: dict[str, Any], path: str, *, top: bool) -> ColumnElement[bool]:
        """A group or a condition; `top` is True while only ANDs lead here (anniversaries allowed)."""
        if not node:
            return true()
        if "field" in node:
            return self.field(node, path)
        if "tag" in node:
            return self.tags(node["tag"])
        if "country" in node:
            return Contact.country.in_(node["country"])
        if "language" in node:
            return Contact.language.in_(node["language"])
        if "consent" in node:
            return self.consent(node["consent"])
        if "inactive_days" in node:
            return self.inactive(node["inactive_days"])
        if "anniversary" in node:
            return self.anniversary(node["anniversary"], _join(path, "anniversary"), top=top)
        parts: list[ColumnElement[bool]] = []
        if "all" in node:
            parts.extend(self.node(child, _join(path, f"all[{index}]"), top=top)
                         for index, child in enumerate(node["all"]))
        if "any" in node:
            children = node["any"]
            parts.append(or_(*[self.node(child, _join(path, f"any[{index}]"), top=top and len(children) == 1)
                               for index, child in enumerate(children)]) if children else false())
        if "not" in node:
            parts.append(not_(self.node(node["not"], _join(path, "not"), top=False)))
        return and_(*parts) if parts else true()

    # -- conditions -----------------------------------------------------------------------

    def tags(self, tags: list[str]) -> ColumnElement[bool]:
        """The contact has at least one of the tags."""
        if self.postgres:
            return cast(Contact.tags, JSONB).has_any(pg_array([literal(tag, Text()) for tag in tags]))
        each = func.json_each(Contact.tags).table_valued("value")
        return exists(select(literal(1)).select_from(each).where(each.c.value.in_(tags)))

    def consent(self, spec: dict[str, str]) -> ColumnElement[bool]:
        """The contact's recorded consent for a topic (by name) is opted in / out, or none is recorded."""
        status = spec["status"]
        # The topic's id as a scalar subquery: the database looks it up once instead of joining per contact.
        topic_id = (select(Topic.id).where(Topic.workspace_id == self.workspace_id, Topic.name == spec["topic"])
                    .scalar_subquery())
        matches = select(literal(1)).select_from(Consent).where(Consent.contact_id == Contact.id,
                                                                Consent.topic_id == topic_id)
        if status == "unknown":
            return not_(exists(matches))
        return exists(matches.where(Consent.status == status))

    def inactive(self, bounds: dict[str, int]) -> ColumnElement[bool]:
        """No inbound message and no purchase for (at least / less than) N days."""
        parts = []
        for bound, days in bounds.items():
            cutoff = self.now - timedelta(days=days)
            if bound in ("gte", "gt"):
                # Inactive for at least N days: every activity (if any) is at least N days old.
                older = (lambda column: column <= cutoff) if bound == "gte" else (lambda column: column < cutoff)
                parts.append(and_(*[or_(column.is_(None), older(column))
                                    for column in (Contact.last_inbound_at, Contact.prior_relationship_at)]))
            else:
                newer = (lambda column: column > cutoff) if bound == "lt" else (lambda column: column >= cutoff)
                parts.append(or_(*[newer(column) for column in (Contact.last_inbound_at, Contact.prior_relationship_at)]))
        return and_(*parts)

    def field(self, node: dict[str, Any], path: str) -> ColumnElement[bool]:
        """A comparison on a contact column or a JSON attribute."""
        name, op, value = node["field"], node["op"], node.get("value")
        kind = field_kind(name, _join(path, "field"))
        if kind == "attribute":
            return self.attribute(name[len(ATTRIBUTE_PREFIX):], op, value, node.get("type", "text"), path)
        column = Contact.prior_relationship_at if name == "last_purchase_at" else getattr(Contact, name)
        if kind == "datetime":
            return self.moment_comparison(column, op, value, path)
        return self.comparison(column, op, value, text=True)

    def attribute(self, key: str, op: str, value: Any, value_type: str, path: str) -> ColumnElement[bool]:
        """A comparison on attributes.<key>, typed: numbers only match numbers, texts and dates match strings."""
        if self.postgres:
            as_text = Contact.attributes.op("->>")(literal(key))
            json_type = func.jsonb_typeof(Contact.attributes.op("->")(literal(key)))
            number_types: tuple[str, ...] = ("number",)
            string_type = "string"
        else:
            json_path = "$." + key
            as_text = func.json_extract(Contact.attributes, json_path)
            json_type = func.json_type(Contact.attributes, json_path)
            number_types = ("integer", "real")
            string_type = "text"
        # coalesce: a missing key gives NULL, which would make NOT (...) unknown instead of true.
        kind = func.coalesce(json_type, "missing")
        if op == "exists":
            return kind.not_in(("missing", "null"))
        if op == "missing":
            return kind.in_(("missing", "null"))
        negated = {"ne": "eq", "not_in": "in"}.get(op)
        if negated:
            # "not equal" also holds for contacts without the attribute, as it does for columns.
            return not_(self.attribute(key, negated, value, value_type, path))
        if isinstance(value, bool) or (isinstance(value, list) and value and isinstance(value[0], bool)):
            return self.boolean(as_text, kind, op, value, path)
        is_string = kind == string_type
        if value_type == "number":
            if self.postgres:
                holds = self.jsonpath_number(key, op, value, path)
            else:
                holds = and_(kind.in_(number_types), self.comparison(as_text, op, value, text=False))
            if op in ("eq", "in"):
                # Digits stored as text (a zip code, a member number) equal the same number.
                holds = or_(holds, and_(is_string, self.comparison(as_text, op, _as_texts(value), text=True)))
            return holds
        if op in ("within_days", "older_than_days"):
            cutoff = (self.now - timedelta(days=value)).date().isoformat()
            return and_(is_string, as_text >= cutoff if op == "within_days" else as_text < cutoff)
        # Texts and ISO dates compare as strings.
        return and_(is_string, self.comparison(as_text, op, _as_texts(value), text=True))

    def jsonpath_number(self, key: str, op: str, value: Any, path: str) -> ColumnElement[bool]:
        """attributes.<key> is a JSON number that compares as asked (PostgreSQL jsonpath, values bound as vars).

        Strict mode: a missing key, a string or an array never matches (the comparison is
        unknown, or an error that `silent` turns into NULL, and NULL becomes false).
        """
        member = f'$."{key}"'  # keys are plain identifiers (filters.ATTRIBUTE_KEY)
        variables: dict[str, Any] = {}

        def bound(number: Any) -> str:
            """A jsonpath variable holding one comparison value."""
            name = f"v{len(variables)}"
            variables[name] = number
            return "$" + name

        symbols = {"eq": "==", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
        if op in symbols:
            predicate = f"{member} {symbols[op]} {bound(value)}"
        elif op == "in":
            predicate = " || ".join(f"{member} == {bound(item)}" for item in value) if value else "false"
        elif op == "between":
            predicate = f"{member} >= {bound(value[0])} && {member} <= {bound(value[1])}"
        else:
            raise SegmentFilterError(_join(path, "op"), f"operator '{op}' does not apply to numbers")
        match = func.jsonb_path_match(Contact.attributes, cast(literal("strict " + predicate), JSONPATH),
                                      literal(variables, JSONB), true())
        return func.coalesce(match, false())

    def boolean(self, as_text: Any, json_type: Any, op: str, value: Any, path: str) -> ColumnElement[bool]:
        """attributes.<key> is (or is not) JSON true/false."""
        if op not in ("eq", "ne") or not isinstance(value, bool):
            raise SegmentFilterError(_join(path, "op"), "true/false can only be compared with eq or ne")
        word = "true" if value else "false"
        # PostgreSQL calls both 'boolean' and shows the word through ->>; SQLite's json_type is the word.
        return and_(json_type == "boolean", as_text == word) if self.postgres else json_type == word

    def comparison(self, column: Any, op: str, value: Any, *, text: bool) -> ColumnElement[bool]:
        """column <op> value for the operators of filters.OPERATORS (except exists/missing on attributes)."""
        if op == "eq":
            return column == value
        if op == "ne":
            return or_(column.is_(None), column != value)
        if op == "gt":
            return column > value
        if op == "gte":
            return column >= value
        if op == "lt":
            return column < value
        if op == "lte":
            return column <= value
        if op == "in":
            return column.in_(value)
        if op == "not_in":
            return or_(column.is_(None), column.not_in(value))
        if op == "between":
            return column.between(value[0], value[1])
        if op == "contains":
            return func.lower(column).contains(str(value).lower(), autoescape=True)
        if op == "starts_with":
            return func.lower(column).startswith(str(value).lower(), autoescape=True)
        if op == "exists":
            return and_(column.is_not(None), column != "") if text else column.is_not(None)
        if op == "missing":
            return or_(column.is_(None), column == "") if text else column.is_(None)
        raise SegmentFilterError("op", f"operator '{op}' does not apply here")

    def moment_comparison(self, column: Any, op: str, value: Any, path: str) -> ColumnElement[bool]:
        """A comparison on a timestamp column; a date means its whole day in UTC."""
        if op in ("within_days", "older_than_days"):
            cutoff = self.now - timedelta(days=value)
            return column >= cutoff if op == "within_days" else column < cutoff
        if op in ("exists", "missing"):
            return self.comparison(column, op, value, text=False)
        if op in ("contains", "starts_with"):
            raise SegmentFilterError(_join(path, "op"), f"'{op}' applies to texts, not to dates")
        value_path = _join(path, "value")
        if op == "between":
            low, high = (parse_moment(item, value_path) for item in value)
            return and_(column >= _day_start(low), column < _day_end(high))
        if op in ("in", "not_in"):
            days = [parse_moment(item, value_path) for item in value]
            inside = or_(*[and_(column >= _day_start(day), column < _day_end(day)) for day in days])
            return inside if op == "in" else or_(column.is_(None), not_(inside))
        moment = parse_moment(value, value_path)
        start, end = _day_start(moment), _day_end(moment)
        if op == "eq":
            return and_(column >= start, column < end)
        if op == "ne":
            return or_(column.is_(None), column < start, column >= end)
        return {"gt": column >= end, "gte": column >= start, "lt": column < start, "lte": column < end}[op]

    def anniversary(self, spec: dict[str, Any], path: str, *, top: bool) -> ColumnElement[bool]:
        """The month-day of a date attribute is today (in the contact's zone, or in UTC)."""
        key = spec["field"][len(ATTRIBUTE_PREFIX):]
        if self.postgres:
            month_day = func.substr(Contact.attributes.op("->>")(literal(key)), 6, 5)
        else:
            month_day = func.substr(func.json_extract(Contact.attributes, "$." + key), 6, 5)
        if not spec["today_in_contact_zone"]:
            return month_day.in_(month_days(self.now.date()))
        if not top:
            raise SegmentFilterError(path, "a birthday in the contact's own time zone can only be combined with "
                                     "'all' (not inside 'any' or 'not'); set today_in_contact_zone to false there")
        candidates: set[str] = set()
        day = (self.now + EARLIEST_OFFSET).date()
        while day <= (self.now + LATEST_OFFSET).date():
            candidates.update(month_days(day))
            day += timedelta(days=1)
        now, zone_of = self.now, self.zone_of

        def is_today(row: Any) -> bool:
            """The attribute's month-day is today where the contact is."""
            raw = (row.attributes or {}).get(key)
            if not isinstance(raw, str) or len(raw) < 10:
                return False
            zone_name = zone_of(row)
            try:
                local_today = now.astimezone(ZoneInfo(zone_name)).date() if zone_name else now.date()
            except (KeyError, ValueError):
                local_today = now.date()
            return raw[5:10] in month_days(local_today)

        self.refine.append(is_today)
        return month_day.in_(sorted(candidates))


def month_days(day: date) -> list[str]:
    """The 'MM-DD' strings celebrated on a day; 29 February is celebrated on 28 February in other years."""
    values = [f"{day.month:02d}-{day.day:02d}"]
    if day.month == 2 and day.day == 28 and not _leap(day.year):
        values.append("02-29")
    return values


def _leap(year: int) -> bool:
    """True for leap years."""
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _day_start(moment: datetime | date) -> datetime:
    """A timestamp itself, or the start of a date in UTC."""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC)
    return datetime.combine(moment, time(0), UTC)


def _day_end(moment: datetime | date) -> datetime:
    """Just after a timestamp (inclusive bound), or the start of the next day in UTC."""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC) + timedelta(microseconds=1)
    return datetime.combine(moment + timedelta(days=1), time(0), UTC)


def _as_texts(value: Any) -> Any:
    """Values compared with JSON text: numbers become their text (a zip code given as a number)."""
    if isinstance(value, list):
        return [str(item) for item in value]
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _join(path: str, part: str) -> str:
    """A child path: 'all[2]' + 'op' -> 'all[2].op'."""
    if part.startswith("["):
        return path + part
    return f"{path}.{part}" if path else part
