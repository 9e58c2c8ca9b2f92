"""Dependencies shared by the API routes: the runtime, a database session, the caller's workspace."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from mannerly.errors import ProblemError
from mannerly.models import Workspace
from mannerly.runtime import Runtime
from mannerly.workspaces.service import authenticate_api_key

bearer = HTTPBearer(auto_error=False, description="An API key of the workspace: `Authorization: Bearer mly_…`")


def get_runtime(request: Request) -> Runtime:
    """The runtime the app was created with."""
    return request.app.state.runtime


def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    """A session for one request; routes commit what they change."""
    with runtime.session() as session:
        yield session


def get_now(runtime: Annotated[Runtime, Depends(get_runtime)]) -> datetime:
    """The current time from the runtime's clock."""
    return runtime.now()


def get_workspace(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    session: Annotated[Session, Depends(get_session)],
    now: Annotated[datetime, Depends(get_now)],
) -> Workspace:
    """The workspace whose API key the request carries, or a 401."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise ProblemError(401, "Unauthorized", "send an API key as 'Authorization: Bearer <key>'")
    found = authenticate_api_key(session, credentials.credentials, now)
    if found is None:
        raise ProblemError(401, "Unauthorized", "unknown or revoked API key")
    workspace, _key = found
    return workspace


SessionDep = Annotated[Session, Depends(get_session)]
WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
NowDep = Annotated[datetime, Depends(get_now)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
