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
from collections.abc import Iterator, Mapping
from typing import Any

from attrs import frozen

from .._errors import PluginError

__all__ = ("SimulatedVendor", "Simulation", "build_simulator", "load_simulator", "simulated")


@frozen
class SimulatedVendor:
    """One simulator serving a pipeline's integration."""

    integration: str
    url: str
    env: Mapping[str, str]


@frozen
class Simulation:
    """The simulators serving a pipeline and the settings that point the run at them.

    :param vendors: one per integration that ships a simulator, by integration name.
    :param env: every vendor's :attr:`SimulatedVendor.env`, merged: give it to the run as
        its environment (over ``os.environ`` for the variables it does not set).
    """

    vendors: tuple[SimulatedVendor, ...]
    env: Mapping[str, str]


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
        yield Simulation(tuple(vendors), env)
