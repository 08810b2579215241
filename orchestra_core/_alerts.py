"""The alert model: who to tell when a run succeeds, fails, or runs too long.

A pipeline's ``alerts:`` section (:class:`Alerts`) names, per event, the notification channels
to use. The engine raises an alert when a run ends and when a running run passes its
``runtime_exceeded_hours``; each alert fires once per run (also across a resume or several
workers), and a channel that fails is logged in the run log and never fails the run. Channels
are the types registered through ``orchestra_register_notification_channels`` (the core's
``stored`` and ``webhook``, plus those of plugins). See ``docs/alerts.md``.

Only the standard library and attrs, like the rest of the pipeline model: reading the section
from files is :mod:`orchestra_core._alerts_parse`'s job, sending the alerts
:mod:`orchestra_core._alerter`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from attrs import field, frozen

__all__ = (
    "DEFAULT_CHANNEL",
    "FILES_MISSING",
    "MAX_MESSAGE",
    "RUN_FAILED",
    "RUN_RUNTIME_EXCEEDED",
    "RUN_SUCCEEDED",
    "TASK_RUNTIME_EXCEEDED",
    "Alerts",
    "ChannelConfig",
    "ChannelContext",
    "run_message",
    "runtime_seconds",
)

#: Notification kinds the engine raises.
RUN_SUCCEEDED = "run.succeeded"
RUN_FAILED = "run.failed"
RUN_RUNTIME_EXCEEDED = "run.runtime_exceeded"
#: A task ran longer than its ``alert_after`` (it goes on running).
TASK_RUNTIME_EXCEEDED = "task.runtime_exceeded"
#: A file check found no files (or fewer than expected), whatever its policy.
FILES_MISSING = "files.missing"

#: The channel used where an alert names none.
DEFAULT_CHANNEL = "stored"
#: Longest custom alert message.
MAX_MESSAGE = 500


@frozen(kw_only=True)
class ChannelConfig:
    """A configured notification channel: a registered channel *type* and its options."""

    type: str
    options: Mapping[str, Any] = field(factory=dict)


@frozen(kw_only=True)
class Alerts:
    """A pipeline's ``alerts:`` section.

    :param on_success: channels told when a run succeeds.
    :param on_failure: channels told when a run fails.
    :param on_runtime_exceeded: channels told when a run is still running
        ``runtime_exceeded_hours`` after it started.
    :param runtime_exceeded_hours: the runtime threshold, in hours (``None``: no such alert).
    :param on_task_runtime_exceeded: channels told when a task with ``alert_after``
        runs longer than that (default: ``stored``).
    :param on_missing_files: channels told when a ``files_check`` task finds files missing
        (default: ``stored``).
    :param message: text put before every notification's message (e.g. who to call).
    :param channels: named channel configurations the lists above can use, besides the
        bare names of channel types that need no options (``stored``).
    """

    on_success: tuple[str, ...] = ()
    on_failure: tuple[str, ...] = ()
    on_runtime_exceeded: tuple[str, ...] = ()
    runtime_exceeded_hours: float | None = None
    on_task_runtime_exceeded: tuple[str, ...] = ()
    on_missing_files: tuple[str, ...] = ()
    message: str | None = None
    channels: Mapping[str, ChannelConfig] = field(factory=dict)

    def channels_for(self, kind: str) -> tuple[str, ...]:
        """The channel names an alert of *kind* (``run.failed``, ...) goes to. The task-level
        alerts (``task.runtime_exceeded``, ``files.missing``) go to ``stored`` when the
        section names no channel for them: the task asked for them explicitly."""
        if kind == TASK_RUNTIME_EXCEEDED:
            return self.on_task_runtime_exceeded or (DEFAULT_CHANNEL,)
        if kind == FILES_MISSING:
            return self.on_missing_files or (DEFAULT_CHANNEL,)
        return {RUN_SUCCEEDED: self.on_success, RUN_FAILED: self.on_failure,
                RUN_RUNTIME_EXCEEDED: self.on_runtime_exceeded}.get(kind, ())

    def config_for(self, name: str) -> ChannelConfig:
        """The configuration channel *name* stands for (a bare type name has no options)."""
        return self.channels.get(name) or ChannelConfig(type=name)


@frozen(kw_only=True)
class ChannelContext:
    """Handed to channel factories that accept a ``context`` keyword argument.

    :ivar host: the :class:`~orchestra_core.Orchestra` host.
    :ivar store: the :class:`~orchestra_core.Store` of the run the alert is about.
    :ivar clock: the engine's clock.
    """

    host: Any
    store: Any
    clock: Any
    #: ``name -> Connection``: a stored connection with its credential decrypted (its values
    #: registered with the host's redactor); ``None`` where no store is at hand
    resolver: Any = None

    def connection(self, name: str) -> Any:
        """The stored connection *name* (a :class:`~orchestra_core.Connection` whose
        ``secrets`` hold its credential's fields): how a channel reads a password or a
        webhook URL without it being written in the pipeline file.

        :raises LookupError: when connections cannot be read here.
        """
        if self.resolver is None:
            raise LookupError(f"no store to read connection {name!r} from")
        return self.resolver(name)


def run_message(kind: str, pipeline: str, run_id: str, *, error: str | None = None,
                hours: float | None = None) -> str:
    """The text of a run alert."""
    if kind == RUN_SUCCEEDED:
        return f"pipeline {pipeline!r}: run {run_id} succeeded"
    if kind == RUN_FAILED:
        return f"pipeline {pipeline!r}: run {run_id} failed" + (f": {error}" if error else "")
    return (f"pipeline {pipeline!r}: run {run_id} has been running for more than {hours:g} "
            f"hour{'s' if hours != 1 else ''}")


def runtime_seconds(started: datetime | None, now: datetime) -> float | None:
    """Seconds between *started* and *now* (``None`` when not started)."""
    return None if started is None else max(0.0, (now - started).total_seconds())

