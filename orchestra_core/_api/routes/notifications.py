"""``/notifications``: the stored notifications of the client's pipelines, and
acknowledging them."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..._store.schema import clients, notifications, pipeline_runs, pipelines
from ..endpoint import Call, Endpoint, limit_param, path_param, query
from ..problems import ApiError
from ..schema import BOOL, TIME, arr, ref
from ._scope import iso

__all__ = ("ENDPOINTS",)


def _mine() -> Any:
    """Notifications whose run, or else whose pipeline name, belongs to the client."""
    runs = (sa.select(pipeline_runs.c.id).join(pipelines,
                                               pipelines.c.id == pipeline_runs.c.pipeline_id)
            .join(clients, clients.c.id == pipelines.c.client_id)
            .where(clients.c.name == sa.bindparam("client")))
    names = (sa.select(pipelines.c.name).join(clients, clients.c.id == pipelines.c.client_id)
             .where(clients.c.name == sa.bindparam("client")))
    return sa.select(notifications).where(sa.or_(
        notifications.c.run_id.in_(runs),
        sa.and_(notifications.c.run_id.is_(None), notifications.c.pipeline.in_(names))))


def _out(r: Any) -> dict[str, Any]:
    return {"id": r["id"], "created_at": iso(r["created_at"]), "kind": r["kind"],
            "pipeline": r["pipeline"], "run_id": r["run_id"], "message": r["message"],
            "data": r["data"] or {}, "acknowledged": r["acknowledged_at"] is not None}


def list_notifications(call: Call) -> list[dict[str, Any]]:
    """Stored notifications of the client's pipelines, newest first."""
    q = _mine()
    if call["pipeline"]:
        q = q.where(notifications.c.pipeline == call["pipeline"])
    if call["since"]:
        q = q.where(notifications.c.created_at >= call["since"])
    if call["acknowledged"] is not None:
        q = q.where(notifications.c.acknowledged_at.is_not(None) if call["acknowledged"]
                    else notifications.c.acknowledged_at.is_(None))
    q = q.order_by(notifications.c.created_at.desc(), notifications.c.id.desc())
    with call.api.store.engine.connect() as conn:
        rows = conn.execute(q.limit(call["limit"]), {"client": call.client}).mappings()
        return [_out(r) for r in rows]


def acknowledge_notification(call: Call) -> dict[str, Any]:
    """Mark a notification as seen (recorded with who acknowledged it)."""
    raw = call["notification_id"]
    q = _mine().where(notifications.c.id == (int(raw) if raw.isdigit() else -1))
    with call.api.store.engine.begin() as conn:
        row = conn.execute(q, {"client": call.client}).mappings().first()
        if row is None:
            raise ApiError(404, f"no notification {raw!r}")
        if row["acknowledged_at"] is None:
            conn.execute(notifications.update().where(notifications.c.id == row["id"])
                         .values(acknowledged_at=call.api.now(), acknowledged_by=call.actor))
            call.audit("notification.acknowledge", str(row["id"]), {"acknowledged": False},
                       {"acknowledged": True}, conn=conn)
        row = conn.execute(q, {"client": call.client}).mappings().first()
    return _out(row)


T = "notifications"
ENDPOINTS = [
    Endpoint("GET", "/notifications", list_notifications, "read", "List notifications", T,
             (query("pipeline"), query("since", TIME), query("acknowledged", BOOL),
              limit_param(50, 500)), response=arr(ref("Notification"))),
    Endpoint("POST", "/notifications/{notification_id}/acknowledge",
             acknowledge_notification, "run", "Acknowledge a notification", T,
             (path_param("notification_id"),), response=ref("Notification"), errors=(404,)),
]
