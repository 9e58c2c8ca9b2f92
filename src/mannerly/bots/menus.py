"""Routing menus ("Reply 1 for orders, 2 for billing") that assign a conversation to a team, and hand-off.

A menu is configured per workspace in service_settings.menu:
{"options": [{"key": "1", "team_id": 3, "labels": {"en": "orders", "ko": "주문"}}, ...]}.
Hand-off words ("agent", "human", "상담원", "manusia", "άνθρωπος") stop the bots for the
conversation at once, until it is resolved. Wording and parsing are pure; `handle_*` write.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from mannerly.inbox.common import bot_state, record_event, send_automatic, set_bot_state
from mannerly.models import Conversation, Message, Team, Workspace
from mannerly.policy.keywords import fold_text
from mannerly.policy.types import Source

_PROMPT = {
    "en": ("How can we help? Reply {choices}, or \"agent\" to talk to a person.", "{key} for {label}", ", "),
    "ko": ("무엇을 도와드릴까요? {choices} 보내 주세요. 상담원 연결은 \"상담원\"이라고 보내 주세요.", "{label}은(는) {key}", ", "),
    "id": ("Ada yang bisa kami bantu? Balas {choices}, atau \"manusia\" untuk bicara dengan petugas.",
           "{key} untuk {label}", ", "),
    "el": ("Πώς μπορούμε να βοηθήσουμε; Απαντήστε {choices} ή «άνθρωπος» για να μιλήσετε με κάποιον.",
           "{key} για {label}", ", "),
}
_ROUTED = {
    "en": "Thanks! You're through to our {label} team; a person will answer here.",
    "ko": "감사합니다. {label} 담당 팀으로 연결되었습니다. 담당자가 이곳으로 답변드리겠습니다.",
    "id": "Terima kasih! Anda terhubung dengan tim {label}; petugas kami akan membalas di sini.",
    "el": "Ευχαριστούμε! Σας συνδέσαμε με την ομάδα {label}· κάποιος θα σας απαντήσει εδώ.",
}
_HANDED_OFF = {
    "en": "Sure, a person from our team will answer you here shortly.",
    "ko": "네, 상담원이 곧 이곳으로 답변드리겠습니다.",
    "id": "Baik, petugas kami akan segera membalas Anda di sini.",
    "el": "Βεβαίως, κάποιος από την ομάδα μας θα σας απαντήσει εδώ σύντομα.",
}

# Folded words and phrases asking for a person, in English, Korean, Indonesian and Greek.
_HANDOFF = re.compile(
    r"(?:^|\s)(?:agent|human|operator|representative|real person|a person|live agent|customer service|"
    r"manusia|petugas|agen|cs|"
    r"ανθρωπο\w*|εκπροσωπο\w*|υπαλληλο\w*)(?:\s|$)"
)
_HANDOFF_KOREAN = ("상담원", "상담사", "직원", "사람이랑", "사람과", "사람하고", "사람 연결", "사람한테")
HANDOFF_MAX_WORDS = 8


def is_handoff_request(text: str) -> bool:
    """True when a short message asks for a person rather than the bot."""
    folded = fold_text(text)
    if not folded or len(folded.split()) > HANDOFF_MAX_WORDS:
        return False
    if any(word in folded for word in _HANDOFF_KOREAN):
        return True
    return _HANDOFF.search(folded) is not None


def menu_options(menu: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The configured options (key, team_id, labels) in order; [] when there is no menu."""
    return [option for option in (menu or {}).get("options", []) if option.get("key") and option.get("team_id")]


def option_label(option: dict[str, Any], language: str, teams: dict[int, Team]) -> str:
    """An option's label in a language, else English, else the team's name."""
    labels = option.get("labels") or {}
    team = teams.get(option["team_id"])
    return labels.get(language) or labels.get("en") or (team.name if team else str(option["key"]))


def menu_prompt(menu: dict[str, Any] | None, language: str, teams: dict[int, Team]) -> str | None:
    """'How can we help? Reply 1 for orders, 2 for billing, …' in a language; None without a menu."""
    options = menu_options(menu)
    if not options:
        return None
    sentence, item, joiner = _PROMPT.get(language, _PROMPT["en"])
    choices = joiner.join(item.format(key=option["key"], label=option_label(option, language, teams))
                          for option in options)
    return sentence.format(choices=choices)


def parse_menu_choice(text: str, menu: dict[str, Any] | None) -> dict[str, Any] | None:
    """The option a reply picks, by its key ("2", "2.") or by its label in any language ("billing")."""
    folded = fold_text(text)
    for option in menu_options(menu):
        if folded == fold_text(str(option["key"])):
            return option
        labels = [fold_text(label) for label in (option.get("labels") or {}).values() if label]
        if folded and folded in labels:
            return option
    return None


def send_menu(session: Session, workspace: Workspace, conversation: Conversation, menu: dict[str, Any],
              teams: dict[int, Team], language: str, now: datetime) -> Message | None:
    """Ask the customer to pick a team; the next reply is read as a choice."""
    prompt = menu_prompt(menu, language, teams)
    if prompt is None:
        return None
    message = send_automatic(session, workspace, conversation, prompt, source=Source.BOT, language=language, now=now)
    state = bot_state(conversation)
    state.update(menu_pending=True, menu_sent_at=now.isoformat())
    set_bot_state(conversation, state)
    return message


def route_to_option(session: Session, workspace: Workspace, conversation: Conversation, option: dict[str, Any],
                    teams: dict[int, Team], language: str, now: datetime) -> Message | None:
    """Assign the conversation to the chosen team and tell the customer."""
    team = teams.get(option["team_id"])
    state = bot_state(conversation)
    state.pop("menu_pending", None)
    set_bot_state(conversation, state)
    if team is None:
        return None
    conversation.team_id = team.id
    record_event(session, conversation, "assigned", actor="bot",
                 detail={"team_id": team.id, "team_name": team.name, "via": "menu", "choice": option["key"]}, now=now)
    label = option_label(option, language, teams)
    text = _ROUTED.get(language, _ROUTED["en"]).format(label=label)
    return send_automatic(session, workspace, conversation, text, source=Source.BOT, language=language, now=now)


def hand_off(session: Session, workspace: Workspace, conversation: Conversation, language: str, *,
             acknowledge: bool, now: datetime) -> Message | None:
    """Stop the bots for this conversation until it is resolved; optionally say a person will answer."""
    state = bot_state(conversation)
    state.pop("menu_pending", None)
    state.pop("flow", None)
    state["handoff"] = True
    set_bot_state(conversation, state)
    record_event(session, conversation, "handoff", actor="customer", detail={}, now=now)
    if not acknowledge:
        return None
    text = _HANDED_OFF.get(language, _HANDED_OFF["en"])
    return send_automatic(session, workspace, conversation, text, source=Source.BOT, language=language, now=now)
