"""one_word (L6): agents answering with a single word ("ok", "네", "ya", "εντάξει").

Judged on what the agent typed (request.text), before any business name or
opt-out wording is added. Emoji-only replies count as one-word replies.
"""

from __future__ import annotations

from mannerly.policy.lint._common import LintContext, word_tuple
from mannerly.policy.types import LintFinding, Severity, Source

CHECK = "one_word"


def check(text: str, context: LintContext) -> list[LintFinding]:
    """Warn when an agent's reply is one word or less."""
    if context.request.source is not Source.AGENT:
        return []
    typed = context.request.text
    if not typed.strip() or len(word_tuple(typed)) > 1:
        return []
    return [
        LintFinding(
            CHECK,
            Severity.WARNING,
            "A one-word reply can feel curt to the customer.",
            suggestion="Add a short sentence, e.g. confirm what happens next and thank them.",
        )
    ]
