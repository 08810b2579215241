"""``/queues``: push, list, claim, complete, fail (the ``orchestra queue`` operations)."""

from __future__ import annotations

from typing import Any

from ..endpoint import Call, Endpoint, limit_param, path_param, query
from ..problems import ApiError
from ..schema import ANY, STR, arr, enum, nullable, obj, ref
from ._scope import aware

__all__ = ("ENDPOINTS",)

QUEUE = path_param("queue", "The queue's name.")
ELEMENT = path_param("element_id", "The element's number.")
STATUSES = ("new", "in_progress", "done", "failed")


def list_queues(call: Call) -> list[dict[str, Any]]:
    """Every queue with how many elements it holds in each status."""
    return [{"name": s.queue, "counts": dict(s.counts), "total": s.total}
            for s in call.api.queues.summary()]


def list_elements(call: Call) -> list[dict[str, Any]]:
    """The elements of a queue, filtered by status."""
    return [aware(e.to_dict()) for e in call.api.queues.list(call["queue"], status=call["status"],
                                                       limit=call["limit"])]


def push_element(call: Call) -> dict[str, Any]:
    """Add an element (``data``, optional ``reference``) to a queue."""
    body = call.body
    element = call.api.queues.push(call["queue"], body.get("data"),
                                   reference=body.get("reference"), created_by=call.actor)
    out = aware(element.to_dict())
    call.audit("queue.push", f"{call['queue']}/{element.id}", None, out)
    return out


def claim_element(call: Call) -> Any:
    """Claim the oldest new element of a queue (``null`` when there is none)."""
    element = call.api.queues.claim(call["queue"], claimed_by=call.actor)
    if element is None:
        return None
    out = aware(element.to_dict())
    call.audit("queue.claim", f"{call['queue']}/{element.id}", {"status": "new"}, out)
    return out


def _element_id(call: Call) -> int:
    raw = call["element_id"]
    if not raw.isdigit():
        raise ApiError(404, f"no element {raw!r}")
    return int(raw)


def _finish(call: Call, done: bool) -> dict[str, Any]:
    queues = call.api.queues
    element_id = _element_id(call)
    before = queues.get(element_id)
    if before.queue != call["queue"]:
        raise ApiError(404, f"queue {call['queue']!r} has no element {element_id}")
    message = (call.body or {}).get("message")
    after = queues.complete(element_id, message) if done else queues.fail(element_id, message)
    call.audit("queue.complete" if done else "queue.fail", f"{call['queue']}/{element_id}",
               aware(before.to_dict()), aware(after.to_dict()))
    return aware(after.to_dict())


def complete_element(call: Call) -> dict[str, Any]:
    """Mark a claimed element done, with an optional ``message``."""
    return _finish(call, True)


def fail_element(call: Call) -> dict[str, Any]:
    """Mark a claimed element failed, with an optional ``message``."""
    return _finish(call, False)


PUSH = obj(data=ANY)
PUSH["required"] = []
PUSH["properties"]["reference"] = nullable({**STR, "maxLength": 200})
MESSAGE = {"type": "object", "properties": {"message": nullable({**STR, "maxLength": 10000})}}
T = "queues"
_E = (QUEUE, ELEMENT)
ENDPOINTS = [
    Endpoint("GET", "/queues", list_queues, "read", "List queues", T,
             response=arr(ref("QueueSummary"))),
    Endpoint("GET", "/queues/{queue}/elements", list_elements, "read", "List elements", T,
             (QUEUE, query("status", enum(*STATUSES)), limit_param(100, 1000)),
             response=arr(ref("QueueElement"))),
    Endpoint("POST", "/queues/{queue}/elements", push_element, "run", "Push an element", T,
             (QUEUE,), body=PUSH, response=ref("QueueElement"), status=201, errors=(422,)),
    Endpoint("POST", "/queues/{queue}/claim", claim_element, "run", "Claim an element", T,
             (QUEUE,), response=nullable(ref("QueueElement"))),
    Endpoint("POST", "/queues/{queue}/elements/{element_id}/complete", complete_element,
             "run", "Complete an element", T, _E, body=MESSAGE, response=ref("QueueElement"),
             errors=(404, 409)),
    Endpoint("POST", "/queues/{queue}/elements/{element_id}/fail", fail_element, "run",
             "Fail an element", T, _E, body=MESSAGE, response=ref("QueueElement"),
             errors=(404, 409)),
]
