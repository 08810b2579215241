"""Helpers for testing Orchestra plugins and embedding apps; free of pytest imports.

- :class:`FakeClock`: a clock tests move by hand (``advance``) or that jumps on ``sleep``.
- :class:`StubContext`: a TaskContext for driving a job runner directly.
- :func:`make_host`: an isolated :class:`~orchestra_core.Orchestra` with only the given plugins.
- :func:`validate`: problems of a pipeline given as a dict, as formatted strings.
- :func:`run_until_crash`: run a pipeline until a condition holds, then stop as a killed
  process would (nothing cancelled, the run left to be resumed).
- :class:`Simulator`, :class:`Failure`, :class:`WebhookTarget` and the helpers
  (:func:`bearer_token`, :func:`basic_credentials`, :func:`hmac_sha256`, :func:`is_loopback`):
  the kit for vendor simulators.
- :class:`RateWindowServer` and :class:`ScaledClock`: a real HTTP server that counts
  arrivals in a sliding window and answers 429 past a limit, on a clock faster than real
  time, to prove a client's rate limit over real HTTP.
- :class:`IntegrationJobContract`, :class:`VendorRunnerContract`,
  :class:`WebhookHandlerContract`: the standard tests every plugin inherits.

The simulator kit and the contracts (Starlette, uvicorn, httpx) load on first use.
"""

from __future__ import annotations

from typing import Any

from ._clock import FakeClock as FakeClock
from ._clock import SystemClock as SystemClock
from ._context import StubContext as StubContext

__all__ = (
    "DeliveryRecord",
    "DestinationContract",
    "Failure",
    "FakeClock",
    "Injection",
    "IntegrationJobContract",
    "RateWindowServer",
    "RecordedRequest",
    "ScaledClock",
    "Simulator",
    "SimulatorTransport",
    "StubContext",
    "SystemClock",
    "VendorRunnerContract",
    "WebhookHandlerContract",
    "WebhookTarget",
    "basic_credentials",
    "bearer_token",
    "hmac_sha256",
    "is_loopback",
    "make_host",
    "run_until_crash",
    "validate",
)

_SIMULATOR = ("DeliveryRecord", "Failure", "Injection", "RecordedRequest", "Simulator",
              "SimulatorTransport", "WebhookTarget", "basic_credentials", "bearer_token",
              "hmac_sha256", "is_loopback")
_CONTRACTS = ("DestinationContract", "IntegrationJobContract", "VendorRunnerContract",
              "WebhookHandlerContract")
_RATE = ("RateWindowServer", "ScaledClock")
_LAZY = {**dict.fromkeys(_SIMULATOR, "_simulator"), **dict.fromkeys(_CONTRACTS, "_contracts"),
         **dict.fromkeys(_RATE, "_rate_server")}


def __getattr__(name: str) -> Any:
    """Import the simulator kit and the contracts only when they are asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def make_host(*plugins: object, load_entrypoints: bool = False, builtins: bool = True) -> Any:
    """An :class:`~orchestra_core.Orchestra` with exactly *plugins* (plus the built-ins)."""
    from .._host import Orchestra

    return Orchestra(plugins=plugins, load_entrypoints=load_entrypoints, builtins=builtins)


def validate(host: Any, data: Any) -> list[str]:
    """Validate pipeline *data* (a dict) on *host*; return the formatted problems."""
    _, problems = host.check_data(data)
    return [p.format() for p in problems]


async def run_until_crash(engine: Any, pipeline: Any, until: Any = None, *,
                          check_every: float = 1.0) -> str:
    """Run *pipeline* on *engine* until ``until(run_id)`` is true (checked every
    *check_every* seconds of the engine's clock; by default: until a task's external run is
    recorded in the store), then stop as a killed process would: nothing is cancelled at the
    vendors, and the run stays in the store to be resumed. Returns the run id. With a
    :class:`FakeClock`, call it inside ``clock.driving()``."""
    import anyio

    if until is None:
        def until(run_id: str) -> bool:
            return any(r["external_id"] for r in engine.store.task_runs(run_id))

    created: list[str] = []

    async def watch() -> None:
        while not created or not until(created[0]):
            await engine.clock.sleep(check_every)
        engine.detach()
        tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: engine.run(pipeline, on_created=created.append))
        tg.start_soon(watch)
    return created[0]
