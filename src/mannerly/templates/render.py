"""Message templates with personalization (SPEC O2).

Pure: render_template() turns a template and a contact's data into the text
of one message. Two styles are accepted:

* Jinja2 expressions: "Hi {{ first_name | default('friend') }}".
* Bracket fields: "Hi [First Name]" means {{ first_name }}. Brackets are also
  ordinary punctuation ("[Acme]", "[안내]"), so a bracket token is a field only
  when its snake_case name is a variable we know of (in data, defaults or
  `allowed`); any other bracket token is left in the text for the
  placeholder lint (L7) to judge.

Templates are written by users, so they are untrusted. They run in Jinja2's
immutable sandbox (no underscored attributes, no mutation of lists or dicts),
and on top of it this module refuses what could make one render slow or huge:
str.format and %-formatting, big ranges, big string or list repetition, big
powers, macros, includes and recursive loops; and it caps every intermediate
string, the number of loop iterations and the length of the output.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

__all__ = [
    "MAX_OUTPUT_CHARS",
    "MAX_SOURCE_CHARS",
    "MAX_RANGE",
    "MAX_LOOP_ITERATIONS",
    "TemplateRenderError",
    "TemplateSecurityError",
    "TemplateSyntaxProblem",
    "UnknownTemplateVariable",
    "MissingTemplateValue",
    "bracket_name",
    "render_template",
    "template_variables",
]

# An SMS of 10 segments is ~1,600 characters; 10,000 leaves room for
# WhatsApp and e-mail-like channels while keeping a render cheap.
MAX_OUTPUT_CHARS = 10_000
MAX_RANGE = 1_000
MAX_LOOP_ITERATIONS = 10_000
# Longest template source accepted: parsing cost grows with it, and no message needs more.
MAX_SOURCE_CHARS = 10_000
# Largest integer (in bits) arithmetic may produce: ~3,000 decimal digits.
_MAX_INT_BITS = 10_000


class UnknownTemplateVariable(ValueError):
    """A template uses variables nobody knows; `names` lists them, sorted."""

    def __init__(self, names: Iterable[str], known: Iterable[str] = ()) -> None:
        """Keep the offending names and the known ones, both sorted."""
        self.names = sorted(set(names))
        self.known = sorted(set(known))
        super().__init__(self._describe())

    def _describe(self) -> str:
        """The error message naming the unknown and the known variables."""
        known = ", ".join(self.known) if self.known else "none"
        return f"unknown template variable(s): {', '.join(self.names)} — known: {known}"


class MissingTemplateValue(UnknownTemplateVariable):
    """Known variables that have no value for this contact and no default."""

    def _describe(self) -> str:
        """The error message naming the variables without a value."""
        return f"no value and no default for template variable(s): {', '.join(self.names)}"


class TemplateSyntaxProblem(ValueError):
    """A malformed template, or a construct message templates do not support."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        """Keep the problem and where it is (Jinja reports lines, not columns)."""
        where = f" (line {line}" + (f", column {column}" if column else "") + ")" if line else ""
        super().__init__(f"template syntax problem: {message}{where}")
        self.message = message
        self.line = line
        self.column = column


class TemplateSecurityError(ValueError):
    """A template tried something unsafe or too expensive; it is refused, not rendered."""


class TemplateRenderError(ValueError):
    """A well-formed template failed while rendering (e.g. dividing by zero)."""


# ---------------------------------------------------------------------------
# Bracket style

_BRACKET_TOKEN = re.compile(r"(?<!\[)\[([^\[\]\n{}%#]{1,40})\](?!\])")
# Jinja regions: brackets inside them are Jinja syntax ("items[0]"), not fields.
_JINJA_REGION = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^\w]+")
# Words Jinja reads as syntax, so "[If]" or "[None]" can never be a field.
_RESERVED_NAMES = frozenset(keyword.kwlist) | {"true", "false", "none", "and", "or", "not", "in", "is", "if", "else"}


def bracket_name(content: str) -> str | None:
    """The snake_case variable name for a bracket field's content ("First Name" -> "first_name"), or None."""
    name = _CAMEL_BOUNDARY.sub("_", content.strip())
    name = _NON_WORD.sub("_", name).strip("_").lower()
    name = re.sub(r"_+", "_", name)
    if not name or not name.isidentifier() or name[0].isdigit() or name in _RESERVED_NAMES:
        return None
    return name


def _outside_jinja(source: str) -> Iterator[tuple[int, int]]:
    """The (start, end) spans of the source that lie outside Jinja tags and comments."""
    position = 0
    for region in _JINJA_REGION.finditer(source):
        yield position, region.start()
        position = region.end()
    yield position, len(source)


def _bracket_fields(source: str) -> Iterator[tuple[re.Match[str], str]]:
    """Each bracket token outside Jinja regions that has a valid variable name, with the name."""
    for start, end in _outside_jinja(source):
        for match in _BRACKET_TOKEN.finditer(source, start, end):
            name = bracket_name(match.group(1))
            if name:
                yield match, name


def _convert_brackets(source: str, names: set[str]) -> str:
    """Rewrite "[First Name]" as "{{ first_name }}" for the names given; leave other brackets."""
    pieces: list[str] = []
    position = 0
    for match, name in _bracket_fields(source):
        if name in names:
            pieces.append(source[position : match.start()])
            pieces.append("{{ " + name + " }}")
            position = match.end()
    pieces.append(source[position:])
    return "".join(pieces)


# ---------------------------------------------------------------------------
# The sandbox


def _too_big(value: Any) -> bool:
    """True for a string or sequence longer than the output cap, or an int wider than the int cap."""
    if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)):
        return len(value) > MAX_OUTPUT_CHARS
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length() > _MAX_INT_BITS
    return False


def _refuse_big_numbers(args: Iterable[Any]) -> None:
    """Refuse sizes (widths, counts) larger than the output cap."""
    for argument in args:
        if isinstance(argument, int) and not isinstance(argument, bool) and abs(argument) > MAX_OUTPUT_CHARS:
            raise TemplateSecurityError(f"size {argument} is too large for a message template")


def _refuse_big_replace(text: Any, old: Any, new: Any) -> None:
    """Refuse a replace() whose result would exceed the cap, before computing it."""
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        occurrences = len(text) + 1 if old == "" else text.count(old)
        if len(text) + occurrences * len(new) > MAX_OUTPUT_CHARS:
            raise TemplateSecurityError("replace() would make the text too large for a message")


def _checked(value: Any, what: str) -> Any:
    """Return the value, or refuse it when it exceeds the caps."""
    if _too_big(value):
        raise TemplateSecurityError(f"{what} would be too large (over {MAX_OUTPUT_CHARS:,} characters)")
    return value


def _capped_range(*args: int) -> range:
    """range() limited to MAX_RANGE items."""
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise TemplateSecurityError(f"range of {len(result):,} items exceeds the limit of {MAX_RANGE:,}")
    return result


# Filters whose numeric arguments are sizes that make the output grow.
_SIZED_FILTERS = frozenset({"center", "indent", "slice", "batch", "wordwrap"})


def _refuse_big_join(value: Any, separator: Any) -> list[Any]:
    """Refuse a join whose result would exceed the cap, before building it; returns the items as a list."""
    items = list(value)
    size = sum(len(str(item)) for item in items) + len(str(separator)) * max(len(items) - 1, 0)
    if size > MAX_OUTPUT_CHARS:
        raise TemplateSecurityError("join would make the text too large for a message")
    return items


def _refuse_big_indent(text: Any, width: Any) -> None:
    """Refuse an indent whose result would exceed the cap (every line gets the width), before building it."""
    text = str(text)
    added = width if isinstance(width, int) and not isinstance(width, bool) else len(str(width))
    if len(text) + (text.count("\n") + 1) * max(added, 0) > MAX_OUTPUT_CHARS:
        raise TemplateSecurityError("indent would make the text too large for a message")


def _guard_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a Jinja filter so growth-making arguments and big results are refused."""
    # Filters marked pass_context/pass_environment get that object first.
    skip = 2 if hasattr(function, "jinja_pass_arg") else 1

    def guarded(*args: Any, **kwargs: Any) -> Any:
        """Call the filter after checking its size arguments, then check its result."""
        if name in _SIZED_FILTERS:
            _refuse_big_numbers([*args[skip:], *kwargs.values()])
        if name == "replace" and len(args) >= skip + 2:
            _refuse_big_replace(*args[skip - 1 : skip + 2])
        # join and indent multiply their argument by the number of items or lines: check before computing.
        if name == "join" and len(args) >= skip:
            separator = args[skip] if len(args) > skip else kwargs.get("d", "")
            items = _refuse_big_join(args[skip - 1], separator)
            args = (*args[: skip - 1], items, *args[skip:])
        if name == "indent" and len(args) >= skip:
            _refuse_big_indent(args[skip - 1], args[skip] if len(args) > skip else kwargs.get("width", 4))
        return _checked(function(*args, **kwargs), f"the result of filter {name!r}")

    # Jinja passes context/environment to filters according to these markers.
    if hasattr(function, "jinja_pass_arg"):
        guarded.jinja_pass_arg = function.jinja_pass_arg  # type: ignore[attr-defined]
    return guarded


class _MessageSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with size and time caps for message templates."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self) -> None:
        """Set up the sandbox: plain text, strict undefined, trimmed globals, guarded filters."""
        super().__init__(autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True)
        # Only globals a message could need; lipsum() and friends can only cost time.
        self.globals = {"range": _capped_range, "dict": dict, "namespace": self.globals["namespace"]}
        # printf-style "format" takes widths from the template; the rest are wrapped.
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items() if name != "format"}
        self.iterations = 0
        self.globals["_loop_guard"] = self._loop_guard
        self.globals["_concat_guard"] = self._concat_guard

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Refuse str.format / format_map outright: format specs can ask for any width."""
        if super().wrap_str_format(value) is not None:
            raise TemplateSecurityError("str.format is not allowed in message templates; use {{ name }}")
        return None

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Check repetition, powers and %-formatting before computing them."""
        if operator == "%" and isinstance(left, str):
            raise TemplateSecurityError("%-formatting is not allowed in message templates")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, (str, list, tuple)) and isinstance(count, int):
                    if len(sequence) * max(count, 0) > MAX_OUTPUT_CHARS:
                        raise TemplateSecurityError("repetition would be too large for a message")
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > _MAX_INT_BITS:
                    raise TemplateSecurityError("number would be too large for a message template")
        if operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and max(left.bit_length(), 1) * right > _MAX_INT_BITS:
                raise TemplateSecurityError("power would be too large for a message template")
        return _checked(super().call_binop(context, operator, left, right), f"the result of {operator!r}")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        """Refuse method calls that would build huge strings or lists, and huge results."""
        owner = getattr(__obj, "__self__", None)
        # "a".ljust(10**9), "a".zfill(10**9), "a".replace("a", long): sizes come from arguments.
        if isinstance(owner, (str, bytes, list, tuple)):
            _refuse_big_numbers([*args, *kwargs.values()])
            if getattr(__obj, "__name__", "") == "replace" and len(args) >= 2:
                _refuse_big_replace(owner, args[0], args[1])
        result = super().call(__context, __obj, *args, **kwargs)
        return _checked(result, "the result of a call")

    def _loop_guard(self, iterable: Any) -> Iterator[Any]:
        """Count loop iterations across one render and stop at MAX_LOOP_ITERATIONS."""
        for item in iterable:
            self.iterations += 1
            if self.iterations > MAX_LOOP_ITERATIONS:
                raise TemplateSecurityError(f"more than {MAX_LOOP_ITERATIONS:,} loop iterations")
            yield item

    def _concat_guard(self, *parts: Any) -> str:
        """The ~ operator, with the result length checked."""
        return _checked("".join(str(part) for part in parts), "the result of '~'")


# Tags that message templates do not need and that could multiply work or
# reach outside the template.
_FORBIDDEN_NODES: dict[type[nodes.Node], str] = {
    nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from … import %}",
    nodes.Extends: "{% extends %}",
    nodes.Block: "{% block %}",
}


def _parse(environment: _MessageSandbox, source: str) -> nodes.Template:
    """Parse a template, turning Jinja's syntax error into TemplateSyntaxProblem; refuse huge or deep ones."""
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateSecurityError(f"template longer than {MAX_SOURCE_CHARS:,} characters")
    try:
        return environment.parse(source)
    except TemplateSyntaxError as error:
        raise TemplateSyntaxProblem(error.message or str(error), error.lineno) from None


def _check_supported(tree: nodes.Template) -> None:
    """Refuse constructs message templates do not support."""
    for node_type, tag in _FORBIDDEN_NODES.items():
        for node in tree.find_all(node_type):
            raise TemplateSyntaxProblem(f"{tag} is not supported in message templates", node.lineno)
    for loop in tree.find_all(nodes.For):
        if loop.recursive:
            raise TemplateSyntaxProblem("recursive loops are not supported in message templates", loop.lineno)
    for name in tree.find_all(nodes.Name):
        if name.name.startswith("_"):
            raise TemplateSecurityError(f"names starting with '_' are not allowed: {name.name}")


def _add_guards(tree: nodes.Template) -> None:
    """Route every loop's iterable and every ~ through the sandbox's guards."""
    for loop in tree.find_all(nodes.For):
        loop.iter = nodes.Call(nodes.Name("_loop_guard", "load"), [loop.iter], [], None, None, lineno=loop.lineno)
    for parent in list(tree.find_all(nodes.Node)):
        for field in parent.fields:
            value = getattr(parent, field, None)
            if isinstance(value, nodes.Concat):
                setattr(parent, field, _guarded_concat(value))
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, nodes.Concat):
                        value[index] = _guarded_concat(item)


def _guarded_concat(node: nodes.Concat) -> nodes.Call:
    """Replace a ~ expression with a call to the concat guard."""
    return nodes.Call(nodes.Name("_concat_guard", "load"), node.nodes, [], None, None, lineno=node.lineno)


# ---------------------------------------------------------------------------
# Variables

_GUARDING_FILTERS = frozenset({"default", "d"})
_GUARDING_TESTS = frozenset({"defined", "undefined"})


def _optional_names(tree: nodes.Template) -> set[str]:
    """Names that appear at least once guarded by `| default(...)` or `is defined`."""
    guarded: set[str] = set()
    for node in tree.find_all(nodes.Filter):
        if node.name in _GUARDING_FILTERS and isinstance(node.node, nodes.Name):
            guarded.add(node.node.name)
    for node in tree.find_all(nodes.Test):
        if node.name in _GUARDING_TESTS and isinstance(node.node, nodes.Name):
            guarded.add(node.node.name)
    return guarded


def _required_names(tree: nodes.Template, used: set[str]) -> set[str]:
    """Used names that appear somewhere without a default/defined guard."""
    guarded_ids: set[int] = set()
    for node in tree.find_all(nodes.Filter):
        if node.name in _GUARDING_FILTERS and isinstance(node.node, nodes.Name):
            guarded_ids.add(id(node.node))
    for node in tree.find_all(nodes.Test):
        if node.name in _GUARDING_TESTS and isinstance(node.node, nodes.Name):
            guarded_ids.add(id(node.node))
    required: set[str] = set()
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and node.name in used and id(node) not in guarded_ids:
            required.add(node.name)
    return required


@contextmanager
def _refusing_deep_nesting() -> Iterator[None]:
    """Turn Python's RecursionError (deeply nested brackets, ifs or filters) into a TemplateSecurityError."""
    try:
        yield
    except RecursionError:
        raise TemplateSecurityError("template nesting is too deep") from None


def _jinja_variables(environment: _MessageSandbox, tree: nodes.Template) -> set[str]:
    """Variables a parsed template reads from its data (not its own loop/set names or globals)."""
    try:
        names = meta.find_undeclared_variables(tree)
    except TemplateSyntaxError as error:  # e.g. an unknown filter, found while compiling
        raise TemplateSyntaxProblem(error.message or str(error), error.lineno) from None
    return set(names) - set(environment.globals)


def template_variables(source: str, known: Iterable[str] | None = None) -> set[str]:
    """The variables a template uses: Jinja names plus bracket fields ("[First Name]" -> "first_name").

    Bracket tokens double as punctuation ("[Acme]"); pass `known` to count
    only bracket fields whose name is a known variable.
    """
    environment = _MessageSandbox()
    with _refusing_deep_nesting():
        names = _jinja_variables(environment, _parse(environment, source))
    known_names = set(known) if known is not None else None
    for _, name in _bracket_fields(source):
        if known_names is None or name in known_names:
            names.add(name)
    return names


# ---------------------------------------------------------------------------


def _is_blank(value: object) -> bool:
    """True for a value that should fall back to a default: None or an empty/whitespace string."""
    return value is None or (isinstance(value, str) and not value.strip())


def render_template(
    source: str,
    data: Mapping[str, object],
    *,
    defaults: Mapping[str, str] = {},  # noqa: B006 - read-only default
    allowed: Iterable[str] | None = None,
) -> str:
    """Render a message template with a contact's data, defaults for blank values, in the sandbox.

    Raises UnknownTemplateVariable for names outside data ∪ defaults ∪ allowed,
    MissingTemplateValue (a subclass) for known names with neither a value nor
    a default, TemplateSyntaxProblem, TemplateSecurityError or
    TemplateRenderError. Nothing is rendered when a check fails.
    """
    with _refusing_deep_nesting():
        return _checked_render(source, data, defaults, allowed)


def _checked_render(source: str, data: Mapping[str, object], defaults: Mapping[str, str],
                    allowed: Iterable[str] | None) -> str:
    """render_template's checks and render (see there)."""
    known = set(data) | set(defaults) | set(allowed or ())
    environment = _MessageSandbox()
    tree = _parse(environment, _convert_brackets(source, known))
    _check_supported(tree)

    used = _jinja_variables(environment, tree)
    unknown = used - known
    if allowed is None:
        # Without a list of allowed names we cannot tell a typo from an
        # absent optional value, so `| default(...)` / `is defined` names pass.
        unknown -= _optional_names(tree) - _required_names(tree, used)
    if unknown:
        raise UnknownTemplateVariable(unknown, known)

    # Blank values count as missing so `| default(...)` and `defaults` apply.
    values: dict[str, object] = {name: value for name, value in data.items() if not _is_blank(value)}
    for name, default in defaults.items():
        values.setdefault(name, default)
    missing = _required_names(tree, used) - set(values)
    if missing:
        raise MissingTemplateValue(missing, known)

    _add_guards(tree)
    tree.set_environment(environment)
    return _render(environment, tree, values)


def _render(environment: _MessageSandbox, tree: nodes.Template, values: Mapping[str, object]) -> str:
    """Run the checked template, capping the output and translating Jinja's errors."""
    try:
        template = environment.from_string(tree)
        output: list[str] = []
        length = 0
        for chunk in template.generate(values):
            length += len(chunk)
            if length > MAX_OUTPUT_CHARS:
                raise TemplateSecurityError(f"output longer than {MAX_OUTPUT_CHARS:,} characters")
            output.append(chunk)
        return "".join(output)
    except (TemplateSecurityError, UnknownTemplateVariable):
        raise
    except SecurityError as error:
        raise TemplateSecurityError(str(error)) from None
    except RecursionError:
        raise TemplateSecurityError("template recursion is too deep") from None
    except UndefinedError as error:
        raise UnknownTemplateVariable(_undefined_names(str(error)), values) from None
    except TemplateSyntaxError as error:
        raise TemplateSyntaxProblem(error.message or str(error), error.lineno) from None
    except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as error:
        raise TemplateRenderError(f"template failed while rendering: {error}") from None


def _undefined_names(message: str) -> list[str]:
    """Pull the missing name out of Jinja's UndefinedError message."""
    names = re.findall(r"'([^']+)' is undefined|has no attribute '([^']+)'", message)
    return [name for pair in names for name in pair if name] or [message]
