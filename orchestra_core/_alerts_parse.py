"""Reading a pipeline file's ``alerts:`` section into :class:`~orchestra_core._alerts.Alerts`.

:func:`parse_alerts` checks channel names, types and options against a host's channel
registry, structuring options with the host's converter, and reports every problem with its
path. Called by :mod:`orchestra_core._validation`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._alerts import DEFAULT_CHANNEL, MAX_MESSAGE, Alerts, ChannelConfig
from ._config import field_aliases, structure
from ._models import Problem
from ._values import describe, key_path, suggest

if TYPE_CHECKING:
    from ._registry import ChannelType

__all__ = ("parse_alerts",)

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\- #]{0,99}$")
_EVENTS = ("on_success", "on_failure", "on_runtime_exceeded", "on_task_runtime_exceeded",
           "on_missing_files")
_KEYS = (*_EVENTS, "runtime_exceeded_hours", "message", "channels")
#: Orchestra v1 alert statuses and the event each maps to.
_V1_STATUSES = {"SUCCEEDED": "on_success", "FAILED": "on_failure",
                "RUNNING_TIMEOUT": "on_runtime_exceeded"}
_V1_KEYS = ("name", "statuses", "destinations", "custom_message", "runtime_exceeded_hours")


def _kind(value: Any) -> str:
    """*value* as the alert messages name it: like :func:`describe`, but a string is quoted
    as is (``'x'``, not ``the string 'x'``)."""
    return repr(value) if isinstance(value, str) else describe(value)


class _Parser:
    def __init__(self, host: Any) -> None:
        self.host = host
        self.converter = getattr(host, "converter", None)  # None: config's private default
        self.problems: list[Problem] = []

    def add(self, path: str, message: str, code: str = "invalid-value") -> None:
        self.problems.append(Problem(path=path, message=message, code=code))

    def type_names(self) -> list[str]:
        return [t.name for t in self.host.channels] if self.host is not None else []

    # -- canonical form ------------------------------------------------------------------------

    def canonical(self, raw: Mapping[str, Any], path: str) -> Alerts | None:
        values: dict[str, Any] = {}
        for key in raw:
            if key not in _KEYS:
                self.add(key_path(path, key) if isinstance(key, str) else path,
                         f"unknown key {key!r}" + suggest(str(key), list(_KEYS))
                         + f"; accepted: {', '.join(_KEYS)}", "unknown-key")
        channels = self.channels(raw.get("channels"), f"{path}.channels")
        for event in _EVENTS:
            if event in raw:
                values[event] = self.channel_list(raw[event], f"{path}.{event}", channels)
        hours = raw.get("runtime_exceeded_hours")
        if hours is not None:
            values["runtime_exceeded_hours"] = self.hours(hours, f"{path}.runtime_exceeded_hours")
        elif "on_runtime_exceeded" in raw and values.get("on_runtime_exceeded"):
            self.add(f"{path}.on_runtime_exceeded", "on_runtime_exceeded needs "
                     "runtime_exceeded_hours: the number of hours after which a running run "
                     "raises the alert", "missing-required")
        if values.get("runtime_exceeded_hours") and "on_runtime_exceeded" not in raw:
            values["on_runtime_exceeded"] = (DEFAULT_CHANNEL,)
        if raw.get("message") is not None:
            values["message"] = self.message(raw["message"], f"{path}.message")
        if self.problems:
            return None
        return Alerts(channels=channels or {}, **values)

    def channel_list(self, raw: Any, path: str,
                     channels: Mapping[str, ChannelConfig] | None) -> tuple[str, ...]:
        if raw is None or raw is False:
            return ()
        if raw is True:
            names: list[tuple[str, Any]] = [(path, DEFAULT_CHANNEL)]
        elif isinstance(raw, str):
            names = [(path, raw)]
        elif isinstance(raw, list):
            names = [(f"{path}[{i}]", v) for i, v in enumerate(raw)]
        else:
            self.add(path, f"expected a list of channel names (or true for {DEFAULT_CHANNEL!r}),"
                     f" got {_kind(raw)}")
            return ()
        out: list[str] = []
        for where, name in names:
            if not isinstance(name, str):
                self.add(where, f"expected a channel name, got {_kind(name)}")
                continue
            if channels is not None and name in channels:
                out.append(name)
                continue
            ctype = self.host.channels.find(name) if self.host is not None else None
            if ctype is None:
                defined = sorted(channels or {})
                self.add(where, f"unknown notification channel {name!r}"
                         + suggest(name, [*defined, *self.type_names()])
                         + "; name a channel defined under channels"
                         + (f" ({', '.join(defined)})" if defined else "")
                         + f" or a channel type: {', '.join(self.type_names()) or 'none'}",
                         "unknown-channel")
                continue
            _, problems = self.options(ctype, {}, where)
            if problems:
                self.add(where, f"channel type {name!r} needs options ("
                         + "; ".join(p.message for p in problems)
                         + "): define a channel of this type under channels", "unknown-channel")
                continue
            out.append(name)
        if len(set(out)) != len(out):
            self.add(path, "a channel is listed more than once", "invalid-value")
        return tuple(out)

    def hours(self, raw: Any, path: str) -> float | None:
        value = raw
        if isinstance(raw, str):
            try:
                value = float(raw)
            except ValueError:
                value = None
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not math.isfinite(value) or value <= 0:
            self.add(path, f"expected a number of hours > 0, got {_kind(raw)}")
            return None
        return float(value)

    def message(self, raw: Any, path: str) -> str | None:
        if not isinstance(raw, str):
            self.add(path, f"expected a string, got {_kind(raw)}")
            return None
        if len(raw) > MAX_MESSAGE:
            self.add(path, f"at most {MAX_MESSAGE} characters, got {len(raw)}")
            return None
        return raw

    def channels(self, raw: Any, path: str) -> dict[str, ChannelConfig] | None:
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            self.add(path, f"expected a mapping of channel name to channel, got {_kind(raw)}")
            return None
        out: dict[str, ChannelConfig] = {}
        for name, spec in raw.items():
            where = key_path(path, name)
            if not isinstance(name, str) or not _NAME.match(name):
                self.add(where, f"invalid channel name {name!r}: use letters, digits, spaces, "
                         "'_', '-', '.' and '#', at most 100 characters", "invalid-id")
                continue
            config = self.channel(spec, where)
            if config is not None:
                out[name] = config
        return out

    def channel(self, spec: Any, path: str) -> ChannelConfig | None:
        if not isinstance(spec, Mapping):
            self.add(path, f"expected a mapping with 'type' and the channel's options, got "
                     f"{_kind(spec)}")
            return None
        ctype_name = spec.get("type")
        if not isinstance(ctype_name, str):
            self.add(path if "type" not in spec else f"{path}.type",
                     "missing required key 'type' (a notification channel type: "
                     f"{', '.join(self.type_names())})" if "type" not in spec
                     else f"expected a channel type name, got {_kind(ctype_name)}",
                     "missing-required" if "type" not in spec else "invalid-value")
            return None
        return self.typed(ctype_name, {k: v for k, v in spec.items() if k != "type"}, path,
                          f"{path}.type")

    def typed(self, ctype_name: str, options: Mapping[str, Any], path: str,
              type_path: str) -> ChannelConfig | None:
        ctype = self.host.channels.find(ctype_name) if self.host is not None else None
        if ctype is None:
            self.add(type_path, f"unknown notification channel type {ctype_name!r}"
                     + suggest(ctype_name, self.type_names())
                     + f"; installed: {', '.join(self.type_names()) or 'none'}. A plugin may "
                     f"provide it: pip install orchestra-{ctype_name.lower()}",
                     "unknown-channel-type")
            return None
        canonical, problems = self.options(ctype, options, path)
        self.problems.extend(problems)
        if problems:
            return None
        return ChannelConfig(type=ctype.name, options=canonical)

    def options(self, ctype: ChannelType, raw: Mapping[str, Any],
                path: str) -> tuple[dict[str, Any], list[Problem]]:
        """*raw* options with aliases renamed, checked against the type's options class."""
        if ctype.options is None:
            extra = sorted(map(str, raw))
            return {}, [Problem(path=f"{path}.{k}", message=f"unknown key {k!r}; channel type "
                                f"{ctype.name!r} takes no options", code="unknown-key")
                        for k in extra]
        names = field_aliases(ctype.options)
        canonical: dict[str, Any] = {}
        problems: list[Problem] = []
        for key, value in raw.items():
            target = names.get(key, key) if isinstance(key, str) else key
            if target in canonical:
                problems.append(Problem(path=f"{path}.{key}", message=f"option {target!r} is "
                                        "given more than once", code="duplicate-key"))
                continue
            canonical[target] = value
        _, found = structure(canonical, ctype.options, path, noun="option",
                             converter=self.converter)
        problems.extend(found)
        return canonical, problems

    # -- Orchestra v1 form ---------------------------------------------------------------------

    def v1(self, raw: list[Any], path: str) -> Alerts | None:
        events: dict[str, list[str]] = {e: [] for e in _EVENTS}
        channels: dict[str, ChannelConfig] = {}
        hours: tuple[float, str] | None = None
        message: tuple[str, str] | None = None
        needs_hours: list[str] = []
        for i, alert in enumerate(raw):
            where = f"{path}[{i}]"
            if not isinstance(alert, Mapping):
                self.add(where, f"expected an alert mapping (name, statuses, destinations), got "
                         f"{_kind(alert)}")
                continue
            for key in alert:
                if key not in _V1_KEYS:
                    self.add(f"{where}.{key}", f"unknown key {key!r}"
                             + suggest(str(key), list(_V1_KEYS))
                             + f"; accepted: {', '.join(_V1_KEYS)}", "unknown-key")
            label = alert.get("name") if isinstance(alert.get("name"), str) else f"alert {i + 1}"
            targets = self.v1_destinations(alert.get("destinations"), f"{where}.destinations",
                                           label, channels)
            statuses = alert.get("statuses")
            if not isinstance(statuses, list) or not statuses:
                self.add(f"{where}.statuses", "expected a list of statuses: "
                         + ", ".join(_V1_STATUSES), "missing-required"
                         if statuses is None else "invalid-value")
                statuses = []
            for j, status in enumerate(statuses):
                event = _V1_STATUSES.get(str(status).upper()) if isinstance(status, str) else None
                if event is None:
                    self.add(f"{where}.statuses[{j}]", f"unsupported alert status {status!r}; "
                             f"supported: {', '.join(_V1_STATUSES)}", "invalid-value")
                    continue
                events[event].extend(t for t in targets if t not in events[event])
                if event == "on_runtime_exceeded":
                    needs_hours.append(f"{where}.statuses[{j}]")
            if alert.get("runtime_exceeded_hours") is not None:
                value = self.hours(alert["runtime_exceeded_hours"],
                                   f"{where}.runtime_exceeded_hours")
                if value is not None and hours is not None and value != hours[0]:
                    self.add(f"{where}.runtime_exceeded_hours", f"{value:g} differs from the "
                             f"{hours[0]:g} hours given at {hours[1]}: a pipeline has one "
                             "runtime threshold")
                elif value is not None:
                    hours = (value, f"{where}.runtime_exceeded_hours")
            if alert.get("custom_message") is not None:
                text = self.message(alert["custom_message"], f"{where}.custom_message")
                if text is not None and message is not None and text != message[0]:
                    self.add(f"{where}.custom_message", f"differs from the custom_message at "
                             f"{message[1]}: give the alerts one message")
                elif text is not None:
                    message = (text, f"{where}.custom_message")
        if needs_hours and hours is None:
            self.add(needs_hours[0], "RUNNING_TIMEOUT needs a threshold: add "
                     "runtime_exceeded_hours: N to this alert", "missing-required")
        if self.problems:
            return None
        return Alerts(on_success=tuple(events["on_success"]),
                      on_failure=tuple(events["on_failure"]),
                      on_runtime_exceeded=tuple(events["on_runtime_exceeded"]),
                      runtime_exceeded_hours=hours[0] if hours else None,
                      message=message[0] if message else None, channels=channels)

    def v1_destinations(self, raw: Any, path: str, label: str,
                        channels: dict[str, ChannelConfig]) -> list[str]:
        if raw is None or raw == []:
            return [DEFAULT_CHANNEL]
        if not isinstance(raw, list):
            self.add(path, f"expected a list of destinations, got {_kind(raw)}")
            return []
        names = []
        for j, dest in enumerate(raw):
            where = f"{path}[{j}]"
            if not isinstance(dest, Mapping) or not isinstance(dest.get("integration"), str):
                self.add(where, "expected a destination mapping with 'integration' (e.g. "
                         "WEBHOOK, SLACK) and 'destination'", "invalid-value")
                continue
            options = {k: v for k, v in dest.items() if k != "integration"}
            config = self.typed(dest["integration"].lower(), options, where,
                                f"{where}.integration")
            if config is not None:
                name = f"{label} #{j + 1}"
                channels[name] = config
                names.append(name)
        return names


def parse_alerts(raw: Any, path: str = "$.alerts", host: Any = None) -> tuple[
    Alerts | None, list[Problem]
]:
    """Turn a file's ``alerts:`` value into :class:`Alerts`, checking channel names, types and
    options against *host*'s channel registry; return ``(alerts, [])`` or ``(None, problems)``.

    Accepts the canonical mapping and Orchestra's v1 list (``[{name, statuses: [FAILED,
    SUCCEEDED, RUNNING_TIMEOUT], destinations: [{integration, destination}], custom_message}]``).
    """
    parser = _Parser(host)
    if raw is None:
        return Alerts(), []
    if isinstance(raw, list):
        alerts = parser.v1(raw, path)
    elif isinstance(raw, Mapping):
        alerts = parser.canonical(raw, path)
    else:
        parser.add(path, f"expected a mapping (on_success, on_failure, runtime_exceeded_hours, "
                   f"on_runtime_exceeded, message, channels), got {_kind(raw)}")
        alerts = None
    return (alerts, []) if not parser.problems else (None, parser.problems)
