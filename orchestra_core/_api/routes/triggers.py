"""``/triggers``: the client's triggers, and a preview of a trigger's next fire times."""

from __future__ import annotations

from typing import Any

from ..._scheduling.trigger_rows import trigger_from_row
from ..._triggers.preview import preview_fires
from ..endpoint import Call, Endpoint, path_param, query
from ..problems import ApiError
from ..schema import INT, STR, TIME, arr, nullable, obj, ref
from .pipelines import trigger_out

__all__ = ("ENDPOINTS",)


def _mine(call: Call) -> list[dict[str, Any]]:
    return [t for t in call.api.registry.list_triggers() if t["client"] == call.client]


def list_triggers(call: Call) -> list[dict[str, Any]]:
    """Triggers of the client's pipelines (or of ``pipeline``): kind, spec, last and next
    fire time."""
    return [trigger_out(t) for t in _mine(call)
            if not call["pipeline"] or t["pipeline"] == call["pipeline"]]


def preview_trigger(call: Call) -> dict[str, Any]:
    """The next ``count`` times a schedule trigger (cron, interval, single) fires, from
    ``after`` (default: now): ``times`` in UTC, and ``fires`` with each time's local time
    and what a daylight-saving change does to it (``dst``). Condition triggers (queue,
    after, changes) have no times."""
    ref_ = call["trigger_id"]
    found = [t for t in _mine(call) if t["id"] == ref_]
    if not found:
        raise ApiError(404, f"no trigger {ref_!r} (give its id, from GET /triggers)")
    row = found[0]
    fires = preview_fires([trigger_from_row(row)], start=call["after"] or call.api.now(),
                          count=call["count"])
    return {"trigger": trigger_out(row), "times": [f.at.isoformat() for f in fires],
            "fires": [f.to_dict() for f in fires]}


T = "triggers"
ENDPOINTS = [
    Endpoint("GET", "/triggers", list_triggers, "read", "List triggers", T,
             (query("pipeline", description="Only this pipeline's."),),
             response=arr(ref("Trigger"))),
    Endpoint("GET", "/triggers/{trigger_id}/preview", preview_trigger, "read",
             "Preview a trigger's next fire times", T,
             (path_param("trigger_id", "The trigger's id."),
              query("count", {**INT, "minimum": 1, "maximum": 100, "default": 10}),
              query("after", TIME, "From this time (default: now).")),
             response=obj(trigger=ref("Trigger"), times=arr(TIME), fires=arr(obj(
                 trigger=STR, at=TIME, local=TIME, timezone=STR, dst=nullable(STR)))),
             errors=(404,)),
]
