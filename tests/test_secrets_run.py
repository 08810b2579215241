"""What running tasks get from the secrets store, through the Python API with a fake clock, on
SQLite and PostgreSQL: ``ctx.connection`` (named, or from the environment), ``${constants.X}``
and ``${credentials.X.F}`` in parameters, clear failures (unknown connection, wrong type,
wrong key) and secrets masked in everything the run stores."""

from __future__ import annotations

import json

import anyio
import pytest

from orchestra_core import Connection, ExternalRun, JobResult, JobState, Orchestra, hookimpl
from orchestra_core._engine import Engine
from orchestra_core._redaction import MASK
from orchestra_core._secrets import KeyRing, Secrets, generate_key
from orchestra_core.testing import FakeClock

from ._secrets_kit import VaultParams, VaultPlugin, open_store, plant, run_logs, stored_text


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    s = open_store(request.param, tmp_path, request)
    yield s
    s.close()


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


@pytest.fixture(autouse=True)
def no_env_connection(monkeypatch):
    for var in ("VAULT_API_KEY", "VAULT_API_SECRET", "VAULT_BASE_URL", "VAULT_ACCOUNT"):
        monkeypatch.delenv(var, raising=False)


class Setup:
    def __init__(self, store, ring=None):
        self.plugin = VaultPlugin()
        self.host = Orchestra(plugins=[self.plugin], load_entrypoints=False)
        self.ring = ring or KeyRing.from_keys(generate_key())
        self.store = store
        self.secrets = self.host.secrets(store=store, keys=self.ring)
        self.clock = FakeClock()
        self.engine = Engine(self.host, store, clock=self.clock, keys=self.ring)

    @property
    def runner(self):
        return self.host.runner(self.host.find_job("vault", "vault_job"))

    async def run(self, *tasks, **extra):
        pipeline = self.host.pipeline_from_data({"name": "p", "tasks": list(tasks), **extra})
        async with self.clock.driving():
            return await self.engine.run(pipeline)

    def stored_text(self) -> str:
        return stored_text(self.store)

    def logs(self, run_id: str) -> list[str]:
        return run_logs(self.store, run_id)


def vault_task(task_id="t", **extra):
    return {"id": task_id, "integration": "vault", "integration_job": "vault_job", **extra}


def with_connection(setup, name="prod", *, credential="vault-creds", **kw):
    values = {"api_key": plant("key"), "api_secret": plant("sec")}
    setup.secrets.credentials.set(credential, secrets=values, username="svc-user")
    setup.secrets.connections.add(name, integration="vault", credential=credential,
                                  options={"account": "acme"}, **kw)
    return values


@pytest.mark.anyio
async def test_a_task_gets_its_connection_decrypted(store):
    s = Setup(store)
    values = with_connection(s)
    result = await s.run(vault_task(secondary_configuration_id="prod"),
                         vault_task("u", connection="prod"))
    assert result.state == "succeeded", result.tasks
    conn = s.runner.seen[0]
    assert isinstance(conn, Connection)
    assert (conn.name, conn.integration, conn.credential, dict(conn.options)) == (
        "prod", "vault", "vault-creds", {"account": "acme"})
    # defaults of the integration's ConnectionSpec fill what the connection leaves out
    assert (conn.base_url, conn.auth) == ("https://vault.invalid/v1", "basic")
    assert dict(conn.secrets) == {**values, "username": "svc-user"}
    assert s.runner.seen[1] is conn  # resolved once per run, shared
    assert values["api_key"] not in repr(conn)
    assert result.tasks["t"]["meta"]["connection"] == "prod"


@pytest.mark.anyio
async def test_unknown_connection_fails_the_task_without_retrying(store):
    s = Setup(store)
    with_connection(s)
    result = await s.run(vault_task(connection="prdo", retries={"count": 3}))
    row = result.tasks["t"]
    assert (result.state, row["state"], row["attempt"]) == ("failed", "failed", 1)
    assert row["error"] == ("task 't', secondary_configuration_id: no connection named "
                            "'prdo' (did you mean 'prod'?); stored connections: prod")
    assert s.runner.seen == []


@pytest.mark.anyio
async def test_a_connection_of_another_integration_fails_the_task(store):
    s = Setup(store)
    s.secrets.credentials.set("tok", secrets={"token": plant()})
    s.secrets.connections.add("web", integration="http", auth="bearer", credential="tok")
    result = await s.run(vault_task(connection="web"))
    assert result.tasks["t"]["error"] == (
        "task 't' names connection 'web' (secondary_configuration_id), which is a http "
        "connection, not a vault connection")


@pytest.mark.anyio
async def test_a_credential_under_a_missing_key_fails_clearly(store):
    writer = Setup(store)
    values = with_connection(writer)
    reader = Setup(store, ring=KeyRing.from_keys(generate_key()))
    result = await reader.run(vault_task(connection="prod"))
    error = result.tasks["t"]["error"]
    assert error.startswith(
        f"credential 'vault-creds' (of connection 'prod') is encrypted with key id "
        f"{writer.ring.primary.id}, which is not configured (configured key ids: "
        f"{reader.ring.primary.id})")
    assert not any(v in reader.stored_text() for v in values.values())


@pytest.mark.anyio
async def test_secrets_are_read_once_per_run_whatever_the_number_of_tasks(store, monkeypatch):
    s = Setup(store)
    with_connection(s)
    calls = {"snapshot": 0, "decrypt": 0}
    snapshot, decrypt = Secrets._snapshot, Secrets._decrypt

    def counted_snapshot(self):
        calls["snapshot"] += 1
        return snapshot(self)

    def counted_decrypt(self, *args):
        calls["decrypt"] += 1
        return decrypt(self, *args)

    monkeypatch.setattr(Secrets, "_snapshot", counted_snapshot)
    monkeypatch.setattr(Secrets, "_decrypt", counted_decrypt)
    result = await s.run(*[vault_task(f"t{i}", connection="prod") for i in range(40)],
                         vault_task("plain"))
    assert result.state == "succeeded"
    assert calls == {"snapshot": 1, "decrypt": 1}
    calls.update(snapshot=0, decrypt=0)
    await s.run(vault_task("plain"))  # a run needing no secret never reads them
    assert calls == {"snapshot": 0, "decrypt": 0}


@pytest.mark.anyio
async def test_without_a_connection_the_environment_provides_one(store, monkeypatch):
    s = Setup(store)
    await s.run(vault_task())
    assert s.runner.seen == [None]  # nothing configured: the plugin raises its own error
    key, secret = plant("envkey"), plant("envsec")
    monkeypatch.setenv("VAULT_API_KEY", key)
    monkeypatch.setenv("VAULT_API_SECRET", secret)
    monkeypatch.setenv("VAULT_ACCOUNT", "acme")
    result = await s.run(vault_task(echo=True))
    conn = s.runner.seen[-1]
    assert (conn.name, conn.base_url, dict(conn.options), dict(conn.secrets)) == (
        "env:vault", "https://vault.invalid/v1", {"account": "acme"},
        {"api_key": key, "api_secret": secret})
    stored = s.stored_text()
    assert key not in stored and secret not in stored
    assert result.tasks["t"]["error"] == f"vendor said: bad key {MASK}"
    monkeypatch.setenv("VAULT_BASE_URL", "http://127.0.0.1:1/sim")
    await s.run(vault_task())
    assert s.runner.seen[-1].base_url == "http://127.0.0.1:1/sim"


@pytest.mark.anyio
async def test_echoed_secrets_are_masked_in_error_meta_and_logs(store):
    s = Setup(store)
    values = with_connection(s)
    result = await s.run(vault_task(connection="prod", echo=True))
    row = result.tasks["t"]
    assert row["error"] == f"vendor said: bad key {MASK}"
    assert row["meta"]["sent"] == {"api_key": MASK, "api_secret": MASK, "username": "svc-user"}
    assert f"using key {MASK} and secret {MASK}" in s.logs(result.run_id)
    stored = s.stored_text()
    assert not [v for v in values.values() if v in stored]


@pytest.mark.anyio
async def test_constants_and_credentials_in_parameters(store):
    s = Setup(store)
    values = with_connection(s)
    s.secrets.constants.set("region", "eu-west-1")
    result = await s.run(vault_task(parameters={
        "note": "region ${constants.region}, key ${credentials.vault-creds.api_key}, user "
                "${ credentials.vault-creds.username }, literal $${constants.region}, "
                "shell ${HOME}"}))
    assert result.state == "succeeded"
    assert (f"note: region eu-west-1, key {MASK}, user svc-user, literal "
            "${constants.region}, shell ${HOME}") in s.logs(result.run_id)
    assert values["api_key"] not in s.stored_text()
    # the stored definition keeps the placeholder, never the value
    definition = json.dumps(s.store.get_run(result.run_id)["definition"])
    assert "${credentials.vault-creds.api_key}" in definition


@pytest.mark.anyio
@pytest.mark.parametrize(("note", "error"), [
    ("${constants.nope}", "task 't', parameters.note: no constant named 'nope'; stored "
                          "constants: region"),
    ("${credentials.nope.password}", "task 't', parameters.note: no credential named 'nope'"),
    ("${credentials.vault-creds.password}", "task 't', parameters.note: credential "
     "'vault-creds' has no field 'password' (its fields: api_key, api_secret)"),
])
async def test_unknown_names_in_parameters_fail_the_task(store, note, error):
    s = Setup(store)
    with_connection(s)
    s.secrets.constants.set("region", "eu-west-1")
    result = await s.run(vault_task(parameters={"note": note}))
    assert result.tasks["t"]["state"] == "failed"
    assert result.tasks["t"]["error"].startswith(error)


class GatePlugin:
    """Integration ``gate``: its job reads the connection, then waits until released."""

    orchestra_plugin_name = "gate"

    def __init__(self):
        self.started = anyio.Event()
        self.release = anyio.Event()
        self.seen = []
        plugin = self

        class Runner:
            def __init__(self, host):
                pass

            async def start(self, ctx):
                plugin.seen.append(ctx.connection.secret("api_key"))
                plugin.started.set()
                await plugin.release.wait()
                return ExternalRun(id="g", started_at=ctx.now())

            async def wait(self, ctx, run):
                return JobResult(state=JobState.SUCCEEDED)

            async def cancel(self, ctx, run):
                pass

        self.runner = Runner

    @hookimpl
    def orchestra_register_integrations(self, registry):
        registry.integration("vault", description="x").job(
            "gate_job", parameters=VaultParams, description="waits", runner=self.runner)


@pytest.mark.anyio
async def test_rotation_under_a_running_service_loses_nothing(store):
    """The service has both keys configured; keys rotate while one of its runs is in flight;
    that run finishes and the next run decrypts the rotated credentials."""
    old, new = generate_key(), generate_key()
    service_ring = KeyRing.from_keys(old, new)
    s = Setup(store, ring=service_ring)
    values = with_connection(s)
    gate = GatePlugin()
    s.host = Orchestra(plugins=[VaultPlugin(), gate], load_entrypoints=False)
    s.engine = Engine(s.host, store, keys=service_ring)  # real clock: real threads below
    pipeline = s.host.pipeline_from_data({"name": "p", "tasks": [
        {"id": "g", "integration": "vault", "integration_job": "gate_job",
         "connection": "prod"}]})
    results = []
    async with anyio.create_task_group() as tg:
        async def first_run():
            results.append(await s.engine.run(pipeline))

        tg.start_soon(first_run)
        await gate.started.wait()
        rotation = await anyio.to_thread.run_sync(
            lambda: Secrets(store, keys=KeyRing.from_keys(new, old)).keys.rotate())
        assert rotation.rotated == ("vault-creds",)
        gate.release.set()
    gate.started, gate.release = anyio.Event(), anyio.Event()
    gate.release.set()
    results.append(await s.engine.run(pipeline))
    assert [r.state for r in results] == ["succeeded", "succeeded"]
    assert gate.seen == [values["api_key"]] * 2
    assert [c.key_id for c in s.secrets.credentials.list()] == [
        KeyRing.from_keys(new).primary.id]
