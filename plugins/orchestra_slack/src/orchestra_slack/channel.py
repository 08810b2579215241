"""The ``slack`` notification channel: a message posted to a Slack incoming webhook.

The webhook URL (``https://hooks.slack.com/services/T.../B.../...``) is a secret: it is the
``webhook_url`` field of the credential of a stored connection, named by the channel's
``connection`` option, never written in a pipeline file::

    orchestra credentials set slack-alerts --field webhook_url=https://hooks.slack.com/...
    orchestra connections add slack-alerts --integration slack --credential slack-alerts

Requests go through the host's vendor HTTP layer (vendor ``slack``): 429 answers are retried
after ``Retry-After``, 5xx and network errors with backoff, and the URL is masked in every
error. Slack's refusals (``400 invalid_payload``, ``403 invalid_token``, ``404 no_service``,
``410 channel_is_archived``) are not retried.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from attrs import frozen

from orchestra_core import DeliveryFailed, HttpRetry, Notification, VendorHTTPError, parameter

__all__ = ("VENDOR", "SlackChannel", "SlackOptions", "slack_message")

#: The vendor name of the channel's HTTP clients (``Orchestra(transports={"slack": t})``).
VENDOR = "slack"
#: The credential fields that may hold the webhook URL, in order.
URL_FIELDS = ("webhook_url", "url")
_ICONS = {"run.succeeded": ":white_check_mark:", "run.failed": ":x:",
          "run.runtime_exceeded": ":hourglass:", "task.runtime_exceeded": ":hourglass:",
          "files.missing": ":warning:"}


@frozen(kw_only=True)
class SlackOptions:
    """Options of a ``slack`` channel."""

    connection: str = parameter(
        aliases=("destination",),
        help="the stored connection whose credential's webhook_url is the incoming webhook")
    username: str | None = parameter(default=None, help="the name the message is posted as")
    icon_emoji: str | None = parameter(default=None, help="e.g. ':robot_face:'")
    timeout: float = parameter(default=10.0, help="seconds to wait for Slack")
    retries: int = parameter(default=3, help="further attempts after a failed one")

    def __attrs_post_init__(self) -> None:
        if not self.connection.strip():
            raise ValueError("connection must name a stored connection")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")


def slack_message(notification: Notification, options: SlackOptions | None = None
                  ) -> dict[str, Any]:
    """The JSON body posted for *notification*: a ``text`` fallback and mrkdwn blocks."""
    icon = _ICONS.get(notification.kind, ":bell:")
    title = f"{icon} *{notification.kind}* - pipeline `{notification.pipeline}`"
    fields = [f"*run*: `{notification.run_id}`"] if notification.run_id else []
    for key in ("task_id", "state", "error", "missing"):
        value = notification.data.get(key)
        if value:
            shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            fields.append(f"*{key}*: {shown}")
    body: dict[str, Any] = {
        "text": f"{notification.kind}: {notification.message}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": title}},
            {"type": "section", "text": {"type": "mrkdwn", "text": notification.message[:2900]}},
        ],
    }
    if fields:
        body["blocks"].append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": " | ".join(fields)[:2900]}]})
    if options is not None and options.username:
        body["username"] = options.username
    if options is not None and options.icon_emoji:
        body["icon_emoji"] = options.icon_emoji
    return body


class _Waits:
    """What the vendor HTTP layer needs of a task context: the engine clock for retry waits."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock

    async def sleep(self, seconds: float) -> None:
        await self.clock.sleep(seconds)

    def now(self) -> Any:
        return self.clock.now()

    def log(self, message: str, *, level: str = "info") -> None:
        """Retries are not logged: the alerter logs the outcome."""


class SlackChannel:
    """Posts each notification to the Slack incoming webhook of ``options.connection``.

    :param context: the channel context: its ``connection(name)`` reads the stored connection
        (the webhook URL is registered with the host's redactor), its ``host`` sends through
        ``vendor_client("slack", ...)`` and its ``clock`` times the retries.
    """

    def __init__(self, options: SlackOptions, *, context: Any = None) -> None:
        if context is None:
            raise DeliveryFailed("the slack channel needs the channel context (host, store)")
        self.options = options
        self.context = context

    def webhook_url(self) -> str:
        """The webhook URL from the stored connection's credential."""
        try:
            connection = self.context.connection(self.options.connection)
        except Exception as exc:  # a missing connection or key: say which
            raise DeliveryFailed(f"slack channel: {exc}") from exc
        secrets = connection.secrets or {}
        url = next((secrets[f] for f in URL_FIELDS if secrets.get(f)), None)
        if url is None:
            raise DeliveryFailed(
                f"slack channel: connection {self.options.connection!r} has no webhook_url in "
                f"its credential (fields: {', '.join(sorted(secrets)) or 'none'})")
        if not url.lower().startswith(("https://", "http://")):
            raise DeliveryFailed(f"slack channel: the webhook_url of connection "
                                 f"{self.options.connection!r} is not an http(s) URL")
        return url

    async def notify(self, notification: Notification) -> None:
        """POST the message; raise :class:`DeliveryFailed` when Slack refuses or is gone."""
        url = self.webhook_url()
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        host = self.context.host
        host.redactor.add(parts.path)  # the token is in the path
        client = host.vendor_client(
            VENDOR, base_url=f"{parts.scheme}://{parts.netloc}", timeout=self.options.timeout,
            retry=HttpRetry(count=self.options.retries))
        try:
            response = await client.request(
                "POST", path, json=slack_message(notification, self.options), raw=True,
                idempotent=True, ctx=_Waits(self.context.clock))
        except VendorHTTPError as exc:
            answer = (exc.body or "").strip()[:200] if isinstance(exc.body, str) else ""
            raise DeliveryFailed(host.redactor.mask(
                f"slack webhook of connection {self.options.connection!r} refused the message: "
                + (f"HTTP {exc.status}" if exc.status else str(exc))
                + (f" {answer}" if answer else ""))) from exc
        text = response.text.strip()
        if text and text != "ok":
            raise DeliveryFailed(f"slack webhook answered {json.dumps(text[:200])}")
