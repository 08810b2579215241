"""``/pipelines``: list, show, validate, apply (with a version check), activate, deactivate,
delete. The pipelines a token sees are its client's."""

from __future__ import annotations

from typing import Any

import attrs

from ..._serialize import pipeline_to_definition
from ..endpoint import Call, Endpoint, path_param
from ..problems import ApiError
from ..schema import INT, STR, obj, ref
from ._scope import iso

__all__ = ("ENDPOINTS",)

NAME = path_param("name", "The pipeline's name.")


def _etag(version: int) -> str:
    return f'"v{version}"'


def _show(call: Call, name: str) -> dict[str, Any]:
    info = call.api.registry.get(name, call.client)
    definition = call.api.registry.definition(name, call.client)
    call.headers["ETag"] = _etag(info["version"])
    return {"name": info["name"], "client": call.client, "version": info["version"],
            "etag": _etag(info["version"]), "active": bool(info["active"]),
            "status": "active" if info["active"] else "inactive",
            "created_at": iso(info["created_at"]), "updated_at": iso(info["updated_at"]),
            "error_message": info["error_message"],
            "versions": [{"version": v["version"], "created_at": iso(v["created_at"]),
                          "source": v["source"]} for v in info["versions"]],
            "triggers": [trigger_out(t) for t in info["triggers"]], "definition": definition}


def trigger_out(t: dict[str, Any]) -> dict[str, Any]:
    """A stored trigger as the API shows it."""
    return {"id": t["id"], "pipeline": t["pipeline"], "name": t["name"], "kind": t["kind"],
            "spec": t["spec"], "origin": t["origin"], "active": bool(t["active"]),
            "next_fire_at": iso(t["next_fire_at"]), "last_fire_at": iso(t["last_fire_at"]),
            "last_run_id": t["last_run_id"], "last_result": t["last_result"]}


def list_pipelines(call: Call) -> list[dict[str, Any]]:
    """The client's registered pipelines with their status, next fire time and last run."""
    return [{"name": p["name"], "client": p["client"], "version": p["version"],
             "active": bool(p["active"]), "status": "active" if p["active"] else "inactive",
             "triggers": p["triggers"], "next_fire_at": iso(p["next_fire_at"]),
             "last_run_state": p["last_run_state"], "last_run_at": iso(p["last_run_at"]),
             "updated_at": iso(p["updated_at"])}
            for p in call.api.registry.list() if p["client"] == call.client]


def show_pipeline(call: Call) -> dict[str, Any]:
    """A pipeline with its versions, triggers and latest definition; its ``ETag`` is the
    version (send it back as ``If-Match`` when applying)."""
    return _show(call, call["name"])


def _check(call: Call) -> tuple[Any, list[Any]]:
    text = call.body
    ctype = call.request.headers.get("content-type", "")
    fmt = "json" if "json" in ctype or text.lstrip().startswith("{") else "yaml"
    return call.api.host.check_text(text, source="request body", fmt=fmt)


def validate_pipeline(call: Call) -> dict[str, Any]:
    """Validate a pipeline file sent as the body (YAML or JSON): every problem, located by
    line, column and JSON path, as ``orchestra validate`` reports them. Stores nothing."""
    pipeline, problems = _check(call)
    return {"valid": not problems, "pipeline": pipeline.name if pipeline else None,
            "tasks": len(pipeline.tasks) if pipeline else None,
            "problems": [p.to_dict() for p in problems]}


def apply_pipeline(call: Call) -> dict[str, Any]:
    """Register (or update) pipeline ``name`` from the file sent as the body. A changed
    definition becomes a new version. With ``If-Match: "vN"`` the update is refused with
    409 unless the stored version is still N. Nothing is stored when the file has a problem
    (422, every problem located)."""
    pipeline, problems = _check(call)
    if problems:
        raise ApiError(422, f"nothing applied: {len(problems)} problem(s) in the file",
                       errors=[p.to_dict() for p in problems])
    if pipeline.name != call["name"]:
        raise ApiError(422, f"the file declares pipeline {pipeline.name!r}, not "
                       f"{call['name']!r}")
    if pipeline.client not in ("default", call.client):
        raise ApiError(403, f"the file names client {pipeline.client!r}; this token belongs "
                       f"to client {call.client!r}")
    pipeline = attrs.evolve(pipeline, client=call.client)
    with call.api.apply_lock:
        before, result = _apply(call, pipeline)
    if result.status != "unchanged":
        call.audit("pipeline.apply", pipeline.name, before,
                   {"version": result.version, "definition": pipeline_to_definition(pipeline)})
    call.headers["ETag"] = _etag(result.version)
    return {"name": result.name, "client": result.client, "version": result.version,
            "etag": _etag(result.version), "status": result.status,
            "triggers_added": list(result.triggers_added),
            "triggers_changed": list(result.triggers_changed),
            "triggers_removed": list(result.triggers_removed)}


def _apply(call: Call, pipeline: Any) -> tuple[Any, Any]:
    """Check ``If-Match`` against the stored version, then apply; return (before, result)."""
    registry = call.api.registry
    before = None
    if any(p["name"] == pipeline.name and p["client"] == call.client
           for p in registry.list()):
        before = {"version": registry.get(pipeline.name, call.client)["version"],
                  "definition": registry.definition(pipeline.name, call.client)}
    expected = call.request.headers.get("if-match")
    if expected is not None and expected.strip() != "*":
        current = _etag(before["version"]) if before else None
        if expected.strip().removeprefix("W/") != current:
            raise ApiError(409, f"pipeline {pipeline.name!r} is at "
                           f"{current or 'no version'}, not {expected.strip()}: someone "
                           "changed it; fetch it again and re-apply")
    result = registry.apply(pipeline)
    return before, result


def _set_active(call: Call, active: bool) -> dict[str, Any]:
    name = call["name"]
    changed = call.api.registry.set_active(name, call.client, active)
    if changed:
        call.audit("pipeline.activate" if active else "pipeline.deactivate", name,
                   {"active": not active}, {"active": active})
    return _show(call, name)


def activate_pipeline(call: Call) -> dict[str, Any]:
    """Let the pipeline's triggers fire again (from now on; missed times are not caught up)."""
    return _set_active(call, True)


def deactivate_pipeline(call: Call) -> dict[str, Any]:
    """Stop the pipeline's triggers from firing; it can still be run by hand."""
    return _set_active(call, False)


def delete_pipeline(call: Call) -> dict[str, Any]:
    """Unregister the pipeline: its versions and triggers go, its runs are kept."""
    name = call["name"]
    info = _show(call, name)
    kept = call.api.registry.delete(name, call.client)
    call.audit("pipeline.delete", name, {"version": info["version"],
                                         "definition": info["definition"]}, None)
    return {"deleted": name, "runs_kept": kept}


T = "pipelines"
ENDPOINTS = [
    Endpoint("GET", "/pipelines", list_pipelines, "read", "List pipelines", T,
             response={"type": "array", "items": ref("PipelineSummary")}),
    Endpoint("POST", "/pipelines/validate", validate_pipeline, "read",
             "Validate a pipeline file", T, text_body=True, response=ref("Validation")),
    Endpoint("GET", "/pipelines/{name}", show_pipeline, "read", "Show a pipeline", T,
             (NAME,), response=ref("Pipeline"), errors=(404,)),
    Endpoint("PUT", "/pipelines/{name}", apply_pipeline, "admin", "Apply a pipeline file", T,
             (NAME,), text_body=True, response=ref("ApplyResult"), errors=(409,)),
    Endpoint("POST", "/pipelines/{name}/activate", activate_pipeline, "admin",
             "Activate a pipeline", T, (NAME,), response=ref("Pipeline"), errors=(404,)),
    Endpoint("POST", "/pipelines/{name}/deactivate", deactivate_pipeline, "admin",
             "Deactivate a pipeline", T, (NAME,), response=ref("Pipeline"), errors=(404,)),
    Endpoint("DELETE", "/pipelines/{name}", delete_pipeline, "admin", "Delete a pipeline", T,
             (NAME,), response=obj(deleted=STR, runs_kept=INT), errors=(404,)),
]
