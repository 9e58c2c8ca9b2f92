"""The engine against the readable case tables in tests/policy/cases/*.toml."""

from datetime import datetime

import pytest

from mannerly.policy.engine import decide
from tests.policy.engine_cases import load_cases

CASES = load_cases()


def test_there_are_enough_cases():
    """The tables cover the rules with at least 80 cases."""
    assert len(CASES) >= 80


@pytest.mark.parametrize("case", CASES, ids=[f"{case.source_file}:{case.name}" for case in CASES])
def test_case(case):
    """One row: the decision matches every expectation the row names."""
    decision = decide(case.request, case.contact, case.policy, case.now)
    expect = case.expect
    fired = {f"{reason.rule}:{reason.verdict.value}" for reason in decision.reasons}
    explain = f"decision: {decision.as_dict()}"
    if "action" in expect:
        assert decision.action.value == expect["action"], explain
    if "send_at" in expect:
        wanted = datetime.fromisoformat(expect["send_at"].replace("Z", "+00:00"))
        assert decision.send_at == wanted, explain
    if "local" in expect:
        assert decision.local_send_at is not None, explain
        assert decision.local_send_at.isoformat() == datetime.fromisoformat(expect["local"]).isoformat(), explain
    for wanted in expect.get("reasons", []):
        assert wanted in fired, explain
    for rule in expect.get("no_reasons", []):
        assert not any(item.startswith(rule + ":") for item in fired), explain
    if "channel" in expect:
        assert decision.channel == expect["channel"], explain
    if "channel_options" in expect:
        assert decision.channel_options == expect["channel_options"], explain
    findings = {f"{finding.check}:{finding.severity.value}" for finding in decision.lint}
    for wanted in expect.get("lint", []):
        assert wanted in findings, explain
    if "text_contains" in expect:
        for fragment in expect["text_contains"]:
            assert fragment in decision.final_text, explain
    if "detail_contains" in expect:
        details = " | ".join(reason.detail for reason in decision.reasons)
        for fragment in expect["detail_contains"]:
            assert fragment in details, explain
