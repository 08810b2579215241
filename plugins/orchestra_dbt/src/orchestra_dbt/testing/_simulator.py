"""The dbt Cloud simulator: the Administrative API v2 (jobs, runs, artifacts) and the v3
webhook subscriptions, on :class:`orchestra_core.testing._simulator.Simulator`."""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestra_core import Connection
from orchestra_core.testing import Simulator, WebhookTarget, bearer_token, is_loopback

from .._api import CANCELLED, ERROR, SUCCESS, humanized
from ..webhooks import EVENT_TYPES, sign
from ._state import SimJob, SimRun, SimState

__all__ = ("FAILING_JOB", "SUCCEEDING_JOB", "DbtCloudSimulator")

#: The seeded jobs of the default account: one succeeds, one fails in model ``orders``.
SUCCEEDING_JOB, FAILING_JOB = 123456, 234567

_STATUS_WORDS = {SUCCESS: "Success", ERROR: "Errored", CANCELLED: "Cancelled"}


def _envelope(data: Any, code: int = 200, message: str = "Success!", *,
              extra: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"status": {"code": code, "is_success": code < 400,
                                       "user_message": message, "developer_message": ""},
                            "data": data}
    if extra is not None:
        body["extra"] = extra
    return JSONResponse(body, status_code=code)


def _error(code: int, message: str) -> JSONResponse:
    return _envelope(None, code, message)


def _rfc3339(when: datetime) -> str:
    """Webhook timestamps: RFC 3339 with nanoseconds, ``Z``."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


def _micros(when: datetime) -> str:
    return str(int(when.timestamp() * 1_000_000))


def _both(path: str, endpoint: Callable[..., Any], methods: list[str]) -> list[Route]:
    """Routes for *path* with and without its trailing slash (peers use the slash)."""
    bare = path.rstrip("/")
    return [Route(bare + "/", endpoint, methods=methods), Route(bare, endpoint, methods=methods)]


class DbtCloudSimulator(Simulator):
    """A stateful fake of dbt Cloud's API, driven by a clock.

    Serves ``/api/v2/accounts/{account_id}/...`` (trigger ``jobs/{id}/run/``, ``jobs/{id}/``,
    ``runs/``, ``runs/{id}/``, ``runs/{id}/cancel/``, ``runs/{id}/artifacts/{path}``) and
    ``/api/v3/accounts/{account_id}/webhooks/subscription(s)``, with dbt's response envelope,
    ``Authorization: Token <token>`` (or ``Bearer``) checks and its timestamp format. Runs go
    Queued (1) -> Starting (2) -> Running (3) -> Success (10) / Error (20) / Cancelled (30) on
    the clock; runs of one job run one after another. Webhook subscriptions receive
    ``job.run.started``, ``job.run.errored`` (at once) and ``job.run.completed`` (after
    ``completed_delay``), signed as dbt Cloud signs them.

    :param token: the API token clients must send.
    :param account_id: the account seeded with two jobs: ``123456`` (succeeds) and ``234567``
        (fails in model ``orders``).
    :param run_visible_after: seconds after a trigger during which ``GET runs/{id}/``
        answers 404 (the vendor quirk: a fresh run is not visible at once).
    :param completed_delay: seconds between a run's end and its ``job.run.completed`` event
        (dbt Cloud ingests artifacts first).
    :param require_cause: refuse a trigger without ``cause`` (400), as the API spec says.
    :param webhook_transport: an httpx transport deliveries to subscriptions created through
        the API go through (in-process receivers), instead of the network.
    :param allow_remote_webhooks: accept subscription URLs that are not on this machine
        (they are still only delivered through *webhook_transport*).
    :param auto_create: create an unknown job (a succeeding one, *run_duration* long) or
        account when a request first names it, instead of answering 404 (``orchestra run
        --simulate`` turns it on, so any job id a pipeline names runs).
    """

    name: ClassVar[str] = "dbt"
    base_path: ClassVar[str] = ""
    default_run_duration: ClassVar[float] = 10.0
    #: dbt Cloud retries a failed delivery 5 times
    webhook_retry_delays: ClassVar[tuple[float, ...]] = (10.0, 30.0, 60.0, 120.0, 300.0)

    def __init__(self, *, token: str = "dbt-test-token", account_id: int = 1,
                 run_visible_after: float = 0.0, completed_delay: float = 2.0,
                 require_cause: bool = True,
                 webhook_transport: httpx.AsyncBaseTransport | None = None,
                 allow_remote_webhooks: bool = False, auto_create: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.account_id = account_id
        self.run_visible_after = run_visible_after
        self.completed_delay = completed_delay
        self.require_cause = require_cause
        self.webhook_transport = webhook_transport
        self.allow_remote_webhooks = allow_remote_webhooks
        self.auto_create = auto_create
        self.state = SimState(lambda: self.base_url)
        self.accounts = {account_id}
        self._event_ids = itertools.count(1)
        self.add_job(SUCCEEDING_JOB, name="Daily models", duration=self.run_duration)
        self.add_job(FAILING_JOB, name="Nightly full refresh", duration=self.run_duration,
                     outcome="error", failing_models=("orders",))

    # -- seeding and inspection ------------------------------------------------------------------

    def add_job(self, job_id: int, *, account_id: int | None = None, **settings: Any) -> SimJob:
        """Create job *job_id* (in the default account unless *account_id*); *settings* are
        :class:`~orchestra_dbt.testing._state.SimJob` fields: ``duration``, ``queued``,
        ``starting``, ``outcome`` (``success``/``error``/``cancelled``), ``models``,
        ``failing_models``, ``status_override`` (an unknown status to report while running),
        ``name``, ``dbt_version``."""
        account = self.account_id if account_id is None else account_id
        with self.lock:
            self.accounts.add(account)
            return self.state.add_job(account, job_id, **settings)

    def job(self, job_id: int, account_id: int | None = None) -> SimJob:
        """The job *job_id*."""
        return self.state.jobs[(self.account_id if account_id is None else account_id, job_id)]

    def run(self, run_id: int | str) -> SimRun:
        """The run *run_id*."""
        return self.state.runs[int(run_id)]

    def runs_of_job(self, job_id: int) -> list[SimRun]:
        """The runs of job *job_id* (any account), oldest first."""
        return sorted((r for r in self.state.runs.values() if r.job.id == job_id),
                      key=lambda r: r.id)

    def status(self, run_id: int | str) -> int:
        """The status code of run *run_id* now."""
        return self.run(run_id).status(self.now())

    def connection(self, name: str = "dbt-sim", *, redactor: Any = None) -> Connection:
        """A :class:`~orchestra_core.Connection` to this simulator (its URL, token and
        account), as a task gets it in ``ctx.connection``. The token is registered with
        *redactor* when given (a host's ``host.redactor``; the runner's vendor client
        registers it with its host's anyway)."""
        if redactor is not None:
            redactor.add(self.token)
        return Connection(name=name, integration="dbt", base_url=self.base_url, auth="token",
                          options={"account_id": self.account_id},
                          secrets={"token": self.token})

    def env(self, base_url: str | None = None) -> dict[str, str]:
        """The quick-start environment variables pointing Orchestra at this simulator (at
        *base_url* when given, e.g. the URL :meth:`serve` yields)."""
        return {"DBT_CLOUD_API_TOKEN": self.token, "DBT_CLOUD_ACCOUNT_ID": str(self.account_id),
                "DBT_CLOUD_BASE_URL": base_url or self.base_url}

    def credentials(self) -> dict[str, str]:
        """What a client needs: the token and the account id."""
        return {"token": self.token, "account_id": str(self.account_id)}

    def describe(self) -> dict[str, Any]:
        """The seeded jobs and the environment variables that point Orchestra here."""
        return {
            "jobs": {f"{a}/{j}": {"name": job.name, "outcome": job.outcome,
                                  "duration": job.duration}
                     for (a, j), job in sorted(self.state.jobs.items())},
            "env": self.env(),
        }

    # -- the Simulator hooks ---------------------------------------------------------------------

    def authenticate(self, request: Request) -> bool:
        """``Authorization: Token <token>`` or ``Bearer <token>``."""
        return bearer_token(request, ("token", "bearer")) == self.token

    def unauthorized(self, request: Request) -> Response:
        """dbt Cloud's envelope with 401."""
        return _error(401, "Invalid token.")

    def error_response(self, status: int, message: str) -> Response:
        """dbt Cloud's error envelope."""
        return _error(status, message)

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        """``Authorization``: the lowercase hex HMAC-SHA256 of the body, no scheme."""
        return {"Authorization": sign(secret, body)}

    def routes(self) -> list[Any]:
        """The API's paths."""
        v2 = "/api/v2/accounts/{account_id:int}"
        v3 = "/api/v3/accounts/{account_id:int}/webhooks"
        return [
            *_both(f"{v2}/jobs/{{job_id:int}}/run/", self._trigger, ["POST"]),
            *_both(f"{v2}/jobs/{{job_id:int}}/", self._get_job, ["GET"]),
            *_both(f"{v2}/runs/", self._list_runs, ["GET"]),
            *_both(f"{v2}/runs/{{run_id:int}}/", self._get_run, ["GET"]),
            *_both(f"{v2}/runs/{{run_id:int}}/cancel/", self._cancel, ["POST"]),
            Route(f"{v2}/runs/{{run_id:int}}/artifacts/{{path:path}}", self._artifact,
                  methods=["GET"]),
            Route(f"{v3}/subscriptions", self._subscriptions, methods=["GET", "POST"]),
            Route(f"{v3}/subscription/{{sub_id}}", self._subscription,
                  methods=["GET", "PUT", "DELETE"]),
            Route(f"{v3}/subscription/{{sub_id}}/test", self._test_subscription,
                  methods=["GET"]),
        ]

    # -- v2: jobs and runs -----------------------------------------------------------------------

    def _account(self, request: Request) -> int | Response:
        account = request.path_params["account_id"]
        if account not in self.accounts and self.auto_create:
            with self.lock:
                self.accounts.add(account)
        if account not in self.accounts:
            return _error(404, f"Account {account} not found.")
        return account

    def _job(self, account: int, job_id: int) -> SimJob | None:
        """Job *job_id* of *account*; with :attr:`auto_create`, a new succeeding job when
        there is none."""
        job = self.state.jobs.get((account, job_id))
        if job is None and self.auto_create:
            job = self.add_job(job_id, account_id=account, name=f"Job {job_id}",
                               duration=self.run_duration)
        return job

    def _find_run(self, request: Request) -> SimRun | Response:
        account = self._account(request)
        if isinstance(account, Response):
            return account
        run = self.state.runs.get(request.path_params["run_id"])
        if run is None or run.job.account_id != account:
            return _error(404, "Run not found.")
        return run

    async def _trigger(self, request: Request) -> Response:
        account = self._account(request)
        if isinstance(account, Response):
            return account
        job = self._job(account, request.path_params["job_id"])
        if job is None:
            return _error(404, f"Job {request.path_params['job_id']} not found.")
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return _error(400, "The request body is not valid JSON.")
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.")
        cause = body.get("cause")
        if self.require_cause and (not isinstance(cause, str) or not cause):
            return _error(400, "cause: This field is required.")
        if isinstance(cause, str) and len(cause) > 255:
            return _error(400, "cause: Ensure this field has no more than 255 characters.")
        steps = body.get("steps_override")
        if steps is not None and (not isinstance(steps, list) or
                                  not all(isinstance(s, str) for s in steps)):
            return _error(400, "steps_override: Expected a list of strings.")
        with self.lock:
            run = self.state.trigger(job, self.now(), body)
            self._schedule_events(job)
            data = self.state.run_json(run, self.now())
        return _envelope(data)

    async def _get_job(self, request: Request) -> Response:
        account = self._account(request)
        if isinstance(account, Response):
            return account
        job = self._job(account, request.path_params["job_id"])
        if job is None:
            return _error(404, f"Job {request.path_params['job_id']} not found.")
        return _envelope(self.state.job_json(job))

    @staticmethod
    def _include(request: Request) -> list[str]:
        raw = request.query_params.get("include_related", "")
        try:
            value = json.loads(raw) if raw.startswith("[") else raw.split(",")
        except ValueError:
            value = []
        return [str(v).strip() for v in value if str(v).strip()]

    async def _list_runs(self, request: Request) -> Response:
        account = self._account(request)
        if isinstance(account, Response):
            return account
        query = request.query_params
        runs = self.state.runs_of(account)
        now = self.now()
        if "job_definition_id" in query:
            try:
                job_id = int(query["job_definition_id"])
            except ValueError:
                return _error(400, "job_definition_id: A valid integer is required.")
            runs = [r for r in runs if r.job.id == job_id]
        if "status" in query:
            runs = [r for r in runs if str(r.status(now)) == query["status"]]
        order = query.get("order_by", "id")
        if order.lstrip("-") not in ("id", "created_at"):
            return _error(400, f"order_by: unknown field {order!r}.")
        if order.startswith("-"):
            runs.reverse()
        try:
            limit = min(int(query.get("limit", 100)), 100)
            offset = int(query.get("offset", 0))
        except ValueError:
            return _error(400, "limit and offset must be integers.")
        page = runs[offset:offset + limit]
        include = self._include(request)
        data = [self.state.run_json(r, now, include) for r in page]
        return _envelope(data, extra={
            "filters": {k: v for k, v in query.items() if k not in ("limit", "offset")},
            "order_by": order, "pagination": {"count": len(data), "total_count": len(runs)}})

    async def _get_run(self, request: Request) -> Response:
        run = self._find_run(request)
        if isinstance(run, Response):
            return run
        if self.elapsed(run.created_at) < self.run_visible_after:
            return _error(404, "Run not found.")
        return _envelope(self.state.run_json(run, self.now(), self._include(request)))

    async def _cancel(self, request: Request) -> Response:
        run = self._find_run(request)
        if isinstance(run, Response):
            return run
        with self.lock:
            self.state.cancel(run, self.now())
            self._schedule_events(run.job)
            return _envelope(self.state.run_json(run, self.now()))

    async def _artifact(self, request: Request) -> Response:
        run = self._find_run(request)
        if isinstance(run, Response):
            return run
        now = self.now()
        path = request.path_params["path"]
        status = run.status(now)
        if status not in (SUCCESS, ERROR) or path not in ("run_results.json", "manifest.json"):
            return _error(404, f"No artifact {path} for run {run.id}.")
        body = self.state.run_results(run) if path == "run_results.json" else \
            self.state.manifest(run)
        return JSONResponse(body)

    # -- v3: webhook subscriptions -----------------------------------------------------------------

    def _subscription_json(self, target: WebhookTarget, *, secret: bool = False
                           ) -> dict[str, Any]:
        info = target.data
        data = {
            "id": info["id"], "account_identifier": f"act_{info['account_id']}",
            "name": info["name"], "description": info.get("description", ""),
            "job_ids": [str(j) for j in info["job_ids"]],
            "event_types": list(target.events or EVENT_TYPES), "client_url": target.url,
            "active": target.active, "created_at": info["created_at"],
            "updated_at": info["updated_at"], "http_status_code": info.get("http_status_code",
                                                                            "0"),
            "dispatched_at": None, "account_id": info["account_id"],
        }
        if secret:
            data["hmac_secret"] = target.secret
        return data

    def _subscription_target(self, account: int, sub_id: str) -> WebhookTarget | None:
        return next((t for t in self.webhook_targets if t.data.get("id") == sub_id
                     and t.data.get("account_id") == account), None)

    def _subscription_fields(self, body: Any, *, partial: bool) -> dict[str, Any] | Response:
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.")
        out: dict[str, Any] = {}
        if "event_types" in body or not partial:
            kinds = body.get("event_types")
            if not isinstance(kinds, list) or not kinds or not set(kinds) <= set(EVENT_TYPES):
                return _error(400, "event_types: choose from " + ", ".join(EVENT_TYPES))
            out["event_types"] = tuple(kinds)
        if "client_url" in body or not partial:
            url = body.get("client_url")
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                return _error(400, "client_url: Enter a valid URL.")
            if not (is_loopback(parts.hostname) or self.allow_remote_webhooks
                    or self.webhook_transport is not None):
                return _error(400, "client_url: the simulator only delivers to this machine.")
            out["client_url"] = url
        for key in ("name", "description"):
            if key in body:
                out[key] = str(body[key] or "")
        if "active" in body:
            out["active"] = bool(body["active"])
        if "job_ids" in body:
            ids = body["job_ids"] or []
            if not isinstance(ids, list):
                return _error(400, "job_ids: Expected a list.")
            out["job_ids"] = [str(j) for j in ids]
        return out

    async def _subscriptions(self, request: Request) -> Response:
        account = self._account(request)
        if isinstance(account, Response):
            return account
        if request.method == "GET":
            mine = [self._subscription_json(t) for t in self.webhook_targets
                    if t.data.get("account_id") == account]
            return _envelope(mine, extra={"pagination": {"count": len(mine),
                                                         "total_count": len(mine)}})
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            return _error(400, "The request body is not valid JSON.")
        fields = self._subscription_fields(body, partial=False)
        if isinstance(fields, Response):
            return fields
        now = _micros(self.now())
        with self.lock:
            sub_id = f"wsu_{next(self._seq):05d}{secrets.token_hex(4)}"
            target = self.add_webhook(
                fields["client_url"], secrets.token_urlsafe(24), events=fields["event_types"],
                transport=self.webhook_transport, data={
                    "id": sub_id, "account_id": account, "name": fields.get("name", ""),
                    "description": fields.get("description", ""),
                    "job_ids": fields.get("job_ids", []), "created_at": now,
                    "updated_at": now})
            target.active = fields.get("active", True)
        return _envelope(self._subscription_json(target, secret=True), 201, "Success!")

    async def _subscription(self, request: Request) -> Response:
        account = self._account(request)
        if isinstance(account, Response):
            return account
        target = self._subscription_target(account, request.path_params["sub_id"])
        if target is None:
            return _error(404, "Webhook subscription not found.")
        if request.method == "DELETE":
            self.remove_webhook(target)
            return _envelope({"id": target.data["id"]}, 200, "Webhook deleted.")
        if request.method == "PUT":
            try:
                body = json.loads(await request.body() or b"null")
            except ValueError:
                return _error(400, "The request body is not valid JSON.")
            fields = self._subscription_fields(body, partial=True)
            if isinstance(fields, Response):
                return fields
            with self.lock:
                if "event_types" in fields:
                    target.events = fields["event_types"]
                if "client_url" in fields:
                    target.url = fields["client_url"]
                if "active" in fields:
                    target.active = fields["active"]
                for key in ("name", "description", "job_ids"):
                    if key in fields:
                        target.data[key] = fields[key]
                target.data["updated_at"] = _micros(self.now())
        return _envelope(self._subscription_json(target))

    async def _test_subscription(self, request: Request) -> Response:
        account = self._account(request)
        if isinstance(account, Response):
            return account
        target = self._subscription_target(account, request.path_params["sub_id"])
        if target is None:
            return _error(404, "Webhook subscription not found.")
        payload = {"accountId": account, "webhooksID": target.data["id"],
                   "eventId": f"wev_test{next(self._event_ids)}",
                   "timestamp": _rfc3339(self.now()), "eventType": "job.run.completed",
                   "webhookName": target.data.get("name", ""), "data": {}}
        record = await self.send_webhook(target, payload, kind="test")
        code = str(record.status) if record.status is not None else None
        target.data["http_status_code"] = code or "0"
        return _envelope({"verification_error": record.error,
                          "verification_status_code": code})

    # -- webhook events ----------------------------------------------------------------------------

    def _planned(self, run: SimRun) -> list[tuple[str, datetime]]:
        """The events *run* will send as it stands, with when."""
        assert run.finished_at is not None
        out = []
        if run.started_at is not None:
            out.append(("job.run.started", run.started_at))
        final = run.status(run.finished_at)
        if final == ERROR:
            out.append(("job.run.errored", run.finished_at))
        out.append(("job.run.completed",
                    run.finished_at + timedelta(seconds=self.completed_delay)))
        return out

    def _schedule_events(self, job: SimJob) -> None:
        """Queue the webhook deliveries of *job*'s runs (again after a change of plan: a
        delivery whose time no longer matches its run is dropped when due)."""
        for run in self.state.runs.values():
            if run.job is not job:
                continue
            for kind, at in self._planned(run):
                mark = f"{kind}@{at.isoformat()}"
                if mark in run.emitted:
                    continue
                run.emitted.add(mark)
                for target in self.webhook_targets:
                    jobs = target.data.get("job_ids") or []
                    if not target.wants(kind) or (jobs and str(job.id) not in jobs):
                        continue
                    self.emit(kind, self._payload(run, kind, at, target), at=at,
                              target=target.id)

    def _payload(self, run: SimRun, kind: str, at: datetime,
                 target: WebhookTarget) -> Callable[[], Any]:
        event_id = f"wev_{next(self._event_ids):06d}{secrets.token_hex(3)}"

        def build() -> Any:
            if (kind, at) not in self._planned(run):
                return None  # the plan changed (a cancel): this event never happens
            job = run.job
            status = run.status(at) if kind != "job.run.started" else 3
            data = {
                "jobId": str(job.id), "jobName": job.name, "runId": str(run.id),
                "environmentId": str(job.environment_id),
                "environmentName": job.environment_name, "dbtVersion": job.dbt_version,
                "projectName": job.project_name, "projectId": str(job.project_id),
                "runStatus": _STATUS_WORDS.get(status, humanized(status)),
                "runStatusCode": status,
                "runStatusMessage": "None" if status != CANCELLED else "Cancelled by user.",
                "runReason": run.cause,
                "runStartedAt": _rfc3339(run.started_at) if run.started_at else None,
            }
            if kind == "job.run.completed":
                data["runFinishedAt"] = _rfc3339(run.finished_at or at)
            elif kind == "job.run.errored":
                data["runErroredAt"] = _rfc3339(at)
            return {"accountId": job.account_id, "webhooksID": target.data.get("id", target.id),
                    "eventId": event_id, "timestamp": _rfc3339(at), "eventType": kind,
                    "webhookName": target.data.get("name", ""), "data": data}

        return build
