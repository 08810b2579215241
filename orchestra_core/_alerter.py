"""Sending a pipeline's alerts through the host's notification channels.

:class:`Alerter` is what the engine calls when a run ends and when a running run passes its
``runtime_exceeded_hours``. Each alert fires once per run, also across a resume or several
workers: the store records which alerts were sent. A channel that fails is logged in the run
log and never fails the run. The alert model itself is :mod:`orchestra_core._alerts`.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

import anyio

from ._alerts import Alerts, ChannelConfig, ChannelContext
from ._committer import in_thread
from ._config import structure_or_raise
from ._errors import PluginError
from ._models import Notification

__all__ = ("Alerter", "build_channel")


class Alerter:
    """Sends a pipeline's alerts through the host's notification channels.

    :param host: the :class:`~orchestra_core.Orchestra` whose channel registry is used (and
        whose ``redactor`` masks every notification before a channel sees it).
    :param store: the store of the runs (records which alerts were sent, once per run).
    :param clock: the engine's clock.
    :param secrets: the :class:`~orchestra_core.Secrets` channels read stored connections
        from (``ChannelContext.connection``); default: the store's, with the default keys.
    """

    def __init__(self, host: Any, store: Any, clock: Any, *, secrets: Any = None) -> None:
        self.host = host
        self.store = store
        self.clock = clock
        self.secrets = secrets
        self._channels: dict[tuple[str, str], Any] = {}

    async def fire(self, alerts: Alerts, kind: str, *, pipeline: str, run_id: str,
                   message: str, data: Mapping[str, Any],
                   log: Callable[..., None], subject: str | None = None) -> list[str]:
        """Send the alert *kind* of run *run_id* to its channels, unless it was sent before;
        return the channels that took it. Failures are logged through *log*, never raised.

        :param subject: what the alert is about within the run (a task id): the alert fires
            once per run and subject.
        """
        names = alerts.channels_for(kind)
        if not names:
            return []
        if not await in_thread(self.clock, self._claim, run_id, _sent_key(kind, subject)):
            return []  # already sent (before a resume, or by another worker)
        text = f"{alerts.message}\n{message}" if alerts.message else message
        redactor = self.host.redactor
        note = Notification(kind=kind, pipeline=pipeline, message=redactor.mask(text),
                            created_at=self.clock.now(), run_id=run_id,
                            data=redactor.mask_obj(dict(data)))
        delivered: list[str] = []

        async def send(name: str) -> None:
            try:
                channel = self._channel(alerts.config_for(name))
                await channel.notify(note)
            except Exception as exc:
                log(redactor.mask(f"alert {kind}: channel {name!r} failed: "
                                  f"{type(exc).__name__}: {exc}"), level="error")
            else:
                delivered.append(name)

        async with anyio.create_task_group() as tg:
            for name in names:
                tg.start_soon(send, name)
        if delivered:
            log(f"alert {kind} sent to {', '.join(sorted(delivered))}")
        return delivered

    def _claim(self, run_id: str, kind: str) -> bool:
        import sqlalchemy as sa  # only when a run has alerts to send

        from ._store.schema import alerts_sent

        try:
            with self.store.engine.begin() as conn:
                conn.execute(alerts_sent.insert().values(run_id=run_id, kind=kind,
                                                         sent_at=self.clock.now()))
        except sa.exc.IntegrityError:
            return False
        return True

    def _channel(self, config: ChannelConfig) -> Any:
        key = (config.type, json.dumps(dict(config.options), sort_keys=True, default=str))
        if key not in self._channels:
            self._channels[key] = build_channel(self.host, config, ChannelContext(
                host=self.host, store=self.store, clock=self.clock,
                resolver=self._connection))
        return self._channels[key]

    def _connection(self, name: str) -> Any:
        from ._secrets import Secrets
        from ._secrets._lookup import stored_connection

        if self.secrets is None:
            self.secrets = Secrets(self.store, host=self.host)
        return stored_connection(self.secrets, name)


def _sent_key(kind: str, subject: str | None) -> str:
    """The ``alerts_sent.kind`` of an alert (64 characters at most)."""
    if subject is None:
        return kind
    key = f"{kind}:{subject}"
    if len(key) > 64:
        key = f"{kind}:{hashlib.sha256(subject.encode()).hexdigest()[:64 - len(kind) - 1]}"
    return key


def build_channel(host: Any, config: ChannelConfig, context: ChannelContext) -> Any:
    """Make the :class:`~orchestra_core.NotificationChannel` *config* describes,
    structuring its options with *host*'s converter."""
    ctype = host.channels.find(config.type)
    if ctype is None:
        raise PluginError(f"notification channel type {config.type!r} is not installed in this "
                          "process")
    options = (structure_or_raise(dict(config.options), ctype.options,
                                  converter=host.converter) if ctype.options else None)
    try:
        accepts_context = "context" in inspect.signature(ctype.factory).parameters
    except (TypeError, ValueError):
        accepts_context = False
    if accepts_context:
        return ctype.factory(options, context=context)
    return ctype.factory(options)
