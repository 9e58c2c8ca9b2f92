"""Message templates per language, with the WhatsApp template registry fields (O2): /v1/templates."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import select

from mannerly.api.deps import NowDep, SessionDep, WorkspaceDep
from mannerly.api.schemas import TemplateIn, TemplateOut, TemplatePatch
from mannerly.errors import conflict, invalid, not_found
from mannerly.topics.service import find_topic
from mannerly.models import Template, Topic, Workspace
from mannerly.templates.render import TemplateSecurityError, TemplateSyntaxProblem, template_variables

router = APIRouter(prefix="/v1/templates", tags=["templates"])


def placeholders_of(body: str) -> list[str]:
    """The variables a template body uses, or a 422 when it does not parse."""
    try:
        return sorted(template_variables(body))
    except (TemplateSyntaxProblem, TemplateSecurityError) as error:
        raise invalid("body", f"the template does not parse: {error}") from error


def template_out(session, template: Template) -> TemplateOut:
    """The API form of a template."""
    topic = session.get(Topic, template.topic_id) if template.topic_id else None
    return TemplateOut(
        id=template.id, name=template.name, language=template.language, body=template.body,
        topic=topic.name if topic else None, variables=template.variables or {},
        placeholders=placeholders_of(template.body), whatsapp_name=template.whatsapp_name,
        whatsapp_status=template.whatsapp_status, category=template.category,
    )


def load_template(session, workspace: Workspace, template_id: int) -> Template:
    """A template of this workspace, or a 404."""
    template = session.get(Template, template_id)
    if template is None or template.workspace_id != workspace.id:
        raise not_found("template", template_id)
    return template


@router.get("", response_model=list[TemplateOut], summary="List templates")
def list_templates(session: SessionDep, workspace: WorkspaceDep) -> list[TemplateOut]:
    """Every template of the workspace, by name and language."""
    rows = session.scalars(select(Template).where(Template.workspace_id == workspace.id)
                           .order_by(Template.name, Template.language))
    return [template_out(session, row) for row in rows]


@router.post("", status_code=201, response_model=TemplateOut, summary="Create a template")
def post_template(body: TemplateIn, session: SessionDep, workspace: WorkspaceDep, now: NowDep) -> TemplateOut:
    """A template in one language; its placeholders must parse."""
    placeholders_of(body.body)
    exists = session.scalar(select(Template.id).where(
        Template.workspace_id == workspace.id, Template.name == body.name, Template.language == body.language))
    if exists:
        raise conflict(f"template '{body.name}' already exists in language '{body.language}'")
    topic = find_topic(session, workspace.id, body.topic) if body.topic else None
    template = Template(workspace_id=workspace.id, name=body.name, language=body.language, body=body.body,
                        topic_id=topic.id if topic else None, variables=body.variables,
                        whatsapp_name=body.whatsapp_name, whatsapp_status=body.whatsapp_status,
                        category=body.category, created_at=now)
    session.add(template)
    session.commit()
    return template_out(session, template)


@router.get("/{template_id}", response_model=TemplateOut, summary="Get a template")
def get_template(template_id: int, session: SessionDep, workspace: WorkspaceDep) -> TemplateOut:
    """One template."""
    return template_out(session, load_template(session, workspace, template_id))


@router.patch("/{template_id}", response_model=TemplateOut, summary="Update a template")
def patch_template(template_id: int, body: TemplatePatch, session: SessionDep, workspace: WorkspaceDep) -> TemplateOut:
    """Change a template's body, defaults or WhatsApp registry fields."""
    template = load_template(session, workspace, template_id)
    changes = body.model_dump(exclude_unset=True)
    if "body" in changes:
        placeholders_of(changes["body"])
    for key, value in changes.items():
        setattr(template, key, value)
    session.commit()
    return template_out(session, template)


@router.delete("/{template_id}", status_code=204, summary="Delete a template")
def delete_template(template_id: int, session: SessionDep, workspace: WorkspaceDep) -> Response:
    """Remove a template; messages already sent keep their text."""
    session.delete(load_template(session, workspace, template_id))
    session.commit()
    return Response(status_code=204)
