"""How a route is declared (:class:`Endpoint`, :class:`Param`) and what its handler is given
(:class:`Call`). The declaration drives the request's checks (scope, parameters, body) and the
OpenAPI document alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from attrs import field, frozen

from .problems import ApiError
from .schema import BOOL, INT, STR, TIME

__all__ = ("Call", "Endpoint", "Param", "path_param", "query")


@frozen
class Param:
    """A path or query parameter."""

    name: str
    where: str = "query"
    schema: dict[str, Any] = field(factory=lambda: dict(STR))
    required: bool = False
    description: str = ""

    def parse(self, raw: str) -> Any:
        """*raw* converted to the parameter's type, else a 400."""
        kind = self.schema.get("type")
        try:
            if kind == "integer":
                value = int(raw)
                if value < self.schema.get("minimum", value) or value > self.schema.get(
                        "maximum", value):
                    raise ValueError
                return value
            if kind == "boolean":
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                return raw.lower() in ("true", "1")
            if self.schema.get("format") == "date-time":
                parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            raise ApiError(400, f"query parameter {self.name!r}: not a valid "
                           f"{self.schema.get('format') or kind}: {raw[:100]!r}") from None
        if "enum" in self.schema and raw not in self.schema["enum"]:
            raise ApiError(400, f"parameter {self.name!r}: {raw[:100]!r} is not one of "
                           f"{', '.join(self.schema['enum'])}")
        if len(raw) > self.schema.get("maxLength", 1000):
            raise ApiError(400, f"parameter {self.name!r}: too long")
        return raw


def query(name: str, schema: dict[str, Any] | None = None, description: str = "",
          required: bool = False) -> Param:
    """A query parameter."""
    return Param(name, "query", dict(schema or STR), required, description)


def path_param(name: str, description: str = "") -> Param:
    """A path parameter (a string)."""
    return Param(name, "path", {"type": "string", "minLength": 1, "maxLength": 200}, True,
                 description)


def limit_param(default: int = 50, maximum: int = 500) -> Param:
    """``limit``: the page size (1 to *maximum*)."""
    return query("limit", {**INT, "minimum": 1, "maximum": maximum, "default": default},
                 f"Page size, at most {maximum}.")


__all__ += ("limit_param",)
_ = (BOOL, TIME)


@frozen
class Endpoint:
    """One route: ``method`` ``path`` (under ``/api/v1``) answered by ``handler(call)``.

    :ivar scope: the token scope it needs (``read``, ``run`` or ``admin``).
    :ivar body: the JSON Schema of a JSON body, or ``None``; ``text_body`` for a file body.
    :ivar response: the JSON Schema of a successful answer (``None``: no body).
    :ivar stream: the handler is async and returns its own response (server-sent events).
    """

    method: str
    path: str
    handler: Callable[[Call], Any]
    scope: str
    summary: str
    tag: str
    params: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None
    text_body: bool = False
    response: dict[str, Any] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    stream: bool = False
    media_type: str = "application/json"
    description: str = ""
    #: other media types the answer may have, with their schemas (``text/csv``)
    alternatives: tuple[tuple[str, dict[str, Any]], ...] = ()

    @property
    def operation_id(self) -> str:
        """A unique id derived from the handler's name."""
        return self.handler.__name__


class Call:
    """What a handler gets: the parsed parameters and body, the caller and the API's context.

    :ivar token: the caller's token (``TokenInfo``): ``token.client`` is the only client it
        sees.
    """

    def __init__(self, api: Any, request: Any, token: Any, params: dict[str, Any],
                 body: Any) -> None:
        self.api = api
        self.request = request
        self.token = token
        self.params = params
        self.body = body
        self.headers: dict[str, str] = {}

    @property
    def client(self) -> str:
        """The caller's client."""
        return str(self.token.client)

    @property
    def actor(self) -> str:
        """Who is calling, as the audit log names them: ``token:<name>``."""
        return f"token:{self.token.name}"

    def __getitem__(self, name: str) -> Any:
        return self.params.get(name)

    def audit(self, action: str, target: str | None, before: Any = None, after: Any = None,
              conn: Any = None) -> None:
        """Record a change in the audit log."""
        self.api.audit.record(actor=self.actor, via="api", client=self.client, action=action,
                              target=target, before=before, after=after, conn=conn)
