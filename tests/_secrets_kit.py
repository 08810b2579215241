"""Shared pieces of the secrets tests: stores on SQLite and PostgreSQL, a plugin declaring a
ConnectionSpec, and a JobServer that checks (and can echo) the Authorization header."""

from __future__ import annotations

import json
import secrets as pysecrets
import uuid
from pathlib import Path
from typing import Any

import pytest
from attrs import frozen

from orchestra_core import (
    ConnectionSpec,
    ExternalRun,
    JobResult,
    JobState,
    TaskFailed,
    hookimpl,
    parameter,
)
from orchestra_core._store import Store
from orchestra_core.testing.jobserver import JobServer, _Handler

from ._postgres import PG, skip_reason


def pg_available() -> str | None:
    """Why to skip the PostgreSQL tests, or ``None``; fails when PostgreSQL is expected."""
    return skip_reason()


def open_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    """A fresh store: a SQLite file in *tmp_path*, or a new PostgreSQL schema."""
    if kind == "sqlite":
        return Store.open(str(tmp_path / "o.db"))
    reason = pg_available()
    if reason:
        pytest.skip(reason)
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG.replace("postgresql://", "postgresql+psycopg://"))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    request.addfinalizer(drop)
    return Store.open(PG + f"?options=-csearch_path%3D{schema}")


def plant(prefix: str = "s3cr3t") -> str:
    """A unique secret value, easy to search for."""
    return f"{prefix}-{pysecrets.token_hex(8)}"


# -- a plugin that declares a connection ------------------------------------------------------


@frozen(kw_only=True)
class VaultParams:
    """Parameters of vault_job."""

    echo: bool = parameter(default=False, help="fail with a message echoing the secrets")
    note: str = parameter(default="", help="free text, logged")


class VaultRunner:
    """Reports what ``ctx.connection`` holds; with ``echo`` it leaks it every way it can."""

    def __init__(self, host: object) -> None:
        self.seen: list[Any] = []

    async def start(self, ctx: Any) -> ExternalRun:
        self.seen.append(ctx.connection)
        conn = ctx.connection
        if ctx.parameters.note:
            ctx.log(f"note: {ctx.parameters.note}")
        if conn is not None and ctx.parameters.echo:
            ctx.log(f"using key {conn.secret('api_key')} and secret {conn.secret('api_secret')}")
            raise TaskFailed(f"vendor said: bad key {conn.secret('api_key')}",
                             metadata={"sent": dict(conn.secrets)})
        return ExternalRun(id="v-1", started_at=ctx.now(),
                           data={"connection": conn.name if conn else None})

    async def wait(self, ctx: Any, run: ExternalRun) -> JobResult:
        conn = ctx.connection
        return JobResult(state=JobState.SUCCEEDED, metadata={
            "connection": conn.name if conn else None,
            "base_url": conn.base_url if conn else None})

    async def cancel(self, ctx: Any, run: ExternalRun) -> None:
        return None


class VaultPlugin:
    """Integration ``vault`` whose connection needs api_key + api_secret and an account."""

    orchestra_plugin_name = "vault"

    @hookimpl
    def orchestra_register_integrations(self, registry: Any) -> None:
        vault = registry.integration(
            "vault", description="test integration with a connection", aliases=("vlt",),
            connection=ConnectionSpec(
                secrets=("api_key", "api_secret"), options=("account",), auth="basic",
                base_url="https://vault.invalid/v1",
                env={"api_key": "VAULT_API_KEY", "api_secret": "VAULT_API_SECRET",
                     "base_url": "VAULT_BASE_URL", "account": "VAULT_ACCOUNT"}))
        vault.job("vault_job", parameters=VaultParams, description="uses its connection",
                  runner=VaultRunner)


# -- a job server that wants a bearer token ---------------------------------------------------


class AuthServer:
    """A :class:`JobServer` whose API requires ``Authorization: <expected>``. A wrong or
    missing header gets 401 with a body echoing the header it got; with ``echo_on_success``
    successful answers echo it too (as careless APIs do)."""

    def __init__(self, expected: str, *, echo_on_success: bool = False,
                 duration: float = 0.0) -> None:
        self.expected = expected
        self.echo_on_success = echo_on_success
        self.seen: list[str | None] = []
        self.server = JobServer(duration=duration)
        owner = self

        class Handler(_Handler):
            def _send(self, status: int, payload: Any) -> None:
                got = self.headers.get("Authorization")
                if owner.echo_on_success and isinstance(payload, dict):
                    payload = {**payload, "authorization": got}
                super()._send(status, payload)

            def _check(self) -> bool:
                got = self.headers.get("Authorization")
                owner.seen.append(got)
                if got == owner.expected:
                    return True
                body = json.dumps({"error": f"bad credentials: {got}"}).encode()
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return False

            def do_POST(self) -> None:
                if self._check():
                    super().do_POST()

            def do_GET(self) -> None:
                if self._check():
                    super().do_GET()

        self.server._server.RequestHandlerClass = Handler

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.server.url

    def __enter__(self) -> AuthServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.close()


def stored_text(store: Store) -> str:
    """Every task run, run, event and pipeline row of *store*, as text (to look for secrets)."""
    import sqlalchemy as sa

    out = []
    with store.engine.connect() as conn:
        for table in ("task_runs", "pipeline_runs", "events", "pipelines"):
            out += [repr(tuple(r)) for r in conn.execute(sa.text(f"SELECT * FROM {table}"))]
    return "\n".join(out)


def run_logs(store: Store, run_id: str) -> list[str]:
    """The log messages of run *run_id*."""
    return [e["message"] for e in store.logs(run_id=run_id)]


def scan(root: Path, *secrets: str) -> list[str]:
    """Files under *root* whose bytes contain one of *secrets* (as ``path: secret``)."""
    hits = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path}: {s}" for s in secrets if s.encode() in data]
    return hits
