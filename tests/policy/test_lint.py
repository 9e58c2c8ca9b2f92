"""Content lint tests, driven by the case table in lint_cases.json.

Each case lists the complete set of findings it expects (check -> severity, or
a list of severities when a check reports more than once): a finding that is
not listed fails the case, so the table also guards against false positives.
"""

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mannerly.kit.sms import analyze
from mannerly.policy.lint import CHECK_IDS, LintResult, lint_message
from mannerly.policy.lint.emoji import count_emoji
from mannerly.policy.lint.placeholder import find_placeholders
from mannerly.policy.lint.spelling import dictionary_available
from mannerly.policy.types import (
    ContactState,
    Policy,
    SendRequest,
    SentRecord,
    Severity,
    Source,
    Topic,
    TopicKind,
)

CASES = json.loads((Path(__file__).parent / "lint_cases.json").read_text(encoding="utf-8"))
DEFAULT_BRANDS = {"en": "Acme", "ko": "에이스마트"}
EARLIER = datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)


def build_inputs(case: dict) -> tuple[SendRequest, ContactState, Policy, str]:
    """The engine inputs a case describes."""
    language = case.get("language", "en")
    topic = Topic(name="news", kind=TopicKind(case.get("topic", "transactional")))
    request = SendRequest(
        text=case["text"] * case.get("repeat", 1),
        topic=topic,
        source=Source(case.get("source", "api")),
        channel=case.get("channel"),
        whatsapp_template=case.get("whatsapp_template"),
        language=language,
    )
    # Contacts have history unless the case is a first contact.
    history = () if case.get("first_contact") else (SentRecord(EARLIER, "Earlier message", TopicKind.TRANSACTIONAL),)
    contact = ContactState(country=case.get("country", "US"), language=language, recent_outbound=history)
    policy_fields = {"brand_names": DEFAULT_BRANDS, **case.get("policy", {})}
    if "tracked_link_domains" in policy_fields:
        policy_fields["tracked_link_domains"] = tuple(policy_fields["tracked_link_domains"])
    return request, contact, Policy(**policy_fields), language


def run_case(case: dict) -> LintResult:
    """Lint the message a case describes."""
    request, contact, policy, language = build_inputs(case)
    return lint_message(request, contact, policy, language=language)


def found_severities(result: LintResult) -> dict[str, list[str]]:
    """check -> severities reported, in order."""
    found: dict[str, list[str]] = {}
    for finding in result.findings:
        found.setdefault(finding.check, []).append(finding.severity.value)
    return found


def expected_severities(case: dict) -> dict[str, list[str]]:
    """check -> severities the case expects."""
    return {check: value if isinstance(value, list) else [value] for check, value in case["expect"].items()}


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_lint_case(case):
    expected = expected_severities(case)
    if "spelling" in expected and not dictionary_available(case.get("language", "en")):
        pytest.skip("pyspellchecker is not installed")
    result = run_case(case)
    assert found_severities(result) == expected, [finding.as_dict() for finding in result.findings]
    final = result.final_text
    if "final_text" in case:
        assert final == case["final_text"]
    if "final_startswith" in case:
        assert final.startswith(case["final_startswith"]), final
    if "final_endswith" in case:
        assert final.endswith(case["final_endswith"]), final
    for unwanted in case.get("final_not_contains", []):
        assert unwanted not in final
    for check, words in case.get("detail_contains", {}).items():
        details = " ".join(finding.detail for finding in result.findings if finding.check == check)
        assert words in details


def test_case_table_covers_every_check_in_every_language():
    covered = {check for case in CASES for check in case["expect"]}
    assert covered == set(CHECK_IDS)
    languages = {case.get("language", "en") for case in CASES}
    assert {"en", "ko", "id", "el"} <= languages
    assert len(CASES) >= 50


def test_check_ids_are_the_public_ones():
    assert set(CHECK_IDS) == {
        "segments", "encoding", "sender_intro", "opt_out_instruction", "ad_prefix", "emoji", "slang",
        "pii_request", "one_word", "placeholder", "spelling", "shouting", "link",
    }


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_result_measures_the_final_text(case):
    result = run_case(case)
    info = analyze(result.final_text)
    assert (result.segments, result.encoding) == (info.segments, info.encoding)


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_fixes_are_idempotent(case):
    first = run_case(case)
    second = run_case({**case, "text": first.final_text, "repeat": 1})
    assert second.final_text == first.final_text
    assert not [finding for finding in second.findings if finding.severity is Severity.FIXED]


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_every_finding_explains_itself(case):
    for finding in run_case(case).findings:
        assert finding.detail.strip()
        if finding.severity is not Severity.FIXED:
            assert finding.suggestion


def test_error_findings_make_has_errors_true():
    assert run_case({"text": "Hi [First Name]", "expect": {}}).has_errors
    assert not run_case({"text": "Hi Sam, your order is ready.", "expect": {}}).has_errors


def test_encoding_suggestion_is_the_gsm_text():
    result = run_case({"text": "Don’t be late — see you…", "expect": {}})
    (finding,) = [finding for finding in result.findings if finding.check == "encoding"]
    assert finding.suggestion == "Don't be late - see you..."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("no emoji here", 0),
        ("😀", 1),
        ("👍🏽", 1),  # skin tone modifier
        ("🇰🇷", 1),  # flag: two regional indicators
        ("👨‍👩‍👧‍👦", 1),  # ZWJ sequence
        ("1️⃣ 2️⃣", 2),  # keycaps
        ("❤️ ❤", 1),  # text-style heart without selector is not counted
        ("★ ▶ → ☎", 0),  # bullets common in Korean SMS
        ("✅ ⭐", 2),  # emoji by default
    ],
)
def test_count_emoji(text, expected):
    assert count_emoji(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[first_name]] hi", ["[[first_name]]"]),
        ("{{ name }} and {{name}}", ["{{ name }}", "{{name}}"]),
        ("[Order Number] ready", ["[Order Number]"]),
        ("[first_name]", ["[first_name]"]),
        ("[___]", ["[___]"]),
        ("[Order #1234] ready", []),
        ("[Web발신] 안내", []),
        ("<b>bold</b>", []),
        ("50% discount", []),
    ],
)
def test_find_placeholders(text, expected):
    assert find_placeholders(text, brand="Acme") == expected
