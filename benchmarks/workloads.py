"""The benchmark workloads as pipeline data (what a pipeline file would hold), shared by the
engine and the floor so both run exactly the same graph."""

from __future__ import annotations

from typing import Any

#: W3's polling, as the brief gives it.
POLL = {"endpoint": "/jobs/{id}", "field": "status", "success": ["succeeded"],
        "failure": ["failed"], "interval": 0.5, "id_field": "id"}


def _noop(task_id: str, depends_on: list[str] | None = None) -> dict[str, Any]:
    task: dict[str, Any] = {"id": task_id, "integration": "noop", "integration_job": "noop_run"}
    if depends_on:
        task["depends_on"] = depends_on
    return task


def fan_out_fan_in(n: int) -> dict[str, Any]:
    """W1: one root task, *n* parallel noop tasks depending on it, one final task on them all."""
    middle = [f"t{i}" for i in range(n)]
    tasks = [_noop("root"), *(_noop(t, ["root"]) for t in middle), _noop("final", middle)]
    return {"name": f"bench_w1_{n}", "client": "bench", "tasks": tasks}


def chain(n: int) -> dict[str, Any]:
    """W2: *n* noop tasks, each depending on the one before."""
    tasks = [_noop("t0")] + [_noop(f"t{i}", [f"t{i - 1}"]) for i in range(1, n)]
    return {"name": f"bench_w2_{n}", "client": "bench", "tasks": tasks}


def external_jobs(n: int, base_url: str) -> dict[str, Any]:
    """W3: *n* independent ``http`` tasks: POST /jobs, then poll /jobs/{id} every 0.5 s."""
    tasks = [{"id": f"job{i}", "integration": "http", "integration_job": "http_request",
              "parameters": {"base_url": base_url, "method": "POST", "endpoint": "/jobs",
                             "poll": dict(POLL)}}
             for i in range(n)]
    return {"name": f"bench_w3_{n}", "client": "bench", "tasks": tasks}


def build(workload: str, n: int, url: str | None = None) -> dict[str, Any]:
    """The pipeline data of *workload* (``W1``, ``W2`` or ``W3``) with *n*."""
    if workload == "W1":
        return fan_out_fan_in(n)
    if workload == "W2":
        return chain(n)
    if workload == "W3":
        if not url:
            raise ValueError("W3 needs the job server's URL")
        return external_jobs(n, url)
    raise ValueError(f"unknown workload {workload!r}")
