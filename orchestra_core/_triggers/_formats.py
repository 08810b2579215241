"""Schedules written in other formats, translated into ``triggers`` by the loader.

- Orchestra v1 files: ``schedule: [{name, cron, timezone, environment, branch}]`` with Quartz
  cron expressions (seconds first, ``?``, weekdays 1-7 from Sunday, optional year).
- Files in the flat style of Orchestra's pipeline table: top-level ``frequency``,
  ``frequency_type`` and ``start_time`` (also spelled ``frequencytypecode``/``starttime``).

Paths are remembered in *renames* so that problems point at what the file says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ("quartz_to_cron", "seed_schedule", "v1_schedule")

#: v1 schedule keys that have no meaning here (environments and git branches are chosen by
#: the process that runs the service); accepted and ignored.
_V1_IGNORED = ("environment", "branch")
_SEED_KEYS = {"frequency": "frequency", "frequency_type": "frequency_type",
              "frequencytypecode": "frequency_type", "frequencytype": "frequency_type",
              "start_time": "start_time", "starttime": "start_time"}


def quartz_to_cron(expr: Any) -> Any:
    """A Quartz cron expression (``0 30 2 ? * MON-FRI [year]``) in our six-field form; other
    values are returned unchanged (validation reports them)."""
    if not isinstance(expr, str):
        return expr
    fields = expr.split()
    if len(fields) == 7 and fields[6] in ("*", "?"):
        fields = fields[:6]
    if len(fields) != 6:
        return expr
    dow = fields[5]
    if dow not in ("*", "?"):
        # Quartz numbers weekdays 1 (Sunday) to 7; cron 0 (Sunday) to 6
        dow = re.sub(r"(?<![#/\d])(\d+)", lambda m: str(int(m.group(1)) - 1), dow)
    fields[5] = dow
    return " ".join("*" if f == "?" else f for f in fields)


def v1_schedule(schedule: Any, renames: dict[str, str], start: int) -> list[Any]:
    """Triggers for a v1 ``schedule`` list, numbered from *start* in ``triggers``."""
    items = schedule if isinstance(schedule, list) else [schedule]
    out: list[Any] = []
    for i, item in enumerate(items):
        where = f"$.triggers[{start + i}]"
        written = f"$.schedule[{i}]" if isinstance(schedule, list) else "$.schedule"
        renames[where] = written
        if not isinstance(item, Mapping):
            out.append(item)
            continue
        trigger: dict[str, Any] = {"kind": "cron"}
        for key, value in item.items():
            if key in _V1_IGNORED:
                continue
            if key == "name":
                trigger["id"] = re.sub(r"[^A-Za-z0-9_.\-]+", "-", str(value)).strip("-") or None
                renames[f"{where}.id"] = f"{written}.name"
            elif key == "cron":
                trigger["cron"] = quartz_to_cron(value)
            else:
                trigger[key] = value
        out.append(trigger)
    return out


def seed_schedule(data: Mapping[str, Any], renames: dict[str, str]) -> Mapping[str, Any]:
    """*data* with seed-style ``frequency``/``frequency_type``/``start_time`` keys turned into
    an interval trigger (id ``schedule``) at the end of ``triggers``."""
    present = [k for k in data if k in _SEED_KEYS]
    if not present:
        return data
    out = {k: v for k, v in data.items() if k not in _SEED_KEYS}
    existing = out.get("triggers")
    index = len(existing) if isinstance(existing, list) else 0
    where = f"$.triggers[{index}]"
    trigger: dict[str, Any] = {"kind": "interval", "id": "schedule"}
    for key in present:
        canonical = _SEED_KEYS[key]
        trigger[canonical] = data[key]
        renames[f"{where}.{canonical}"] = f"$.{key}"
    renames[where] = f"$.{present[0]}"
    if isinstance(existing, list):
        out["triggers"] = [*existing, trigger]
    elif existing is None:
        out["triggers"] = [trigger]
    return out
