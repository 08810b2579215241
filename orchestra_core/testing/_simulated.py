"""Vendor simulators for a pipeline's integrations (``orchestra run --simulate``): load an
integration's simulator class, build it, and serve one per integration of a pipeline on
127.0.0.1, with the quick-start settings (``FIVETRAN_BASE_URL``, ``FIVETRAN_API_KEY``, ...)
that point the integration at it.

The settings are returned, never written to ``os.environ``: the run receives them as its
environment (``Engine(env=...)``), so nothing else in the process sees them."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
from attrs import frozen

from .._errors import ConfigError, PluginError
from .._loader import read_document
from .._pipeline import Pipeline
from .._secrets import Catalog
from .._validation import check_document

__all__ = ("SimulatedConnection", "SimulatedVendor", "Simulation", "build_simulator",
           "load_simulated_pipeline", "load_simulator", "poll_cap", "simulated")


def poll_cap(run_duration: float | None) -> float:
    """The longest a runner's ``ctx.sleep`` (or ``ctx.next_event``) waits in a simulated run:
    a tenth of the simulated vendor run's duration (3 s when none is given), at least 0.1 s.
    ``orchestra run --simulate`` sets it as the engine's ``sleep_cap``, so a runner polling
    every 10 s notices a 2 s simulated run end after about 2.2 s, for every plugin alike.
    The engine's own waits (task timeouts, heartbeats) are not shortened."""
    return max(0.1, (3.0 if run_duration is None else run_duration) / 10)


@frozen
class SimulatedVendor:
    """One simulator serving a pipeline's integration."""

    integration: str
    url: str
    env: Mapping[str, str]


@frozen
class SimulatedConnection:
    """A connection a task names that the store does not have, served by the task's
    integration simulator instead (``orchestra run --simulate``)."""

    task: str
    connection: str
    integration: str


@frozen
class Simulation:
    """The simulators serving a pipeline and the settings that point the run at them.

    :param vendors: one per integration that ships a simulator, by integration name.
    :param env: every vendor's :attr:`SimulatedVendor.env`, merged: give it to the run as
        its environment (over ``os.environ`` for the variables it does not set).
    :param sleep_cap: the engine's ``sleep_cap`` for the run: :func:`poll_cap` of the run
        duration.
    """

    vendors: tuple[SimulatedVendor, ...]
    env: Mapping[str, str]
    sleep_cap: float | None = None


def load_simulator(reference: str) -> Any:
    """The simulator class named by *reference* (``"module:attribute"``).

    :raises PluginError: the reference is malformed, or names nothing importable.
    """
    module_name, sep, attr = reference.partition(":")
    if not sep or not module_name or not attr:
        raise PluginError(f"simulator reference {reference!r} is not 'module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"cannot import simulator module {module_name!r}: {exc}") from exc
    try:
        found = module
        for part in attr.split("."):
            found = getattr(found, part)
    except AttributeError as exc:
        raise PluginError(f"module {module_name!r} has no simulator {attr!r}") from exc
    return found


def build_simulator(cls: Any, duration: float | None) -> Any:
    """An instance of simulator *cls*, with the run duration if one was asked for.

    :raises PluginError: a *duration* was given and *cls* does not take one.
    """
    if duration is None:
        return cls()
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}
    from ._simulator import Simulator

    for name in ("run_duration", "duration"):
        if name in params:
            return cls(**{name: duration})
    if isinstance(cls, type) and issubclass(cls, Simulator):  # run_duration in **kwargs
        return cls(run_duration=duration)
    raise PluginError(f"the {getattr(cls, 'name', cls.__name__)} simulator does not take a "
                      "run duration (--duration)")


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


def load_simulated_pipeline(host: Any, path: str | os.PathLike[str], store: Any
                            ) -> tuple[Pipeline, tuple[SimulatedConnection, ...]]:
    """Read and validate the pipeline file *path* against *store*, as ``host.load_pipeline``
    does, except that a connection a task names which *store* does not hold is no problem
    when the task's integration ships a simulator: the task runs without it (so it gets the
    environment connection, which ``--simulate`` points at the simulator). Returns the
    pipeline and the connections so replaced. Connections the store holds keep being used;
    every other problem (a connection of another integration, an unknown constant, ...)
    is reported as ``host.load_pipeline`` reports it.

    :raises ConfigError: listing every other problem, located.
    """
    draft, _ = host.check_file(path)  # the tasks as written, before the store is asked
    if draft is None:
        return host.load_pipeline(path, store=store), ()
    catalog = Catalog.from_store(store)
    served: dict[str, SimulatedConnection] = {}
    for task in draft.tasks:
        name = task.secondary_configuration_id
        spec = host.integrations.find(task.integration)
        if name and name not in catalog.connections and spec is not None and spec.simulator:
            served[task.id] = SimulatedConnection(task.id, name, spec.name)
    if not served:
        return host.load_pipeline(path, store=store), ()
    for task in draft.tasks:  # validate as if they were stored, of the task's integration
        if task.id in served:
            catalog.connections[served[task.id].connection] = task.integration
    pipeline, problems = check_document(host, read_document(Path(path)), catalog=catalog)
    if problems or pipeline is None:
        raise ConfigError(problems, summary=f"{path}: {len(problems)} problem"
                          f"{'s' if len(problems) != 1 else ''}")
    tasks = tuple(attrs.evolve(t, secondary_configuration_id=None) if t.id in served else t
                  for t in pipeline.tasks)
    return attrs.evolve(pipeline, tasks=tasks), tuple(served.values())


@contextlib.contextmanager
def simulated(host: Any, pipeline: Any, *,
              run_duration: float | None = None) -> Iterator[Simulation]:
    """Serve a simulator for every integration of *pipeline* that has one until the block
    ends, and yield them with the quick-start settings that point at them. The settings
    only reach a run given them (``Engine(env=...)``); tasks that name a stored connection
    keep using it. Simulators with an ``auto_create`` attribute create the connectors, jobs
    and syncs a pipeline names on first use, so any pipeline runs as written."""
    wanted: dict[str, Any] = {}
    for task in pipeline.tasks:
        spec = host.integrations.find(task.integration)
        if spec is not None and spec.simulator:
            wanted[spec.name] = spec
    vendors: list[SimulatedVendor] = []
    env: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        for name, spec in sorted(wanted.items()):
            sim = build_simulator(load_simulator(spec.simulator), run_duration)
            if hasattr(sim, "auto_create"):  # the user's own ids: create them on first use
                sim.auto_create = True
            url = stack.enter_context(sim.serve())
            vendor_env = _env_for(sim, spec, url)
            env.update(vendor_env)
            vendors.append(SimulatedVendor(name, url, vendor_env))
        yield Simulation(tuple(vendors), env, poll_cap(run_duration))
