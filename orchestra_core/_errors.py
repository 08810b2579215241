"""Errors raised by Orchestra and its plugins.

Library code raises these; only the CLI and the HTTP edges turn them into exit codes and
statuses. The hierarchy::

    OrchestraError
    ├── ConfigError            a pipeline file (or other user input) is invalid; .problems
    ├── PluginError            a plugin is broken, missing or clashes with another; .distribution
    │   └── JobNotExecutable   an integration job is registered but cannot run (yet)
    ├── TaskFailed             an integration job failed; .retryable says whether to retry
    ├── DeliveryFailed         a destination could not deliver
    └── WebhookRejected        a webhook request was malformed or failed verification; .status

Task groups raise exception groups: catch them with ``except* OrchestraError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._models import Problem

__all__ = (
    "ConfigError",
    "DeliveryFailed",
    "JobNotExecutable",
    "OrchestraError",
    "PluginError",
    "TaskFailed",
    "WebhookRejected",
)


class OrchestraError(Exception):
    """Root of every error Orchestra raises on purpose."""


class ConfigError(OrchestraError):
    """User input is invalid. ``problems`` lists every problem found, each with its location."""

    def __init__(self, problems: Sequence[Problem], summary: str | None = None) -> None:
        self.problems = tuple(problems)
        lines = [summary] if summary else []
        lines.extend(p.format() for p in self.problems)
        super().__init__("\n".join(lines) if lines else "invalid configuration")

    @property
    def messages(self) -> list[str]:
        """The formatted problems, one string each."""
        return [p.format() for p in self.problems]


class PluginError(OrchestraError):
    """A plugin failed to load, broke the contract, or clashes with another plugin."""

    def __init__(self, message: str, *, distribution: str | None = None) -> None:
        self.distribution = distribution
        super().__init__(message)


class JobNotExecutable(PluginError):
    """The integration job is known (its parameters validate) but has no runner."""


class TaskFailed(OrchestraError):
    """An integration job failed.

    :param retryable: ``True`` when retrying may help (vendor outage, rate limit, platform
        error); ``False`` for failures only a configuration change fixes (never retried);
        ``None`` (the default) leaves it to the task's retry policy.
    """

    def __init__(
        self, message: str, *, retryable: bool | None = None, metadata: dict | None = None
    ) -> None:
        self.retryable = retryable
        self.metadata = dict(metadata or {})
        super().__init__(message)


class DeliveryFailed(OrchestraError):
    """A destination could not deliver; ``retryable`` as for :class:`TaskFailed`."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        self.retryable = retryable
        super().__init__(message)


class WebhookRejected(OrchestraError):
    """A webhook request is malformed (``status`` 400) or failed verification (401)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        self.status = status
        super().__init__(message)
