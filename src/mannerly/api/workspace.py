"""The workspace's sending policy: /v1/workspace/policy."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from pydantic import ValidationError

from mannerly.api.deps import NowDep, SessionDep, WorkspaceDep
from mannerly.errors import FieldError, ProblemError
from mannerly.workspaces.policy import PolicySettings
from mannerly.workspaces.service import update_policy

router = APIRouter(prefix="/v1/workspace", tags=["workspace"])


@router.get("/policy", response_model=PolicySettings, summary="Get the sending policy")
def get_policy(workspace: WorkspaceDep) -> PolicySettings:
    """The workspace's sending policy (legal floors apply on top and are not listed here)."""
    return PolicySettings.model_validate(workspace.policy or {})


@router.patch("/policy", response_model=PolicySettings, summary="Change the sending policy")
def patch_policy(session: SessionDep, workspace: WorkspaceDep, now: NowDep,
                 changes: dict[str, Any] = Body(..., examples=[{"window_start": "08:30", "marketing_cap": 1}])) -> PolicySettings:
    """Change some policy fields; the result is validated as a whole and the change is audited."""
    try:
        settings = update_policy(session, workspace, changes, actor="api", now=now)
    except ValidationError as error:
        errors = [FieldError(".".join(str(part) for part in item["loc"]) or "policy", item["msg"])
                  for item in error.errors()]
        raise ProblemError(422, "Invalid policy", "; ".join(f"{e.field}: {e.message}" for e in errors), errors) from error
    session.commit()
    return settings
