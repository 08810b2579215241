"""Built-in ``noop`` integration: does nothing (optionally after a sleep); for tests and demos."""

from __future__ import annotations

from attrs import frozen

from .._config import parameter
from .._markers import hookimpl
from .._registry import IntegrationRegistry
from ._noop_runner import NoopRunner

__all__ = ("NoopParameters",)


@frozen(kw_only=True)
class NoopParameters:
    """Parameters of ``noop_run``."""

    sleep: float = parameter(default=0.0, help="seconds to wait before succeeding")
    fail: bool = parameter(default=False, help="fail instead of succeeding")
    fail_times: int = parameter(
        default=0, help="fail this many attempts, then succeed (to exercise retries)"
    )
    message: str = parameter(default="", help="written to the run log")


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Register the ``noop`` integration and its ``noop_run`` job."""
    noop = registry.integration("noop", description="Does nothing; for tests and benchmarks")
    noop.job(
        "noop_run",
        parameters=NoopParameters,
        description="Succeed (or fail, on request) after an optional sleep",
        runner=NoopRunner,
        aliases=("noop",),
    )
