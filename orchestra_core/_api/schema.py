"""JSON Schema building blocks for the API's models, and the named models themselves.

Each route declares its parameters, body and response with these; the OpenAPI document
(:mod:`.openapi`) is generated from those declarations, and the tests check every response
against it.
"""

from __future__ import annotations

from typing import Any

__all__ = ("ANY", "BOOL", "INT", "MODELS", "OBJ", "STR", "TIME", "arr", "enum", "nullable", "obj",
           "ref")

STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer"}
BOOL: dict[str, Any] = {"type": "boolean"}
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
OBJ: dict[str, Any] = {"type": "object"}  # any JSON object
ANY: dict[str, Any] = {}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """*schema* or ``null``."""
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    types = schema.get("type")
    return {**schema, "type": [types, "null"]} if isinstance(types, str) else {
        "anyOf": [schema, {"type": "null"}]}


def enum(*values: str) -> dict[str, Any]:
    """One of *values*."""
    return {"type": "string", "enum": list(values)}


def arr(items: dict[str, Any]) -> dict[str, Any]:
    """An array of *items*."""
    return {"type": "array", "items": items}


def obj(doc: str = "", /, **props: dict[str, Any]) -> dict[str, Any]:
    """An object with every one of *props* present (*doc* describes it)."""
    out: dict[str, Any] = {"type": "object", "properties": props, "required": list(props)}
    if doc:
        out["description"] = doc
    return out


def ref(name: str) -> dict[str, Any]:
    """A reference to the named model *name* (in :data:`MODELS`)."""
    assert name in MODELS, name
    return {"$ref": f"#/components/schemas/{name}"}


_S, _T, _NS, _NT, _NI = STR, TIME, nullable(STR), nullable(TIME), nullable(INT)
RUN_STATES = ("pending", "running", "succeeded", "failed", "cancelled")
TASK_STATES = ("pending", "queued", "running", "succeeded", "failed", "skipped", "cancelled",
               "timed_out", "up_for_retry")

#: The named models (``#/components/schemas``).
MODELS: dict[str, dict[str, Any]] = {}
MODELS["Problem"] = {
    **obj("An error (RFC 9457 problem details).", type=_S, title=_S, status=INT, detail=_S),
    "properties": {"type": _S, "title": _S, "status": INT, "detail": _S, "instance": _S,
                   "errors": arr(OBJ)},
}
MODELS["FileProblem"] = obj("A problem found in a pipeline file, located.",
                            file=_NS, line=_NI, column=_NI, path=_S, code=_NS, message=_S)
MODELS["Trigger"] = obj(
    "A trigger of a registered pipeline.", id=_S, pipeline=_S, name=_S, kind=_S, spec=OBJ,
    origin=_S, active=BOOL, next_fire_at=_NT, last_fire_at=_NT, last_run_id=_NS,
    last_result=_NS)
MODELS["PipelineSummary"] = obj(
    "A registered pipeline in a listing.", name=_S, client=_S, version=INT, active=BOOL,
    status=enum("active", "inactive"), triggers=INT, next_fire_at=_NT, last_run_state=_NS,
    last_run_at=_NT, updated_at=_T)
MODELS["PipelineVersion"] = obj(version=INT, created_at=_T, source=_NS)
MODELS["Pipeline"] = obj(
    "A registered pipeline with its versions (newest first) and triggers.", name=_S,
    client=_S, version=INT, etag=_S, active=BOOL, status=enum("active", "inactive"),
    created_at=_T, updated_at=_T, error_message=_NS, versions=arr(ref("PipelineVersion")),
    triggers=arr(ref("Trigger")), definition=OBJ)
MODELS["ApplyResult"] = obj(
    "What applying a pipeline file did.", name=_S, client=_S, version=INT, etag=_S,
    status=enum("created", "updated", "unchanged"), triggers_added=arr(_S),
    triggers_changed=arr(_S), triggers_removed=arr(_S))
MODELS["Validation"] = obj("The result of validating a pipeline file.", valid=BOOL,
                           pipeline=_NS, tasks=_NI, problems=arr(ref("FileProblem")))
MODELS["RunSummary"] = obj(
    "A pipeline run in a listing.", id=_S, pipeline=_S, client=_S, state=enum(*RUN_STATES),
    run_type=_S, trigger=_S, trigger_kind=_S, created_at=_T, started_at=_NT, ended_at=_NT,
    error=_NS)
MODELS["TaskRun"] = obj(
    "One task (or stage) of a run.", task_id=_S, kind=enum("task", "stage"),
    integration=_NS, job=_NS, state=enum(*TASK_STATES), attempt=INT, external_id=_NS,
    external=nullable(OBJ), started_at=_NT, ended_at=_NT, next_attempt_at=_NT, error=_NS,
    metadata=nullable(OBJ), outcome=_NS, resolutions=arr(_S))
MODELS["Run"] = obj("A run with its tasks (attempts, external runs, metadata).",
                    **MODELS["RunSummary"]["properties"], tasks=arr(ref("TaskRun")))
MODELS["RunPage"] = obj("A page of runs, newest first.", runs=arr(ref("RunSummary")),
                        next_cursor=_NS)
MODELS["Resolution"] = obj(
    "What a guided resolution did.", run_id=_S, resolution=_S, task_id=_NS, state=_S,
    reset_tasks=arr(_S), detail=_S)
MODELS["LogLine"] = obj(id=INT, time=_T, level=_S, pipeline=_NS, run_id=_NS, task_id=_NS,
                        message=_S)
MODELS["QueueElement"] = obj(
    "An element of a work queue.", id=INT, queue=_S, reference=_NS, data=ANY, status=_S,
    message=_NS, created_at=_T, claimed_at=_NT, finished_at=_NT, created_by=_NS,
    claimed_by=_NS)
MODELS["QueueSummary"] = obj(name=_S, counts=OBJ, total=INT)
MODELS["Constant"] = obj(name=_S, value=_S, description=_NS, created_at=_NT, updated_at=_NT)
MODELS["Credential"] = obj("A credential's name and field names: never a value.", name=_S,
                           username=_NS, fields=arr(_S), key_id=_S, description=_NS,
                           created_at=_NT, updated_at=_NT)
MODELS["Connection"] = obj(name=_S, integration=_S, base_url=_NS, auth=_NS, credential=_NS,
                           options=OBJ, description=_NS, created_at=_NT, updated_at=_NT)
MODELS["Notification"] = obj(id=INT, created_at=_T, kind=_S, pipeline=_S, run_id=_NS,
                             message=_S, data=OBJ, acknowledged=BOOL)
MODELS["AuditEntry"] = obj(
    "One change, as recorded.", id=INT, time=_T, actor=_S, via=_S, client=_NS, action=_S,
    target=_NS, before=ANY, after=ANY)
MODELS["Destination"] = obj(
    "A stored destination; secret-looking options are shown as *****.", name=_S, type=_S,
    options=OBJ, credential=_NS, concurrency=INT, description=_NS)
MODELS["DataTemplate"] = obj("A stored data template.", name=_S, definition=OBJ)
MODELS["Orchestration"] = obj(
    "An orchestration task and its latest run.", pipeline=_S, orchestration=_S,
    destination=_S, template=_S, run_mode=_S, last_run=_S, last_run_at=_NT, status=_S,
    rows=_NI, location=_NS)
