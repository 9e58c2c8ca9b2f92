"""The automations page (O7): each journey with its trigger, topic, template and what it fired; on/off for admins."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from mannerly.automations.service import find_automation
from mannerly.errors import ProblemError
from mannerly.models import Contact, Topic
from mannerly.models.automation import Appointment, Automation, AutomationRun
from mannerly.models.quickreply import QuickReplySet
from mannerly.web import data
from mannerly.web.routes import Csrf, WebDep, WebError

router = APIRouter(include_in_schema=False)
RECENT_RUNS = 50


def trigger_text(automation: Automation) -> str:
    """What starts an automation, in words."""
    settings = automation.settings or {}
    coupon = settings.get("coupon")
    with_coupon = f", with a {coupon['percent']}% coupon" if coupon and coupon.get("percent") else \
        (", with a coupon" if coupon else "")
    if automation.kind in ("birthday", "anniversary"):
        return (f"On the contact's {settings.get('date_field')} at {settings.get('local_hour', 10):02d}:00 "
                f"their time{with_coupon}")
    if automation.kind == "win_back":
        return f"After {settings.get('days')} days without a message or purchase{with_coupon}"
    if automation.kind == "after_event":
        delay = settings.get("delay_minutes", 0)
        when = "at once" if not delay else (f"{delay // 1440} days later" if delay % 1440 == 0
                                           else f"{delay} minutes later")
        return f"On event “{settings.get('event_type')}”, {when}"
    offset = settings.get("offset_minutes", -1440)
    amount = abs(offset)
    span = f"{amount // 1440} days" if amount % 1440 == 0 and amount else (
        f"{amount // 60} hours" if amount % 60 == 0 and amount else f"{amount} minutes")
    side = "before" if offset < 0 else "after"
    target = "the appointment" if settings.get("date_field") == "appointment" else f"the {settings.get('date_field')} date"
    return f"{span} {side} {target}" if offset else f"On {target}"


@router.get("/automations", response_class=HTMLResponse)
def get_automations(web: WebDep) -> HTMLResponse:
    """Every automation with its runs by status, the newest runs, and upcoming appointments."""
    automations = web.session.scalars(select(Automation).where(Automation.workspace_id == web.workspace.id)
                                      .order_by(Automation.name)).all()
    topics = {topic.id: topic for topic in web.session.scalars(select(Topic).where(
        Topic.workspace_id == web.workspace.id))}
    counts: dict[int, dict[str, int]] = {}
    for automation_id, status, count in web.session.execute(
            select(AutomationRun.automation_id, AutomationRun.status, func.count(AutomationRun.id))
            .where(AutomationRun.workspace_id == web.workspace.id)
            .group_by(AutomationRun.automation_id, AutomationRun.status)):
        counts.setdefault(automation_id, {})[status] = count
    quick = {row.template_name: row.options for row in web.session.scalars(select(QuickReplySet).where(
        QuickReplySet.workspace_id == web.workspace.id))}
    runs = web.session.execute(
        select(AutomationRun, Automation.name, Contact)
        .join(Automation, Automation.id == AutomationRun.automation_id)
        .join(Contact, Contact.id == AutomationRun.contact_id)
        .where(AutomationRun.workspace_id == web.workspace.id)
        .order_by(AutomationRun.id.desc()).limit(RECENT_RUNS)).all()
    appointments = web.session.execute(
        select(Appointment, Contact).join(Contact, Contact.id == Appointment.contact_id)
        .where(Appointment.workspace_id == web.workspace.id, Appointment.starts_at >= web.now)
        .order_by(Appointment.starts_at).limit(RECENT_RUNS)).all()
    return web.render("automations.html", nav="automations", automations=automations, topics=topics, counts=counts,
                      quick=quick, runs=runs, appointments=appointments, trigger_text=trigger_text,
                      label=data.contact_label)


@router.post("/automations/{automation_id}/toggle", dependencies=[Csrf])
def post_toggle(automation_id: int, web: WebDep) -> Response:
    """Turn an automation on or off (admins and marketers)."""
    web.require_role("admin", "marketer")
    try:
        automation = find_automation(web.session, web.workspace.id, automation_id)
    except ProblemError as error:
        raise WebError(404, "There is no such automation.") from error
    automation.enabled = not automation.enabled
    automation.next_run_at = web.now
    automation.updated_at = web.now
    web.session.commit()
    return RedirectResponse("/automations", status_code=303)
