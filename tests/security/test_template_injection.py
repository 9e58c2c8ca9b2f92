"""Template injection in user templates: sandbox escapes, huge ranges and strings, format-string tricks and deep
nesting are refused with a clear error, within bounded memory, both by render_template and through the API.

The time and memory bounds are generous guards (a refusal takes milliseconds): they catch a render that runs
away, they do not measure speed.
"""

from __future__ import annotations

import threading
import time
import tracemalloc

import pytest

from mannerly.templates.render import (
    MAX_SOURCE_CHARS,
    TemplateRenderError,
    TemplateSecurityError,
    TemplateSyntaxProblem,
    UnknownTemplateVariable,
    render_template,
)

INJECTIONS = [
    # Reaching Python internals.
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''['__class__'] }}",
    "{{ ''|attr('__class__') }}",
    "{{ x.__class__.__base__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ dict.__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ config.items() }}",
    "{{ request.application.__globals__ }}",
    # Enormous ranges and loops.
    "{{ range(10**9) }}",
    "{{ range(10**9)|list }}",
    "{% for i in range(10**9) %}x{% endfor %}",
    "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
    # Huge strings, lists and numbers.
    "{{ 'a' * 10**9 }}",
    "{{ [0] * 10**9 }}",
    "{{ (1,) * 10**9 }}",
    "{{ 2 ** 1000000 }}",
    "{{ 'a' | center(10**9) }}",
    "{{ ('a' * 9999)|list|join('x' * 9999) }}",
    "{{ ('a\\n' * 4999)|indent(9999) }}",
    "{{ ('x' * 9999)|replace('', 'yy') }}",
    "{% set s = 'a' * 9000 %}{{ s ~ s }}",
    "{{ lipsum(10**6) }}",
    # Format-string tricks.
    "{{ '{0.__class__}'.format(x) }}",
    "{{ '{:>1000000000}'.format(1) }}",
    "{{ '{x.__class__.__init__.__globals__}'.format_map(d) }}",
    "{{ '%1000000000s' % 1 }}",
    "{{ '%(a)s' % d }}",
    "{{ '%9999999s' | format(1) }}",
    # Deep recursion and oversized sources.
    "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
    "{{ " + "1+" * 4990 + "1 }}",
    "{% if 1 %}" * 450 + "x" + "{% endif %}" * 450,
    "{{ " + "x." * 3300 + "y }}",
    "{{ x" + "|default(1)" * 2000 + " }}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{% for i in [1] recursive %}{{ loop([1]) }}{% endfor %}",
    "{% include 'x' %}",
    # Filters given the wrong kind of value (were AttributeErrors escaping the renderer).
    "{{ 9999|wordwrap(1) }}",
    "{{ 'x'|xmlattr }}",
    "x" * (MAX_SOURCE_CHARS + 1),
]

REFUSALS = (TemplateSecurityError, TemplateSyntaxProblem, UnknownTemplateVariable, TemplateRenderError)
# Generous bounds: a runaway render would blow far past them; a refusal stays far below.
TIME_LIMIT_SECONDS = 5.0
MEMORY_LIMIT_BYTES = 32 * 1024 * 1024


def render_bounded(source: str) -> BaseException | str:
    """Render in a worker thread with a time limit, tracking peak memory; the outcome (error or text)."""
    outcome: list[BaseException | str] = []

    def work() -> None:
        """Render and keep what came out."""
        try:
            outcome.append(render_template(source, {"x": 1, "d": {"a": 1}}))
        except BaseException as error:  # noqa: BLE001 - the test inspects whatever came out
            outcome.append(error)

    tracemalloc.start()
    try:
        worker = threading.Thread(target=work, daemon=True)
        started = time.perf_counter()
        worker.start()
        worker.join(TIME_LIMIT_SECONDS)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not worker.is_alive(), f"render still running after {elapsed:.1f} s"
    assert peak < MEMORY_LIMIT_BYTES, f"render used {peak / 1e6:.0f} MB"
    return outcome[0]


@pytest.mark.parametrize("source", INJECTIONS, ids=range(len(INJECTIONS)))
def test_injection_is_refused_with_a_clear_error_within_limits(source):
    """Each attempt ends in one of the template errors (never a crash, never a render), in bounded time and memory."""
    outcome = render_bounded(source)
    assert isinstance(outcome, REFUSALS), f"{source[:60]!r} gave {outcome!r}"
    assert str(outcome)


@pytest.mark.parametrize("source", [INJECTIONS[1], INJECTIONS[17], INJECTIONS[28], INJECTIONS[33],
                                    INJECTIONS[34], INJECTIONS[-1]])
def test_the_api_refuses_injected_templates_with_a_problem(api, source):
    """Through the API (a template saved, then used in a message): a 4xx problem, never a 5xx."""
    saved = api.post("/v1/templates", json={"name": "injected", "language": "en", "body": source})
    assert saved.status_code < 500, saved.text
    if saved.status_code == 201:
        checked = api.post("/v1/messages/check", json={"to": "+821012345678", "topic": "orders",
                                                       "template": "injected"})
        assert 400 <= checked.status_code < 500 or checked.json().get("allowed") is False, checked.text
        assert "__class__" not in checked.text or "not allowed" in checked.text or "unsafe" in checked.text
    else:
        assert saved.status_code == 422
        assert saved.json()["detail"]
