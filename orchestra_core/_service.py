"""``orchestra serve``: one process running the scheduler, a worker pool and the HTTP server.

- the :class:`~orchestra_core.Scheduler` turns due triggers into
  pending runs;
- the :class:`~orchestra_core._scheduling.worker.RunWorker` executes pending runs on one
  :class:`~orchestra_core.Engine`, and on start (and every few seconds) resumes runs
  whose owner died;
- uvicorn serves :func:`orchestra_core.create_app` (``/health`` and the routes other
  modules add).

SIGTERM or SIGINT shuts it down gracefully: the scheduler stops and no new run or task
starts; running local processes (``process`` tasks) get up to *grace* seconds to finish, and
those still running are then stopped and recorded as interrupted (``Engine.drain``); running
runs are left resumable (vendor tasks keep their recorded external runs; nothing is cancelled
at the vendor); the HTTP server closes. Every step is logged.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Iterator, Mapping
from typing import Any

import anyio

from ._engine import Engine
from ._engine._facade import DEFAULT_GRACE
from ._scheduling.scheduler import Scheduler
from ._scheduling.worker import RunWorker

__all__ = ("Service",)

log = logging.getLogger("orchestra.serve")


class Service:
    """The scheduler, the worker pool and (optionally) the HTTP server, on one store.

    :param host: the :class:`~orchestra_core.Orchestra` whose integrations run the tasks.
    :param store: the :class:`~orchestra_core.Store`.
    :param clock: the clock (``SystemClock`` by default; a ``FakeClock`` in tests).
    :param http_host: the address to listen on (``None``: no HTTP server).
    :param port: the port (0 picks a free one; see :attr:`port` once started).
    :param workers: runs executing at once.
    :param max_concurrency: tasks executing at once, across runs.
    :param integration_limits: tasks of one integration executing at once, across runs,
        e.g. ``{"fivetran": 20}`` (``orchestra serve --limit fivetran=20``).
    :param scheduler: run the scheduler (``False`` for a worker-only process).
    :param signals: shut down on SIGTERM/SIGINT.
    :param grace: on shutdown, seconds running processes get to finish before they are
        stopped (see :meth:`~orchestra_core.Engine.drain`).
    :param max_requests: HTTP requests handled at once (more are answered 503); bodies are
        limited to 1 MiB received within 10 s (see ``docs/serving.md``).
    """

    def __init__(self, host: Any, store: Any, *, clock: Any = None,
                 http_host: str | None = "127.0.0.1", port: int = 8080, workers: int = 16,
                 max_concurrency: int = 1000, scheduler: bool = True, signals: bool = False,
                 poll: float = 2.0, reread: float = 5.0, grace: float = DEFAULT_GRACE,
                 max_requests: int | None = None,
                 integration_limits: dict[str, int] | None = None) -> None:
        self.host = host
        self.store = store
        self.engine = Engine(host, store, clock=clock, max_concurrency=max_concurrency,
                             integration_limits=integration_limits)
        self.clock = self.engine.clock
        self.worker = RunWorker(self.engine, slots=workers, poll=poll)
        self.scheduler = Scheduler(store, clock=self.clock, reread=reread,
                                   on_runs=lambda ids: self.worker.wake()) if scheduler else None
        self.http_host = http_host
        self.port = port
        self.signals = signals
        self.grace = grace
        self.max_requests = max_requests
        self.state: dict[str, Any] = {"owner": self.engine.owner}
        #: whether the scheduler and worker loops are running (``/health/ready``)
        self.alive = {"scheduler": False, "worker": False}
        self._stop = anyio.Event()
        self._server: Any = None

    def stop(self) -> None:
        """Shut down gracefully (call from the event loop)."""
        self._stop.set()

    def _health(self) -> dict[str, Any]:
        return self.state

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve until :meth:`stop` or a signal."""
        log.info("orchestra serve: store %s, owner %s", self.store.url, self.engine.owner)
        async with anyio.create_task_group() as tg:
            if self.signals:
                tg.start_soon(self._watch_signals)
            if self.http_host is not None:
                await self._start_http(tg)
            sched_scope = anyio.CancelScope()
            if self.scheduler is not None:
                async def scheduler() -> None:
                    self.alive["scheduler"] = True
                    try:
                        with sched_scope:
                            await self.scheduler.run()  # type: ignore[union-attr]
                    finally:
                        self.alive["scheduler"] = False

                tg.start_soon(scheduler)
            else:
                log.info("scheduler disabled (worker only)")
            worker_done = anyio.Event()

            async def worker() -> None:
                self.alive["worker"] = True
                try:
                    await self.worker.run()
                finally:
                    self.alive["worker"] = False
                    worker_done.set()

            tg.start_soon(worker)
            log.info("worker pool started: %d run slot(s), at most %d task(s) at once%s",
                     self.worker.slots, self.engine.limit.total_tokens,
                     "".join(f", {name} at most {lim.total_tokens}" for name, lim in
                             sorted(self.engine.integration_limits.items())))
            self._update_state()
            task_status.started()
            await self._stop.wait()
            log.info("shutting down: scheduler stopped, no new runs will start")
            sched_scope.cancel()
            log.info("no new task starts; waiting up to %g s for running processes",
                     self.grace)
            left = await self.engine.drain(self.grace)
            if left:
                log.warning("stopping %d process(es) still running after %g s: recorded as "
                            "interrupted", left, self.grace)
            running = sorted(self.worker.running)
            if running:
                log.info("leaving %d running run(s) to be resumed: %s", len(running),
                         ", ".join(running))
            self.worker.stop()
            with anyio.CancelScope(shield=True):
                await worker_done.wait()
            if self._server is not None:
                log.info("closing the HTTP server")
                self._server.should_exit = True
                with anyio.CancelScope(shield=True):
                    await self._server_done.wait()
            tg.cancel_scope.cancel()
        log.info("stopped")

    def _update_state(self) -> None:
        self.state["scheduler"] = ({"enabled": True, "passes": self.scheduler.passes,
                                    "fired": len(self.scheduler.fired)}
                                   if self.scheduler is not None else {"enabled": False})
        self.state["worker"] = {"slots": self.worker.slots,
                                "running": sorted(self.worker.running),
                                "started": self.worker.started}

    async def _start_http(self, tg: anyio.abc.TaskGroup) -> None:
        import uvicorn

        from ._server import create_app

        state = self.state

        class _LiveState(Mapping[str, Any]):  # /health reports the current figures
            def __getitem__(inner, key: str) -> Any:
                return state[key]

            def __iter__(inner) -> Iterator[str]:
                self._update_state()
                return iter(dict(state))

            def __len__(inner) -> int:
                return len(state)

        def loop_check(name: str) -> Any:
            def check() -> str | None:
                if name == "scheduler" and self.scheduler is None:
                    return None  # disabled (worker only): nothing to check
                return None if self.alive[name] else f"the {name} is not running"
            return check

        limits = {"max_requests": self.max_requests} if self.max_requests else {}
        app = create_app(self.host, self.engine, state=_LiveState(),
                         checks={"scheduler": loop_check("scheduler"),
                                 "worker": loop_check("worker")},
                         on_runs=lambda ids: anyio.from_thread.run_sync(self.worker.wake),
                         **limits)
        config = uvicorn.Config(app, host=self.http_host or "127.0.0.1", port=self.port,
                                log_level="warning", lifespan="off", access_log=False)
        server = _Server(config)
        self._server = server
        self._server_done = done = anyio.Event()

        async def serve() -> None:
            try:
                await server.serve()
            finally:
                done.set()

        tg.start_soon(serve)
        while not server.started:
            if server.should_exit:
                raise OSError(f"cannot listen on {self.http_host}:{self.port}")
            await anyio.sleep(0.01)
        sockets = [s for srv in server.servers for s in srv.sockets]
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("HTTP server listening on http://%s:%d (health: /health)", self.http_host,
                 self.port)

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.warning("received %s: shutting down gracefully",
                            signal.Signals(signum).name)
                self.stop()


class _Server:
    """uvicorn's server without its own signal handling (the service handles signals)."""

    def __new__(cls, config: Any) -> Any:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        return Server(config)
