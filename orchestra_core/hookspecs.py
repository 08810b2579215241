"""The plugin contract: every hook a plugin can implement.

Hooks are synchronous. They register or select objects; the core awaits those objects' async
methods (see :mod:`orchestra_core._protocols`). Implement a hook with the same name and any
subset of its arguments, decorated with :data:`orchestra_core.hookimpl`, in the module named by
your entry point in the ``orchestra`` group. ``docs/hooks.md`` documents each hook; a test keeps
that page and this module in step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ._markers import hookspec

if TYPE_CHECKING:
    from ._host import Orchestra
    from ._models import Problem, WebhookRequest
    from ._pipeline import Pipeline, Task
    from ._protocols import WebhookHandler
    from ._registry import ChannelRegistry, DestinationRegistry, IntegrationRegistry, JobType

__all__ = (
    "orchestra_identify_webhook",
    "orchestra_register_destinations",
    "orchestra_register_integrations",
    "orchestra_register_notification_channels",
    "orchestra_startup",
    "orchestra_validate_pipeline",
    "orchestra_validate_task",
)

# --------------------------------------------------------------------------------------------
# Registration hooks: called once per host, when the host is built.
# --------------------------------------------------------------------------------------------


@hookspec
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register integrations and their jobs.

    Call ``registry.integration(name, description=..., aliases=(), connection=None,
    simulator=None)`` to get a builder, then ``builder.job(name, parameters=ParamsClass,
    description=..., runner=factory, phase="processing", aliases=())`` once per job.
    ``connection`` is a :class:`~orchestra_core.ConnectionSpec` (what ``ctx.connection``
    holds, and the quick-start environment variables that provide it); ``simulator`` is
    ``"module:attribute"`` of the vendor simulator ``orchestra simulate`` and ``orchestra run
    --simulate`` serve. ``parameters`` is an attrs class whose fields are the job's parameters,
    declared with :func:`~orchestra_core.parameter` (``aliases``, matched case-insensitively,
    ``help``, and a ``validator`` whose error is reported at the field); ``runner`` is a
    callable that receives the host and returns a :class:`~orchestra_core.JobRunner`, or
    ``None`` for a job that cannot run.

    :param registry: the host's :class:`~orchestra_core.IntegrationRegistry`.

    .. versionadded:: 0.1
    """


@hookspec
def orchestra_register_destinations(registry: DestinationRegistry) -> None:
    """Register destination types (where orchestrations deliver data).

    Call ``registry.add(name, factory=..., description=..., options=OptionsClass)``; the
    factory receives the structured options and returns a
    :class:`~orchestra_core.Destination`, whose ``async deliver(delivery)`` the core
    awaits.

    :param registry: the host's :class:`~orchestra_core.DestinationRegistry`.

    .. versionadded:: 0.1
    """


@hookspec
def orchestra_register_notification_channels(registry: ChannelRegistry) -> None:
    """Register notification channel types (stored list, webhook, Slack, e-mail, ...).

    Call ``registry.add(name, factory=..., description=..., options=OptionsClass)``; the
    factory receives the structured options and returns a
    :class:`~orchestra_core.NotificationChannel`.

    :param registry: the host's :class:`~orchestra_core.ChannelRegistry`.

    .. versionadded:: 0.1
    """


@hookspec
def orchestra_startup(orchestra: Orchestra) -> None:
    """Called once when a host has loaded every plugin and filled its registries.

    Use it to check the environment or prepare shared state; raise
    :class:`~orchestra_core.PluginError` to refuse to start.

    :param orchestra: the host.

    .. versionadded:: 0.1
    """


# --------------------------------------------------------------------------------------------
# Validation hooks: every plugin is asked and all problems are collected.
# --------------------------------------------------------------------------------------------


@hookspec
def orchestra_validate_task(
    task: Task, job: JobType, parameters: object, pipeline: Pipeline, path: str
) -> Iterable[Problem] | None:
    """Return problems with *task* beyond what its parameter model already checks.

    Called for every task whose integration job is known and whose parameters structured
    cleanly. Every plugin is asked (not only the job's own), and all problems are reported
    together. Build problems with ``Problem(path=f"{path}.parameters.x", message=...)``; the
    core fills in the file, line and column.

    :param task: the task as written (canonical integration and job names).
    :param job: the registered job the task runs.
    :param parameters: the structured parameter object (an instance of ``job.parameters``).
    :param pipeline: the whole pipeline, for cross-task checks.
    :param path: the JSON path of the task in its file, e.g. ``$.tasks[3]``.
    :return: problems found, or ``None``/empty when there are none.

    .. versionadded:: 0.1
    """


@hookspec
def orchestra_validate_pipeline(pipeline: Pipeline) -> Iterable[Problem] | None:
    """Return problems with the pipeline as a whole (naming rules, required tags, ...).

    Called once per pipeline after the core's own checks found it well-formed.

    :param pipeline: the pipeline.
    :return: problems found, or ``None``/empty when there are none.

    .. versionadded:: 0.1
    """


# --------------------------------------------------------------------------------------------
# Webhook hooks
# --------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def orchestra_identify_webhook(
    request: WebhookRequest, orchestra: Orchestra
) -> WebhookHandler | None:
    """Return the handler for *request*, or ``None`` if the request is not yours.

    Stops at first non-None result. Must not do I/O: look at ``request.integration`` and the
    headers only. The returned :class:`~orchestra_core.WebhookHandler` verifies the
    signature over the raw body and parses the events in its async ``handle``; it gets the
    webhook secrets there with ``await orchestra_core.webhook_secrets(request)``.

    :param request: the raw incoming request.
    :param orchestra: the host (optional argument: take it only if you need it).

    .. versionadded:: 0.1
    """
