"""The :class:`Orchestra` host: one plugin manager, its registries and the typed facade."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import types
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pluggy
from attrs import frozen

from . import hookspecs
from ._config import make_converter, structure, unreadable_fields
from ._errors import ConfigError, JobNotExecutable, PluginError
from ._hookcalls import PluginManager, call_hook, call_register, distribution
from ._loader import Document, parse_document, read_document
from ._markers import PROJECT
from ._models import Problem
from ._pipeline import Pipeline
from ._registry import ChannelRegistry, DestinationRegistry, IntegrationRegistry, JobType
from ._validation import check_document

__all__ = ("Orchestra", "PluginInfo")

#: Modules of the core registered as ordinary plugins, in this order.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "orchestra_core._builtins.noop",
    "orchestra_core._builtins.http",
    "orchestra_core._builtins.process",
    "orchestra_core._builtins.files",
    "orchestra_core._builtins.notifications",
    "orchestra_core._builtins.delivery",
)


@frozen(kw_only=True)
class PluginInfo:
    """What ``orchestra plugins`` shows about one plugin."""

    name: str
    distribution: str | None
    version: str | None
    integrations: tuple[tuple[str, tuple[str, ...]], ...]
    builtin: bool = False


class Orchestra:
    """An Orchestra host: owns its own pluggy ``PluginManager``, registries and cattrs
    converter (:attr:`converter`).

    Build as many as you like (tests do); nothing is global::

        orchestra = Orchestra()                                  # entry points + built-ins
        orchestra = Orchestra(plugins=[my_plugin], load_entrypoints=False)

    :param plugins: extra plugin objects (modules, classes or instances with hookimpls).
    :param load_entrypoints: load installed plugins from the ``orchestra`` entry-point group.
    :param blocked: plugin names (entry-point names, e.g. ``"hightouch"``) never to load.
    :param builtins: register the core's built-in integrations (http, process, noop).
    :param transports: httpx async transports by vendor name, used by every
        :meth:`vendor_client` of that vendor instead of the network (a simulator's
        ``transport`` in tests); see also :meth:`set_transport`.
    :param redactor: the :class:`~orchestra_core.Redactor` of this host (default:
        a new, empty one; the CLI passes the one its output is masked with).

    :ivar redactor: the host's :class:`~orchestra_core.Redactor`: the secrets its
        runs decrypt (and its vendor clients, webhook server and plugins register) are masked
        with it wherever text leaves the host: run logs, task errors and metadata, alerts, CLI
        output, webhook answers. Register a secret with ``host.redactor.add(value)``, mask
        with ``host.redactor.mask(text)`` / ``mask_obj(value)``. Not shared with another host
        (unless given to it as *redactor*).
    """

    def __init__(
        self,
        *,
        plugins: Iterable[object] = (),
        load_entrypoints: bool = True,
        blocked: Iterable[str] = (),
        builtins: bool = True,
        transports: dict[str, Any] | None = None,
        redactor: Any = None,
    ) -> None:
        self.pm = PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        #: This host's cattrs converter: pipeline files, plugins' parameters and options are
        #: structured with it (see :func:`orchestra_core._config.make_converter`).
        self.converter = make_converter()
        self._builtin_names: set[str] = set()
        for name in blocked:
            self.pm.set_blocked(name)
        if builtins:
            import importlib

            for modname in DEFAULT_PLUGINS:
                short = modname.rsplit(".", 1)[-1]
                if self.pm.is_blocked(short):
                    continue
                self._register(importlib.import_module(modname), short)
                self._builtin_names.add(short)
        for plugin in plugins:
            self._register(plugin, self._name_for(plugin))
        if load_entrypoints:
            try:
                self.pm.load_setuptools_entrypoints(PROJECT)
            except Exception as exc:
                raise PluginError(f"could not load an 'orchestra' plugin: {exc}") from exc
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(str(exc), distribution=self._dist_name(exc.plugin)) from exc
        self.integrations = IntegrationRegistry()
        self.destinations = DestinationRegistry()
        self.channels = ChannelRegistry()
        call_register(self.pm, "orchestra_register_integrations", self.integrations)
        call_register(self.pm, "orchestra_register_destinations", self.destinations)
        call_register(self.pm, "orchestra_register_notification_channels", self.channels)
        self._check_classes()
        self._runners: dict[tuple[str, str], Any] = {}
        from ._redaction import Redactor
        from ._vendor_http._clients import VendorClients

        #: the secrets this host masks in every output (its own unless *redactor* was given)
        self.redactor = redactor if redactor is not None else Redactor()
        self._vendor_clients = VendorClients(transports, self.redactor)
        #: the vendor rate limiters of this host's clients (never shared with another host)
        self.rate_limiters = self._vendor_clients.limiters
        self.call_each("orchestra_startup", orchestra=self)

    def _name_for(self, plugin: object) -> str | None:
        """Modules keep pluggy's naming; objects are named after their class (not an id)."""
        if isinstance(plugin, types.ModuleType):
            return None
        explicit = getattr(plugin, "orchestra_plugin_name", None)
        base = explicit or (plugin.__qualname__ if isinstance(plugin, type)
                            else type(plugin).__qualname__)
        name, n = base, 1
        while self.pm.has_plugin(name):
            n += 1
            name = f"{base}#{n}"
        return name

    def call_each(self, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call hook *hook_name* through pluggy; return the non-``None`` results. A crash
        becomes a :class:`PluginError` naming the plugin and its distribution."""
        return call_hook(self.pm, hook_name, **kwargs)

    def _register(self, plugin: object, name: str | None) -> None:
        try:
            self.pm.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(f"cannot register plugin {name or plugin!r}: {exc}") from exc

    def _dist_name(self, plugin: object) -> str | None:
        return distribution(self.pm, plugin)

    def _check_classes(self) -> None:
        """Refuse a job's parameter class (or a destination's or channel's options class) with
        a field this host's converter cannot read: it would fail every task that sets it."""
        owners: list[tuple[str, str, str, type]] = [
            (job.plugin, "parameter", f"job {job.name!r} (integration {job.integration!r})",
             job.parameters) for spec in self.integrations for job in spec.jobs.values()]
        owners += [(item.plugin, "option", f"{registry.kind} type {item.name!r}", item.options)
                   for registry in (self.destinations, self.channels) for item in registry
                   if item.options is not None]
        for plugin, noun, owner, cls in owners:
            for field, reason in unreadable_fields(cls, self.converter):
                dist = self._dist_name(self.pm.get_plugin(plugin))
                raise PluginError(
                    f"plugin {plugin!r}" + (f" ({dist})" if dist else "")
                    + f": {noun} {field!r} of {owner} cannot be read from a pipeline file: "
                    f"{reason}. Use str, int, float, bool, an enum, an attrs class, or a "
                    "tuple, list or mapping of these.", distribution=dist)

    # -- facade ------------------------------------------------------------------------------

    @property
    def hook(self) -> Any:
        """The pluggy hook relay (``orchestra.hook.orchestra_validate_task(...)``)."""
        return self.pm.hook

    def plugins(self) -> list[PluginInfo]:
        """Every registered plugin with its distribution, version and integration jobs."""
        dists = {id(p): d for p, d in self.pm.list_plugin_distinfo()}
        core_version = _version("orchestra-core")
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None:
                continue
            dist = dists.get(id(plugin))
            builtin = name in self._builtin_names
            integrations = tuple(
                (spec.name, tuple(sorted(j.name for j in spec.jobs.values() if j.plugin == name)))
                for spec in self.integrations
                if spec.plugin == name or any(j.plugin == name for j in spec.jobs.values())
            )
            infos.append(PluginInfo(
                name=name,
                distribution=dist.project_name if dist else ("orchestra-core" if builtin else None),
                version=dist.version if dist else (core_version if builtin else None),
                integrations=integrations,
                builtin=builtin,
            ))
        return sorted(infos, key=lambda i: (not i.builtin, i.name))

    def plugin_info(self, name: str) -> PluginInfo | None:
        """The :class:`PluginInfo` of plugin *name*, or ``None``."""
        return next((p for p in self.plugins() if p.name == name), None)

    def find_job(self, integration: str, job: str) -> JobType | None:
        """The registered job, matching names case-insensitively and through aliases."""
        spec = self.integrations.find(integration)
        return spec.find_job(job) if spec else None

    def structure_parameters(self, job: JobType, raw: Mapping[str, Any], path: str = "$"
                             ) -> tuple[Any | None, list[Problem]]:
        """*raw* parameters (canonical names) as an instance of *job*'s parameter class,
        structured with this host's converter: ``(params, [])`` or ``(None, problems)``, each
        problem located under *path*. Never raises for bad input."""
        return structure(dict(raw), job.parameters, path, noun="parameter",
                         converter=self.converter)

    def set_transport(self, vendor: str, transport: Any) -> None:
        """Send every later :meth:`vendor_client` request of *vendor* through *transport* (an
        httpx async transport, e.g. a simulator's); ``None`` restores the network."""
        self._vendor_clients.set_transport(vendor, transport)

    def vendor_client(self, vendor: str, *, base_url: str, auth: Any = None,
                      headers: dict[str, str] | None = None, rate_limit: Any = None,
                      retry: Any = None, timeout: float = 30.0) -> Any:
        """A shared :class:`~orchestra_core.VendorClient` for *vendor*.

        Calls with the same arguments get the same client (one connection pool per event
        loop), so runners may call this for every request. Basic-auth credentials (a
        ``(username, password)`` pair or an :class:`httpx.BasicAuth`) and headers are
        compared by value, other auth objects by identity. The client uses the transport
        installed for *vendor* (``transports=`` or :meth:`set_transport`), else the network,
        and the rate limiter of ``(vendor, rate_limit.key)`` in :attr:`rate_limiters`, shared
        by every client of this host and never with another host. Arguments are those of
        ``VendorClient``; *retry* is an :class:`~orchestra_core.HttpRetry`. The client
        registers its credentials with, and masks its errors with, :attr:`redactor`.
        """
        return self._vendor_clients.get(vendor, base_url=base_url, auth=auth, headers=headers,
                                        rate_limit=rate_limit, retry=retry, timeout=timeout)

    def runner(self, job: JobType) -> Any:
        """The job's :class:`~orchestra_core.JobRunner` (one per host and job).

        :raises JobNotExecutable: when the job registered no runner.
        """
        key = (job.integration, job.name)
        if key not in self._runners:
            if job.runner is None:
                info = self.plugin_info(job.plugin)
                dist = info.distribution if info else job.plugin
                version = f" {info.version}" if info and info.version else ""
                raise JobNotExecutable(
                    f"integration job {job.name!r} ({job.integration}) of {dist}{version} "
                    "cannot execute yet: the plugin registers its parameters but no runner",
                    distribution=dist,
                )
            self._runners[key] = job.runner(self)
        return self._runners[key]

    # -- pipelines -----------------------------------------------------------------------------

    def check_file(self, path: str | os.PathLike[str], *, store: Any = None
                   ) -> tuple[Pipeline | None, list[Problem]]:
        """Read and validate a pipeline file; return it (or ``None``) and every problem.

        With a *store*, the connections, constants and credentials the tasks name must exist
        in it (see ``docs/secrets.md``); the other ``check_*`` methods take *store* too.
        """
        return check_document(self, read_document(Path(path)), catalog=_catalog(store))

    def check_text(
        self, text: str, *, source: str | None = None, fmt: str = "yaml", store: Any = None
    ) -> tuple[Pipeline | None, list[Problem]]:
        """Validate pipeline *text* (YAML or JSON, see *fmt*)."""
        return check_document(self, parse_document(text, source=source, fmt=fmt),
                              catalog=_catalog(store))

    def check_data(self, data: Any, *, source: str | None = None, store: Any = None) -> tuple[
        Pipeline | None, list[Problem]
    ]:
        """Validate an already-parsed pipeline document (a dict)."""
        return check_document(self, Document(data, source), catalog=_catalog(store))

    def load_pipeline(self, path: str | os.PathLike[str], *, store: Any = None) -> Pipeline:
        """Read and validate a pipeline file (against *store*'s connections, constants and
        credentials when given).

        :raises ConfigError: listing every problem, each with file, line, column and path.
        """
        pipeline, problems = self.check_file(path, store=store)
        return _or_raise(pipeline, problems, str(path))

    # -- running ---------------------------------------------------------------------------

    def engine(self, *, store: Any = None, db: str | None = None, **options: Any) -> Any:
        """An :class:`~orchestra_core.Engine` on *store* (or the store at *db*, see
        :meth:`orchestra_core.Store.open`). *options* go to the engine (``clock``,
        ``max_concurrency``, ``integration_limits``)."""
        from ._engine import Engine
        from ._store import Store

        return Engine(self, store if store is not None else Store.open(db), **options)

    async def run(self, pipeline: Pipeline | str | os.PathLike[str], *,
                  run_type: str = "full", store: Any = None, db: str | None = None,
                  **options: Any) -> Any:
        """Run *pipeline* (a :class:`Pipeline` or a file path) to the end; return its
        :class:`~orchestra_core.RunResult`. Works under asyncio and trio."""
        if not isinstance(pipeline, Pipeline):
            pipeline = self.load_pipeline(pipeline)
        on_transition = options.pop("on_transition", None)
        on_created = options.pop("on_created", None)
        async with self._store_for(store, db, pipeline.durability) as opened:
            return await self.engine(store=opened, **options).run(
                pipeline, run_type=run_type, on_transition=on_transition, on_created=on_created)

    @contextlib.asynccontextmanager
    async def _store_for(self, store: Any, db: str | None,
                         durability: str | None = None) -> AsyncIterator[Any]:
        """*store*, or the store at *db* opened for one call with *durability* (its
        connections released after; it reconnects if a result's task records are read
        later)."""
        from ._store import Store

        if store is not None:
            yield store
            return
        opened = Store.open(db, durability=durability)
        try:
            yield opened
        finally:
            opened.close()

    def run_sync(self, pipeline: Pipeline | str | os.PathLike[str], **kwargs: Any) -> Any:
        """:meth:`run` for synchronous code: starts an event loop and waits for the run."""
        import anyio

        return anyio.run(lambda: self.run(pipeline, **kwargs))

    async def resume(self, run_id: str, *, store: Any = None, db: str | None = None,
                     **options: Any) -> Any:
        """Continue the interrupted run *run_id*; see :meth:`Engine.resume`."""
        on_transition = options.pop("on_transition", None)
        async with self._store_for(store, db) as opened:
            return await self.engine(store=opened, **options).resume(
                run_id, on_transition=on_transition)

    def pipeline_from_data(self, data: Any, *, source: str | None = None,
                           store: Any = None) -> Pipeline:
        """Validate a pipeline given as a dict (as it would be written in a file)."""
        pipeline, problems = self.check_data(data, source=source, store=store)
        return _or_raise(pipeline, problems, source or "pipeline")

    # -- secrets -------------------------------------------------------------------------------

    def secrets(self, *, store: Any = None, db: str | None = None, keys: Any = None) -> Any:
        """The :class:`~orchestra_core.Secrets` (constants, credentials, connections,
        keys) of *store*, or of the store at *db* (released by its ``close()``); connections
        are checked against this host's integrations. *keys*: a
        :class:`~orchestra_core.KeyRing` (default: the environment and key file)."""
        from ._secrets import Secrets

        if store is not None:
            return Secrets(store, host=self, keys=keys)
        return Secrets.open(db, host=self, keys=keys)


def _catalog(store: Any) -> Any:
    """The names *store* holds, for validation (``None`` without a store)."""
    if store is None:
        return None
    from ._secrets import Catalog

    return Catalog.from_store(store)


def _or_raise(pipeline: Pipeline | None, problems: Sequence[Problem], what: str) -> Pipeline:
    if problems or pipeline is None:
        n = len(problems)
        raise ConfigError(problems, summary=f"{what}: {n} problem{'s' if n != 1 else ''}")
    return pipeline


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
