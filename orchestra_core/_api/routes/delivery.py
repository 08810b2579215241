"""``/destinations``, ``/templates`` and ``/orchestrations``: data delivery, through the
library the ``orchestra destinations`` / ``templates`` / ``orchestrations`` commands use.

Destinations and data templates are shared configuration (like connections): reading needs
``read``, changing needs ``admin``, testing needs ``run``. No answer holds a secret: a
destination's secret-looking options are shown as ``*****``. Orchestrations are listed for
the token's client only."""

from __future__ import annotations

from typing import Any

import anyio.from_thread

from ..endpoint import Call, Endpoint, path_param
from ..schema import BOOL, INT, STR, arr, nullable, obj, ref
from ._scope import iso

__all__ = ("ENDPOINTS",)

NAME = path_param("name", "The destination's name.")


def _public(info: Any) -> dict[str, Any]:
    from ..._delivery.probe import public_options

    record = info.to_dict()
    record["options"] = public_options(record["options"])
    return record


def _destinations(call: Call) -> Any:
    from ..._delivery.catalog import Destinations

    return Destinations(call.api.store, call.api.host)


def list_destinations(call: Call) -> list[dict[str, Any]]:
    """Every destination: type, options (secrets shown as ``*****``), credential name and
    concurrency."""
    return [_public(d) for d in _destinations(call).list()]


def _current(dests: Any, name: str) -> dict[str, Any] | None:
    return next((_public(d) for d in dests.list() if d.name == name), None)


def set_destination(call: Call) -> dict[str, Any]:
    """Create or replace a destination; its options are checked by its type's model."""
    dests = _destinations(call)
    name, b = call["name"], call.body
    before = _current(dests, name)
    info = dests.add(name, type=b["type"], options=b.get("options") or {},
                     credential=b.get("credential"), concurrency=b.get("concurrency", 1),
                     description=b.get("description"), replace=True)
    after = _public(info)
    call.audit("destination.set", name, before, after)
    return after


def delete_destination(call: Call) -> None:
    """Delete a destination (orchestrations naming it then fail)."""
    dests = _destinations(call)
    name = call["name"]
    before = _public(dests.get(name))
    dests.delete(name)
    call.audit("destination.delete", name, before, None)


def test_destination(call: Call) -> dict[str, Any]:
    """Check that a destination is reachable and accepts its credentials, delivering
    nothing (``checked`` is false when its type has no check: its options are valid)."""
    from ..._delivery.probe import check_reachable

    name = call["name"]
    checked = anyio.from_thread.run(check_reachable, call.api.host, call.api.store, name)
    detail = ("reachable, credentials and permissions accepted" if checked
              else "its type has no check; options are valid")
    return {"name": name, "checked": checked, "detail": detail}


def list_templates(call: Call) -> list[dict[str, Any]]:
    """Every data template's name and settings."""
    from ..._delivery.catalog import Templates

    templates = Templates(call.api.store)
    return [{"name": n, "definition": templates.get(n)} for n in templates.names()]


def list_orchestrations(call: Call) -> list[dict[str, Any]]:
    """Each orchestration of the client's pipelines that ran: destination, template, run
    mode, last run, status and rows delivered (``orchestra orchestrations list``)."""
    from ..._delivery.listing import orchestrations

    rows = orchestrations(call.api.store, call.client)
    for r in rows:
        r["last_run_at"] = iso(r["last_run_at"])
    return rows


_TEXT = nullable({**STR, "maxLength": 10000})
DESTINATION = obj(type={**STR, "minLength": 1, "maxLength": 100})
DESTINATION["properties"].update(options={"type": "object"}, credential=_TEXT,
                                 concurrency={**INT, "minimum": 1, "maximum": 1000},
                                 description=_TEXT)
T = "delivery"
ENDPOINTS = [
    Endpoint("GET", "/destinations", list_destinations, "read", "List destinations", T,
             response=arr(ref("Destination"))),
    Endpoint("PUT", "/destinations/{name}", set_destination, "admin", "Set a destination", T,
             (NAME,), body=DESTINATION, response=ref("Destination"), errors=(422,)),
    Endpoint("DELETE", "/destinations/{name}", delete_destination, "admin",
             "Delete a destination", T, (NAME,), errors=(404,)),
    Endpoint("POST", "/destinations/{name}/test", test_destination, "run",
             "Test a destination", T, (NAME,),
             response=obj(name=STR, checked=BOOL, detail=STR), errors=(404, 422)),
    Endpoint("GET", "/templates", list_templates, "read", "List data templates", T,
             response=arr(ref("DataTemplate"))),
    Endpoint("GET", "/orchestrations", list_orchestrations, "read", "List orchestrations", T,
             response=arr(ref("Orchestration"))),
]
