"""A simulator of the Hightouch REST API (v1) for tests, demos and benchmarks.

:class:`HightouchSimulator` serves the real paths under ``/api/v1`` with the real JSON
shapes: syncs by id and by slug, triggers answering ``{"id": "<string>"}`` while the runs
list answers numeric ids, runs that queue behind the sync's active run and move
``queued → querying → processing → reporting → success | warning | failed`` on the clock
(``cancelled`` and ``interrupted`` scripted), bearer-token auth (401 ``{"message":
"Authentication error", ...}``), 422 ``ValidateErrorJSON`` for unknown syncs in the custom
trigger, and the limit of 200 requests per 10 s per workspace (429 ``{"error": ...}``
without ``Retry-After``). Alert webhooks go to receivers added with
:meth:`HightouchSimulator.add_alert_webhook`, carrying the channel's static headers (Hightouch
does not sign them). Failure injection comes from
:class:`~orchestra_core.testing._simulator.Simulator` (``sim.fail(...)``); an unknown status
is ``sim.sync("1001").outcome = "exploded"`` or ``status_override``.

::

    sim = HightouchSimulator(clock=FakeClock())
    host = Orchestra(transports={"hightouch": sim.transport})
    # connection: base_url=sim.base_url, token=sim.token

``orchestra simulate hightouch`` serves it on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orchestra_core import Connection
from orchestra_core.testing import Simulator, WebhookTarget, bearer_token

from ._model import IN_PROGRESS, TERMINAL, SimRun, SimState, SimSync, SimWorkspace, iso

__all__ = ("IN_PROGRESS", "TERMINAL", "HightouchSimulator", "SimRun", "SimSync")

#: The syncs every simulator starts with: (id, slug, outcome, disabled).
SEED_SYNCS = (
    ("1001", "daily-accounts", "success", False),
    ("1002", "braze-audiences", "warning", False),
    ("1003", "salesforce-leads", "failed", False),
    ("1004", "legacy-export", "success", True),
)

Handler = Callable[[Request, SimWorkspace], Awaitable[Response]]


class HightouchSimulator(Simulator):
    """The simulated Hightouch API; see the module documentation.

    :param clock: drives the runs (``SystemClock`` by default; a ``FakeClock`` in tests).
    :param run_duration: seconds from ``querying`` to the outcome of a run (split 25 % /
        50 % / 25 % over ``querying``, ``processing``, ``reporting``).
    :param token: the API key of the seeded workspace.
    :param rate_limit: requests allowed per workspace in *rate_window* seconds.
    :param seed: create the syncs of :data:`SEED_SYNCS`.
    """

    name = "hightouch"
    base_path = "/api/v1"
    default_run_duration = 8.0

    def __init__(self, *, clock: Any = None, run_duration: float | None = None,
                 token: str = "ht-sim-token-0001", rate_limit: int = 200,
                 rate_window: float = 10.0, seed: bool = True,
                 auto_create: bool = False) -> None:
        super().__init__(clock=clock, run_duration=run_duration)
        #: create a sync asked for by an unknown id or slug (``orchestra run --simulate``)
        self.auto_create = auto_create
        self.token = token
        self.state = SimState(self.clock.now, self.clock.monotonic,
                              rate_limit=rate_limit, rate_window=rate_window)
        self.workspace = self.state.add_workspace(token)
        self.alerts_sent = 0
        self._alert_ids = itertools.count(1)
        if seed:
            for sync_id, slug, outcome, disabled in SEED_SYNCS:
                self.add_sync(sync_id=sync_id, slug=slug, outcome=outcome, disabled=disabled)

    # -- set-up ------------------------------------------------------------------------------

    def durations(self, total: float | None = None) -> tuple[float, float, float]:
        """``querying``/``processing``/``reporting`` seconds for a run of *total* seconds."""
        total = self.run_duration if total is None else float(total)
        return (total * 0.25, total * 0.5, total * 0.25)

    def add_sync(self, *, sync_id: str | int | None = None, slug: str | None = None,
                 duration: float | None = None, workspace: SimWorkspace | None = None,
                 **settings: Any) -> SimSync:
        """Add a sync (*settings*: :class:`SimSync` fields such as ``outcome``,
        ``disabled``, ``rows``, ``rejected``); *duration* sets its runs' length."""
        settings.setdefault("durations", self.durations(duration))
        with self.lock:
            return self.state.add_sync((workspace or self.workspace).id, slug=slug,
                                       sync_id=sync_id, **settings)

    def _sync_by_id(self, workspace: SimWorkspace, sync_id: str) -> SimSync | None:
        sync = self.state.sync_by_id(workspace.id, sync_id)
        if sync is None and self.auto_create and str(sync_id).isdigit():
            sync = self.add_sync(sync_id=str(sync_id), workspace=workspace)
        return sync

    def _sync_by_slug(self, workspace: SimWorkspace, slug: str) -> SimSync | None:
        sync = self.state.sync_by_slug(workspace.id, slug)
        if sync is None and self.auto_create:
            sync = self.add_sync(slug=slug, workspace=workspace)
        return sync

    def add_workspace(self, token: str, slug: str = "other") -> SimWorkspace:
        """Another workspace, reached with API key *token* (with its own rate limit)."""
        with self.lock:
            return self.state.add_workspace(token, slug)

    def sync(self, key: str | int) -> SimSync:
        """The sync with id or slug *key*."""
        found = self.state.syncs.get(str(key)) or next(
            (s for s in self.state.syncs.values() if s.slug == key), None)
        if found is None:
            raise KeyError(f"no simulated sync {key!r}")
        return found

    def run(self, run_id: str | int) -> SimRun:
        """The run with id *run_id* (a string or a number)."""
        return self.state.runs[int(run_id)]

    def runs(self, sync: str | int | None = None) -> list[SimRun]:
        """Every run (of one sync, by id or slug), oldest first."""
        if sync is None:
            return list(self.state.runs.values())
        return self.state.runs_of(self.sync(sync).id)

    def stop_run(self, run_id: str | int, status: str = "cancelled") -> SimRun:
        """End a run now as someone in the Hightouch UI would (``cancelled``), or as an
        outage would (``interrupted``)."""
        with self.lock:
            return self.state.stop(int(run_id), status)

    def add_alert_webhook(self, url: str, headers: Mapping[str, str], *,
                          transport: Any = None) -> WebhookTarget:
        """A webhook alert channel posting to *url* with the static *headers* (e.g.
        ``{"Authorization": "Bearer <secret>"}``): it receives one alert per change of a
        sync's alert state (critical on ``failed``/``interrupted``, warning on ``warning``,
        resolved when a later run succeeds), as Hightouch's alerting does."""
        return self.add_webhook(url, None, transport=transport, headers=headers,
                                events=("alert",))

    @property
    def rate_limited(self) -> int:
        """Requests refused with 429 for going over a workspace's limit."""
        return sum(w.rate.refused for w in self.state.workspaces.values())

    @property
    def peak_rate(self) -> int:
        """The most requests any workspace made within one rate window."""
        return max((w.rate.peak for w in self.state.workspaces.values()), default=0)

    # -- Simulator hooks -----------------------------------------------------------------------

    def routes(self) -> list[Any]:
        """The API paths."""
        api = self.base_path
        return [
            Route(f"{api}/syncs", self._limited(self._list_syncs), methods=["GET"]),
            Route(f"{api}/syncs/trigger", self._limited(self._trigger_custom),
                  methods=["POST"]),
            Route(f"{api}/syncs/{{sync_id}}", self._limited(self._get_sync), methods=["GET"]),
            Route(f"{api}/syncs/{{sync_id}}/trigger", self._limited(self._trigger),
                  methods=["POST"]),
            Route(f"{api}/syncs/{{sync_id}}/runs", self._limited(self._list_runs),
                  methods=["GET"]),
        ]

    def authenticate(self, request: Request) -> bool:
        """A known API key as ``Authorization: Bearer <key>``."""
        return bearer_token(request) in self.state.tokens

    def unauthorized(self, request: Request) -> Response:
        """Hightouch's 401."""
        return JSONResponse({"message": "Authentication error",
                             "details": "Invalid or missing API key"}, status_code=401)

    def error_response(self, status: int, message: str) -> Response:
        """Hightouch's error bodies: ``{"error": ...}`` on 429, ``{"message": ...}`` else."""
        if status == 429:
            return JSONResponse({"error": message}, status_code=429)
        if status >= 500:
            return Response("Internal Server Error", status_code=status,
                            media_type="text/plain")
        return JSONResponse({"message": message}, status_code=status)

    def sign(self, body: bytes, secret: str) -> dict[str, str]:
        """Hightouch signs nothing: a webhook alert channel sends a static header, here
        ``Authorization: Bearer <secret>`` (``orchestra simulate hightouch --webhook-secret``)."""
        return {"Authorization": f"Bearer {secret}"}

    def credentials(self) -> dict[str, str]:
        """The API key to use."""
        return {"token": self.token}

    def connection(self, *, token: str | None = None, name: str = "hightouch-sim",
                   webhook_secret: str | None = None) -> Connection:
        """A :class:`~orchestra_core.Connection` to this simulator (``ctx.connection``)."""
        secrets = {"token": token or self.token}
        if webhook_secret:
            secrets["webhook_secret"] = webhook_secret
        return Connection(name=name, integration="hightouch", base_url=self.base_url,
                          auth="bearer", secrets=secrets)

    def describe(self) -> dict[str, Any]:
        """The seeded syncs."""
        return {"syncs": [{"id": s.id, "slug": s.slug, "outcome": s.outcome,
                           "disabled": s.disabled} for s in self.state.syncs.values()]}

    # -- routes --------------------------------------------------------------------------------

    def _limited(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """*handler* behind the workspace's rate limit (429 without ``Retry-After``)."""
        async def endpoint(request: Request) -> Response:
            with self.lock:
                workspace = self.state.workspaces[self.state.tokens[bearer_token(request)]]
                allowed = workspace.rate.allow()
            if not allowed:
                return JSONResponse({"error": "Rate limit exceeded: 200 requests per 10 "
                                     "seconds per workspace"}, status_code=429)
            return await handler(request, workspace)

        return endpoint

    async def _list_syncs(self, request: Request, workspace: SimWorkspace) -> Response:
        slug = request.query_params.get("slug")
        with self.lock:
            syncs = [s for s in self.state.syncs.values() if s.workspace_id == workspace.id
                     and (slug is None or s.slug == slug)]
            items = [s.to_json(self.state.last_run_at(s.id)) for s in syncs]
        return self._page(request, items)

    async def _get_sync(self, request: Request, workspace: SimWorkspace) -> Response:
        with self.lock:
            sync = self._sync_by_id(workspace, request.path_params["sync_id"])
            if sync is None:
                return JSONResponse({"message": "Not found"}, status_code=404)
            return JSONResponse(sync.to_json(self.state.last_run_at(sync.id)))

    async def _trigger(self, request: Request, workspace: SimWorkspace) -> Response:
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        with self.lock:
            sync = self._sync_by_id(workspace, request.path_params["sync_id"])
            if sync is None:
                return JSONResponse({"message": "Not found"}, status_code=404)
            return self._start(sync, body)

    async def _trigger_custom(self, request: Request, workspace: SimWorkspace) -> Response:
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        sync_id, slug = body.get("syncId"), body.get("syncSlug")
        with self.lock:
            if isinstance(sync_id, str) and sync_id.isdigit():
                sync = self._sync_by_id(workspace, sync_id)
                where = "syncId"
            elif isinstance(slug, str) and slug:
                sync = self._sync_by_slug(workspace, slug)
                where = "syncSlug"
            else:
                return _invalid("body", "give syncId (a string of digits) or syncSlug")
            if sync is None:
                return _invalid(f"body.{where}", "no such sync in this workspace")
            return self._start(sync, body)

    async def _list_runs(self, request: Request, workspace: SimWorkspace) -> Response:
        query = request.query_params
        with self.lock:
            sync = self._sync_by_id(workspace, request.path_params["sync_id"])
            if sync is None:
                return JSONResponse({"message": "Not found"}, status_code=404)
            runs = self.state.runs_of(sync.id)
            now = self.now()
            if query.get("runId"):
                runs = [r for r in runs if str(r.id) == query["runId"]]
            for name, keep in (("after", lambda r, t: r.created_at > t),
                               ("before", lambda r, t: r.created_at < t)):
                if query.get(name):
                    when = _parse(query[name])
                    if when is None:
                        return _invalid(f"query.{name}", "expected an ISO 8601 date-time")
                    runs = [r for r in runs if keep(r, when)]
            order = query.get("orderBy", "id")
            if order not in ("id", "createdAt", "startedAt", "finishedAt"):
                return _invalid("query.orderBy", "expected id, createdAt, startedAt or "
                                "finishedAt")
            runs.sort(key=lambda r: (_order_key(r, order), r.id), reverse=True)  # newest first
            items = [r.to_json(now) for r in runs]
        return self._page(request, items)

    # -- helpers -------------------------------------------------------------------------------

    def _start(self, sync: SimSync, body: Mapping[str, Any]) -> Response:
        if sync.disabled:
            return JSONResponse({"message": "Sync is disabled"}, status_code=400)
        run = self.state.trigger(sync, full_resync=bool(body.get("fullResync")))
        self.emit("alert", lambda: self._alert(run), at=run.finished_at)
        return JSONResponse({"id": str(run.id)})  # a string here; a number in the runs list

    def _alert(self, run: SimRun) -> dict[str, Any] | None:
        """The alert Hightouch sends when *run*'s outcome changes its sync's alert state."""
        with self.lock:
            status = run.status(self.now())
            if status not in TERMINAL and status not in IN_PROGRESS:
                severity = "critical"  # an unknown status: alert, the run is in trouble
            else:
                severity = {"failed": "critical", "interrupted": "critical",
                            "warning": "warning", "success": "ok"}.get(status)
            sync = run.sync
            if severity is None or severity == sync.alert_state:
                return None
            sync.alert_state = severity
            self.alerts_sent += 1
            data = run.to_json(self.now())
            return {
                "id": f"alert_{next(self._alert_ids)}",
                "type": "sync.alert",
                "severity": "resolved" if severity == "ok" else severity,
                "title": f"Sync {sync.slug} " + ("recovered" if severity == "ok" else status),
                "workspaceId": sync.workspace_id,
                "syncId": sync.id,
                "syncSlug": sync.slug,
                "syncRunId": str(run.id),
                "status": status,
                "error": data.get("error"),
                "createdAt": iso(self.now()),
            }

    async def _body(self, request: Request) -> dict[str, Any] | Response:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            return JSONResponse({"message": "Bad request", "details": "invalid JSON"},
                                status_code=400)
        if not isinstance(body, dict):
            return _invalid("body", "expected an object")
        for flag in ("fullResync", "resetCDC", "clearAndFill"):
            if flag in body and not isinstance(body[flag], bool):
                return _invalid(f"body.{flag}", "expected a boolean")
        return body

    @staticmethod
    def _page(request: Request, items: list[dict[str, Any]]) -> Response:
        try:
            limit = int(request.query_params.get("limit", 100))
            offset = int(request.query_params.get("offset", 0))
        except ValueError:
            return _invalid("query.limit", "expected an integer")
        page = items[offset: offset + limit]
        return JSONResponse({"data": page, "hasMore": offset + limit < len(items)})


def _invalid(where: str, message: str) -> Response:
    """Hightouch's 422 ``ValidateErrorJSON``."""
    return JSONResponse({"message": "Validation failed",
                         "details": {where: {"message": message}}}, status_code=422)


def _order_key(run: SimRun, order: str) -> datetime:
    if order == "createdAt":
        return run.created_at
    if order == "startedAt":
        return run.started_at
    if order == "finishedAt":
        return run.finished_at
    return datetime.min.replace(tzinfo=UTC)


def _parse(value: str) -> datetime | None:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
