"""How the dashboard reads and changes anything: a request to the REST API app in this
process (no socket), with the session's token, so the API's checks and audit log apply."""

from __future__ import annotations

import json
from typing import Any

import httpx

__all__ = ("ApiAnswer", "ApiCaller")


class ApiAnswer:
    """An API answer: its status and JSON body (``None`` when empty)."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return 200 <= self.status < 300

    @property
    def problem(self) -> str:
        """The problem's detail (with the first located errors) of a refused request."""
        if not isinstance(self.body, dict):
            return f"HTTP {self.status}"
        detail = str(self.body.get("detail") or self.body.get("title") or self.status)
        errors = self.body.get("errors") or []
        extra = "; ".join(f"{e.get('path', '')}: {e.get('message', '')}" for e in errors[:3]
                          if isinstance(e, dict))
        return f"{detail} ({extra})" if extra and extra not in detail else detail


class ApiCaller:
    """Calls the API ASGI app *api_app* (mounted at ``/api/v1``) in process."""

    def __init__(self, api_app: Any) -> None:
        self.transport = httpx.ASGITransport(app=api_app)

    async def __call__(self, token: str, method: str, path: str, *,
                       params: dict[str, Any] | None = None, json_body: Any = None,
                       content: str | None = None) -> ApiAnswer:
        """``method path`` as *token*; *params* with empty values left out."""
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        headers = {"Authorization": f"Bearer {token}"}
        if content is not None:
            headers["Content-Type"] = "application/yaml"
        async with httpx.AsyncClient(transport=self.transport, base_url="http://api",
                                     timeout=30) as client:
            response = await client.request(method, path, params=query, json=json_body,
                                            content=content, headers=headers)
        try:
            body = response.json() if response.content else None
        except json.JSONDecodeError:
            body = response.text
        return ApiAnswer(response.status_code, body)
