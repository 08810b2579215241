"""The dashboard's forms (POST, CSRF-checked): each is one API request made with the
session's token, so the API's scope checks and audit log apply; the answer comes back as a
notice or an error on the page the form was on."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .sessions import Session
from .web import action, api, back, checked, seg

__all__ = ("ACTIONS",)

RESOLUTIONS = {"retry": "retried", "skip": "skipped", "rerun": "rerun from here"}


def _done(form: dict[str, str], answer: object, ok: str, default: str) -> Response:
    result = checked(answer)  # type: ignore[arg-type]
    if result.ok:
        return back(form.get("next"), notice=ok, default=default)
    return back(form.get("next"), error=result.problem, default=default)


@action
async def switch_pipeline(request: Request, session: Session, form: dict[str, str]) -> Response:
    """Activate or deactivate a pipeline (``POST /pipelines/{name}/{activate,deactivate}``)."""
    name, verb = request.path_params["name"], request.path_params["verb"]
    if verb not in VERBS["switch_pipeline"]:
        return back("/pipelines", error=f"no action {verb!r}")
    found = await api(request, session, "POST", f"/pipelines/{seg(name)}/{verb}")
    return _done(form, found, f"Pipeline {name} {verb}d.", "/pipelines")


@action
async def run_now(request: Request, session: Session, form: dict[str, str]) -> Response:
    """Start a run of a pipeline with a run type; go to the run's page."""
    name = request.path_params["name"]
    found = checked(await api(request, session, "POST", "/runs", json_body={
        "pipeline": name, "run_type": form.get("run_type") or "full"}))
    if not found.ok:
        return back(form.get("next"), error=found.problem)
    return back(f"/runs/{found.body['id']}", notice=f"Run of {name} started.")


@action
async def resolve_task(request: Request, session: Session, form: dict[str, str]) -> Response:
    """Retry, skip or rerun from a task of a run."""
    run_id, task, verb = (request.path_params[k] for k in ("run_id", "task_id", "verb"))
    if verb not in RESOLUTIONS:
        return back(f"/runs/{seg(run_id)}", error=f"no resolution {verb!r}")
    path = f"/runs/{seg(run_id)}/tasks/{seg(task)}/{verb}"
    found = checked(await api(request, session, "POST", path))
    if not found.ok:
        return back(f"/runs/{seg(run_id)}", error=found.problem)
    target = found.body["run_id"]
    return back(f"/runs/{target}", notice=f"Task {task} {RESOLUTIONS[verb]}.")


@action
async def run_control(request: Request, session: Session, form: dict[str, str]) -> Response:
    """Cancel a running run, close a failed one, or resume it."""
    run_id, verb = request.path_params["run_id"], request.path_params["verb"]
    if verb not in VERBS["run_control"]:
        return back(f"/runs/{seg(run_id)}", error=f"no action {verb!r}")
    found = await api(request, session, "POST", f"/runs/{seg(run_id)}/{verb}")
    return _done({"next": f"/runs/{seg(run_id)}"}, found, f"Run {verb} asked.", "/runs")


@action
async def acknowledge(request: Request, session: Session, form: dict[str, str]) -> Response:
    """Acknowledge a notification."""
    ident = request.path_params["ident"]
    found = await api(request, session, "POST", f"/notifications/{seg(ident)}/acknowledge")
    return _done(form, found, "Notification acknowledged.", "/pipelines")


@action
async def set_constant(request: Request, session: Session, form: dict[str, str]) -> Response:
    """Set a constant's value (never shown back)."""
    name = form.get("name", "").strip()
    body = {"value": form.get("value", "")}
    if form.get("description"):
        body["description"] = form["description"]
    found = await api(request, session, "PUT", f"/constants/{seg(name)}", json_body=body)
    return _done({"next": "/settings"}, found, f"Constant {name} set.", "/settings")


@action
async def set_credential(request: Request, session: Session, form: dict[str, str]) -> Response:
    """Set (or rotate) a credential's secret fields (never shown back)."""
    name = form.get("name", "").strip()
    secrets = {form[f"field{i}"].strip(): form.get(f"value{i}", "") for i in range(1, 4)
               if form.get(f"field{i}", "").strip()}
    if not name or not secrets:
        return back("/settings", error="give the credential's name and at least one field")
    verb, path = ("POST", f"/credentials/{seg(name)}/rotate") if form.get("rotate") else (
        "PUT", f"/credentials/{seg(name)}")
    found = await api(request, session, verb, path, json_body={"secrets": secrets})
    return _done({"next": "/settings"}, found, f"Credential {name} set.", "/settings")


ACTIONS = [("/pipelines/{name}/run", run_now),
           ("/pipelines/{name}/{verb}", switch_pipeline),
           ("/runs/{run_id}/tasks/{task_id}/{verb}", resolve_task),
           ("/runs/{run_id}/{verb}", run_control),
           ("/notifications/{ident}/acknowledge", acknowledge),
           ("/settings/constants", set_constant), ("/settings/credentials", set_credential)]
VERBS = {"switch_pipeline": ("activate", "deactivate"), "resolve_task": tuple(RESOLUTIONS),
         "run_control": ("cancel", "close", "resume")}
