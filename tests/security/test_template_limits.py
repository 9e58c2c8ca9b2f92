"""Template injection attempts are refused within time and memory limits, through the API as well."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from mannerly.templates.render import TemplateSecurityError, UnknownTemplateVariable, render_template
from tests.templates.test_render import ATTACKS

INJECTIONS = ATTACKS + [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ self.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ '%s' % ('a' * 100) }}",
    "{{ '{:>1000000000}'.format('a') }}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
]
MEMORY_LIMIT_BYTES = 64 * 1024 * 1024
TIME_LIMIT_SECONDS = 1.0


@pytest.mark.parametrize("source", INJECTIONS)
def test_each_injection_is_refused_within_time_and_memory(source):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises((TemplateSecurityError, UnknownTemplateVariable, Exception)) as refused:
            render_template(source, {"x": 1, "d": {"x": 1}, "items": []})
    finally:
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert not isinstance(refused.value, (MemoryError, RecursionError, SystemError)), refused.value
    assert type(refused.value).__module__.startswith(("mannerly", "jinja2")), repr(refused.value)
    assert elapsed < TIME_LIMIT_SECONDS, elapsed
    assert peak < MEMORY_LIMIT_BYTES, peak


def test_sending_with_an_injected_template_is_a_422_and_stores_no_message(api):
    for index, source in enumerate(("{{ ''.__class__.__mro__ }}", "{{ 'a' * 10**9 }}",
                                    "{% for i in range(10**9) %}{% endfor %}")):
        name = f"evil{index}"
        saved = api.post("/v1/templates", json={"name": name, "language": "en", "body": source})
        assert saved.status_code in (201, 422), saved.text
        sent = api.post("/v1/messages", json={"to": "+821023456789", "topic": "orders", "template": name})
        assert sent.status_code == 422, (source, sent.text)
        assert sent.headers["content-type"].startswith("application/problem+json")
    assert api.get("/v1/messages").json()["items"] == []
