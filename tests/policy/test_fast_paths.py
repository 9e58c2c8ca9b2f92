"""The content checks' fast paths give exactly what their plain definitions give, on any text."""

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from mannerly.kit import sms
from mannerly.policy.lint import _common, pii_request, shouting, slang

# Text biased towards what the fast paths branch on: ASCII, apostrophes, digits, Hangul,
# accented Greek, combining marks, astral characters, spaces of several kinds.
PIECES = st.sampled_from(
    [
        "a", "Z", "é", "e\u0301", "ά", "Ά", "ΐ", "Σ", "ς", "ß", "İ", "ﬁ", "ℂ", "Ⓐ", "𝐀", "가", "ᄀ", "ᅡ", "ᆨ",
        "ㅋ", "1", "²", "'", "’", "_", "-", ".", ",", "(", ")", "[", "]", "%", "€", "`", "^", "\u0345",
        " ", " ", "\u00a0", "\u2000", "\n", "\t", "\u200b", "😀", "👍🏽", "pin", "PIN", "account", "bank",
        "card number", "password", "λογαριασμό", "αριθμός", "카드번호", "비밀번호", "pls", "PLS", "y'all",
        "ya’ll", "gr8", "12345", "http://1.2.3.4/x", "bit.ly/x", "www.example.com", "a@b.co",
    ]
)
TEXTS = st.one_of(st.text(max_size=40), st.lists(PIECES, max_size=30).map("".join))


def reference_fold(text: str) -> str:
    """fold() as defined: NFC of the NFD of the casefold, without nonspacing marks."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return unicodedata.normalize("NFC", "".join(char for char in decomposed if unicodedata.category(char) != "Mn"))


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_fold_matches_its_definition(text):
    assert _common.fold(text) == reference_fold(text)


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_words_match_the_word_pattern(text):
    assert _common.word_tuple(text) == tuple(_common._WORD.findall(_common.without_links(text)))


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_capital_count_matches_str_isupper(text):
    assert shouting._capital_count(text) == sum(map(str.isupper, text))


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_sms_size_matches_the_character_tables(text):
    if sms._is_gsm_text(text):
        expected = (sms.GSM_7, sms._gsm_units(text))
    else:
        expected = (sms.UCS_2, sms._ucs2_units(text))
    assert sms.sms_size.__wrapped__(text)[:2] == expected


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_data_mentions_match_searching_every_pattern(text):
    folded = _common.fold(_common.without_links(text))
    expected = any(pattern.search(folded) for _literal_sets, pattern in pii_request._DATA_PATTERNS)
    assert pii_request._mentions_data(text) == expected


@settings(max_examples=200, deadline=None)
@given(TEXTS, st.sampled_from(["en", "ko", "id", "el", "fr"]))
def test_slang_matches_a_lookup_of_every_word(text, language):
    expected: dict[str, list[tuple[str, str]]] = {}
    seen: set[str] = set()
    written_hits = [("ko", run, slang._KOREAN_JAMO_MEANING[run[0]]) for run in slang._KOREAN_JAMO_RUN.findall(text)]
    for word in _common.words(text):
        written_hits += [(found_in, word, full) for found_in, full in slang._word_slang(word, language)]
    for found_in, written, full in written_hits:
        if written.casefold() not in seen:
            seen.add(written.casefold())
            expected.setdefault(found_in, []).append((written, full))
    assert slang.slang_words(text, language) == expected
