"""Constants, credentials and connections in the store, through the Python API, on SQLite and
PostgreSQL: what is stored (never plaintext), what listings show (never a value), the checks
against an integration's ConnectionSpec, and key rotation (one transaction, wrong key changes
nothing, a concurrent reader keeps working)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from orchestra_core import Orchestra
from orchestra_core._secrets import KeyRing, SecretsError, generate_key
from orchestra_core._store.schema import credentials

from ._secrets_kit import VaultPlugin, open_store, plant


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    s = open_store(request.param, tmp_path, request)
    yield s
    s.close()


@pytest.fixture
def host():
    return Orchestra(plugins=[VaultPlugin()], load_entrypoints=False)


@pytest.fixture
def ring():
    return KeyRing.from_keys(generate_key())


def dump(store) -> str:
    """Every row of the secrets tables, as text."""
    out = []
    with store.engine.connect() as conn:
        for table in ("constants", "credentials", "connections"):
            out += [repr(tuple(r)) for r in conn.execute(sa.text(f"SELECT * FROM {table}"))]
    return "\n".join(out)


# -- constants ---------------------------------------------------------------------------------


def test_constants_set_get_list_delete(store, host):
    secrets = host.secrets(store=store)
    secrets.constants.set("region", "eu-west-1", description="where we run")
    secrets.constants.set("batch", "500")
    assert secrets.constants.get("region") == "eu-west-1"
    secrets.constants.set("region", "us-east-1")  # replace
    assert [(c.name, c.value) for c in secrets.constants.list()] == [
        ("batch", "500"), ("region", "us-east-1")]
    secrets.constants.delete("batch")
    with pytest.raises(SecretsError, match=r"no constant named 'batch'; stored constants: "
                                           r"region"):
        secrets.constants.get("batch")
    with pytest.raises(SecretsError, match=r"no constant named 'regoin' \(did you mean "
                                           r"'region'\?\)"):
        secrets.constants.delete("regoin")
    with pytest.raises(SecretsError, match="invalid constant name"):
        secrets.constants.set("bad name", "x")


# -- credentials -------------------------------------------------------------------------------


def test_credentials_are_encrypted_and_listings_show_no_value(store, host, ring):
    password, api_key = plant("pw"), plant("key")
    secrets = host.secrets(store=store, keys=ring)
    info = secrets.credentials.set("warehouse", username="loader",
                                   secrets={"password": password}, description="dwh")
    assert (info.name, info.username, info.fields, info.key_id) == (
        "warehouse", "loader", ("password",), ring.primary.id)
    secrets.credentials.set("api", secrets={"api_key": api_key, "api_secret": plant()})
    listed = secrets.credentials.list()
    assert [c.name for c in listed] == ["api", "warehouse"]
    assert listed[0].fields == ("api_key", "api_secret")
    shown = repr(listed) + repr([c.to_dict() for c in listed])
    assert password not in shown and api_key not in shown
    stored = dump(store)
    assert password not in stored and api_key not in stored
    assert "loader" in stored  # the user name is plain text, as the seed's table shows it
    # nothing in the API hands a value back
    assert not any(name in dir(secrets.credentials) for name in ("value", "reveal", "decrypt"))


def test_credentials_are_refused_when_invalid(store, host, ring):
    secrets = host.secrets(store=store, keys=ring)
    with pytest.raises(SecretsError, match="at least one secret field"):
        secrets.credentials.set("a", secrets={})
    with pytest.raises(SecretsError, match=r"field 'password' must be at least 4 characters"):
        secrets.credentials.set("a", secrets={"password": "abc"})
    with pytest.raises(SecretsError, match="invalid credential field name"):
        secrets.credentials.set("a", secrets={"pass word": "abcdef"})
    with pytest.raises(SecretsError, match="'username' is not a secret field"):
        secrets.credentials.set("a", secrets={"username": "abcdef"})
    assert secrets.credentials.list() == []


def test_setting_a_credential_without_a_key_fails_and_stores_nothing(store, host, tmp_path):
    secrets = host.secrets(store=store, keys=KeyRing())
    with pytest.raises(SecretsError, match="no secret key is configured"):
        secrets.credentials.set("a", secrets={"password": "abcdef"})
    assert secrets.credentials.list() == []


def test_a_credential_in_use_cannot_be_deleted(store, host, ring):
    secrets = host.secrets(store=store, keys=ring)
    secrets.credentials.set("api", secrets={"token": plant()})
    secrets.connections.add("svc", integration="http", auth="bearer", credential="api")
    with pytest.raises(SecretsError, match=r"credential 'api' is used by connection svc: "
                                           r"delete or change it first"):
        secrets.credentials.delete("api")
    secrets.connections.delete("svc")
    secrets.credentials.delete("api")
    assert secrets.credentials.list() == []
    with pytest.raises(SecretsError, match="no credential named 'api'"):
        secrets.credentials.delete("api")


# -- connections -------------------------------------------------------------------------------


def test_connections_are_checked_against_the_integration(store, host, ring):
    secrets = host.secrets(store=store, keys=ring)
    secrets.credentials.set("vault-creds", secrets={"api_key": plant(), "api_secret": plant()})
    secrets.credentials.set("token", secrets={"token": plant()})
    with pytest.raises(SecretsError, match=r"unknown integration 'valt' \(did you mean "
                                           r"'vault'\?\); installed integrations: "):
        secrets.connections.add("v", integration="valt")
    with pytest.raises(SecretsError, match="a vault connection needs the option account"):
        secrets.connections.add("v", integration="vault", credential="vault-creds")
    with pytest.raises(SecretsError, match=r"credential 'token' lacks the fields api_key, "
                                           r"api_secret \(it has token\)"):
        secrets.connections.add("v", integration="vault", credential="token",
                                options={"account": "acme"})
    with pytest.raises(SecretsError, match="needs a credential with the fields api_key, "
                                           "api_secret: give one"):
        secrets.connections.add("v", integration="vault", options={"account": "acme"})
    with pytest.raises(SecretsError, match="no credential named 'nope'"):
        secrets.connections.add("v", integration="vault", credential="nope",
                                options={"account": "acme"})
    with pytest.raises(SecretsError, match="base URL must be an http:// or https:// URL"):
        secrets.connections.add("v", integration="http", base_url="ftp://x")
    with pytest.raises(SecretsError, match="unknown auth scheme 'magic'"):
        secrets.connections.add("v", integration="http", auth="magic")
    with pytest.raises(SecretsError, match="basic auth needs a credential with the fields "
                                           "username, password"):
        secrets.connections.add("v", integration="http", auth="basic")
    secrets.credentials.set("odd", secrets={"client_secret": plant()})
    with pytest.raises(SecretsError, match=r"bearer auth needs a credential with one of the "
                                           r"fields token, api_key, password \(credential "
                                           r"'odd' has client_secret\)"):
        secrets.connections.add("v", integration="http", auth="bearer", credential="odd")
    assert secrets.connections.list() == []
    # an alias names the integration; it is stored under its canonical name
    info = secrets.connections.add("v", integration="VLT", credential="vault-creds",
                                   options={"account": "acme"}, description="prod")
    assert (info.integration, info.options, info.credential) == (
        "vault", {"account": "acme"}, "vault-creds")
    with pytest.raises(SecretsError, match="connection 'v' already exists"):
        secrets.connections.add("v", integration="vault", credential="vault-creds",
                                options={"account": "x"})
    secrets.connections.add("v", integration="vault", credential="vault-creds",
                            options={"account": "other"}, replace=True)
    assert secrets.connections.get("v").options == {"account": "other"}
    secrets.connections.add("h", integration="http", base_url="https://api.example.com",
                            auth="bearer", credential="token")
    assert [c.name for c in secrets.connections.list()] == ["h", "v"]
    assert [c.name for c in secrets.connections.list(integration="http")] == ["h"]


# -- rotation ----------------------------------------------------------------------------------


def _three_credentials(store, host, ring):
    secrets = host.secrets(store=store, keys=ring)
    values = {name: plant() for name in ("a", "b", "c")}
    for name, value in values.items():
        secrets.credentials.set(name, secrets={"password": value})
    return values


def _decrypted(store, host, ring) -> dict[str, str]:
    secrets = host.secrets(store=store, keys=ring)
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(credentials)).mappings().all()
    return {r["name"]: secrets._decrypt(r)["password"] for r in rows}


def test_rotate_re_encrypts_everything_under_the_newest_key(store, host):
    old, new = generate_key(), generate_key()
    values = _three_credentials(store, host, KeyRing.from_keys(old))
    both = KeyRing.from_keys(new, old)
    secrets = host.secrets(store=store, keys=both)
    usage = {u.key_id: u for u in secrets.keys.usage()}
    assert usage[both.ids[1]].credentials == ("a", "b", "c")
    report = secrets.keys.rotate()
    assert (report.key_id, report.rotated, report.unchanged) == (both.primary.id,
                                                                 ("a", "b", "c"), ())
    assert {c.key_id for c in secrets.credentials.list()} == {both.primary.id}
    # the old key is no longer needed: the new one alone decrypts everything
    assert _decrypted(store, host, KeyRing.from_keys(new)) == values
    again = secrets.keys.rotate()
    assert (again.rotated, again.unchanged) == ((), ("a", "b", "c"))


def test_rotate_with_a_missing_key_names_credential_and_key_id_and_changes_nothing(store, host):
    old, other, new = generate_key(), generate_key(), generate_key()
    _three_credentials(store, host, KeyRing.from_keys(old))
    host.secrets(store=store, keys=KeyRing.from_keys(other)).credentials.set(
        "z", secrets={"password": plant()})
    before = dump(store)
    ring = KeyRing.from_keys(new, old)  # the key of 'z' is missing
    with pytest.raises(SecretsError) as info:
        host.secrets(store=store, keys=ring).keys.rotate()
    other_id = KeyRing.from_keys(other).primary.id
    assert str(info.value).startswith(f"credential 'z' is encrypted with key id {other_id}, "
                                      "which is not configured")
    assert dump(store) == before
    usage = {u.key_id: u for u in host.secrets(store=store, keys=ring).keys.usage()}
    assert usage[other_id].configured is False and usage[other_id].credentials == ("z",)


def test_rotate_stops_at_an_altered_record_and_changes_nothing(store, host):
    old, new = generate_key(), generate_key()
    _three_credentials(store, host, KeyRing.from_keys(old))
    with store.engine.begin() as conn:  # copy a's ciphertext into b: it must not decrypt
        a = conn.execute(sa.select(credentials.c.secret).where(credentials.c.name == "a"))
        conn.execute(credentials.update().where(credentials.c.name == "b")
                     .values(secret=a.scalar()))
    before = dump(store)
    with pytest.raises(SecretsError, match=r"credential 'b' cannot be decrypted with key id "):
        host.secrets(store=store, keys=KeyRing.from_keys(new, old)).keys.rotate()
    assert dump(store) == before


def test_a_reader_keeps_working_while_keys_rotate(store, host):
    """A running service configured with both keys reads credentials while another process
    rotates back and forth: every read decrypts, and to the same values."""
    k1, k2 = generate_key(), generate_key()
    values = _three_credentials(store, host, KeyRing.from_keys(k1))
    reader_ring = KeyRing.from_keys(k1, k2)
    errors: list[BaseException] = []
    reads = 0
    stop = threading.Event()

    def reader() -> None:
        nonlocal reads
        try:
            while not stop.is_set():
                assert _decrypted(store, host, reader_ring) == values
                reads += 1
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(6):
            ring = KeyRing.from_keys(k2, k1) if i % 2 == 0 else KeyRing.from_keys(k1, k2)
            assert host.secrets(store=store, keys=ring).keys.rotate().rotated == ("a", "b", "c")
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    assert reads > 0
