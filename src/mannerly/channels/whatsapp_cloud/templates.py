"""Mirror a WhatsApp Business Account's message templates into Mannerly's template rows (pure).

WhatsApp bodies number their variables: "Hi {{1}}, order {{2}} has shipped." Mannerly
bodies name them. The sync converts:

* a positional `{{N}}` becomes `{{ paramN }}` on a new row ("Hi {{ param1 }} …"), so a
  send passes `data: {"param1": "Ana", "param2": "#1234"}`;
* when a Mannerly row is already linked, its own variable names are kept: the N-th
  variable in order of first use stands for `{{N}}`, the same order in which the
  dispatcher passes parameters (messages.service.whatsapp_parameters);
* a named `{{first_name}}` (templates created with parameter_format NAMED) becomes
  `{{ first_name }}`.

Languages: Mannerly keys templates by ISO 639-1 code ("en"), WhatsApp by locale
("en_US"). A row gets the primary subtag; when one template name has several locales
of the same language ("en" and "en_GB"), the exact code keeps the short name and the
others keep their full code. The WhatsApp code to send with is returned as a language
map, kept in the channel's config (`template_languages`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mannerly.templates.render import TemplateSecurityError, TemplateSyntaxProblem, bracket_name, template_variables

WHATSAPP_PLACEHOLDER = re.compile(r"\{\{\s*([0-9]+|[a-z_][a-z0-9_]*)\s*\}\}")
# A Mannerly variable: a Jinja expression starting with a name, or a bracket field.
_MANNERLY_VARIABLE = re.compile(r"\{\{-?\s*([A-Za-z_][A-Za-z0-9_]*)[^}]*\}\}|(?<!\[)\[([^\[\]\n{}%#]{1,40})\](?!\])")
# Literal text that Jinja would read as syntax.
_JINJA_SYNTAX = ("{{", "}}", "{%", "%}", "{#", "#}")
_TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")
MAX_LANGUAGE_LENGTH = 8


@dataclass(frozen=True)
class ExistingTemplate:
    """What the sync needs to know of one Mannerly template row."""

    id: int
    name: str
    language: str
    body: str
    whatsapp_name: str | None
    whatsapp_status: str | None
    category: str | None
    variables: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RemoteTemplate:
    """One WhatsApp message template, as the sync reads it."""

    name: str
    language_code: str  # WhatsApp's locale, e.g. "en_US"
    language: str  # the Mannerly language the row gets, e.g. "en"
    status: str | None
    category: str | None
    body_text: str
    warnings: tuple[str, ...] = ()


@dataclass
class SyncPlan:
    """What the sync will do: rows to create and update, and what it leaves alone and why."""

    creates: list[dict[str, Any]] = field(default_factory=list)  # Template column values
    updates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (row id, column -> new value)
    changes: list[dict[str, Any]] = field(default_factory=list)  # per updated row: {id, name, language, changes}
    unchanged: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, Any]] = field(default_factory=list)  # linked rows WhatsApp no longer lists
    warnings: list[dict[str, Any]] = field(default_factory=list)
    languages: dict[str, dict[str, str]] = field(default_factory=dict)  # whatsapp name -> {language: code}


def primary_language(code: str) -> str:
    """The ISO 639 primary subtag of a WhatsApp locale ("en_US" -> "en", "ko" -> "ko")."""
    return re.split(r"[_-]", code.strip(), maxsplit=1)[0].lower()


def body_component_text(components: Any) -> str | None:
    """The text of a template's BODY component, or None when it has none."""
    for component in components if isinstance(components, list) else []:
        if isinstance(component, Mapping) and str(component.get("type", "")).upper() == "BODY":
            text = component.get("text")
            return text if isinstance(text, str) else None
    return None


def component_warnings(components: Any) -> tuple[str, ...]:
    """Parts of a template Mannerly does not fill: variables outside the body (it sends body parameters only)."""
    warnings = []
    for component in components if isinstance(components, list) else []:
        if not isinstance(component, Mapping):
            continue
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER" and WHATSAPP_PLACEHOLDER.search(str(component.get("text") or "")):
            warnings.append("the header has a variable; Mannerly sends body parameters only")
        if kind == "HEADER" and str(component.get("format", "TEXT")).upper() != "TEXT":
            warnings.append(f"the header is {str(component.get('format')).lower()} media; Mannerly does not attach media")
        if kind == "BUTTONS":
            for button in component.get("buttons") or []:
                if isinstance(button, Mapping) and WHATSAPP_PLACEHOLDER.search(str(button.get("url") or "")):
                    warnings.append("a URL button has a variable; Mannerly sends body parameters only")
    return tuple(warnings)


def variable_names(body: str, known: Iterable[str] = ()) -> list[str]:
    """A Mannerly body's variables in order of first use (bracket fields only when their name is known)."""
    known_names = set(known)
    names: list[str] = []
    for match in _MANNERLY_VARIABLE.finditer(body):
        name = match.group(1) or bracket_name(match.group(2))
        if match.group(2) is not None and name not in known_names:
            continue
        if name and name not in names:
            names.append(name)
    return names


def whatsapp_shape(body: str, known: Iterable[str] = ()) -> str:
    """A Mannerly body written the WhatsApp way: its variables as {{1}}, {{2}} … in order of first use."""
    names = variable_names(body, known)
    known_names = set(known)

    def numbered(match: re.Match[str]) -> str:
        """The positional placeholder for one variable occurrence."""
        name = match.group(1) or bracket_name(match.group(2))
        if match.group(2) is not None and name not in known_names:
            return match.group(0)
        return f"{{{{{names.index(name) + 1}}}}}" if name in names else match.group(0)

    return _MANNERLY_VARIABLE.sub(numbered, body)


def _literal(text: str) -> str:
    """Literal text made safe for Jinja: wrapped in a raw block when it contains Jinja syntax."""
    if any(token in text for token in _JINJA_SYNTAX):
        return "{% raw %}" + text + "{% endraw %}"
    return text


def mannerly_body(whatsapp_text: str, names: list[str] | None = None) -> str:
    """A WhatsApp body with its {{N}} as named Mannerly placeholders ({{ names[N-1] }}, else {{ paramN }})."""
    names = names or []
    pieces: list[str] = []
    position = 0
    for match in WHATSAPP_PLACEHOLDER.finditer(whatsapp_text):
        pieces.append(_literal(whatsapp_text[position:match.start()]))
        token = match.group(1)
        if token.isdigit():
            index = int(token)
            name = names[index - 1] if 0 < index <= len(names) else f"param{index}"
        else:
            name = token
        pieces.append(f"{{{{ {name} }}}}")
        position = match.end()
    pieces.append(_literal(whatsapp_text[position:]))
    return "".join(pieces)


def positional_count(whatsapp_text: str) -> int:
    """How many distinct numbered variables a WhatsApp body has."""
    return len({match.group(1) for match in WHATSAPP_PLACEHOLDER.finditer(whatsapp_text) if match.group(1).isdigit()})


def read_remote(items: Iterable[Any]) -> tuple[list[RemoteTemplate], list[dict[str, Any]]]:
    """The usable templates of a message_templates listing, and the skipped ones with reasons."""
    entries: list[tuple[str, str, str | None, str | None, str, tuple[str, ...]]] = []
    skipped: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        name, code = item.get("name"), item.get("language")
        if not isinstance(name, str) or not isinstance(code, str) or not name or not code:
            skipped.append({"name": name, "language": code, "reason": "no name or language"})
            continue
        if not _TEMPLATE_NAME.match(name):
            skipped.append({"name": name, "language": code, "reason": "the name is not a valid Mannerly template name"})
            continue
        body = body_component_text(item.get("components"))
        if body is None:
            skipped.append({"name": name, "language": code, "reason": "the template has no BODY text"})
            continue
        status = str(item["status"]).upper() if item.get("status") else None
        category = str(item["category"]).upper() if item.get("category") else None
        entries.append((name, code, status, category, body, component_warnings(item.get("components"))))
    # Several locales of one language under one name: the exact code ("en") keeps the short
    # language, else the alphabetically first locale does; the others keep their full code.
    def claim_order(entry: tuple[Any, ...]) -> tuple[str, bool, str]:
        """Sort key: by name, exact language codes first, then by code."""
        return entry[0], entry[1].lower() != primary_language(entry[1]), entry[1]

    short_taken: dict[tuple[str, str], str] = {}
    for name, code, *_ in sorted(entries, key=claim_order):
        short_taken.setdefault((name, primary_language(code)), code)
    remote = []
    for name, code, status, category, body, warnings in entries:
        short = primary_language(code)
        language = short if short_taken[(name, short)] == code else code
        if len(language) > MAX_LANGUAGE_LENGTH:
            skipped.append({"name": name, "language": code, "reason": "the language code is too long"})
            continue
        remote.append(RemoteTemplate(name=name, language_code=code, language=language, status=status,
                                     category=category, body_text=body, warnings=warnings))
    return remote, skipped


def _parses(body: str) -> str | None:
    """None when a Mannerly body parses, else why not."""
    try:
        template_variables(body)
    except (TemplateSyntaxProblem, TemplateSecurityError) as error:
        return str(error)
    return None


def plan_sync(items: Iterable[Any], existing: Iterable[ExistingTemplate]) -> SyncPlan:
    """Compare WhatsApp's template listing with the workspace's rows and decide what to create and update."""
    plan = SyncPlan()
    remote, plan.skipped = read_remote(items)
    rows = list(existing)
    linked = {(row.whatsapp_name, row.language): row for row in rows if row.whatsapp_name}
    by_name = {(row.name, row.language): row for row in rows}
    seen: set[tuple[str, str]] = set()
    for template in remote:
        key = (template.name, template.language)
        seen.add(key)
        if template.language_code != template.language:
            plan.languages.setdefault(template.name, {})[template.language] = template.language_code
        for warning in template.warnings:
            plan.warnings.append({"name": template.name, "language": template.language, "warning": warning})
        row = linked.get(key)
        if row is None:
            row = by_name.get(key)
            if row is not None and row.whatsapp_name and row.whatsapp_name != template.name:
                plan.skipped.append({"name": template.name, "language": template.language_code,
                                     "reason": f"template '{row.name}' ({row.language}) is linked to the WhatsApp "
                                               f"template '{row.whatsapp_name}'"})
                continue
        if row is None:
            body = mannerly_body(template.body_text)
            problem = _parses(body)
            if problem:
                plan.skipped.append({"name": template.name, "language": template.language_code,
                                     "reason": f"the body does not convert: {problem}"})
                continue
            plan.creates.append({"name": template.name, "language": template.language, "body": body,
                                 "whatsapp_name": template.name, "whatsapp_status": template.status,
                                 "category": template.category, "variables": {}})
            continue
        plan_update(plan, row, template)
    for row in rows:
        if row.whatsapp_name and (row.whatsapp_name, row.language) not in seen:
            plan.missing.append({"id": row.id, "name": row.name, "language": row.language,
                                 "whatsapp_name": row.whatsapp_name})
    return plan


def plan_update(plan: SyncPlan, row: ExistingTemplate, template: RemoteTemplate) -> None:
    """Add the column changes one linked (or same-named) row needs to match WhatsApp."""
    new_values: dict[str, Any] = {}
    if row.whatsapp_name != template.name:
        new_values["whatsapp_name"] = template.name
    if row.whatsapp_status != template.status:
        new_values["whatsapp_status"] = template.status
    if template.category and row.category != template.category:
        new_values["category"] = template.category
    known = list((row.variables or {}).keys())
    if whatsapp_shape(row.body, known) != template.body_text:
        names = variable_names(row.body, known)
        if positional_count(template.body_text) != len(names):
            names = []  # the variables changed in number: fall back to param1, param2 …
        body = mannerly_body(template.body_text, names)
        problem = _parses(body)
        if problem:
            plan.skipped.append({"name": template.name, "language": template.language_code,
                                 "reason": f"the body does not convert: {problem}"})
        else:
            new_values["body"] = body
    if not new_values:
        plan.unchanged.append({"id": row.id, "name": row.name, "language": row.language})
        return
    current = {"whatsapp_name": row.whatsapp_name, "whatsapp_status": row.whatsapp_status,
               "category": row.category, "body": row.body}
    plan.updates.append((row.id, new_values))
    plan.changes.append({"id": row.id, "name": row.name, "language": row.language,
                         "changes": {column: [current[column], value] for column, value in new_values.items()}})
