"""Run a pipeline against the vendor simulators of its integrations (``orchestra run
--simulate``): each integration that ships a simulator gets one served on 127.0.0.1, and the
integration's quick-start environment variables point at it for the length of the run."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

from attrs import frozen

from .errors import PluginError

__all__ = ("SimulatedVendor", "simulated")


@frozen
class SimulatedVendor:
    """One simulator serving a pipeline's integration."""

    integration: str
    url: str
    env: Mapping[str, str]


def _env_for(sim: Any, spec: Any, url: str) -> dict[str, str]:
    """The quick-start variables pointing *spec*'s integration at *sim* served on *url*."""
    if callable(getattr(sim, "env", None)):
        return {k: str(v) for k, v in sim.env(url).items()}
    declared = dict(spec.connection.env) if spec.connection is not None else {}
    credentials = sim.credentials() if callable(getattr(sim, "credentials", None)) else {}
    env = {declared[k]: str(v) for k, v in credentials.items() if k in declared}
    if "base_url" not in declared:
        raise PluginError(f"integration {spec.name!r} declares no base_url variable in its "
                          "ConnectionSpec, so it cannot be pointed at its simulator")
    env[declared["base_url"]] = url
    return env


@contextlib.contextmanager
def simulated(host: Any, pipeline: Any, *,
              run_duration: float | None = None) -> Iterator[list[SimulatedVendor]]:
    """Serve a simulator for every integration of *pipeline* that has one, and set the
    integrations' quick-start environment variables to them until the block ends (the
    previous values are restored). Tasks that name a stored connection keep using it."""
    from ._cli_simulate import _build, load_simulator

    wanted: dict[str, Any] = {}
    for task in pipeline.tasks:
        spec = host.integrations.find(task.integration)
        if spec is not None and spec.simulator:
            wanted[spec.name] = spec
    started: list[SimulatedVendor] = []
    saved: dict[str, str | None] = {}
    with contextlib.ExitStack() as stack:
        try:
            for name, spec in sorted(wanted.items()):
                sim = _build(load_simulator(spec.simulator), run_duration)
                url = stack.enter_context(sim.serve())
                env = _env_for(sim, spec, url)
                for key, value in env.items():
                    saved.setdefault(key, os.environ.get(key))
                    os.environ[key] = value
                started.append(SimulatedVendor(name, url, env))
            yield started
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
