"""What a run needs from the secrets store: connections, constants and credentials resolved
once per run and handed to tasks, every decrypted value registered with the host's redactor
(``host.redactor``) first.

Task parameters may hold placeholders, replaced when the task runs (the stored pipeline
keeps the placeholder, never the value):

- ``${constants.NAME}``: the constant's value;
- ``${credentials.NAME.FIELD}``: a decrypted field of a credential (``username`` is its
  user name); the value is masked wherever text leaves the process;
- ``$${...}`` stands for a literal ``${...}``. Other ``${...}`` text (``${HOME}``) is left as is.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio

from .._models import Connection, Problem
from .._redaction import Redactor
from ._errors import SecretsError
from ._records import not_found

if TYPE_CHECKING:
    from .._pipeline import Task
    from .._registry import IntegrationSpec
    from .._store import Store
    from ._api import Secrets

__all__ = (
    "Catalog",
    "RunSecrets",
    "check_keys_for",
    "connection_from_env",
    "credential_fields",
    "find_placeholders",
    "register_secret_values",
    "register_stored_secrets",
)

_PLACEHOLDER = re.compile(r"(\$?)\$\{\s*(constants|credentials)\.([^}\s]+)\s*\}")


def register_secret_values(redactor: Redactor, values: Iterable[str | None]) -> None:
    """Register *values* with *redactor* (a host's), with the forms they take in URLs and
    JSON."""
    for value in values:
        if not value:
            continue
        redactor.add(value, quote(value, safe=""), json.dumps(value)[1:-1])


def basic_auth_token(redactor: Redactor, username: str, password: str) -> str:
    """The ``Basic`` credentials of an Authorization header (registered with *redactor*)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    redactor.add(token)
    return token


# -- placeholders ----------------------------------------------------------------------------


def find_placeholders(value: Any, path: str) -> list[tuple[str, str, str]]:
    """``(path, kind, reference)`` for every placeholder in the strings of *value*."""
    found: list[tuple[str, str, str]] = []
    if isinstance(value, str):
        if "${" in value:
            found.extend((path, m.group(2), m.group(3)) for m in _PLACEHOLDER.finditer(value)
                         if not m.group(1))
    elif isinstance(value, Mapping):
        for key, item in value.items():
            found.extend(find_placeholders(item, f"{path}.{key}"))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found.extend(find_placeholders(item, f"{path}[{i}]"))
    return found


def _has_placeholder(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value and _PLACEHOLDER.search(value) is not None
    if isinstance(value, Mapping):
        return any(_has_placeholder(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_placeholder(v) for v in value)
    return False


def _substitute(value: Any, path: str, lookup: Callable[[str, str, str], str]) -> Any:
    if isinstance(value, str):
        if "${" not in value:
            return value

        def one(m: re.Match[str]) -> str:
            if m.group(1):
                return m.group(0)[1:]  # $${...}: the literal ${...}
            return lookup(path, m.group(2), m.group(3))

        return _PLACEHOLDER.sub(one, value)
    if isinstance(value, Mapping):
        return {k: _substitute(v, f"{path}.{k}", lookup) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_substitute(v, f"{path}[{i}]", lookup) for i, v in enumerate(value)]
    return value


def _split_credential(reference: str) -> tuple[str, str]:
    name, _, field_name = reference.rpartition(".")
    return name, field_name


# -- environment connections -----------------------------------------------------------------


def connection_from_env(spec: IntegrationSpec, environ: Mapping[str, str] | None = None, *,
                        redactor: Redactor) -> Connection | None:
    """The quick-start connection of *spec* from the environment variables its
    ConnectionSpec names, or ``None`` when none of them is set. Values of secret fields
    (and of fields that are neither an option nor ``base_url``) are registered with
    *redactor* (the host's)."""
    need = spec.connection
    if need is None or not need.env:
        return None
    env = os.environ if environ is None else environ
    present = {name: env[var] for name, var in need.env.items() if env.get(var)}
    if not present:
        return None
    base_url = present.pop("base_url", None) or need.base_url
    auth = present.pop("auth", None) or need.auth
    options = {k: v for k, v in present.items() if k in need.options and k not in need.secrets}
    secrets = {k: v for k, v in present.items() if k not in options}
    register_secret_values(redactor, (v for k, v in secrets.items() if k != "username"))
    return Connection(name=f"env:{spec.name}", integration=spec.name, base_url=base_url,
                      auth=auth, options=options, secrets=secrets)


# -- per run ---------------------------------------------------------------------------------

_UNSET: Any = object()


class RunSecrets:
    """One run's view of the secrets: read from the store at most once (when the first task
    needing it starts), decrypted once per credential, shared by every task of the run.

    :param secrets: the :class:`~orchestra_core.Secrets` of the engine's store.
    :param host: the host, for the integrations' ConnectionSpecs; every decrypted value is
        registered with its ``redactor`` before a task sees it.
    :param env: the environment variables quick-start connections are read from
        (:func:`connection_from_env`); default: ``os.environ``.
    """

    def __init__(self, secrets: Secrets, host: Any, *,
                 env: Mapping[str, str] | None = None) -> None:
        self.secrets = secrets
        self.host = host
        self.env = env
        self._snapshot: dict[str, dict[str, Any]] | None = None
        self._lock: anyio.Lock | None = None
        self._decrypted: dict[str, dict[str, str]] = {}
        self._connections: dict[str, Connection] = {}
        self._env: dict[str, Connection | None] = {}
        self._uses: dict[str, bool] = {}

    def uses_store(self, task: Task) -> bool:
        """Whether *task* names a connection or has placeholders in its parameters."""
        if not task.parameters and not task.secondary_configuration_id:
            return False  # nothing to look at (most tasks of a large fan-out)
        found = self._uses.get(task.id)
        if found is None:
            found = self._uses[task.id] = bool(task.secondary_configuration_id) or \
                _has_placeholder(task.parameters)
        return found

    async def prepare(self, run_in_thread: Callable[..., Any]) -> None:
        """Read constants, credentials and connections (once per run), in a thread."""
        if self._snapshot is not None:
            return
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if self._snapshot is None:
                self._snapshot = await run_in_thread(self.secrets._snapshot)

    # -- parameters ------------------------------------------------------------------------------

    def parameters(self, task: Task) -> dict[str, Any]:
        """*task*'s parameters with every placeholder replaced."""
        if not self.uses_store(task) or not _has_placeholder(task.parameters):
            return dict(task.parameters)
        return _substitute(dict(task.parameters), "parameters",
                           lambda path, kind, ref: self._lookup(task, path, kind, ref))

    def _lookup(self, task: Task, path: str, kind: str, reference: str) -> str:
        snap = self._snap()
        where = f"task {task.id!r}, {path}"
        if kind == "constants":
            if reference not in snap["constants"]:
                missing = not_found("constant", reference, list(snap["constants"]))
                raise SecretsError(f"{where}: {missing}")
            return snap["constants"][reference]
        name, field_name = _split_credential(reference)
        if not name:
            raise SecretsError(f"{where}: write ${{credentials.NAME.FIELD}}, e.g. "
                               f"${{credentials.{reference}.password}}")
        row = snap["credentials"].get(name)
        if row is None:
            missing = not_found("credential", name, list(snap["credentials"]))
            raise SecretsError(f"{where}: {missing}")
        if field_name == "username" and row["username"]:
            return row["username"]
        values = self._credential(name, f"credential {name!r} ({where})")
        if field_name not in values:
            raise SecretsError(f"{where}: credential {name!r} has no field {field_name!r} "
                               f"(its fields: {', '.join(sorted(values))})")
        return values[field_name]

    # -- connections -----------------------------------------------------------------------------

    def connection(self, task: Task, integration: str) -> Connection | None:
        """The connection *task* gets as ``ctx.connection``: the one it names, else the
        integration's environment connection, else ``None``."""
        name = task.secondary_configuration_id
        if not name:  # the integration's environment connection, looked up once
            found = self._env.get(integration, _UNSET)
            if found is _UNSET:
                spec = self.host.integrations.find(integration)
                found = self._env[integration] = None if spec is None else \
                    connection_from_env(spec, self.env, redactor=self.host.redactor)
            return found
        spec = self.host.integrations.find(integration)
        conn = self._connections.get(name)
        if conn is None:
            conn = self._connections[name] = self._resolve(task, name, spec)
        if conn.integration != (spec.name if spec else integration):
            raise SecretsError(
                f"task {task.id!r} names connection {name!r} (secondary_configuration_id), "
                f"which is a {conn.integration} connection, not a "
                f"{spec.name if spec else integration} connection")
        return conn

    def _resolve(self, task: Task, name: str, spec: IntegrationSpec | None) -> Connection:
        snap = self._snap()
        row = snap["connections"].get(name)
        if row is None:
            missing = not_found("connection", name, list(snap["connections"]))
            raise SecretsError(f"task {task.id!r}, secondary_configuration_id: {missing}")
        need = spec.connection if spec is not None and spec.name == row["integration"] else None
        return Connection(
            name=name, integration=row["integration"],
            base_url=row["base_url"] or (need.base_url if need else None),
            auth=row["auth"] or (need.auth if need else None),
            options=dict(row["options"] or {}),
            secrets=credential_fields(snap, name, self._credential),
            credential=row["credential"])

    def _credential(self, name: str, what: str) -> dict[str, str]:
        values = self._decrypted.get(name)
        if values is None:
            row = self._snap()["credentials"][name]
            values = self.secrets._decrypt(row, what)
            # before any task sees them
            register_secret_values(self.host.redactor, values.values())
            self._decrypted[name] = values
        return values

    def _snap(self) -> dict[str, dict[str, Any]]:
        if self._snapshot is None:  # called without prepare(): read synchronously
            self._snapshot = self.secrets._snapshot()
        return self._snapshot


# -- validation and the CLI ------------------------------------------------------------------


class Catalog:
    """The names a store holds, for validating pipelines against it (no key needed).

    :param constants: constant names.
    :param credentials: credential name -> its field names (``username`` included if set).
    :param connections: connection name -> its integration.
    """

    def __init__(self, constants: Iterable[str], credentials: Mapping[str, Iterable[str]],
                 connections: Mapping[str, str]) -> None:
        self.constants = set(constants)
        self.credentials = {k: set(v) for k, v in credentials.items()}
        self.connections = dict(connections)

    @classmethod
    def from_store(cls, store: Store) -> Catalog:
        """The catalog of *store*."""
        from ._api import Secrets

        snap = Secrets(store)._snapshot()
        creds = {n: [*r["fields"], *(["username"] if r["username"] else [])]
                 for n, r in snap["credentials"].items()}
        return cls(snap["constants"], creds,
                   {n: r["integration"] for n, r in snap["connections"].items()})

    def check_task(self, task: Task, path: str, integration: str,
                   connection_key: str = "secondary_configuration_id") -> list[Problem]:
        """Problems of *task* (at JSON *path*) against the store: an unknown connection or
        one of another integration, unknown constants or credentials in its parameters."""
        problems = []
        name = task.secondary_configuration_id
        if name:
            at = f"{path}.{connection_key}"
            if name not in self.connections:
                problems.append(Problem(path=at, code="unknown-connection", message=str(
                    not_found("connection", name, list(self.connections)))))
            elif self.connections[name] != integration:
                problems.append(Problem(path=at, code="wrong-connection-type", message=(
                    f"connection {name!r} is a {self.connections[name]} connection; this "
                    f"task runs the {integration} integration")))
        for where, kind, ref in find_placeholders(dict(task.parameters), f"{path}.parameters"):
            if kind == "constants":
                if ref not in self.constants:
                    problems.append(Problem(path=where, code="unknown-constant", message=str(
                        not_found("constant", ref, sorted(self.constants)))))
                continue
            cred, field_name = _split_credential(ref)
            if cred not in self.credentials:
                problems.append(Problem(path=where, code="unknown-credential", message=str(
                    not_found("credential", cred or ref, sorted(self.credentials)))))
            elif field_name not in self.credentials[cred]:
                problems.append(Problem(path=where, code="unknown-credential-field", message=(
                    f"credential {cred!r} has no field {field_name!r} (its fields: "
                    f"{', '.join(sorted(self.credentials[cred]))})")))
        return problems


def check_keys_for(secrets: Secrets, tasks: Iterable[Task]) -> None:
    """Load the keys now when any of *tasks* uses stored connections, constants or credentials,
    so an unreadable or invalid key file is a :class:`SecretsError` before a run is recorded
    (not a task failing in the middle of one)."""
    if any(t.secondary_configuration_id or _has_placeholder(t.parameters) for t in tasks):
        _ = secrets.keyring


def register_stored_secrets(secrets: Secrets, redactor: Redactor) -> int:
    """Register every credential value the configured keys can decrypt with *redactor* (the
    CLI's, so that what it prints masks them even if one got stored unmasked); records that
    cannot be decrypted are skipped. Returns how many credentials were registered."""
    try:
        ring = secrets.keyring
        if not ring:
            return 0
        rows = secrets._snapshot()["credentials"].values()
    except Exception:  # best effort: never block a read-only command
        return 0
    count = 0
    for row in rows:
        if row["key_id"] not in ring:
            continue
        try:
            register_secret_values(redactor, secrets._decrypt(row).values())
            count += 1
        except SecretsError:
            continue
    return count


def credential_fields(snap: Mapping[str, Any], name: str,
                      decrypt: Callable[[str, str], dict[str, str]]) -> dict[str, str]:
    """The fields of stored connection *name*'s credential (in the snapshot *snap*): its
    username, and the secret fields ``decrypt(credential_name, what)`` gives; none when the
    connection names no credential.

    :raises SecretsError: the connection names a credential that does not exist.
    """
    cred_name = snap["connections"][name]["credential"]
    if not cred_name:
        return {}
    cred = snap["credentials"].get(cred_name)
    if cred is None:
        raise SecretsError(f"connection {name!r} uses credential {cred_name!r}, which does "
                           "not exist")
    values = {"username": cred["username"]} if cred["username"] else {}
    values.update(decrypt(cred_name, f"credential {cred_name!r} (of connection {name!r})"))
    return values
