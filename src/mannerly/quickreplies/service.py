"""Quick replies in the database: declare a template's options, open a prompt per message, record answers.

An answer closes the newest open prompt of the contact whose options it matches. It is stored
as a QuickReplyAnswer, on the contact (attribute `<template>_reply` = the meaning, so segments
can use it), and on the related appointment, whose state becomes the meaning when the meaning
is an appointment state (confirmed, reschedule, cancelled).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mannerly.errors import invalid
from mannerly.models import Contact, Message, Template
from mannerly.models.automation import APPOINTMENT_STATES, Appointment
from mannerly.models.quickreply import QuickReplyAnswer, QuickReplyPrompt, QuickReplySet
from mannerly.quickreplies.parse import expand_options, parse_answer

# How long after its message a prompt still takes answers.
PROMPT_LIFETIME = timedelta(days=7)
# A prompt whose message never left cannot have been answered.
UNSENT_STATUSES = ("rejected", "failed")


def declare_options(session: Session, workspace_id: int, template_name: str, declared: dict[str, str] | str,
                    now: datetime) -> QuickReplySet:
    """Set (or replace) the quick-reply options of a template name; 422 when they are not usable."""
    exists = session.scalar(select(Template.id).where(Template.workspace_id == workspace_id,
                                                      Template.name == template_name).limit(1))
    if exists is None:
        raise invalid("template", f"unknown template '{template_name}'")
    try:
        options = expand_options(declared)
    except ValueError as error:
        raise invalid("options", str(error)) from error
    row = options_for(session, workspace_id, template_name)
    if row is None:
        row = QuickReplySet(workspace_id=workspace_id, template_name=template_name, options=options, created_at=now)
        session.add(row)
    else:
        row.options = options
    session.flush()
    return row


def remove_options(session: Session, workspace_id: int, template_name: str) -> bool:
    """Remove a template's options; True when there were some."""
    row = options_for(session, workspace_id, template_name)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def options_for(session: Session, workspace_id: int, template_name: str) -> QuickReplySet | None:
    """The declared options of a template name, if any."""
    return session.scalar(select(QuickReplySet).where(QuickReplySet.workspace_id == workspace_id,
                                                      QuickReplySet.template_name == template_name))


def open_prompt_for_template(session: Session, message: Message, template_name: str, now: datetime, *,
                             appointment_id: int | None = None) -> QuickReplyPrompt | None:
    """Note that a message asks for a quick reply, when its template declares options (else None)."""
    if options_for(session, message.workspace_id, template_name) is None:
        return None
    prompt = QuickReplyPrompt(workspace_id=message.workspace_id, contact_id=message.contact_id,
                              message_id=message.id, template_name=template_name, appointment_id=appointment_id,
                              expires_at=(message.send_at or now) + PROMPT_LIFETIME, created_at=now)
    session.add(prompt)
    session.flush()
    return prompt


def answer_inbound(session: Session, contact: Contact, message: Message, now: datetime) -> QuickReplyAnswer | None:
    """Record a customer's message as the answer to their newest open prompt it matches; None otherwise."""
    prompts = session.execute(
        select(QuickReplyPrompt, QuickReplySet.options)
        .join(QuickReplySet, (QuickReplySet.workspace_id == QuickReplyPrompt.workspace_id)
              & (QuickReplySet.template_name == QuickReplyPrompt.template_name))
        .join(Message, Message.id == QuickReplyPrompt.message_id)
        .where(QuickReplyPrompt.contact_id == contact.id, QuickReplyPrompt.answered_at.is_(None),
               QuickReplyPrompt.expires_at > now, QuickReplyPrompt.created_at <= now,
               Message.status.not_in(UNSENT_STATUSES))
        .order_by(QuickReplyPrompt.created_at.desc(), QuickReplyPrompt.id.desc()).limit(5)
    ).all()
    for prompt, options in prompts:
        option = parse_answer(message.body or "", options or {})
        if option is None:
            continue
        meaning = options[option]
        prompt.answered_at = now
        answer = QuickReplyAnswer(workspace_id=contact.workspace_id, prompt_id=prompt.id, contact_id=contact.id,
                                  inbound_message_id=message.id, template_name=prompt.template_name,
                                  option=option, meaning=meaning, raw_text=(message.body or "")[:1000],
                                  created_at=now)
        session.add(answer)
        attributes: dict[str, Any] = dict(contact.attributes or {})
        attributes[f"{prompt.template_name}_reply"] = meaning
        contact.attributes = attributes  # a new dict: JSON columns do not track in-place changes
        if prompt.appointment_id is not None and meaning in APPOINTMENT_STATES:
            appointment = session.get(Appointment, prompt.appointment_id)
            if appointment is not None and appointment.state != "cancelled":
                appointment.state = meaning
                appointment.updated_at = now
        session.flush()
        return answer
    return None
