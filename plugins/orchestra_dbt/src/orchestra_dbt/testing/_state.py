"""The simulated dbt Cloud account state: jobs, runs and their clock-driven progression.

Pure bookkeeping, no HTTP: the simulator's routes read and change it. Every time is a
:class:`~datetime.datetime` from the simulator's clock, so a fake clock drives the runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from attrs import define, field

from .._api import CANCELLED, ERROR, QUEUED, RUNNING, STARTING, SUCCESS, humanized

__all__ = ("SimJob", "SimRun", "SimState", "dbt_time")

#: The outcomes a simulated job's runs can end with.
OUTCOMES = {"success": SUCCESS, "error": ERROR, "cancelled": CANCELLED}


def dbt_time(when: datetime | None) -> str | None:
    """*when* as dbt Cloud writes timestamps: ``2026-01-31 19:28:07.123456+00:00``."""
    if when is None:
        return None
    return when.isoformat(sep=" ", timespec="microseconds")


def _hms(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _humanized_duration(seconds: float) -> str:
    whole = int(seconds)
    if whole < 60:
        return f"{whole} seconds"
    minutes, secs = divmod(whole, 60)
    return f"{minutes} minutes, {secs} seconds"


@define(kw_only=True)
class SimJob:
    """A dbt Cloud job of the simulator; its settings shape every run it starts.

    :param queued: seconds a run stays Queued (1) once it is at the head of the job's queue.
    :param starting: seconds it stays Starting (2).
    :param duration: seconds it stays Running (3) before its outcome.
    :param outcome: ``success``, ``error`` or ``cancelled`` (cancelled by someone in the UI).
    :param models: the dbt models the job builds (names), in build order.
    :param failing_models: models that fail when the outcome is ``error`` (default: the
        first); the models after a failed one are skipped.
    :param status_override: report this ``status`` value once the run is Running (failure
        injection: an unknown status such as 7).
    """

    account_id: int
    id: int
    name: str = "Daily job"
    project_id: int = 167194
    environment_id: int = 1234
    queued: float = 1.0
    starting: float = 1.0
    duration: float = 10.0
    outcome: str = "success"
    models: tuple[str, ...] = ("stg_orders", "stg_customers", "orders", "customers")
    failing_models: tuple[str, ...] = ()
    status_override: int | None = None
    dbt_version: str = "1.8.0"
    project_name: str = "analytics"
    environment_name: str = "Production"
    database: str = "analytics"
    schema: str = "prod"


@define(kw_only=True)
class SimRun:
    """One run of a :class:`SimJob`; its status follows from the clock."""

    id: int
    job: SimJob
    cause: str
    created_at: datetime
    trigger_id: int
    steps_override: tuple[str, ...] | None = None
    git_branch: str | None = None
    git_sha: str | None = None
    outcome: str = "success"
    queued: float = 1.0
    starting: float = 1.0
    duration: float = 10.0
    status_override: int | None = None
    cancelled_at: datetime | None = None
    # filled in by SimState.schedule(): when the run leaves the queue and when it ends
    dequeued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    emitted: set[str] = field(factory=set)

    def status(self, now: datetime) -> int:
        """The run's status code at *now*."""
        assert self.dequeued_at is not None and self.finished_at is not None
        if now >= self.finished_at:
            if self.cancelled_at is not None and self.cancelled_at <= self.finished_at:
                return CANCELLED
            return OUTCOMES[self.outcome]
        if self.started_at is not None and now >= self.started_at:
            return RUNNING if self.status_override is None else self.status_override
        if now >= self.dequeued_at + timedelta(seconds=self.queued):
            return STARTING
        return QUEUED

    def natural_end(self) -> datetime:
        """When the run would end if nobody cancelled it."""
        assert self.dequeued_at is not None
        return self.dequeued_at + timedelta(seconds=self.queued + self.starting + self.duration)


class SimState:
    """Every account, job, run and webhook subscription of the simulator.

    :param base_url: gives the simulator's own URL, used in the runs' ``href`` links.
    """

    def __init__(self, base_url: Callable[[], str] = lambda: "https://cloud.getdbt.com"
                 ) -> None:
        self.base_url = base_url
        self.jobs: dict[tuple[int, int], SimJob] = {}
        self.runs: dict[int, SimRun] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self._run_ids = itertools.count(70403194297680)
        self._trigger_ids = itertools.count(9001)
        self._sub_ids = itertools.count(1)

    # -- jobs and runs -----------------------------------------------------------------------

    def add_job(self, account_id: int, job_id: int, **settings: Any) -> SimJob:
        """Create (or replace) job *job_id* of account *account_id*; see :class:`SimJob`."""
        if "outcome" in settings and settings["outcome"] not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        job = SimJob(account_id=account_id, id=job_id, **settings)
        self.jobs[(account_id, job_id)] = job
        return job

    def trigger(self, job: SimJob, now: datetime, body: dict[str, Any]) -> SimRun:
        """Start a run of *job* as ``POST .../jobs/{id}/run/`` with *body* does."""
        steps = body.get("steps_override")
        run = SimRun(
            id=next(self._run_ids), job=job, cause=str(body.get("cause") or ""),
            created_at=now, trigger_id=next(self._trigger_ids),
            steps_override=tuple(steps) if steps else None,
            git_branch=body.get("git_branch") or "main", git_sha=body.get("git_sha"),
            outcome=job.outcome, queued=job.queued, starting=job.starting,
            duration=job.duration, status_override=job.status_override,
        )
        self.runs[run.id] = run
        self.schedule(job)
        return run

    def schedule(self, job: SimJob) -> None:
        """Work out when each run of *job* leaves the queue and ends: runs of one job run
        one after the other, in the order they were triggered."""
        free_at: datetime | None = None
        for run in sorted((r for r in self.runs.values() if r.job is job), key=lambda r: r.id):
            begin = run.created_at if free_at is None else max(run.created_at, free_at)
            run.dequeued_at = begin
            run.started_at = begin + timedelta(seconds=run.queued + run.starting)
            end = run.natural_end()
            if run.cancelled_at is not None and run.cancelled_at < end:
                end = max(run.cancelled_at, run.created_at)
                if run.started_at > end:
                    run.started_at = None
            run.finished_at = end
            free_at = end

    def cancel(self, run: SimRun, now: datetime) -> None:
        """Cancel *run* (a run that has ended is left as it is)."""
        assert run.finished_at is not None
        if now < run.finished_at and run.cancelled_at is None:
            run.cancelled_at = now
            self.schedule(run.job)

    def runs_of(self, account_id: int) -> list[SimRun]:
        """The runs of *account_id*, oldest first."""
        return sorted((r for r in self.runs.values() if r.job.account_id == account_id),
                      key=lambda r: r.id)

    # -- JSON shapes -------------------------------------------------------------------------

    def href(self, run: SimRun) -> str:
        """The run's page in the dbt Cloud UI."""
        job = run.job
        return (f"{self.base_url().rstrip('/')}/deploy/{job.account_id}/projects/"
                f"{job.project_id}/runs/{run.id}/")

    def run_json(self, run: SimRun, now: datetime,
                 include: Sequence[str] = ()) -> dict[str, Any]:
        """``RunResponse`` of *run* at *now*, with the ``include_related`` parts asked for."""
        job = run.job
        status = run.status(now)
        ended = status in (SUCCESS, ERROR, CANCELLED)
        started = run.started_at if run.started_at and now >= run.started_at else None
        finished = run.finished_at if ended else None
        dequeued = run.dequeued_at if run.dequeued_at and now >= run.dequeued_at else None
        end = finished or now
        queued_for = ((started or end) - run.created_at).total_seconds()
        ran_for = (end - started).total_seconds() if started else 0.0
        total = (end - run.created_at).total_seconds()
        message = None
        if status == CANCELLED:
            message = "Cancelled by user."
        elif status == ERROR:
            message = "Database Error in model " + self.failing(run)[0]
        data: dict[str, Any] = {
            "id": run.id, "trigger_id": run.trigger_id, "account_id": job.account_id,
            "environment_id": job.environment_id, "project_id": job.project_id,
            "job_definition_id": job.id, "job_id": job.id, "status": status,
            "dbt_version": job.dbt_version, "git_branch": run.git_branch,
            "git_sha": run.git_sha or "a1b2c3d4e5f6", "status_message": message,
            "owner_thread_id": None, "executed_by_thread_id": "dbt-run-1" if started else None,
            "deferring_run_id": None, "artifacts_saved": ended and status != CANCELLED,
            "artifact_s3_path": f"prod/runs/{run.id}" if ended else None,
            "has_docs_generated": False, "has_sources_generated": False,
            "notifications_sent": ended, "blocked_by": [],
            "created_at": dbt_time(run.created_at), "updated_at": dbt_time(now),
            "dequeued_at": dbt_time(dequeued), "started_at": dbt_time(started),
            "finished_at": dbt_time(finished), "last_checked_at": dbt_time(now),
            "last_heartbeat_at": dbt_time(now if started and not ended else finished),
            "should_start_at": None,
            "status_humanized": humanized(status),
            "in_progress": status in (QUEUED, STARTING, RUNNING),
            "is_complete": ended, "is_success": status == SUCCESS, "is_error": status == ERROR,
            "is_cancelled": status == CANCELLED, "is_running": status == RUNNING,
            "duration": _hms(total), "queued_duration": _hms(queued_for),
            "run_duration": _hms(ran_for),
            "duration_humanized": _humanized_duration(total),
            "queued_duration_humanized": _humanized_duration(queued_for),
            "run_duration_humanized": _humanized_duration(ran_for),
            "created_at_humanized": "just now", "finished_at_humanized": "just now" if ended
            else "0 minutes from now",
            "retrying_run_id": None, "can_retry": status == ERROR,
            "retry_not_supported_reason": None if status == ERROR else "RETRY_NOT_FAILED_RUN",
            "used_repo_cache": None, "href": self.href(run),
        }
        if "trigger" in include:
            data["trigger"] = {
                "id": run.trigger_id, "cause": run.cause, "job_definition_id": job.id,
                "git_branch": run.git_branch, "git_sha": run.git_sha,
                "azure_pull_request_id": None, "github_pull_request_id": None,
                "gitlab_merge_request_id": None, "schema_override": None,
                "dbt_version_override": None, "threads_override": None,
                "target_name_override": None, "generate_docs_override": None,
                "timeout_seconds_override": None, "steps_override": (
                    list(run.steps_override) if run.steps_override else None),
                "created_at": dbt_time(run.created_at), "cause_humanized": run.cause,
                "job": None,
            }
        if "job" in include:
            data["job"] = self.job_json(job)
        if "run_steps" in include:
            data["run_steps"] = []
        return data

    def job_json(self, job: SimJob) -> dict[str, Any]:
        """``JobDefinition`` of *job* (the fields Orchestra and peers read)."""
        return {
            "id": job.id, "account_id": job.account_id, "project_id": job.project_id,
            "environment_id": job.environment_id, "name": job.name, "state": 1,
            "execute_steps": ["dbt build"], "dbt_version": job.dbt_version,
            "job_type": "scheduled", "triggers": {"schedule": False, "github_webhook": False},
        }

    # -- artifacts ---------------------------------------------------------------------------

    def failing(self, run: SimRun) -> tuple[str, ...]:
        """The models that fail in *run* (for an ``error`` outcome)."""
        models = run.job.models
        return run.job.failing_models or models[:1] or ("model",)

    def model_statuses(self, run: SimRun) -> list[tuple[str, str]]:
        """``(model, status)`` of each model the run built, in order."""
        if run.outcome != "error" or run.cancelled_at is not None:
            return [(m, "success") for m in run.job.models]
        failing = set(self.failing(run))
        out, broken = [], False
        for model in run.job.models:
            if model in failing:
                out.append((model, "error"))
                broken = True
            else:
                out.append((model, "skipped" if broken else "success"))
        return out

    def unique_id(self, job: SimJob, model: str) -> str:
        """The dbt ``unique_id`` of *model*: ``model.<project>.<name>``."""
        return f"model.{job.project_name}.{model}"

    def run_results(self, run: SimRun) -> dict[str, Any]:
        """``run_results.json`` of *run* (dbt's schema v6, trimmed to what matters)."""
        job = run.job
        # dbt 1.8 added relation_name to run_results.json; older versions need the manifest
        with_relation = tuple(int(p) for p in job.dbt_version.split(".")[:2]) >= (1, 8)
        results = []
        for i, (model, status) in enumerate(self.model_statuses(run)):
            extra = {"relation_name": f'"{job.database}"."{job.schema}"."{model}"'} \
                if with_relation else {}
            results.append({**extra,
                "status": status, "unique_id": self.unique_id(run.job, model),
                "execution_time": 0.0 if status == "skipped" else round(1.5 + i * 0.25, 3),
                "thread_id": "Thread-1", "failures": None,
                "message": {"success": "SELECT 100", "error": f"Database Error in model "
                            f"{model}", "skipped": None}[status],
                "adapter_response": {"_message": "SELECT 100", "rows_affected": 100}
                if status == "success" else {},
                "timing": [],
            })
        elapsed = run.duration
        return {
            "metadata": {
                "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
                "dbt_version": run.job.dbt_version, "generated_at": dbt_time(run.finished_at),
                "invocation_id": f"inv-{run.id}", "env": {},
            },
            "results": results, "elapsed_time": elapsed,
            "args": {"which": "build", "invocation_command": "dbt build"},
        }

    def manifest(self, run: SimRun) -> dict[str, Any]:
        """``manifest.json`` of *run*, with only the ``nodes`` of its models."""
        job = run.job
        nodes = {}
        for model in job.models:
            uid = self.unique_id(job, model)
            nodes[uid] = {
                "unique_id": uid, "resource_type": "model", "name": model, "alias": model,
                "package_name": job.project_name, "database": job.database,
                "schema": job.schema, "relation_name": f'"{job.database}"."{job.schema}".'
                f'"{model}"', "original_file_path": f"models/{model}.sql",
                "config": {"materialized": "table"},
            }
        return {
            "metadata": {
                "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
                "dbt_version": job.dbt_version, "project_name": job.project_name,
            },
            "nodes": nodes, "sources": {}, "macros": {}, "exposures": {},
        }
