"""Asking "How did we do?" after resolution and storing the answer against the conversation and agent (S5).

The question is sent as Source.AUTOMATION with reply=True: no person writes it at that
moment (so it counts as automated for the engine's caps), it answers inside a
conversation the customer started (so the reply exemption applies while that is
recent), and it goes through messages.service.submit like every other message.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mannerly.csat.parse import parse_score
from mannerly.inbox.common import record_event, send_automatic, service_settings
from mannerly.models import Contact, Conversation, CsatResponse, Message, Workspace
from mannerly.policy.types import Source

DEFAULT_QUESTIONS: dict[str, str] = {
    "en": "How did we do? Reply with a number from 1 (poor) to 5 (great).",
    "ko": "상담은 만족스러우셨나요? 1(불만족)부터 5(매우 만족)까지 숫자로 답해 주세요.",
    "id": "Bagaimana layanan kami? Balas dengan angka 1 (buruk) sampai 5 (sangat baik).",
    "el": "Πώς τα πήγαμε; Απαντήστε με έναν αριθμό από 1 (κακή) έως 5 (άριστη).",
}
# An answer later than this after the question is treated as a new message, not a score.
ANSWER_WINDOW = timedelta(days=7)


def csat_question(questions: dict[str, str] | None, language: str) -> str:
    """The question in a language: the workspace's wording, else the built-in one, else English."""
    questions = questions or {}
    return questions.get(language) or DEFAULT_QUESTIONS.get(language) or questions.get("en") \
        or DEFAULT_QUESTIONS["en"]


def request_csat(session: Session, workspace: Workspace, conversation: Conversation, language: str,
                 now: datetime) -> Message | None:
    """Send the CSAT question for a just-resolved conversation (when enabled); the queued message or None."""
    settings = service_settings(session, workspace.id)
    if not settings.csat_enabled or conversation.last_inbound_at is None:
        return None
    text = csat_question(settings.csat_questions, language)
    message = send_automatic(session, workspace, conversation, text, source=Source.AUTOMATION, language=language,
                             now=now)
    if message is not None and message.status != "rejected":
        conversation.csat_requested_at = now
    return message


def awaiting_answer(session: Session, conversation: Conversation, now: datetime) -> bool:
    """True when a CSAT question went out recently and has no answer yet."""
    asked = conversation.csat_requested_at
    if asked is None or now - asked > ANSWER_WINDOW:
        return False
    answered = session.scalar(select(CsatResponse.id).where(CsatResponse.conversation_id == conversation.id,
                                                            CsatResponse.created_at >= asked).limit(1))
    return answered is None


def record_answer(session: Session, conversation: Conversation, contact: Contact, message: Message,
                  now: datetime) -> CsatResponse | None:
    """Store the customer's reply as a score when it is one; None when it is anything else."""
    score = parse_score(message.body, contact.language)
    if score is None:
        return None
    response = CsatResponse(
        workspace_id=conversation.workspace_id, conversation_id=conversation.id,
        agent_user_id=conversation.assignee_user_id or conversation.resolved_by_user_id,
        team_id=conversation.team_id, score=score, raw_text=message.body, message_id=message.id, created_at=now,
    )
    session.add(response)
    session.flush()
    record_event(session, conversation, "csat", actor="customer",
                 detail={"score": score, "agent_user_id": response.agent_user_id}, now=now)
    return response
