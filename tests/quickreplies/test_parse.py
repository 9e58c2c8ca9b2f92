"""Quick-reply answers in English, Korean, Indonesian and Greek: case, width and accents folded."""

from __future__ import annotations

import pytest

from mannerly.quickreplies.parse import expand_options, parse_answer

YES_NO = {"YES": "confirmed", "NO": "reschedule"}
SCALE = expand_options("1-5")
LETTERS = {"A": "morning", "B": "afternoon"}
CONFIRM_RESCHEDULE = {"CONFIRM": "confirmed", "RESCHEDULE": "reschedule"}

CASES = [
    # (reply, options, expected option or None)
    # English
    ("YES", YES_NO, "YES"),
    ("yes", YES_NO, "YES"),
    ("Yes please!", YES_NO, "YES"),
    ("ok thanks", YES_NO, "YES"),
    ("Ｙｅｓ", YES_NO, "YES"),
    ("no", YES_NO, "NO"),
    ("Nope.", YES_NO, "NO"),
    ("yes no", YES_NO, None),
    ("yes, but can we make it 3pm?", YES_NO, None),
    ("what time was it again?", YES_NO, None),
    ("", YES_NO, None),
    ("👍", YES_NO, None),
    # Korean
    ("네", YES_NO, "YES"),
    ("네 감사합니다", YES_NO, "YES"),
    ("네요", YES_NO, "YES"),
    ("예", YES_NO, "YES"),
    ("아니요", YES_NO, "NO"),
    ("아뇨 변경할게요", YES_NO, None),
    ("변경", CONFIRM_RESCHEDULE, "RESCHEDULE"),
    ("확인", CONFIRM_RESCHEDULE, "CONFIRM"),
    ("5점", SCALE, "5"),
    ("다섯", SCALE, "5"),
    # Indonesian
    ("ya", YES_NO, "YES"),
    ("Iya, terima kasih", YES_NO, "YES"),
    ("tidak", YES_NO, "NO"),
    ("gak", YES_NO, "NO"),
    ("jadwal ulang", CONFIRM_RESCHEDULE, "RESCHEDULE"),
    ("tidak ya", YES_NO, "NO"),
    ("lima", SCALE, "5"),
    ("empat bintang", SCALE, None),
    # Greek (accents and final sigma folded)
    ("ναι", YES_NO, "YES"),
    ("Ναί, ευχαριστώ", YES_NO, "YES"),
    ("ΝΑΙ", YES_NO, "YES"),
    ("όχι", YES_NO, "NO"),
    ("ΟΧΙ", YES_NO, "NO"),
    ("oxi", YES_NO, "NO"),
    ("πέντε", SCALE, "5"),
    ("αλλαγή", CONFIRM_RESCHEDULE, "RESCHEDULE"),
    # Scales and letters
    ("3", SCALE, "3"),
    ("５", SCALE, "5"),
    ("4 thanks", SCALE, "4"),
    ("6", SCALE, None),
    ("3 or 4", SCALE, None),
    ("b", LETTERS, "B"),
    ("a please", LETTERS, "A"),
    ("c", LETTERS, None),
]


@pytest.mark.parametrize(("reply", "options", "expected"), CASES, ids=[f"{case[0]!r}" for case in CASES])
def test_parse_answer(reply, options, expected) -> None:
    """Each reply chooses exactly the expected option, or none."""
    assert parse_answer(reply, options) == expected


def test_expand_options() -> None:
    """A scale becomes one option per number; bad declarations are refused."""
    assert expand_options("1-5") == {str(n): str(n) for n in range(1, 6)}
    assert expand_options("0 – 10")["10"] == "10"
    assert expand_options({" YES ": " confirmed "}) == {"YES": "confirmed"}
    for bad in ("5-1", "1-50", "one to five", {}, {"YES": ""}, {"Yes": "a", "YES": "b"}, {"!!": "x"}):
        with pytest.raises(ValueError):
            expand_options(bad)
