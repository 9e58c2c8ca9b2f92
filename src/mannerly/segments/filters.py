"""The segment filter format (O5): validation of the JSON form and parsing of the short text form.

Pure: no database, no clock. See docs/campaigns.md for the format with examples.

JSON form — a node is one of:
    {"all": [node, ...]}, {"any": [node, ...]}, {"not": node}   (keys may be combined: all must hold)
    {"field": "country" | "attributes.city" | ..., "op": "eq", "value": ...}
    {"tag": "vip"} or {"tag": ["vip", "gold"]}                 (has any of the tags)
    {"country": "KR"} or {"country": ["KR", "ID"]}
    {"language": "ko"} or {"language": ["ko", "en"]}
    {"consent": {"topic": "promotions", "status": "opted_in"}}  (opted_in | opted_out | unknown)
    {"inactive_days": {"gte": 30}}                             (no inbound message or purchase for N days)
    {"anniversary": {"field": "attributes.birthday", "today_in_contact_zone": true}}
The empty object {} matches every contact.

Text form — conditions separated by spaces, all of which must hold; a leading "-" negates one:
    country:KR,ID  language:ko  tag:vip  consent:promotions  consent:promotions=opted_out
    inactive>30d  inactive>=30d  inactive<7d  birthday:today  anniversary:wedding_day
    city=Seoul  age>=30  plan!=free  name~kim  "city=New York"  purchased<90d  purchased>365d
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

# Contact columns a filter may name, with the kind of value they hold.
COLUMN_FIELDS: dict[str, str] = {
    "country": "text",
    "language": "text",
    "subdivision": "text",
    "time_zone": "text",
    "first_name": "text",
    "name": "text",
    "phone": "text",
    "created_at": "datetime",
    "last_inbound_at": "datetime",
    "last_outbound_at": "datetime",
    "prior_relationship_at": "datetime",
    # "last purchase" is the relationship recorded outside messaging (a purchase, P6).
    "last_purchase_at": "datetime",
}
ATTRIBUTE_PREFIX = "attributes."
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
VALUE_TYPES = ("text", "number", "date")
# Operators and what their value must be.
OPERATORS: dict[str, str] = {
    "eq": "scalar", "ne": "scalar",
    "gt": "scalar", "gte": "scalar", "lt": "scalar", "lte": "scalar",
    "in": "list", "not_in": "list",
    "between": "pair",
    "contains": "text", "starts_with": "text",
    "exists": "none", "missing": "none",
    # For dates and timestamps: within the last N days / longer ago than N days.
    "within_days": "days", "older_than_days": "days",
}
CONSENT_STATUSES = ("opted_in", "opted_out", "unknown")
DAY_BOUNDS = ("gt", "gte", "lt", "lte")
GROUP_KEYS = ("all", "any", "not")
CONDITION_KEYS = ("field", "tag", "country", "language", "consent", "inactive_days", "anniversary")
MAX_DEPTH = 8
MAX_CONDITIONS = 200


@dataclass
class SegmentFilterError(ValueError):
    """A filter that cannot be understood; `path` points at the bad node, e.g. "all[2].op"."""

    path: str
    message: str

    def __str__(self) -> str:
        """The path and the message."""
        return f"{self.path or '(filter)'}: {self.message}"


def _join(path: str, part: str) -> str:
    """A child path: 'all[2]' + 'op' -> 'all[2].op'."""
    if part.startswith("["):
        return path + part
    return f"{path}.{part}" if path else part


class _Counter:
    """Counts conditions so a filter cannot grow without bound."""

    def __init__(self) -> None:
        """Start at zero."""
        self.count = 0

    def add(self, path: str) -> None:
        """One more condition, or an error past the limit."""
        self.count += 1
        if self.count > MAX_CONDITIONS:
            raise SegmentFilterError(path, f"a filter may hold at most {MAX_CONDITIONS} conditions")


def validate_filter(node: Any) -> dict[str, Any]:
    """Check a JSON filter and return it normalized (country codes upper-case, single values as lists)."""
    return _node(node, "", 0, _Counter())


def _node(node: Any, path: str, depth: int, counter: _Counter) -> dict[str, Any]:
    """Validate one node: a group, a condition, or both kinds of keys mixed (a mix is refused)."""
    if not isinstance(node, dict):
        raise SegmentFilterError(path, "expected an object")
    if depth > MAX_DEPTH:
        raise SegmentFilterError(path, f"filters may nest at most {MAX_DEPTH} levels")
    keys = set(node)
    unknown = keys - set(GROUP_KEYS) - set(CONDITION_KEYS) - {"op", "value", "type"}
    if unknown:
        name = sorted(unknown)[0]
        raise SegmentFilterError(_join(path, name), f"unknown key '{name}'; expected one of "
                                 f"{', '.join(GROUP_KEYS + CONDITION_KEYS)}")
    if keys & set(GROUP_KEYS):
        if keys - set(GROUP_KEYS):
            name = sorted(keys - set(GROUP_KEYS))[0]
            raise SegmentFilterError(_join(path, name), "a group (all/any/not) cannot hold condition keys; "
                                     "put the condition inside 'all'")
        normalized: dict[str, Any] = {}
        for key in ("all", "any"):
            if key in node:
                children = node[key]
                if not isinstance(children, list):
                    raise SegmentFilterError(_join(path, key), "expected a list of conditions")
                normalized[key] = [_node(child, _join(path, f"{key}[{index}]"), depth + 1, counter)
                                   for index, child in enumerate(children)]
        if "not" in node:
            normalized["not"] = _node(node["not"], _join(path, "not"), depth + 1, counter)
        return normalized
    if not keys:
        return {}
    return _condition(node, path, counter)


def _condition(node: dict[str, Any], path: str, counter: _Counter) -> dict[str, Any]:
    """Validate one condition object."""
    counter.add(path)
    kinds = [key for key in CONDITION_KEYS if key in node]
    if len(kinds) != 1:
        raise SegmentFilterError(path, "a condition has exactly one of " + ", ".join(CONDITION_KEYS))
    kind = kinds[0]
    extra = set(node) - {kind} - ({"op", "value", "type"} if kind == "field" else set())
    if extra:
        name = sorted(extra)[0]
        raise SegmentFilterError(_join(path, name), f"unknown key '{name}' in a '{kind}' condition")
    value = node[kind]
    here = _join(path, kind)
    if kind == "field":
        return _field_condition(node, path)
    if kind == "tag":
        return {"tag": _strings(value, here, upper=False)}
    if kind == "country":
        codes = _strings(value, here, upper=True)
        for index, code in enumerate(codes):
            if not re.fullmatch(r"[A-Z]{2}", code):
                raise SegmentFilterError(f"{here}[{index}]", f"'{code}' is not a two-letter country code")
        return {"country": codes}
    if kind == "language":
        languages = [item.lower() for item in _strings(value, here, upper=False)]
        return {"language": languages}
    if kind == "consent":
        return {"consent": _consent(value, here)}
    if kind == "inactive_days":
        return {"inactive_days": _day_bounds(value, here)}
    return {"anniversary": _anniversary(value, here)}


def _strings(value: Any, path: str, *, upper: bool) -> list[str]:
    """One string or a non-empty list of strings, as a list."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise SegmentFilterError(path, "expected a string or a non-empty list of strings")
    result = []
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            raise SegmentFilterError(f"{path}[{index}]", "expected a non-empty string")
        result.append(item.strip().upper() if upper else item.strip())
    return result


def _consent(value: Any, path: str) -> dict[str, str]:
    """{"topic": name, "status": opted_in|opted_out|unknown} (status defaults to opted_in)."""
    if isinstance(value, str):
        value = {"topic": value}
    if not isinstance(value, dict):
        raise SegmentFilterError(path, "expected {\"topic\": ..., \"status\": ...}")
    extra = set(value) - {"topic", "status"}
    if extra:
        name = sorted(extra)[0]
        raise SegmentFilterError(_join(path, name), f"unknown key '{name}'; expected topic and status")
    topic = value.get("topic")
    if not isinstance(topic, str) or not topic.strip():
        raise SegmentFilterError(_join(path, "topic"), "expected a topic name")
    status = value.get("status", "opted_in")
    if status not in CONSENT_STATUSES:
        raise SegmentFilterError(_join(path, "status"), f"expected one of {', '.join(CONSENT_STATUSES)}")
    return {"topic": topic.strip(), "status": status}


def _day_bounds(value: Any, path: str) -> dict[str, int]:
    """{"gte": 30} and friends: whole non-negative numbers of days."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"gte": value}
    if not isinstance(value, dict) or not value:
        raise SegmentFilterError(path, "expected bounds such as {\"gte\": 30}")
    bounds = {}
    for key, days in value.items():
        if key not in DAY_BOUNDS:
            raise SegmentFilterError(_join(path, key), f"unknown bound '{key}'; expected {', '.join(DAY_BOUNDS)}")
        if not isinstance(days, int) or isinstance(days, bool) or days < 0 or days > 36500:
            raise SegmentFilterError(_join(path, key), "expected a whole number of days (0–36500)")
        bounds[key] = days
    return bounds


def _anniversary(value: Any, path: str) -> dict[str, Any]:
    """{"field": "attributes.birthday", "today_in_contact_zone": true}."""
    if isinstance(value, str):
        value = {"field": value}
    if not isinstance(value, dict):
        raise SegmentFilterError(path, "expected {\"field\": \"attributes.birthday\"}")
    extra = set(value) - {"field", "today_in_contact_zone"}
    if extra:
        name = sorted(extra)[0]
        raise SegmentFilterError(_join(path, name), f"unknown key '{name}'; expected field, today_in_contact_zone")
    field = value.get("field")
    if not isinstance(field, str) or not field.startswith(ATTRIBUTE_PREFIX) or \
            not ATTRIBUTE_KEY.match(field[len(ATTRIBUTE_PREFIX):]):
        raise SegmentFilterError(_join(path, "field"), "expected an attribute holding a date, e.g. attributes.birthday")
    in_zone = value.get("today_in_contact_zone", True)
    if not isinstance(in_zone, bool):
        raise SegmentFilterError(_join(path, "today_in_contact_zone"), "expected true or false")
    return {"field": field, "today_in_contact_zone": in_zone}


def field_kind(field: str, path: str) -> str:
    """'text' | 'datetime' for a column, 'attribute' for attributes.<key>, else an error."""
    if field in COLUMN_FIELDS:
        return COLUMN_FIELDS[field]
    if field.startswith(ATTRIBUTE_PREFIX) and ATTRIBUTE_KEY.match(field[len(ATTRIBUTE_PREFIX):]):
        return "attribute"
    raise SegmentFilterError(path, f"unknown field '{field}'; use one of {', '.join(COLUMN_FIELDS)} "
                             "or attributes.<name>")


def _field_condition(node: dict[str, Any], path: str) -> dict[str, Any]:
    """Validate {"field", "op", "value", "type"?} and infer the value type of attribute comparisons."""
    field = node["field"]
    if not isinstance(field, str):
        raise SegmentFilterError(_join(path, "field"), "expected a field name")
    kind = field_kind(field, _join(path, "field"))
    op = node.get("op", "eq")
    if op not in OPERATORS:
        raise SegmentFilterError(_join(path, "op"), f"unknown operator '{op}'; expected one of {', '.join(OPERATORS)}")
    shape = OPERATORS[op]
    value = node.get("value")
    value_path = _join(path, "value")
    if shape == "none":
        if "value" in node and value is not None:
            raise SegmentFilterError(value_path, f"'{op}' takes no value")
    elif shape == "list":
        if not isinstance(value, list) or not value or not all(_is_scalar(item) for item in value):
            raise SegmentFilterError(value_path, f"'{op}' needs a non-empty list of values")
    elif shape == "pair":
        if not isinstance(value, list) or len(value) != 2 or not all(_is_scalar(item) for item in value):
            raise SegmentFilterError(value_path, "'between' needs [low, high]")
    elif shape == "days":
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise SegmentFilterError(value_path, f"'{op}' needs a whole number of days")
        if kind == "text":
            raise SegmentFilterError(_join(path, "op"), f"'{op}' applies to dates, not to the text field '{field}'")
    elif shape == "text":
        if not isinstance(value, str) or not value:
            raise SegmentFilterError(value_path, f"'{op}' needs a non-empty text")
    elif not _is_scalar(value) or value is None:
        raise SegmentFilterError(value_path, f"'{op}' needs a text, number or date value")
    value_type = node.get("type") or _infer_type(kind, value)
    if value_type not in VALUE_TYPES:
        raise SegmentFilterError(_join(path, "type"), f"unknown type '{value_type}'; expected {', '.join(VALUE_TYPES)}")
    if value_type == "number" and shape in ("scalar", "list", "pair"):
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise SegmentFilterError(value_path, "a number comparison needs numbers")
    if kind == "datetime" and shape in ("scalar", "list", "pair"):
        values = value if isinstance(value, list) else [value]
        for item in values:
            parse_moment(item, value_path)
    if field == "country" and isinstance(value, str):
        value = value.upper()
    result = {"field": field, "op": op}
    if shape != "none":
        result["value"] = value
    if kind == "attribute":
        result["type"] = value_type
    return result


def _is_scalar(value: Any) -> bool:
    """A JSON string, number or boolean."""
    return isinstance(value, str | int | float | bool)


def _infer_type(kind: str, value: Any) -> str:
    """number when the compared value is a number, date when it looks like YYYY-MM-DD, else text."""
    if kind == "datetime":
        return "date"
    sample = value[0] if isinstance(value, list) and value else value
    if isinstance(sample, int | float) and not isinstance(sample, bool):
        return "number"
    if isinstance(sample, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", sample):
        return "date"
    return "text"


def parse_moment(value: Any, path: str) -> datetime | date:
    """A date ('2025-03-01') or an ISO timestamp with offset, for comparisons with timestamp columns."""
    if isinstance(value, str):
        try:
            if len(value) == 10:
                return date.fromisoformat(value)
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is None:
                raise SegmentFilterError(path, f"'{value}' has no UTC offset; add one (e.g. +09:00) or give a date")
            return moment
        except ValueError:
            pass
    raise SegmentFilterError(path, f"'{value}' is not a date (YYYY-MM-DD) or an ISO timestamp with offset")


# -- the text form ----------------------------------------------------------------------------

_COMPARISON = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)(>=|<=|!=|=|>|<|~)(.*)$")
_TEXT_OPS = {"=": "eq", "!=": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "~": "contains"}
_DAYS = re.compile(r"^(\d+)d$")


def parse_text(text: str) -> dict[str, Any]:
    """The JSON filter for a text form such as 'country:KR tag:vip consent:promotions inactive>30d'."""
    try:
        tokens = shlex.split(text)
    except ValueError as error:
        raise SegmentFilterError("text", f"unbalanced quotes: {error}") from None
    conditions: list[dict[str, Any]] = []
    for index, token in enumerate(tokens):
        negated = token.startswith("-") and len(token) > 1
        condition = _token(token[1:] if negated else token, f"text[{index}]")
        conditions.append({"not": condition} if negated else condition)
    if not conditions:
        return {}
    return validate_filter({"all": conditions})


def _token(token: str, path: str) -> dict[str, Any]:
    """One condition of the text form."""
    name, sep, rest = token.partition(":")
    if sep and re.fullmatch(r"[A-Za-z_]+", name):
        key = name.lower()
        if key in ("country", "language"):
            return {key: [item for item in rest.split(",") if item]}
        if key == "tag":
            return {"tag": [item for item in rest.split(",") if item]}
        if key == "consent":
            topic, _, status = rest.partition("=")
            return {"consent": {"topic": topic, "status": status or "opted_in"}}
        if key == "birthday" and rest == "today":
            return {"anniversary": {"field": "attributes.birthday", "today_in_contact_zone": True}}
        if key == "anniversary":
            return {"anniversary": {"field": ATTRIBUTE_PREFIX + rest, "today_in_contact_zone": True}}
        raise SegmentFilterError(path, f"unknown condition '{name}:'; expected country:, language:, tag:, "
                                 "consent:, birthday:today or anniversary:")
    match = _COMPARISON.match(token)
    if not match:
        raise SegmentFilterError(path, f"cannot read '{token}'; write e.g. city=Seoul, age>=30 or tag:vip")
    name, operator, raw = match.groups()
    days = _DAYS.match(raw)
    if name in ("inactive", "purchased") and operator in (">", ">=", "<", "<="):
        if not days:
            raise SegmentFilterError(path, f"'{name}' needs a number of days, e.g. {name}>30d")
        count = int(days.group(1))
        if name == "inactive":
            return {"inactive_days": {_TEXT_OPS[operator]: count}}
        # purchased<90d: the last purchase is less than 90 days ago.
        op = "within_days" if operator in ("<", "<=") else "older_than_days"
        return {"field": "last_purchase_at", "op": op, "value": count}
    field = name if name in COLUMN_FIELDS else ATTRIBUTE_PREFIX + name.removeprefix(ATTRIBUTE_PREFIX)
    return {"field": field, "op": _TEXT_OPS[operator], "value": _text_value(raw, operator)}


def _text_value(raw: str, operator: str) -> Any:
    """A number when the text is one and the comparison is not 'contains', else the text."""
    if operator != "~" and re.fullmatch(r"-?\d+(\.\d+)?", raw):
        return float(raw) if "." in raw else int(raw)
    return raw
