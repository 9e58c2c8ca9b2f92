"""Tests for mannerly.templates.render: personalization, variable checks and the sandbox (SPEC O2)."""

from __future__ import annotations

import time

import pytest

from mannerly.templates.render import (
    MAX_OUTPUT_CHARS,
    MissingTemplateValue,
    TemplateRenderError,
    TemplateSecurityError,
    TemplateSyntaxProblem,
    UnknownTemplateVariable,
    bracket_name,
    render_template,
    template_variables,
)

# (template, data, defaults, expected text)
RENDERS = [
    ("Hi {{ first_name }}, your order {{ order_id }} shipped.", {"first_name": "Mina", "order_id": "A12"}, {},
     "Hi Mina, your order A12 shipped."),
    ("Hi [First Name], your order [Order ID] shipped.", {"first_name": "Mina", "order_id": "A12"}, {},
     "Hi Mina, your order A12 shipped."),
    ("[이름]님, 예약이 확정되었습니다.", {"이름": "민아"}, {}, "민아님, 예약이 확정되었습니다."),
    ("Halo [Nama Pelanggan], pesanan Anda dikirim.", {"nama_pelanggan": "Budi"}, {},
     "Halo Budi, pesanan Anda dikirim."),
    ("Hi [FirstName]!", {"first_name": "Eleni"}, {}, "Hi Eleni!"),
    ("Hi [first_name]!", {"first_name": "Eleni"}, {}, "Hi Eleni!"),
    # Brackets that are not known variables stay for the placeholder lint.
    ("[Acme] Hi [First Name], see [Terms].", {"first_name": "Jo"}, {}, "[Acme] Hi Jo, see [Terms]."),
    ("[안내] {{ name }}님", {"name": "민수"}, {}, "[안내] 민수님"),
    ("Hi {{ first_name | default('friend') }}!", {}, {}, "Hi friend!"),
    ("Hi {{ first_name | default('friend') }}!", {"first_name": None}, {}, "Hi friend!"),
    ("Hi {{ first_name | default('friend') }}!", {"first_name": "Ana"}, {}, "Hi Ana!"),
    ("Hi [First Name]!", {}, {"first_name": "there"}, "Hi there!"),
    ("Hi {{ first_name }}!", {"first_name": "  "}, {"first_name": "there"}, "Hi there!"),
    ("Hi {{ first_name }}!", {"first_name": "Ana"}, {"first_name": "there"}, "Hi Ana!"),
    ("{% if vip is defined %}VIP: {% endif %}sale today", {}, {}, "sale today"),
    ("{% if vip %}VIP: {% endif %}sale today", {"vip": True}, {}, "VIP: sale today"),
    ("{{ items[0] }} and {{ items | length }} more", {"items": ["tea", "cake"]}, {}, "tea and 2 more"),
    ("{% for item in items %}{{ loop.index }}.{{ item }} {% endfor %}", {"items": ["a", "b"]}, {}, "1.a 2.b "),
    ("{{ name | title }} {{ name.upper() }} {{ name ~ '!' }}", {"name": "kim"}, {}, "Kim KIM kim!"),
    ("Total {{ amount }} won", {"amount": 150000}, {}, "Total 150000 won"),
    ("{{ first_name }}\n", {"first_name": "Ana"}, {}, "Ana\n"),
    ("{% for i in range(3) %}{{ i }}{% endfor %}", {}, {}, "012"),
    ("Code: {{ code }}", {"code": "{{ 7*7 }}"}, {}, "Code: {{ 7*7 }}"),  # data is never evaluated
    ("Plain text without fields.", {}, {}, "Plain text without fields."),
]  # fmt: skip


@pytest.mark.parametrize(("source", "data", "defaults", "expected"), RENDERS)
def test_render(source, data, defaults, expected):
    assert render_template(source, data, defaults=defaults) == expected


def test_unknown_variable_is_named_with_the_known_ones():
    with pytest.raises(UnknownTemplateVariable) as caught:
        render_template("Hi {{ first_nam }} {{ zeta }}", {"first_name": "A"}, allowed=["name", "first_name"])
    assert caught.value.names == ["first_nam", "zeta"]
    assert str(caught.value) == "unknown template variable(s): first_nam, zeta — known: first_name, name"


def test_allowed_variable_without_value_or_default_is_missing():
    with pytest.raises(MissingTemplateValue) as caught:
        render_template("Hi {{ last_name }}", {}, allowed=["first_name", "last_name"])
    assert caught.value.names == ["last_name"]
    assert isinstance(caught.value, UnknownTemplateVariable)


def test_allowed_bracket_field_without_value_is_missing_not_left_in_text():
    with pytest.raises(MissingTemplateValue):
        render_template("Hi [Last Name]", {"first_name": "A"}, allowed=["first_name", "last_name"])


def test_missing_value_is_reported_before_anything_renders():
    with pytest.raises(MissingTemplateValue):
        render_template("{{ 1/0 }}{{ x }}", {"x": None})


def test_allowed_makes_default_guarded_typos_unknown():
    with pytest.raises(UnknownTemplateVariable):
        render_template("Hi {{ first_nam | default('friend') }}", {}, allowed=["first_name"])
    assert render_template("Hi {{ first_name | default('friend') }}", {}, allowed=["first_name"]) == "Hi friend"


def test_name_used_both_guarded_and_bare_still_needs_a_value():
    with pytest.raises(MissingTemplateValue):
        render_template("{{ a | default('x') }} {{ a }}", {"a": None})


def test_missing_attribute_of_data_is_unknown():
    with pytest.raises(UnknownTemplateVariable) as caught:
        render_template("{{ order.numbr }}", {"order": {"number": 1}})
    assert caught.value.names == ["numbr"]


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("Hi {{ first_name ", 1),
        ("line one\n{% if %}x{% endif %}", 2),
        ("{% for x in items %}no end", 1),
        ("{{ a b }}", 1),
    ],
)
def test_syntax_problems_say_where(source, line):
    with pytest.raises(TemplateSyntaxProblem) as caught:
        render_template(source, {"first_name": "A", "items": [], "a": 1})
    assert caught.value.line == line
    assert f"line {line}" in str(caught.value)


@pytest.mark.parametrize(
    "source",
    [
        "{% macro m() %}x{% endmacro %}{{ m() }}",
        "{% call range(1) %}x{% endcall %}",
        "{% include 'other.txt' %}",
        "{% extends 'base.txt' %}",
        "{% import 'x' as y %}",
        "{% for x in items recursive %}{{ loop(x) }}{% endfor %}",
    ],
)
def test_unsupported_tags_are_refused(source):
    with pytest.raises(TemplateSyntaxProblem):
        render_template(source, {"items": []})


ATTACKS = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ x.__class__ }}",
    "{{ x._private }}",
    "{{ _secret }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ '{0.__class__}'.format(x) }}",
    "{{ '{:>1000000000}'.format(1) }}",
    "{{ '{x}'.format_map(d) }}",
    "{{ '%1000000000s' % 1 }}",
    "{% for i in range(10**9) %}x{% endfor %}",
    "{% for i in range(1001) %}{% endfor %}",
    "{{ 'a' * 10**9 }}",
    "{{ 10**9 * 'a' }}",
    "{{ [1] * 10**9 }}",
    "{{ 2 ** 100000 }}",
    "{{ 'a' | center(1000000000) }}",
    "{{ 'a' | indent(1000000000) }}",
    "{{ 'a'.ljust(1000000000) }}",
    "{{ 'a'.zfill(1000000000) }}",
    "{{ ('a' * 9999).replace('a', 'bb') }}",
    "{{ 'aaaa' | replace('a', 'b' * 9000) }}",
    "{% set s = 'a' * 9000 %}{% set s = s ~ s %}{{ s | length }}",
    "{% set s = 'a' * 9000 %}{% set s = s + s %}{{ s | length }}",
    "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",
    "{% for i in range(999) %}{{ 'a' * 100 }}{% endfor %}",
    "{{ d.update({'a': 1}) }}",
    "{{ items.append(1) }}",
]


@pytest.mark.parametrize("source", ATTACKS)
def test_attacks_are_refused_quickly(source):
    started = time.perf_counter()
    with pytest.raises((TemplateSecurityError, UnknownTemplateVariable)):
        render_template(source, {"x": 1, "d": {"x": 1}, "items": []})
    assert time.perf_counter() - started < 1.0


def test_unknown_and_removed_filters_are_syntax_problems():
    # printf-style "format" is removed: its widths come from the template.
    for source in ("{{ '%9999999s' | format(1) }}", "{{ x | no_such_filter }}"):
        with pytest.raises(TemplateSyntaxProblem):
            render_template(source, {"x": 1})


def test_sandbox_attacks_raise_the_security_error_specifically():
    for source in ("{{ ''.__class__ }}", "{{ '{0.__class__}'.format(x) }}", "{{ 'a' * 10**9 }}"):
        with pytest.raises(TemplateSecurityError):
            render_template(source, {"x": 1})


def test_output_just_under_the_cap_renders():
    text = render_template("{{ 'a' * n }}", {"n": MAX_OUTPUT_CHARS})
    assert len(text) == MAX_OUTPUT_CHARS


def test_runtime_failures_are_render_errors():
    with pytest.raises(TemplateRenderError):
        render_template("{{ 1 / 0 }}", {})
    with pytest.raises(TemplateRenderError):
        render_template("{{ n + 'a' }}", {"n": 1})


# --- template_variables and bracket names


def test_template_variables_in_both_styles():
    source = "Hi [First Name] {{ order_id }} {{ x | default(1) }} {% for i in items %}{{ i }}{% endfor %} {{ range(2) | list }}"
    assert template_variables(source) == {"first_name", "order_id", "x", "items"}


def test_template_variables_with_known_names_ignores_punctuation_brackets():
    assert template_variables("[Acme] Hi [First Name]") == {"acme", "first_name"}
    assert template_variables("[Acme] Hi [First Name]", known=["first_name"]) == {"first_name"}


def test_template_variables_reports_syntax_problems():
    with pytest.raises(TemplateSyntaxProblem):
        template_variables("{{ oops")


@pytest.mark.parametrize(
    ("content", "name"),
    [
        ("First Name", "first_name"),
        ("first_name", "first_name"),
        ("FirstName", "first_name"),
        ("Order-ID", "order_id"),
        (" Nama  Pelanggan ", "nama_pelanggan"),
        ("이름", "이름"),
        ("Όνομα", "όνομα"),
        ("123", None),
        ("...", None),
        ("If", None),
        ("None", None),
    ],
)
def test_bracket_name(content, name):
    assert bracket_name(content) == name


def test_brackets_inside_jinja_are_not_fields():
    assert render_template('{{ d["x"] }} [X]', {"d": {"x": "ok"}, "x": "field"}) == "ok field"
