"""Errors the services raise; the API turns each into an RFC 9457 problem document."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FieldError:
    """What is wrong with one field of a request."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """The JSON form inside a problem document."""
        return {"field": self.field, "message": self.message}


@dataclass
class ProblemError(Exception):
    """A request that cannot be carried out, with a status and a plain explanation."""

    status: int
    title: str
    detail: str
    errors: list[FieldError] = field(default_factory=list)

    def __str__(self) -> str:
        """The detail, followed by each field error."""
        parts = [self.detail] + [f"{error.field}: {error.message}" for error in self.errors]
        return "; ".join(parts)


def invalid(field_name: str, message: str, detail: str | None = None) -> ProblemError:
    """A 422 for one bad field."""
    return ProblemError(422, "Invalid request", detail or message, [FieldError(field_name, message)])


def not_found(what: str, identifier: object) -> ProblemError:
    """A 404 for a missing object of this workspace."""
    return ProblemError(404, "Not found", f"no {what} {identifier} in this workspace")


def conflict(detail: str) -> ProblemError:
    """A 409 for a request that clashes with an earlier one."""
    return ProblemError(409, "Conflict", detail)
