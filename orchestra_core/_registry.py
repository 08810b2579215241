"""Registries handed to the ``orchestra_register_*`` hooks.

A plugin's hook implementation calls methods on the registry it receives::

    @hookimpl
    def orchestra_register_integrations(registry):
        fivetran = registry.integration("fivetran", description="Fivetran connectors")
        fivetran.job(
            "fivetran_sync_all",
            parameters=FivetranSyncAll,
            description="Sync all tables of one connection",
            runner=FivetranSyncRunner,
            phase="ingestion",
        )
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

import attrs
from attrs import field, frozen

from ._errors import PluginError
from ._pipeline import Phase

if TYPE_CHECKING:
    from ._protocols import JobRunner

__all__ = (
    "ChannelRegistry",
    "ChannelType",
    "ConnectionSpec",
    "DestinationRegistry",
    "DestinationType",
    "IntegrationBuilder",
    "IntegrationRegistry",
    "IntegrationSpec",
    "JobType",
    "NamedRegistry",
    "NamedType",
)

#: A runner factory: called once per host with the :class:`~orchestra_core.Orchestra`.
RunnerFactory = Callable[[Any], "JobRunner"]

T = TypeVar("T")
N = TypeVar("N", bound="NamedType[Any]")


@frozen(kw_only=True)
class JobType:
    """A registered integration job.

    :param name: canonical lower-case name, e.g. ``fivetran_sync_all``.
    :param integration: the integration's canonical name.
    :param parameters: an ``attrs`` class; its fields are the job's parameters. Field metadata
        ``aliases`` (a tuple of other accepted names) and ``help`` are used by validation.
    :param description: one line for ``orchestra plugins`` and the docs.
    :param runner: factory of the :class:`~orchestra_core.JobRunner`, or ``None``
        when the job cannot execute (yet).
    :param phase: the default phase of tasks running this job.
    :param aliases: other accepted job names (matched case-insensitively).
    :param plugin: the name of the plugin that registered it.
    """

    name: str
    integration: str
    parameters: type
    description: str
    runner: RunnerFactory | None = None
    phase: Phase = Phase.PROCESSING
    aliases: tuple[str, ...] = ()
    plugin: str = ""


@frozen(kw_only=True)
class ConnectionSpec:
    """What a connection (secondary configuration) of an integration needs.

    :param secrets: the credential fields a task needs, e.g. ``("api_key", "api_secret")``
        for Fivetran or ``("token",)`` for a bearer token.
    :param options: the non-secret options a connection must set (e.g. ``("account_id",)``).
    :param auth: the default auth scheme (``basic``, ``bearer``, ``header``, ``oauth``, ...).
    :param base_url: the vendor's default API base URL.
    :param env: quick-start environment variables, by field: a secret field, an option or
        ``base_url`` mapped to the variable that provides it (``{"api_key":
        "FIVETRAN_API_KEY"}``). Used when a task names no connection.
    """

    secrets: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    auth: str | None = None
    base_url: str | None = None
    env: Mapping[str, str] = field(factory=dict)


@frozen(kw_only=True)
class IntegrationSpec:
    """A registered integration and its jobs.

    :param connection: what a connection for this integration needs, if it uses one.
    :param simulator: ``"module:attribute"`` of the integration's vendor simulator (a
        :class:`~orchestra_core.testing._simulator.Simulator` subclass), for
        ``orchestra simulate NAME``.
    :param webhooks: ``"module:attribute"`` of an async function that registers the vendor's
        webhook for Orchestra through the vendor's API, for ``orchestra webhooks register
        NAME``: ``await fn(host, connection, url, replace=..., store_secret=...)`` returns a
        mapping (``id``, ``events``, ``replaced``) and hands the signing secret to
        ``store_secret(secret)`` (kept in the connection's credential as ``webhook_secret``)
        before the vendor's first delivery needs it.
    """

    name: str
    description: str
    aliases: tuple[str, ...] = ()
    plugin: str = ""
    jobs: dict[str, JobType] = field(factory=dict)
    connection: ConnectionSpec | None = None
    simulator: str | None = None
    webhooks: str | None = None

    def find_job(self, name: str) -> JobType | None:
        """The job called *name* (or one of its aliases), case-insensitively."""
        wanted = name.lower()
        for job in self.jobs.values():
            if wanted == job.name or wanted in job.aliases:
                return job
        return None


class IntegrationBuilder:
    """Returned by :meth:`IntegrationRegistry.integration`; adds jobs to one integration."""

    def __init__(self, registry: IntegrationRegistry, spec: IntegrationSpec) -> None:
        self._registry = registry
        self._spec = spec

    def job(
        self,
        name: str,
        *,
        parameters: type,
        description: str,
        runner: RunnerFactory | None = None,
        phase: Phase | str = Phase.PROCESSING,
        aliases: tuple[str, ...] = (),
    ) -> JobType:
        """Register job *name* of this integration; see :class:`JobType` for the arguments."""
        if not attrs.has(parameters):
            raise PluginError(
                f"plugin {self._registry.current_plugin!r}: parameters of job {name!r} must be "
                f"an attrs class, got {parameters!r}"
            )
        job = JobType(
            name=name.lower(),
            integration=self._spec.name,
            parameters=parameters,
            description=description,
            runner=runner,
            phase=Phase(phase),
            aliases=tuple(a.lower() for a in aliases),
            plugin=self._registry.current_plugin,
        )
        for taken in (job.name, *job.aliases):
            other = self._spec.find_job(taken)
            if other is not None:
                raise PluginError(
                    f"job {taken!r} of integration {self._spec.name!r} is registered by both "
                    f"plugin {other.plugin!r} and plugin {job.plugin!r}"
                )
        self._spec.jobs[job.name] = job
        return job


class IntegrationRegistry:
    """Collects integrations and their jobs from ``orchestra_register_integrations``."""

    def __init__(self) -> None:
        self._integrations: dict[str, IntegrationSpec] = {}
        self.current_plugin = ""

    def integration(
        self, name: str, *, description: str, aliases: tuple[str, ...] = (),
        connection: ConnectionSpec | None = None, simulator: str | None = None,
        webhooks: str | None = None,
    ) -> IntegrationBuilder:
        """Declare integration *name* (lower-case) and return a builder to add its jobs;
        *connection*, *simulator* and *webhooks* are described in :class:`IntegrationSpec`.

        Declaring an integration another plugin declared adds jobs to it, so one plugin can
        extend another's integration with new jobs.
        """
        key = name.lower()
        spec = self._integrations.get(key)
        if spec is None:
            for other in self._integrations.values():
                if key in other.aliases or any(a.lower() == other.name for a in aliases):
                    raise PluginError(
                        f"integration name {key!r} of plugin {self.current_plugin!r} clashes "
                        f"with integration {other.name!r} of plugin {other.plugin!r}"
                    )
            spec = IntegrationSpec(
                name=key,
                description=description,
                aliases=tuple(a.lower() for a in aliases),
                plugin=self.current_plugin,
                connection=connection,
                simulator=simulator,
                webhooks=webhooks,
            )
            self._integrations[key] = spec
        return IntegrationBuilder(self, spec)

    def find(self, name: str) -> IntegrationSpec | None:
        """The integration called *name* (or an alias of it), case-insensitively."""
        wanted = name.lower()
        if wanted in self._integrations:
            return self._integrations[wanted]
        for spec in self._integrations.values():
            if wanted in spec.aliases:
                return spec
        return None

    def __iter__(self) -> Iterator[IntegrationSpec]:
        return iter(sorted(self._integrations.values(), key=lambda s: s.name))

    def names(self) -> list[str]:
        """Canonical names of every registered integration, sorted."""
        return sorted(self._integrations)


@frozen(kw_only=True)
class NamedType(Generic[T]):
    """A registered named type: a name, an options model and a factory making a *T*.

    :param name: canonical lower-case name.
    :param options: the attrs class of the type's options (``None``: it takes none).
    :param factory: called with the structured options object; returns the *T*.
    :param description: one line for ``orchestra plugins`` and the docs.
    :param plugin: the name of the plugin that registered it.
    """

    name: str
    options: type | None
    factory: Callable[..., T]
    description: str
    plugin: str = ""


@frozen(kw_only=True)
class DestinationType(NamedType["Destination"]):
    """A registered destination type; its factory makes a
    :class:`~orchestra_core.Destination`."""


@frozen(kw_only=True)
class ChannelType(NamedType["NotificationChannel"]):
    """A registered notification channel type; its factory makes a
    :class:`~orchestra_core.NotificationChannel`."""


class NamedRegistry(Generic[N]):
    """Collects named types of one kind from a register hook: one name, one plugin.

    Subclasses set :attr:`kind` (the noun in messages) and :attr:`item_class` (the
    :class:`NamedType` subclass :meth:`add` makes).
    """

    kind: ClassVar[str] = "type"
    item_class: ClassVar[type[NamedType[Any]]] = NamedType

    def __init__(self) -> None:
        self._items: dict[str, N] = {}
        #: the plugin whose register hook is running (set by the host)
        self.current_plugin = ""

    def add(
        self,
        name: str,
        *,
        factory: Callable[..., Any],
        description: str,
        options: type | None = None,
    ) -> N:
        """Register type *name*; *factory* receives the structured *options* object (an
        instance of the attrs class *options*, or ``None`` when there is no options class).

        :raises PluginError: when another plugin registered *name* already.
        """
        item = cast(N, self.item_class(
            name=name.lower(),
            options=options,
            factory=factory,
            description=description,
            plugin=self.current_plugin,
        ))
        if item.name in self._items:
            other = self._items[item.name]
            raise PluginError(
                f"{self.kind} {item.name!r} is registered by both plugin {other.plugin!r} "
                f"and plugin {item.plugin!r}"
            )
        self._items[item.name] = item
        return item

    def find(self, name: str) -> N | None:
        """The registered type called *name* (case-insensitively), or ``None``."""
        return self._items.get(name.lower())

    def __iter__(self) -> Iterator[N]:
        return iter(sorted(self._items.values(), key=lambda i: i.name))


class DestinationRegistry(NamedRegistry[DestinationType]):
    """Collects destination types from ``orchestra_register_destinations``."""

    kind = "destination"
    item_class = DestinationType


class ChannelRegistry(NamedRegistry[ChannelType]):
    """Collects notification channel types from ``orchestra_register_notification_channels``."""

    kind = "notification channel"
    item_class = ChannelType
