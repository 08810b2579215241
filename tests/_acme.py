"""A tiny example vendor ("Acme Jobs") for the core's tests: a simulator built on
:mod:`orchestra_core.testing._simulator` and a plugin whose runner talks to it through
:mod:`orchestra_core._vendor_http` and whose webhook handler verifies its signatures.

Acme's API (base ``/api``, ``Authorization: Bearer <token>``):

- ``POST /api/jobs/{job}/runs`` -> ``{"id": 1, "job": "...", "state": "queued", ...}``
- ``GET /api/runs/{id}`` -> the run; ``state`` is queued (first second), running (until
  ``run_duration``), then the job's scripted outcome (``succeeded`` by default)
- ``GET /api/runs?job=J&after=ISO`` -> ``{"data": [runs of J created at/after ISO]}``
- ``POST /api/runs/{id}/cancel`` -> the run, ``cancelled``
- webhooks ``run.started`` / ``run.finished``, header ``X-Acme-Signature`` = hex HMAC-SHA256
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestra_core import hookimpl
from orchestra_core._errors import TaskFailed, WebhookRejected
from orchestra_core._models import ExternalRun, JobResult, JobState, WebhookEvent
from orchestra_core._server.webhooks import webhook_secrets
from orchestra_core.testing import Simulator, bearer_token, hmac_sha256

TOKEN = "acme-token-0123456789"
WEBHOOK_SECRET = "acme-webhook-secret-42"
DEFAULT_URL = "http://acme.simulator/api"


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


class AcmeSimulator(Simulator):
    """Acme Jobs, simulated."""

    name = "acme"
    base_path = "/api"
    default_run_duration = 10.0

    def __init__(self, *, token: str = TOKEN, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.runs: dict[int, dict[str, Any]] = {}
        self.outcomes: dict[str, str] = {}

    def routes(self) -> list[Any]:
        return [
            Route("/api/jobs/{job}/runs", self.trigger, methods=["POST"]),
            Route("/api/runs", self.list_runs, methods=["GET"]),
            Route("/api/runs/{id:int}", self.get_run, methods=["GET"]),
            Route("/api/runs/{id:int}/cancel", self.cancel, methods=["POST"]),
        ]

    def authenticate(self, request: Request) -> bool:
        return bearer_token(request) == self.token

    def unauthorized(self, request: Request) -> Response:
        return JSONResponse({"error": {"message": "invalid token"}}, status_code=401)

    def error_response(self, status: int, message: str) -> Response:
        return JSONResponse({"error": {"message": message}}, status_code=status)

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        return {"X-Acme-Signature": hmac_sha256(secret, body)}

    def credentials(self) -> dict[str, str]:
        return {"token": self.token}

    def describe(self) -> dict[str, Any]:
        return {"jobs": "any name; 'fail-*' jobs fail", "runs": len(self.runs)}

    # -- state ----------------------------------------------------------------------------------

    def view(self, run: dict[str, Any]) -> dict[str, Any]:
        """The run as the API shows it now."""
        created = run["created"]
        elapsed = self.elapsed(created)
        if run.get("cancelled_at") is not None:
            state = "cancelled"
        elif elapsed < min(1.0, self.run_duration / 2):
            state = "queued"
        elif elapsed < self.run_duration:
            state = "running"
        else:
            state = run["outcome"]
        return {"id": run["id"], "job": run["job"], "state": state, "created_at": _iso(created)}

    async def trigger(self, request: Request) -> Response:
        job = request.path_params["job"]
        run_id = len(self.runs) + 1
        outcome = self.outcomes.get(job, "failed" if job.startswith("fail") else "succeeded")
        run = self.runs[run_id] = {"id": run_id, "job": job, "created": self.now(),
                                   "outcome": outcome, "cancelled_at": None}
        self.emit("run.started", lambda: {"event": "run.started", "run": self.view(run)},
                  delay=1)
        self.emit("run.finished", lambda: (
            None if run["cancelled_at"] else {"event": "run.finished", "run": self.view(run)}),
            delay=self.run_duration)
        return JSONResponse(self.view(run))

    async def list_runs(self, request: Request) -> Response:
        job = request.query_params.get("job")
        after = request.query_params.get("after")
        since = datetime.fromisoformat(after.replace("Z", "+00:00")) if after else None
        found = [self.view(r) for r in self.runs.values()
                 if (job is None or r["job"] == job) and (since is None or r["created"] >= since)]
        return JSONResponse({"data": sorted(found, key=lambda r: -r["id"])})

    async def get_run(self, request: Request) -> Response:
        run = self.runs.get(request.path_params["id"])
        if run is None:
            return self.error_response(404, "run not found")
        return JSONResponse(self.view(run))

    async def cancel(self, request: Request) -> Response:
        run = self.runs.get(request.path_params["id"])
        if run is None:
            return self.error_response(404, "run not found")
        if self.view(run)["state"] in ("queued", "running"):
            run["cancelled_at"] = self.now()
        return JSONResponse(self.view(run))


# -- the plugin ---------------------------------------------------------------------------------


@attrs.define(kw_only=True)
class AcmeRunParams:
    """Run one Acme job."""

    job: str = attrs.field(metadata={"help": "the Acme job to run"})
    poll_interval: float = attrs.field(default=5.0, metadata={"help": "seconds between polls"})


TERMINAL = {"succeeded": JobState.SUCCEEDED, "failed": JobState.FAILED,
            "cancelled": JobState.CANCELLED}


class AcmeRunner:
    """Triggers an Acme run, waits by webhook events with polling as the fallback."""

    def __init__(self, host: Any, base_url: str = DEFAULT_URL) -> None:
        self.host = host
        self.base_url = base_url

    def client(self, ctx: Any) -> Any:
        conn = ctx.connection
        base_url = (conn.base_url if conn is not None and conn.base_url else self.base_url)
        token = conn.secret("token") if conn is not None else TOKEN
        return self.host.vendor_client("acme", base_url=base_url,
                                       headers={"Authorization": f"Bearer {token}"})

    async def start(self, ctx: Any) -> ExternalRun:
        client = self.client(ctx)
        job = ctx.parameters.job
        t0 = ctx.now() - timedelta(seconds=1)

        async def find_existing() -> Any:
            runs = (await client.get("/runs", params={"job": job, "after": _iso(t0)},
                                     ctx=ctx))["data"]
            return runs[0] if runs else None

        # record intent (with the newest run id: Acme numbers runs in order), then trigger
        runs = (await client.get("/runs", params={"job": job}, ctx=ctx))["data"]
        await ctx.record_intent({"newest_run": max((r["id"] for r in runs), default=0)})
        run = await client.post(f"/jobs/{job}/runs", ctx=ctx, find_existing=find_existing)
        return ExternalRun(id=str(run["id"]), started_at=ctx.now(), data={"job": job})

    async def recover(self, ctx: Any) -> ExternalRun | None:
        """The oldest run newer than the one noted in the intent (none: nothing was sent)."""
        if ctx.intent is None:
            return None
        client = self.client(ctx)
        runs = (await client.get("/runs", params={"job": ctx.parameters.job}, ctx=ctx))["data"]
        newer = [r for r in runs if r["id"] > ctx.intent.facts["newest_run"]]
        if not newer:
            return None
        return ExternalRun(id=str(min(r["id"] for r in newer)), started_at=ctx.now(),
                           data={"job": ctx.parameters.job})

    async def wait(self, ctx: Any, run: ExternalRun) -> JobResult:
        client = self.client(ctx)
        while True:
            view = await client.get(f"/runs/{run.id}", ctx=ctx)
            state = view["state"]
            if state in TERMINAL:
                return JobResult(state=TERMINAL[state], message=f"acme run {run.id} {state}",
                                 metadata={"acme_run": view})
            if state not in ("queued", "running"):
                raise TaskFailed(f"acme run {run.id} has an unknown state {state!r}",
                                 retryable=False, metadata={"acme_run": view})
            await ctx.next_event(f"acme:{run.id}", timeout=ctx.parameters.poll_interval)

    async def cancel(self, ctx: Any, run: ExternalRun) -> None:
        await self.client(ctx).post(f"/runs/{run.id}/cancel", ctx=ctx, idempotent=True)


class AcmeWebhookHandler:
    """Verifies ``X-Acme-Signature`` and turns Acme webhooks into events."""

    def __init__(self, secret: str | None) -> None:
        self.secret = secret

    async def handle(self, request: Any) -> list[WebhookEvent]:
        import hmac
        import json

        secrets = [self.secret] if self.secret else await webhook_secrets(request)
        if not secrets:
            raise WebhookRejected("no Acme webhook secret is configured (ACME_WEBHOOK_SECRET)",
                                  status=401)
        given = request.headers.get("x-acme-signature", "").lower()
        if not any(hmac.compare_digest(given, hmac_sha256(s, request.body)) for s in secrets):
            raise WebhookRejected("bad X-Acme-Signature", status=401)
        try:
            payload = json.loads(request.body)
            run = payload["run"]
            kind = payload["event"]
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected(f"not an Acme webhook: {exc}", status=400) from exc
        return [WebhookEvent(integration="acme", kind=kind, key=f"acme:{run['id']}",
                             event_id=f"{kind}:{run['id']}", state=TERMINAL.get(run["state"]),
                             payload=payload)]


class AcmePlugin:
    """The Acme plugin (an object with hookimpls)."""

    orchestra_plugin_name = "acme"

    def __init__(self, webhook_secret: str | None = WEBHOOK_SECRET,
                 base_url: str = DEFAULT_URL) -> None:
        self.webhook_secret = webhook_secret
        self.base_url = base_url

    @hookimpl
    def orchestra_register_integrations(self, registry: Any) -> None:
        acme = registry.integration("acme", description="Acme Jobs (test vendor)",
                                    simulator="tests._acme:AcmeSimulator")
        acme.job("acme_run", parameters=AcmeRunParams, description="Run one Acme job",
                 runner=lambda host: AcmeRunner(host, self.base_url))

    @hookimpl
    def orchestra_identify_webhook(self, request: Any) -> Any:
        if request.integration == "acme":
            return AcmeWebhookHandler(self.webhook_secret)
        return None
