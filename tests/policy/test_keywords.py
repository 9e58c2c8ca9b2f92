"""Tests for mannerly.policy.keywords: STOP/START/HELP recognition and confirmations (SPEC P4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mannerly.policy.keywords import (
    KeywordKind,
    KeywordMatch,
    classify_keyword,
    confirmation_text,
    fold_text,
)

CASES = json.loads((Path(__file__).parent / "keyword_cases.json").read_text(encoding="utf-8"))


def test_case_table_is_large_and_covers_every_language():
    assert len(CASES) >= 60
    languages = {case["language"] for case in CASES if case["kind"]}
    assert languages == {"en", "ko", "id", "el"}
    assert sum(1 for case in CASES if case["kind"] is None) >= 20  # false-positive traps


@pytest.mark.parametrize("case", CASES, ids=[f"{i}:{case['text']!r}" for i, case in enumerate(CASES)])
def test_keyword_cases(case):
    match = classify_keyword(
        case["text"],
        case.get("topic_keywords", {}),
        language_hint=case.get("language_hint"),
    )
    if case["kind"] is None:
        assert match is None, case.get("note", "")
        return
    assert match is not None, case.get("note", "")
    assert (match.kind, match.topic, match.language) == (
        KeywordKind(case["kind"]),
        case["topic"],
        case["language"],
    )
    assert match.matched


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("ＳＴＯＰ", "stop"),
        ("Στόπ", "στοπ"),
        ("ΤΈΛΟΣ", "τελοσ"),
        ("τέλος", "τελοσ"),
        ("  Stop!!  🙏 ", "stop"),
        ("don’t   text", "dont text"),
        ("opt-out", "opt out"),
        ("수신거부.", "수신거부"),
    ],
)
def test_fold_text(raw, folded):
    assert fold_text(raw) == folded


def test_extra_workspace_keywords():
    extra = {KeywordKind.STOP: ["BASTA", "안받아요"], KeywordKind.START: ["again"]}
    assert classify_keyword("basta!", extra=extra) == KeywordMatch(KeywordKind.STOP, None, "en", "basta")
    assert classify_keyword("안받아요", extra=extra).language == "ko"
    assert classify_keyword("AGAIN", extra=extra).kind is KeywordKind.START
    # The built-in keywords still work alongside.
    assert classify_keyword("STOP", extra=extra).kind is KeywordKind.STOP
    assert classify_keyword("basta") is None


def test_topic_keyword_named_like_a_filler_word_still_names_the_topic():
    match = classify_keyword("STOP IT", {"IT": "it-news"})
    assert match == KeywordMatch(KeywordKind.STOP, "it-news", "en", "stop")


def test_fuzzy_matches_are_global_stop():
    match = classify_keyword("please stop sending me promo texts", {"PROMO": "promotions"})
    assert match is not None and match.kind is KeywordKind.STOP and match.topic is None


def test_language_hint_only_applies_when_the_keyword_belongs_to_that_language():
    assert classify_keyword("STOP", language_hint="ko").language == "en"
    assert classify_keyword("INFO", language_hint="id").language == "id"


# --- confirmations

GSM_EXTENSION_CHARACTERS = set("[]{}\\^~|€")


def _is_plain_gsm(text: str) -> bool:
    """True when every character is printable ASCII outside the GSM escape table."""
    return all(" " <= ch <= "~" and ch not in GSM_EXTENSION_CHARACTERS and ch != "`" for ch in text)


@pytest.mark.parametrize("kind", list(KeywordKind))
@pytest.mark.parametrize("topic", [None, "appointment reminders"])
def test_english_confirmations_fit_one_gsm_segment(kind, topic):
    text = confirmation_text(kind, "en", "Sunrise Dental Clinic of Miami", topic)
    assert _is_plain_gsm(text)
    assert len(text) <= 160, text
    if kind is not KeywordKind.STOP:
        assert "STOP" in text


@pytest.mark.parametrize("language", ["en", "ko", "id", "el"])
@pytest.mark.parametrize("kind", list(KeywordKind))
def test_confirmations_name_the_brand_and_the_topic(language, kind):
    text = confirmation_text(kind, language, "Kopi Senja", "promo" if kind is not KeywordKind.HELP else None)
    assert "Kopi Senja" in text
    if kind is not KeywordKind.HELP:
        assert "promo" in text
    assert len(text) <= 160


@pytest.mark.parametrize("language", ["en", "ko", "id", "el"])
def test_confirmations_without_brand_read_cleanly(language):
    for kind in KeywordKind:
        text = confirmation_text(kind, language, None)
        assert "None" not in text and "  " not in text and not text.startswith(" ")


# The keyword a reply tells the customer to send must be one we recognise.
REPLY_KEYWORDS = {
    ("en", KeywordKind.STOP): ("START", KeywordKind.START),
    ("en", KeywordKind.START): ("STOP", KeywordKind.STOP),
    ("ko", KeywordKind.STOP): ("시작", KeywordKind.START),
    ("ko", KeywordKind.START): ("중지", KeywordKind.STOP),
    ("id", KeywordKind.STOP): ("MULAI", KeywordKind.START),
    ("id", KeywordKind.START): ("BERHENTI", KeywordKind.STOP),
    ("el", KeywordKind.STOP): ("START", KeywordKind.START),
    ("el", KeywordKind.START): ("STOP", KeywordKind.STOP),
}


@pytest.mark.parametrize(("language", "kind"), list(REPLY_KEYWORDS))
def test_confirmations_name_a_keyword_that_round_trips(language, kind):
    keyword, expected_kind = REPLY_KEYWORDS[(language, kind)]
    assert keyword in confirmation_text(kind, language, "Acme")
    assert classify_keyword(keyword, language_hint=language).kind is expected_kind


def test_unknown_language_falls_back_to_english():
    assert confirmation_text(KeywordKind.STOP, "fr", "Acme") == confirmation_text(KeywordKind.STOP, "en", "Acme")
    assert confirmation_text(KeywordKind.HELP, "ko-KR", "Acme") == confirmation_text(KeywordKind.HELP, "ko", "Acme")


def test_localized_confirmations_are_in_their_language():
    assert "수신거부" in confirmation_text(KeywordKind.STOP, "ko", "카페")
    assert "berhenti berlangganan" in confirmation_text(KeywordKind.STOP, "id", "Toko")
    assert "μηνύματα" in confirmation_text(KeywordKind.STOP, "el", "Ταβέρνα")
