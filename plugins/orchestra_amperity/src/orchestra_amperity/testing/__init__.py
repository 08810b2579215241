"""A stateful fake of the Amperity API (version ``2024-04-01``), for tests, demos and
benchmarks.

Free of pytest imports. Built on :class:`orchestra_core.testing._simulator.Simulator`, so it
works in-process (:attr:`~AmperitySimulator.transport`) and as a real server (``sim.serve()``,
or ``orchestra simulate amperity``), with failure injection (``sim.fail``)::

    sim = AmperitySimulator(clock=FakeClock())
    sim.add_config("cg-orders1", duration=30, outcome="failed", attribution="platform")
    host = Orchestra(transports={"amperity": sim.transport})
    os.environ.update(sim.env())

What it serves, under ``/api``:

- ``POST /v0/oauth2/token``: OAuth client credentials (form-encoded ``grant_type``,
  ``client_id``, ``client_secret``; header ``X-Amperity-Tenant``) -> ``{"access_token",
  "expires_in", "token_type": "Bearer"}``. Tokens expire after ``token_lifetime`` seconds of
  the clock, then get 401.
- ``POST /workflow/runs`` (also with a trailing slash): ``config_id`` (required) and, for
  courier groups only, ``run_mode`` (full/refresh/source), ``range_from``, ``range_to`` (needs
  ``range_from``). 201 with the workflow run (``id`` ``wf-YYYYMMDD-NNNNN-xxxxxx``, ``state``
  ``scheduled``); 400 when ``range_from`` is missing for a file-based courier group, 404 for a
  config id the tenant does not have.
- ``GET /workflow/runs/{id}?view=overview|verbose``, ``POST /workflow/runs/{id}/stop``
  (``canceled``; 409 once the workflow has ended) and ``GET /workflow/runs`` (filters
  ``created_from``, ``created_to``, ``state``, ``type``; cursor pagination ``limit``,
  ``next_token``, ``with_total`` -> ``data``, ``next_token``, ``total``).

Every API call needs ``Authorization: Bearer <token>``, ``amperity-tenant`` and
``api-version: 2024-04-01`` (401 without them, 400 for another version); configs and runs
belong to one tenant. Each tenant may send ``rate_limit`` requests per second (a token
bucket); beyond it the answer is 429 with Amperity's error body
``{"status": 429, "message": ..., "request_id": ..., "trace_id": ...}``.

Workflows progress ``scheduled`` -> ``started`` -> ``in-progress`` -> ``succeeded`` |
``failed`` | ``running-with-failures`` -> ``failed`` on the clock (see :class:`SimConfig`);
``state_style`` chooses how multi-word states are spelled on the wire (``hyphen``,
``underscore`` or ``display``), since Amperity does not document it. Amperity sends no
webhooks, and neither does the simulator.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestra_core import Connection
from orchestra_core.testing import Simulator, bearer_token

from ._state import KIND_TYPES, SimConfig, SimRun, Tenant

__all__ = (
    "API_VERSION",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_CONFIGS",
    "DEFAULT_TENANT",
    "DEFAULT_TOKEN",
    "AmperitySimulator",
    "SimConfig",
    "SimRun",
    "Tenant",
)

API_VERSION = "2024-04-01"
#: The tenant, static token and OAuth client the simulator accepts unless told otherwise.
DEFAULT_TENANT = "orchestra-sim"
DEFAULT_TOKEN = "secret-token:amperity-simulator"
DEFAULT_CLIENT_ID = "amperity-sim-client"
DEFAULT_CLIENT_SECRET = "secret-client:amperity-simulator"

#: Configs of the default tenant when ``configs=`` is not given (``orchestra simulate
#: amperity``): id -> (name, options).
DEFAULT_CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "cg-4xTz9m2": ("Daily orders", {}),
    "cg-7sFtp01": ("SFTP files", {"file_based": True}),
    "og-8qLw3p1": ("Daily segments", {}),
    "og-5bRkn01": ("Broken destination", {"outcome": "failed", "attribution": "customer"}),
    "cc-2bNf7k5": ("Spring campaign", {}),
}

RUN_MODES = ("full", "refresh", "source")
TOKEN_PATH = "/api/v0/oauth2/token"


def _error(status: int, message: str, rid: int) -> JSONResponse:
    """An error answer in Amperity's shape."""
    return JSONResponse({"status": status, "message": message,
                         "request_id": f"req-sim-{rid:06d}", "trace_id": f"trace-{rid:06d}"},
                        status_code=status)


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class AmperitySimulator(Simulator):
    """The simulated Amperity API (see the module documentation).

    :param clock: drives workflow progress (a ``FakeClock`` in tests; the real clock by
        default).
    :param run_duration: seconds a workflow of a default config runs.
    :param configs: config ids to create in the default tenant with default settings;
        ``None`` creates :data:`DEFAULT_CONFIGS`. Add more with :meth:`add_config`.
    :param tenant: the default tenant's id.
    :param tokens: static access tokens, each mapped to the tenant it belongs to (default:
        :data:`DEFAULT_TOKEN` for *tenant*).
    :param clients: OAuth clients: client id -> (client secret, tenant).
    :param token_lifetime: ``expires_in`` of issued access tokens, in seconds.
    :param rate_limit: requests per second each tenant may send (``None``: unlimited).
    :param state_style: how multi-word states are spelled: ``hyphen``, ``underscore``,
        ``display``.
    :param auto_create: create an unknown config (``cg-``, ``og-`` or ``cc-``, succeeding
        after *run_duration*) when a workflow of it is first started, instead of answering
        404 (``orchestra run --simulate`` turns it on, so any config a pipeline names runs).
    """

    name: ClassVar[str] = "amperity"
    base_path: ClassVar[str] = "/api"
    public_paths: ClassVar[tuple[str, ...]] = (TOKEN_PATH,)
    default_run_duration: ClassVar[float] = 10.0

    def __init__(self, *, clock: Any = None, run_duration: float | None = None,
                 configs: Iterable[str] | None = None, tenant: str = DEFAULT_TENANT,
                 tokens: Mapping[str, str] | None = None,
                 clients: Mapping[str, tuple[str, str]] | None = None,
                 token_lifetime: float = 3600.0, rate_limit: float | None = 10.0,
                 state_style: str = "hyphen", seed: int = 7,
                 auto_create: bool = False) -> None:
        if state_style not in ("hyphen", "underscore", "display"):
            raise ValueError(f"state_style must be hyphen, underscore or display, not "
                             f"{state_style!r}")
        self.tenant = tenant
        self.tenants: dict[str, Tenant] = {tenant: Tenant(tenant)}
        self.tokens = dict(tokens) if tokens is not None else {DEFAULT_TOKEN: tenant}
        self.clients = dict(clients) if clients is not None else {
            DEFAULT_CLIENT_ID: (DEFAULT_CLIENT_SECRET, tenant)}
        self.token_lifetime = float(token_lifetime)
        #: access tokens issued by the token endpoint: token -> (tenant, expiry monotonic)
        self.issued: dict[str, tuple[str, float]] = {}
        self.rate_limit = rate_limit
        self.state_style = state_style
        self.auto_create = auto_create
        self.rejected_by_rate_limit = 0
        self._rng = random.Random(seed)
        self._rid = 0
        super().__init__(clock=clock, run_duration=run_duration)
        if configs is None:
            for config_id, (label, options) in DEFAULT_CONFIGS.items():
                self.add_config(config_id, label, **options)
        else:
            for config_id in configs:
                self.add_config(config_id)

    # -- Simulator hooks --------------------------------------------------------------------------

    def routes(self) -> list[Any]:
        """The Amperity API routes."""
        runs = "/api/workflow/runs"
        return [
            Route(TOKEN_PATH, self._token, methods=["POST"]),
            Route(runs, self._guard(self._start), methods=["POST"]),
            Route(runs + "/", self._guard(self._start), methods=["POST"]),
            Route(runs, self._guard(self._list), methods=["GET"]),
            Route(runs + "/{run_id}", self._guard(self._get), methods=["GET"]),
            Route(runs + "/{run_id}/stop", self._guard(self._stop), methods=["POST"]),
        ]

    def _problem(self, request: Request) -> tuple[int, str] | None:
        """Why *request* is not allowed (status, message), or ``None``."""
        version = request.headers.get("api-version") or request.query_params.get(
            "api_version")
        tenant = request.headers.get("amperity-tenant")
        token = bearer_token(request)
        if token is None:
            return 401, "Missing or invalid Authorization header"
        if not tenant:
            return 401, "Missing amperity-tenant header"
        if not version:
            return 401, "Missing api-version header"
        if version != API_VERSION:
            return 400, f"Unsupported API version {version!r}"
        owner = self.tokens.get(token)
        if owner is None:
            issued = self.issued.get(token)
            if issued is None:
                return 401, "Invalid access token"
            if self.clock.monotonic() >= issued[1]:
                return 401, "Access token expired"
            owner = issued[0]
        if owner != tenant:
            return 401, f"The access token is not valid for tenant {tenant!r}"
        if tenant not in self.tenants:
            return 401, f"Unknown tenant {tenant!r}"
        return None

    def authenticate(self, request: Request) -> bool:
        """Bearer token, ``amperity-tenant`` and ``api-version`` all present and valid."""
        return self._problem(request) is None

    def unauthorized(self, request: Request) -> Response:
        """401 (or 400 for an unsupported version) in Amperity's error shape."""
        status, message = self._problem(request) or (401, "Unauthorized")
        return self._err(status, message)

    def error_response(self, status: int, message: str) -> Response:
        """Amperity's error body."""
        return self._err(status, message)

    def rate_limited_response(self, retry_after: str | None) -> Response:
        """429 in Amperity's error shape (``Retry-After`` only when injected)."""
        response = self._err(429, "Too many requests: the limit is 10 requests per second")
        if retry_after is not None:
            response.headers["Retry-After"] = retry_after
        return response

    def credentials(self) -> dict[str, str]:
        """The tenant, static token and OAuth client to use."""
        creds = {"tenant": self.tenant}
        token = next((t for t, owner in self.tokens.items() if owner == self.tenant), None)
        if token:
            creds["token"] = token
        client = next((c for c, (_, owner) in self.clients.items() if owner == self.tenant),
                      None)
        if client:
            creds["client_id"] = client
            creds["client_secret"] = self.clients[client][0]
        return creds

    def describe(self) -> dict[str, Any]:
        """The default tenant's configs, with their names and outcomes."""
        return {"tenant": self.tenant,
                "configs": {c.id: f"{c.name} ({c.outcome}"
                            + (", file-based: needs range_from" if c.file_based else "") + ")"
                            for c in self.tenants[self.tenant].configs.values()}}

    # -- setting up -------------------------------------------------------------------------------

    def add_tenant(self, tenant: str, *, token: str | None = None) -> Tenant:
        """Add a tenant (and a static token for it)."""
        with self.lock:
            found = self.tenants.setdefault(tenant, Tenant(tenant))
            if token:
                self.tokens[token] = tenant
            return found

    def add_config(self, config_id: str, name: str | None = None, *, tenant: str | None = None,
                   **options: Any) -> SimConfig:
        """Create (or replace) a courier group (``cg-``), orchestration group (``og-``) or
        campaign (``cc-``); *options* are :class:`SimConfig` fields (``duration``,
        ``outcome``, ``attribution``, ``file_based``, ``tasks``, ...)."""
        if config_id[:3] not in KIND_TYPES:
            raise ValueError(f"config ids start with cg-, og- or cc-, not {config_id!r}")
        options.setdefault("duration", self.run_duration)
        options.setdefault("scheduled_for", min(1.0, options["duration"] / 10))
        options.setdefault("started_for", min(1.0, options["duration"] / 10))
        kind = KIND_TYPES[config_id[:3]][1]
        config = SimConfig(id=config_id, name=name or f"{kind} {config_id}", **options)
        with self.lock:
            self.tenants[tenant or self.tenant].configs[config_id] = config
        return config

    def script(self, config_id: str, *, tenant: str | None = None, **run: Any) -> None:
        """Make the next workflow of *config_id* differ from the config, once (``outcome``,
        ``duration``, ``attribution``, ``working_state``, ...)."""
        with self.lock:
            self.tenants[tenant or self.tenant].scripted.setdefault(config_id, []).append(run)

    def connection(self, name: str = "amperity-sim", *, oauth: bool = False,
                   base_url: str | None = None) -> Connection:
        """A :class:`~orchestra_core._models.Connection` with the simulator's credentials
        (the static token, or with *oauth* the client credentials)."""
        creds = self.credentials()
        secrets = ({"client_id": creds["client_id"], "client_secret": creds["client_secret"]}
                   if oauth else {"token": creds["token"]})
        return Connection(name=name, integration="amperity", base_url=base_url or self.base_url,
                          auth="oauth" if oauth else "bearer",
                          options={"tenant": self.tenant}, secrets=secrets)

    def env(self, base_url: str | None = None, *, oauth: bool = False) -> dict[str, str]:
        """The quick-start environment variables pointing at this simulator."""
        creds = self.credentials()
        found = {"AMPERITY_TENANT": self.tenant, "AMPERITY_BASE_URL": base_url or self.base_url}
        if oauth:
            found.update(AMPERITY_CLIENT_ID=creds["client_id"],
                         AMPERITY_CLIENT_SECRET=creds["client_secret"])
        else:
            found["AMPERITY_TOKEN"] = creds["token"]
        return found

    # -- looking at it ---------------------------------------------------------------------

    def runs(self, tenant: str | None = None) -> list[SimRun]:
        """The workflow runs of a tenant, oldest first."""
        return list(self.tenants[tenant or self.tenant].runs.values())

    def run(self, run_id: str, *, tenant: str | None = None, verbose: bool = True
            ) -> dict[str, Any]:
        """Workflow *run_id* as the API shows it now."""
        with self.lock:
            run = self.tenants[tenant or self.tenant].runs[run_id]
            return run.to_json(self.clock.monotonic(), self.state_style, verbose)

    def stop(self, run_id: str, *, tenant: str | None = None) -> bool:
        """Stop a workflow, as the stop endpoint does; ``False`` when it already ended."""
        with self.lock:
            run = self.tenants[tenant or self.tenant].runs[run_id]
            now = self.clock.monotonic()
            if run.stopped_at is not None:
                return True
            if run.ended_after(now) is not None:
                return False
            run.stopped_at = now
            return True

    # -- the routes -------------------------------------------------------------------------

    def _err(self, status: int, message: str) -> JSONResponse:
        with self.lock:
            self._rid += 1
            rid = self._rid
        return _error(status, message, rid)

    def _guard(self, handler: Any) -> Any:
        """*handler* behind the tenant's token bucket."""
        async def guarded(request: Request) -> Response:
            tenant = self.tenants[request.headers["amperity-tenant"]]
            if self.rate_limit is not None:
                with self.lock:
                    allowed = tenant.take(self.clock.monotonic(), self.rate_limit,
                                          max(1.0, self.rate_limit))
                    if not allowed:
                        self.rejected_by_rate_limit += 1
                if not allowed:
                    return self.rate_limited_response(None)
            return await handler(request, tenant)
        return guarded

    async def _token(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        tenant = request.headers.get("x-amperity-tenant")
        if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
            return self._err(400, "The token request must be form-encoded")
        if form.get("grant_type") != "client_credentials":
            return self._err(400, "unsupported_grant_type: use client_credentials")
        if not tenant:
            return self._err(400, "Missing X-Amperity-Tenant header")
        client = self.clients.get(form.get("client_id", ""))
        if client is None or client[0] != form.get("client_secret") or client[1] != tenant:
            return self._err(401, "invalid_client")
        with self.lock:
            token = f"sim-jwt.{self._rng.getrandbits(96):024x}"
            self.issued[token] = (tenant, self.clock.monotonic() + self.token_lifetime)
        return JSONResponse({"access_token": token, "expires_in": int(self.token_lifetime)
                             if self.token_lifetime.is_integer() else self.token_lifetime,
                             "token_type": "Bearer"})

    async def _start(self, request: Request, tenant: Tenant) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return self._err(400, "The request body is not valid JSON")
        if not isinstance(body, dict):
            return self._err(400, "The request body must be a JSON object")
        config_id = body.get("config_id")
        if not isinstance(config_id, str) or not config_id:
            return self._err(400, "config_id is required")
        config = tenant.configs.get(config_id)
        if config is None and self.auto_create and config_id[:3] in KIND_TYPES:
            config = self.add_config(config_id, tenant=tenant.id)
        if config is None:
            return self._err(404, f"No config {config_id!r} in tenant {tenant.id!r}")
        courier = config.prefix == "cg-"
        extra = [k for k in ("run_mode", "range_from", "range_to") if body.get(k) is not None]
        if extra and not courier:
            return self._err(400, f"{', '.join(extra)} applies to courier groups only")
        mode = body.get("run_mode")
        if mode is not None and mode not in RUN_MODES:
            return self._err(400, f"run_mode must be one of full, refresh, source, not {mode!r}")
        start, end = body.get("range_from"), body.get("range_to")
        for key, value in (("range_from", start), ("range_to", end)):
            if value is not None and _when(value) is None:
                return self._err(400, f"{key} must be an ISO-8601 date-time, not {value!r}")
        if end is not None and start is None:
            return self._err(400, "range_to requires range_from")
        if config.file_based and start is None:
            return self._err(400, f"range_from is required for the file-based courier group "
                             f"{config_id}")
        with self.lock:
            run = tenant.start(config, now=self.clock.monotonic(), clock_now=self.now(),
                               principal="api-key|orchestra-sim", rng=self._rng,
                               run_mode=mode, range_from=start, range_to=end)
            data = run.to_json(self.clock.monotonic(), self.state_style, True)
        return JSONResponse(data, status_code=201)

    async def _get(self, request: Request, tenant: Tenant) -> Response:
        view = request.query_params.get("view", "overview")
        if view not in ("overview", "verbose"):
            return self._err(400, f"view must be overview or verbose, not {view!r}")
        run = tenant.runs.get(request.path_params["run_id"])
        if run is None:
            return self._err(404, "Workflow run not found")
        with self.lock:
            return JSONResponse(run.to_json(self.clock.monotonic(), self.state_style,
                                            view == "verbose"))

    async def _stop(self, request: Request, tenant: Tenant) -> Response:
        run = tenant.runs.get(request.path_params["run_id"])
        if run is None:
            return self._err(404, "Workflow run not found")
        if not self.stop(run.id, tenant=tenant.id):
            return self._err(409, "A request conflicts with the current state: the workflow "
                             "has already ended")
        with self.lock:
            return JSONResponse(run.to_json(self.clock.monotonic(), self.state_style, True))

    async def _list(self, request: Request, tenant: Tenant) -> Response:
        q = request.query_params
        try:
            limit = min(100, max(1, int(q.get("limit", "25"))))
            offset = int(base64.urlsafe_b64decode(q["next_token"]).decode()) \
                if q.get("next_token") else 0
        except ValueError:
            return self._err(400, "invalid limit or next_token")
        bounds = {}
        for key in ("created_from", "created_to", "ended_from", "ended_to"):
            if q.get(key):
                bounds[key] = _when(q[key])
                if bounds[key] is None:
                    return self._err(400, f"{key} must be an ISO-8601 date-time")
        now = self.clock.monotonic()
        with self.lock:
            rows = []
            for run in sorted(tenant.runs.values(), key=lambda r: (r.created_at, r.id),
                              reverse=True):
                item = run.to_json(now, self.state_style, False)
                created = run.created_at
                ended = _when(item["ended_at"])
                if ("created_from" in bounds and created < bounds["created_from"]) or \
                        ("created_to" in bounds and created >= bounds["created_to"]):
                    continue
                if ("ended_from" in bounds and (ended is None or ended < bounds["ended_from"])) \
                        or ("ended_to" in bounds and (ended is None
                                                      or ended >= bounds["ended_to"])):
                    continue
                if q.get("type") and run.type != q["type"]:
                    continue
                if q.get("state") and run.state(now) != q["state"].lower().replace(
                        " ", "-").replace("_", "-"):
                    continue
                rows.append(item)
        page = rows[offset: offset + limit]
        out: dict[str, Any] = {"data": page}
        if offset + limit < len(rows):
            out["next_token"] = base64.urlsafe_b64encode(str(offset + limit).encode()).decode()
        if q.get("with_total", "").lower() == "true":
            out["total"] = len(rows)
        return JSONResponse(out)
