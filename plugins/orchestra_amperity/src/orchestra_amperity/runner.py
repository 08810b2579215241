"""The runner of the Amperity jobs: start a workflow for a config id, wait for it, stop it.

- ``start`` sends ``POST /api/workflow/runs`` with the ``config_id`` and, for a courier group,
  ``run_mode``, ``range_from`` and ``range_to``. Amperity answers 201 with the workflow run
  (``id`` ``wf-...``, ``state`` ``scheduled``). If the POST fails after Amperity may have
  received it, the runner looks for a workflow of the same type created since the attempt
  began (``GET /api/workflow/runs?created_from=&type=``) before sending it again, so an outage
  never starts a workflow twice. The :class:`~orchestra_core.ExternalRun` holds the workflow
  id and everything ``wait`` needs in a later process.
- ``wait`` reads ``GET /api/workflow/runs/{id}?view=verbose`` every ``poll_interval`` seconds
  until ``state`` is final. States are normalised (:func:`~.states.normalise_state`); an
  unknown one is an error (the raw run, redacted, is in the run log) and the workflow is
  stopped (``POST /api/workflow/runs/{id}/stop``), so it does not run on unsupervised.
  ``running-with-failures`` is logged as a warning. A failed workflow whose
  ``error.attribution`` is ``platform`` (usually transient) fails the task as retryable;
  ``customer`` (a configuration to fix) is not retried. Amperity has no webhooks: polling is
  the only way to learn the state.
- ``cancel`` sends ``POST /api/workflow/runs/{id}/stop``.
- Before the POST, ``start`` records its intent (``ctx.record_intent``). ``recover`` (after
  a crash between the POST and its recording) adopts the one workflow of the job's type that
  Amperity created at or after the intent (the same runs-list query, without the clock-skew
  margin: Amperity's list has no sequence number, so its ``created_at`` is the proof). No
  intent recorded means the POST was never sent; no such workflow means start one.

The run mode of a courier group: the ``run_mode`` parameter when set; otherwise, in a
``refresh`` or ``source`` pipeline run, that run type (so Amperity does not run the
activations the pipeline run leaves out); otherwise (a ``full`` run) none, which means the
courier group's own setting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestra_core import (
    ExternalRun,
    JobResult,
    JobState,
    ReadFailures,
    TaskFailed,
    VendorHTTPError,
)

from ._api import AccessTokens, AmperityAPI, parse_time
from .params import AmperityCourierGroup
from .states import (
    KNOWN_STATES,
    WORKFLOW_TYPES,
    UnknownWorkflowState,
    WorkflowClass,
    classify,
    normalise_state,
)

if TYPE_CHECKING:
    from orchestra_core import TaskContext

    from .params import AmperityWorkflow

__all__ = (
    "MAX_OUTAGE",
    "MIN_POLL_INTERVAL",
    "AmperityWorkflowRunner",
    "courier_fields",
    "task_instances",
)

#: Shortest time between two reads of one workflow (the API allows 10 requests per second
#: for the whole tenant).
MIN_POLL_INTERVAL = 0.5
#: Longest wait between reads after repeated transient API failures.
MAX_ERROR_BACKOFF = 300.0
#: How long reads may keep failing (transiently) before the task gives up.
MAX_OUTAGE = 3600.0
#: Run types of a pipeline run that become the courier group's run mode when it sets none.
RUN_TYPE_MODES = ("refresh", "source")


def courier_fields(params: AmperityWorkflow, run_type: Any) -> tuple[dict[str, Any], str | None]:
    """The courier-group fields of the start request, and where ``run_mode`` came from
    (``"parameter"``, ``"run type"`` or ``None``)."""
    if not isinstance(params, AmperityCourierGroup):
        return {}, None
    fields: dict[str, Any] = {}
    source = None
    if params.run_mode is not None:
        fields["run_mode"], source = params.run_mode, "parameter"
    else:
        kind = getattr(run_type, "value", run_type)
        if isinstance(kind, str) and kind in RUN_TYPE_MODES:
            fields["run_mode"], source = kind, "run type"
    if params.range_from is not None:
        fields["range_from"] = params.range_from
    if params.range_to is not None:
        fields["range_to"] = params.range_to
    return fields, source


def _error(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    return {k: value.get(k) for k in ("attribution", "type", "message") if k in value}


def task_instances(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The task instances of a verbose workflow run: id, label, state, times, error."""
    found = []
    for item in run.get("task_instances") or ():
        if not isinstance(item, Mapping):
            continue
        entry = {k: item.get(k) for k in ("id", "label", "state", "created_at",
                                          "state_changed_at", "ended_at",
                                          "task_definition_type") if k in item}
        error = _error(item.get("error"))
        if error:
            entry["error"] = error
        found.append(entry)
    return found


def _what(params: AmperityWorkflow) -> str:
    return f"Amperity {params.KIND} {params.config_id}"


class AmperityWorkflowRunner:
    """Starts, waits for and stops Amperity workflows; one instance serves every task of its
    job (courier group, orchestration group or campaign).

    :param host: the :class:`~orchestra_core.Orchestra` whose ``vendor_client`` the runner
        uses (tests install a simulator's transport on it) and whose ``redactor`` masks the
        credentials and the raw answers the runner logs.
    :param tokens: the :class:`~._api.AccessTokens` OAuth access tokens are cached in; the
        plugin gives the runners of one host's three jobs the same one (default: a new one).

    :ivar tokens: the runner's OAuth access tokens (``runner.tokens.forget()`` drops them).
    """

    def __init__(self, host: Any, *, tokens: AccessTokens | None = None) -> None:
        self.host = host
        self.tokens = tokens if tokens is not None else AccessTokens()

    def api(self, ctx: TaskContext) -> AmperityAPI:
        """The Amperity API for *ctx*'s connection."""
        return AmperityAPI(self.host, ctx, self.tokens)

    def _raw(self, value: Mapping[str, Any], **dumps: Any) -> str:
        """*value* as JSON, the host's secrets masked."""
        redactor = self.host.redactor
        return redactor.mask(json.dumps(redactor.mask_obj(dict(value)), default=str, **dumps))

    # -- start ----------------------------------------------------------------------------------

    async def start(self, ctx: TaskContext) -> ExternalRun:
        """Start the workflow; return it as an :class:`ExternalRun`."""
        params: AmperityWorkflow = ctx.parameters
        api = self.api(ctx)
        fields, mode_source = courier_fields(params, getattr(ctx, "run_type", None))
        body = {"config_id": params.config_id, **fields}
        workflow_type = WORKFLOW_TYPES.get(params.PREFIX)
        since = ctx.now()
        # the runner protocol: record the intent, then start; ``recover`` adopts only a
        # workflow Amperity created after it
        await ctx.record_intent({"workflow_type": workflow_type, "config_id": params.config_id})

        async def find_existing() -> Mapping[str, Any] | None:
            found = await self._created_since(api, params, since, workflow_type)
            if found is not None:
                ctx.log(f"found Amperity workflow {found['id']} created by a start whose "
                        "answer was lost; not starting another one")
            return found

        try:
            created = await api.start(body, find_existing)
        except VendorHTTPError as exc:
            raise self._start_error(exc, params, api) from exc
        run_id = created.get("id")
        if not isinstance(run_id, str) or not run_id:
            raise TaskFailed(
                f"Amperity accepted the start of {params.KIND} {params.config_id} but sent no "
                f"workflow id: {self._raw(created)}"[:400], retryable=None)
        facts = self._facts(params, api, created, fields, mode_source)
        mode = f", run mode {fields['run_mode']}" if "run_mode" in fields else ""
        ctx.log(f"started {_what(params)}: workflow {run_id} "
                f"({created.get('state', 'scheduled')}{mode})")
        return ExternalRun(id=run_id, started_at=since, data=facts)

    @staticmethod
    def _facts(params: AmperityWorkflow, api: AmperityAPI, created: Mapping[str, Any],
               fields: Mapping[str, Any], mode_source: str | None) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "workflow_id": str(created.get("id")),
            "config_id": params.config_id,
            "kind": params.KIND,
            "tenant": api.tenant,
        }
        for key in ("name", "type"):
            if isinstance(created.get(key), str):
                facts[f"workflow_{key}"] = created[key]
        facts.update(fields)
        if mode_source is not None:
            facts["run_mode_from"] = mode_source
        return facts

    def _start_error(self, exc: VendorHTTPError, params: AmperityWorkflow,
                     api: AmperityAPI) -> TaskFailed:
        if exc.status == 404:
            return TaskFailed(
                f"Amperity has no {params.KIND} {params.config_id!r} in tenant {api.tenant!r} "
                f"({exc}); check config_id and the connection's tenant",
                retryable=False, metadata=exc.metadata)
        if exc.status == 400:
            hint = ""
            if isinstance(params, AmperityCourierGroup) and params.range_from is None:
                hint = ("; file-based courier groups (SFTP, S3, Azure Blob, GCS) need "
                        "range_from")
            return TaskFailed(f"Amperity refused to start {params.KIND} {params.config_id}: "
                              f"{exc}{hint}", retryable=False, metadata=exc.metadata)
        if exc.status == 409:
            return TaskFailed(f"Amperity refused to start {params.KIND} {params.config_id} "
                              f"now ({exc}); is a workflow of it already running?",
                              retryable=True, metadata=exc.metadata)
        return exc

    async def _created_since(self, api: AmperityAPI, params: AmperityWorkflow, since: datetime,
                             workflow_type: str | None, *, skew: float = 5.0
                             ) -> Mapping[str, Any] | None:
        """The one workflow of *params*' kind created since *since* (less *skew* seconds),
        or ``None``.

        The runs list does not say which config a workflow ran (a ``config_id`` field is used
        when present); when several workflows of the kind qualify, the runner cannot tell
        which one is its own and raises instead of guessing.
        """
        runs = await api.runs_since(since, workflow_type, skew=skew)
        runs = [r for r in runs if r.get("config_id") in (None, params.config_id)]
        if not runs:
            return None
        if len(runs) > 1:
            ids = ", ".join(str(r.get("id")) for r in runs)
            raise TaskFailed(
                f"the start of {params.KIND} {params.config_id} may have reached Amperity, and "
                f"several workflows of that type were created since ({ids}): not starting "
                "another one; check them in Amperity's Workflows page", retryable=False)
        return runs[0]

    # -- wait -----------------------------------------------------------------------------------

    async def wait(self, ctx: TaskContext, run: ExternalRun) -> JobResult:
        """Read the workflow's state every ``poll_interval`` seconds until it is final."""
        params: AmperityWorkflow = ctx.parameters
        api = self.api(ctx)
        run_id = str(run.data.get("workflow_id", run.id))
        interval = max(float(params.poll_interval), MIN_POLL_INTERVAL)
        last: str | None = None
        warned = False
        polls = 0
        failures = ReadFailures(interval, max_delay=MAX_ERROR_BACKOFF, give_up_after=MAX_OUTAGE)
        while True:
            try:
                data = await api.run(run_id)
            except VendorHTTPError as exc:
                if exc.status == 404:
                    raise TaskFailed(
                        f"Amperity does not know workflow {run_id} (of {params.KIND} "
                        f"{run.data.get('config_id')}) in tenant {api.tenant!r}: {exc}",
                        retryable=False, metadata={**run.data, "error": exc.metadata},
                    ) from exc
                # the client's retries ran out; the workflow goes on in Amperity
                delay = failures.failed(ctx.now())
                if exc.retryable is False or delay is None:
                    raise
                ctx.log(f"reading Amperity workflow {run_id} failed: {exc}; trying again in "
                        f"{delay:g} s", level="warning")
                await ctx.sleep(delay)
                continue
            failures.succeeded()
            polls += 1
            state = data.get("state")
            klass = classify(state)
            if klass is None:
                error = self._unknown(ctx, run, data)
                await self._stop_unknown(ctx, api, run_id)
                raise error
            normal = normalise_state(state)
            if klass is WorkflowClass.DEGRADED and not warned:
                warned = True
                failing = [t.get("label") or t.get("id") for t in task_instances(data)
                           if normalise_state(t.get("state")) == "failed"]
                ctx.log(f"Amperity workflow {run_id} is running with failures"
                        + (f" (failed tasks: {', '.join(map(str, failing))})" if failing else "")
                        + "; it will most likely end failed", level="warning")
            if klass in (WorkflowClass.SUCCEEDED, WorkflowClass.FAILED,
                         WorkflowClass.CANCELLED):
                return self._result(params, run, data, klass, polls)
            if normal != last:
                ctx.log(f"Amperity workflow {run_id} is {normal}")
                last = normal
            await ctx.sleep(interval)

    async def _stop_unknown(self, ctx: TaskContext, api: AmperityAPI, run_id: str) -> None:
        """Stop a workflow whose state the plugin cannot read: the task is reported failed,
        so the workflow must not go on in Amperity unsupervised (a retry starts a new one)."""
        try:
            found = await api.stop(run_id)
        except (VendorHTTPError, TaskFailed) as exc:
            ctx.log(f"could not stop Amperity workflow {run_id}, whose state is unknown: "
                    f"{exc}; stop it in Amperity's Workflows page", level="error")
            return
        state = found.get("state") if isinstance(found, Mapping) else None
        ctx.log(f"stopped Amperity workflow {run_id}, whose state is unknown, so that it does "
                "not go on unsupervised" + (f" (it is now {state})" if state else ""),
                level="warning")

    def _unknown(self, ctx: TaskContext, run: ExternalRun,
                 data: Mapping[str, Any]) -> UnknownWorkflowState:
        raw = self._raw(data, sort_keys=True)
        ctx.log(f"Amperity sent an unknown state for workflow {run.id}: {raw}", level="error")
        return UnknownWorkflowState(
            f"Amperity reported the unknown workflow state {data.get('state')!r} for workflow "
            f"{run.id}; the orchestra-amperity plugin knows: {', '.join(KNOWN_STATES)} (any "
            "case, spaces or underscores; the raw run is in the run log)",
            state=data.get("state"),
            metadata={**run.data, "state": data.get("state")},
        )

    @staticmethod
    def metadata(run: ExternalRun, data: Mapping[str, Any], polls: int = 0) -> dict[str, Any]:
        """What a finished workflow leaves in the task run's metadata."""
        meta: dict[str, Any] = dict(run.data)
        meta["state"] = normalise_state(data.get("state"))
        for key in ("name", "type", "created_at", "ended_at", "launched_version",
                    "current_version", "principal_name"):
            if data.get(key) is not None:
                meta[key if key not in ("name", "type") else f"workflow_{key}"] = data[key]
        started, ended = parse_time(data.get("created_at")), parse_time(data.get("ended_at"))
        if started and ended:
            meta["duration_seconds"] = round((ended - started).total_seconds(), 3)
        meta["task_instances"] = task_instances(data)
        error = _error(data.get("error"))
        if error:
            meta["error"] = error
        meta["polls"] = polls
        return meta

    def _result(self, params: AmperityWorkflow, run: ExternalRun, data: Mapping[str, Any],
                klass: WorkflowClass, polls: int) -> JobResult:
        meta = self.metadata(run, data, polls)
        tasks = meta["task_instances"]
        what = f"{_what(params)} workflow {run.id}"
        counted = f" ({len(tasks)} tasks)" if tasks else ""
        if klass is WorkflowClass.SUCCEEDED:
            return JobResult(state=JobState.SUCCEEDED, message=f"{what} succeeded{counted}",
                             metadata=meta)
        error = meta.get("error") or {}
        failed = [t for t in tasks if normalise_state(t.get("state")) == "failed"]
        task_error = (failed[0].get("error") or {}) if failed else {}
        message = error.get("message") or task_error.get("message") or "no error message"
        if klass is WorkflowClass.CANCELLED:
            return JobResult(state=JobState.CANCELLED,
                             message=f"{what} was {meta['state']}: {message}", metadata=meta)
        where = f" in task {failed[0].get('label') or failed[0].get('id')}" if failed else ""
        attribution = error.get("attribution") or task_error.get("attribution")
        if attribution == "platform":
            retryable: bool | None = True
            why = " (an Amperity platform error: retrying may help)"
        elif attribution == "customer":
            retryable, why = False, " (a configuration error to fix in Amperity)"
        else:
            retryable, why = None, ""
        raise TaskFailed(f"{what} failed{where}: {message}{why}", retryable=retryable,
                         metadata=meta)

    # -- cancel ---------------------------------------------------------------------------------

    async def cancel(self, ctx: TaskContext, run: ExternalRun) -> None:
        """Stop the workflow in Amperity (one that already finished stays as it is)."""
        api = self.api(ctx)
        run_id = str(run.data.get("workflow_id", run.id))
        try:
            found = await api.stop(run_id)
        except VendorHTTPError as exc:
            if exc.status in (404, 409):
                ctx.log(f"Amperity workflow {run_id} not stopped: {exc}", level="warning")
                return
            raise
        state = normalise_state(found.get("state")) if isinstance(found, Mapping) else None
        ctx.log(f"asked Amperity to stop workflow {run_id}"
                + (f": it is {state}" if state else ""), level="warning")

    # -- recover --------------------------------------------------------------------------------

    async def recover(self, ctx: TaskContext) -> ExternalRun | None:
        """The workflow an interrupted ``start`` created: the one workflow of the job's type
        that Amperity created at or after the recorded intent (no clock-skew margin: a
        workflow stamped earlier may have begun before it), finished or not. ``None`` (start
        one) when no intent was recorded (the POST was never sent) or no such workflow
        exists."""
        intent = getattr(ctx, "intent", None)
        if intent is None:
            return None
        params: AmperityWorkflow = ctx.parameters
        api = self.api(ctx)
        found = await self._created_since(api, params, intent.recorded_at,
                                          WORKFLOW_TYPES.get(params.PREFIX), skew=0.0)
        if found is None:
            return None
        fields, mode_source = courier_fields(params, getattr(ctx, "run_type", None))
        facts = self._facts(params, api, found, fields, mode_source)
        facts["recovered"] = True
        ctx.log(f"found Amperity workflow {found['id']} ({found.get('state')}) started by the "
                f"interrupted start of {_what(params)}; waiting for it instead of starting "
                "another")
        return ExternalRun(id=str(found["id"]),
                           started_at=parse_time(found.get("created_at")) or intent.recorded_at,
                           data=facts)
