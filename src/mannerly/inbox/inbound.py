"""What happens in the inbox after the receive pipeline stored a customer's message and acted on keywords.

Order of work, once per new inbound message (`after_inbound`, called by inbound/pipeline.py):
1. A STOP/START/HELP keyword: consent is already handled; no bot, CSAT or auto-reply runs, and a
   resolved conversation stays resolved (the consent change shows in its timeline).
2. A resolved conversation waiting for a CSAT answer: a score is stored and the conversation stays
   resolved. conversations.service.touch_conversation_inbound reopens on every inbound message;
   this hook runs after it and puts the status back, so that function keeps its meaning for others.
2a. An answer to a quick-reply question (mannerly.quickreplies) is stored; like a CSAT score it
   neither reopens nor waits for a person, and no bot or auto-reply runs.
3. Anything else reopens a resolved conversation (a new episode: response timers start again).
4. The customer now waits for a person (waiting_since), unless a bot answers below.
5. Bots, unless the workspace turned them off: a running flow takes the reply; hand-off words stop
   the bots; a pending menu choice routes to a team; an FAQ match is answered; otherwise the
   routing menu is offered once per episode to conversations no team owns.
6. Out of the team's business hours, one auto-reply says when a person will answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from mannerly.bots.faq import find_answer
from mannerly.bots.flows import continue_flow
from mannerly.bots.menus import hand_off, is_handoff_request, parse_menu_choice, route_to_option, send_menu
from mannerly.business_hours.autoreply import maybe_auto_reply
from mannerly.business_hours.hours import is_open
from mannerly.csat.service import awaiting_answer, record_answer
from mannerly.inbox.common import (
    bot_state,
    conversation_team,
    customer_language,
    record_event,
    send_automatic,
    service_settings,
)
from mannerly.models import (
    Channel,
    Contact,
    Conversation,
    CsatResponse,
    Message,
    QuickReplyAnswer,
    Team,
    Workspace,
)
from mannerly.policy.types import Source
from mannerly.quickreplies.service import answer_inbound

if TYPE_CHECKING:  # the pipeline imports this module, so only the type checker imports it back
    from mannerly.inbound.pipeline import Received


@dataclass
class InboxOutcome:
    """What the inbox did with one inbound message (for callers and tests)."""

    csat: CsatResponse | None = None
    reopened: bool = False
    handoff: bool = False
    routed_team_id: int | None = None
    bot_reply: Message | None = None
    auto_reply: Message | None = None
    flow_consumed: bool = False
    quick_reply: QuickReplyAnswer | None = None


def reopen(session: Session, conversation: Conversation, *, actor: int | str | None, now: datetime) -> None:
    """Start a new episode on a resolved conversation: open, timers and bot state reset."""
    previous = conversation.status
    conversation.status = "open"
    conversation.resolved_at = None
    conversation.first_response_at = None
    conversation.opened_at = now
    conversation.bot_state = {}
    record_event(session, conversation, "status", actor=actor,
                 detail={"from": "resolved" if previous == "open" else previous, "to": "open", "reopened": True},
                 now=now)


def after_inbound(session: Session, workspace: Workspace, channel: Channel, received: Received,
                  now: datetime) -> InboxOutcome:
    """Run CSAT, reopening, waiting time, bots and the auto-reply for one newly received message."""
    outcome = InboxOutcome()
    message = received.message
    if received.duplicate or message.conversation_id is None:
        return outcome
    conversation = session.get(Conversation, message.conversation_id)
    contact = session.get(Contact, message.contact_id)
    # touch_conversation_inbound just reopened it when it was resolved a moment ago.
    was_resolved = conversation.status == "open" and conversation.resolved_at is not None
    if conversation.opened_at is None:
        conversation.opened_at = now
    if received.keyword is not None:
        if was_resolved:
            conversation.status = "resolved"
        return outcome
    if was_resolved and awaiting_answer(session, conversation, now):
        outcome.csat = record_answer(session, conversation, contact, message, now)
        if outcome.csat is not None:
            conversation.status = "resolved"
            conversation.unread_count = max(0, (conversation.unread_count or 1) - 1)
            return outcome
    # A short answer to a template's quick-reply options (YES/NO, 1–5) is recorded and needs no person.
    outcome.quick_reply = answer_inbound(session, contact, message, now)
    if outcome.quick_reply is not None:
        if was_resolved:
            conversation.status = "resolved"
        session.flush()
        return outcome
    if was_resolved:
        reopen(session, conversation, actor="customer", now=now)
        outcome.reopened = True
    if conversation.waiting_since is None:
        conversation.waiting_since = now
    language = customer_language(workspace, contact, message.body)
    settings = service_settings(session, workspace.id)
    answered = False
    menu_just_sent = False
    if settings.bots_enabled:
        answered, menu_just_sent = _run_bots(session, workspace, conversation, contact, message, language,
                                             settings.menu, settings.faq_threshold, outcome, now)
    if answered:
        conversation.waiting_since = None
    elif not menu_just_sent:
        outcome.auto_reply = maybe_auto_reply(session, workspace, conversation, contact, language, now)
    session.flush()
    return outcome


def _run_bots(session: Session, workspace: Workspace, conversation: Conversation, contact: Contact,
              message: Message, language: str, menu: dict, threshold: float, outcome: InboxOutcome,
              now: datetime) -> tuple[bool, bool]:
    """The bot steps; returns (the customer's message was fully answered, the menu was just sent)."""
    state = bot_state(conversation)
    if state.get("flow"):
        if continue_flow(session, workspace, conversation, contact, message, now):
            outcome.flow_consumed = True
            return True, False
        state = bot_state(conversation)
    if is_handoff_request(message.body):
        team = conversation_team(session, conversation)
        team_open = team is None or not team.hours or is_open(team, now)
        # Out of hours the auto-reply (which says when) is the acknowledgement.
        hand_off(session, workspace, conversation, language, acknowledge=team_open, now=now)
        outcome.handoff = True
        return False, False
    if state.get("handoff") or conversation.assignee_user_id is not None:
        return False, False
    teams = {team.id: team for team in session.scalars(select(Team).where(Team.workspace_id == workspace.id))}
    if state.get("menu_pending"):
        option = parse_menu_choice(message.body, menu)
        if option is not None:
            route_to_option(session, workspace, conversation, option, teams, language, now)
            outcome.routed_team_id = option["team_id"]
            return False, False
        state.pop("menu_pending", None)
        conversation.bot_state = state
    found = find_answer(session, workspace.id, message.body, threshold)
    if found is not None:
        entry, score = found
        outcome.bot_reply = send_automatic(session, workspace, conversation, entry.answer, source=Source.BOT,
                                           language=entry.language, now=now)
        record_event(session, conversation, "bot", actor="bot",
                     detail={"faq_id": entry.id, "score": score, "message_id": outcome.bot_reply.id
                             if outcome.bot_reply else None}, now=now)
        return outcome.bot_reply is not None and outcome.bot_reply.status != "rejected", False
    if conversation.team_id is None and menu and not state.get("menu_sent_at"):
        sent = send_menu(session, workspace, conversation, menu, teams, language, now)
        return False, sent is not None
    return False, False
