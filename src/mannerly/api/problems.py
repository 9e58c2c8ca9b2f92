"""RFC 9457 problem documents for every error the API returns."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException

from mannerly.errors import ProblemError

PROBLEM_JSON = "application/problem+json"


def problem_response(status: int, title: str, detail: str, errors: list[dict] | None = None,
                     instance: str | None = None) -> JSONResponse:
    """A problem+json response."""
    body: dict = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_path(location: tuple | list) -> str:
    """'body.contact_id' → 'contact_id'; query and path parameters keep their place name."""
    parts = [str(part) for part in location]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error, ours or the framework's, a problem document."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, error: ProblemError) -> JSONResponse:
        """Errors raised by the services."""
        return problem_response(error.status, error.title, error.detail,
                                [item.as_dict() for item in error.errors], request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        """Bodies and parameters that do not match the schema."""
        errors = [{"field": _field_path(item.get("loc", ())), "message": item.get("msg", "invalid")}
                  for item in error.errors()]
        detail = "; ".join(f"{item['field']}: {item['message']}" for item in errors)
        return problem_response(422, "Invalid request", detail, errors, request.url.path)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, _error: Exception) -> JSONResponse:
        """A number too large for the database (an id beyond 64 bits: SQLite raises OverflowError, PostgreSQL
        a DataError): the request is invalid, not the server broken. Nothing was written."""
        return problem_response(422, "Invalid request", "a number in the request is out of range", None,
                                request.url.path)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException) -> JSONResponse:
        """Framework errors such as 404 for unknown paths and 405."""
        return problem_response(error.status_code, str(error.detail), str(error.detail), None, request.url.path)
