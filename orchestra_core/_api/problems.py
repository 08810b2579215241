"""Errors as RFC 9457 problem details (``application/problem+json``), and how library errors
map to HTTP statuses."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from .._errors import ConfigError, OrchestraError

__all__ = ("ApiError", "problem", "problem_of")

TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
          405: "Method not allowed", 409: "Conflict", 413: "Content too large",
          415: "Unsupported media type", 422: "Unprocessable content", 500: "Internal error"}


class ApiError(Exception):
    """An error answered as a problem: *status*, *detail*, optional located *errors*."""

    def __init__(self, status: int, detail: str, *, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers


def problem(status: int, detail: str, *, errors: list[dict[str, Any]] | None = None,
            instance: str | None = None, headers: dict[str, str] | None = None
            ) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {"type": "about:blank", "title": TITLES.get(status, "Error"),
                            "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers,
                        media_type="application/problem+json")


_NOT_FOUND = ("PipelineNotRegistered", "TriggerNotFound")
_CONFLICT = ("RunOwned", "ResolutionRefused")


def problem_of(exc: OrchestraError) -> ApiError:
    """The API error for library error *exc* (a user mistake unless it says otherwise)."""
    name = type(exc).__name__
    text = str(exc)
    if isinstance(exc, ConfigError):
        return ApiError(422, text.splitlines()[0] if exc.problems else text,
                        errors=[p.to_dict() for p in exc.problems])
    if name in _NOT_FOUND or text.startswith(("no run with id", "no pipeline", "no ")):
        return ApiError(404, text)
    if name in _CONFLICT or (name == "QueueError" and text.startswith("cannot ")):
        return ApiError(409, text)
    return ApiError(422, text)
