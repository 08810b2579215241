"""``/audit``: the client's audit log, filtered, as JSON or CSV."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from ..audit import to_csv
from ..endpoint import Call, Endpoint, limit_param, query
from ..schema import INT, TIME, arr, enum, ref

__all__ = ("ENDPOINTS",)


def list_audit(call: Call) -> Any:
    """Changes made to the client's pipelines, runs and queues, and to the shared
    configuration, newest first. ``format=csv`` answers CSV; ``before_id`` pages back."""
    rows = call.api.audit.list(client=call.client, actor=call["actor"],
                               action=call["action"], target=call["target"],
                               since=call["since"], until=call["until"],
                               before_id=call["before_id"], limit=call["limit"])
    if call["format"] == "csv":
        return Response(to_csv(call.api.redactor.mask_obj(rows)), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="audit.csv"'})
    return rows


T = "audit"
ENDPOINTS = [
    Endpoint("GET", "/audit", list_audit, "read", "Read the audit log", T,
             (query("actor", description="token:NAME or local:USER."),
              query("action", description="An action, or its prefix (pipeline.)."),
              query("target"), query("since", TIME), query("until", TIME),
              query("before_id", {**INT, "minimum": 1}), limit_param(100, 1000),
              query("format", {**enum("json", "csv"), "default": "json"})),
             response=arr(ref("AuditEntry")),
             alternatives=(("text/csv", {"type": "string"}),)),
]
