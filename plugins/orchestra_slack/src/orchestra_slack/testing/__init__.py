"""A simulator of Slack's incoming webhooks, on Orchestra's simulator kit.

::

    sim = SlackSimulator(clock=clock)
    url = sim.add_webhook_url("#data-alerts")      # what Slack shows when you add the app
    ...                                          # post to it (in-process: sim.transport)
    sim.messages["#data-alerts"]                 # the JSON bodies received, in order

It answers as Slack does: ``200 ok``; ``400 invalid_payload`` (not JSON) or ``no_text``
(neither ``text`` nor ``blocks``); ``403 invalid_token`` for an unknown URL;
``404 no_service`` for a removed webhook; ``410 channel_is_archived``; and, through the kit's
failure injection, ``429`` with ``Retry-After`` and 5xx.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from orchestra_core.testing import Simulator

__all__ = ("SlackSimulator",)


class SlackSimulator(Simulator):
    """Slack's ``POST /services/{team}/{bot}/{token}`` incoming webhooks.

    :ivar messages: channel -> the JSON bodies posted to its webhooks.
    """

    name = "slack"
    base_path = ""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hooks: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}

    def routes(self) -> list[Any]:
        """``POST /services/{team}/{bot}/{token}``."""
        return [Route("/services/{team}/{bot}/{token}", self._post, methods=["POST"])]

    def error_response(self, status: int, message: str) -> Response:
        """Slack answers errors in plain text: ``rate_limited``, ``internal_error``."""
        return PlainTextResponse(message.lower().replace(" ", "_"), status_code=status)

    def add_webhook_url(self, channel: str = "#alerts") -> str:
        """A new incoming webhook posting to *channel*: its full URL."""
        path = (f"/services/T{secrets.token_hex(4).upper()}/B{secrets.token_hex(4).upper()}/"
                f"{secrets.token_urlsafe(18)}")
        self.hooks[path] = {"channel": channel, "state": "active"}
        self.messages.setdefault(channel, [])
        return self.base_url.rstrip("/") + path

    def remove(self, url: str) -> None:
        """The app was removed from the workspace: the URL answers ``404 no_service``."""
        self.hooks[self._path(url)]["state"] = "removed"

    def archive(self, url: str) -> None:
        """The channel was archived: the URL answers ``410 channel_is_archived``."""
        self.hooks[self._path(url)]["state"] = "archived"

    def credentials(self) -> dict[str, str]:
        """A new webhook URL (what ``orchestra simulate slack`` prints)."""
        return {"webhook_url": self.add_webhook_url()}

    def describe(self) -> dict[str, Any]:
        """The webhooks and their channels."""
        return {"webhooks": {p: h["channel"] for p, h in self.hooks.items()}}

    @staticmethod
    def _path(url: str) -> str:
        return "/services/" + url.split("/services/", 1)[1]

    async def _post(self, request: Request) -> Response:
        hook = self.hooks.get(request.url.path)
        if hook is None:
            return PlainTextResponse("invalid_token", status_code=403)
        if hook["state"] == "removed":
            return PlainTextResponse("no_service", status_code=404)
        if hook["state"] == "archived":
            return PlainTextResponse("channel_is_archived", status_code=410)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return PlainTextResponse("invalid_payload", status_code=400)
        if not isinstance(body, dict):
            return PlainTextResponse("invalid_payload", status_code=400)
        if not body.get("text") and not body.get("blocks"):
            return PlainTextResponse("no_text", status_code=400)
        self.messages[hook["channel"]].append(body)
        return PlainTextResponse("ok")
