"""The sftp destination against a real SFTP server that asyncssh starts in the test:
the DestinationContract, password and key auth, host key verification, an orchestration."""

from __future__ import annotations

import contextlib
import gzip
import sqlite3
import subprocess

import asyncssh
import pytest
from orchestra_sftp import SftpDestination, SftpOptions

from orchestra_core import DeliveryFailed
from orchestra_core.testing import DestinationContract

PASSWORD = "correct-horse-battery"


@pytest.fixture
def anyio_backend():
    return "asyncio"  # asyncssh runs on asyncio


class Context:
    def __init__(self, secrets):
        self.name, self.secrets = "partner", secrets


class _Server(asyncssh.SSHServer):
    def __init__(self, client_key):
        self.client_key = client_key

    def begin_auth(self, username):
        return True

    def password_auth_supported(self):
        return True

    def validate_password(self, username, password):
        return username == "exports" and password == PASSWORD

    def public_key_auth_supported(self):
        return True

    def validate_public_key(self, username, key):
        return username == "exports" and key == self.client_key.convert_to_public()


class _Sftp(asyncssh.SFTPServer):
    """A chrooted SFTP server; /readonly refuses writes, as a server's permissions would."""

    def open(self, path, pflags, attrs):
        if b"/readonly" in path and pflags & asyncssh.FXF_WRITE:
            raise asyncssh.SFTPPermissionDenied("permission denied")
        return super().open(path, pflags, attrs)


@pytest.fixture
async def server(tmp_path):
    root = tmp_path / "root"
    (root / "incoming").mkdir(parents=True)
    (root / "readonly").mkdir()
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    listener = await asyncssh.listen(
        "127.0.0.1", 0, server_host_keys=[host_key],
        server_factory=lambda: _Server(client_key),
        sftp_factory=lambda chan: _Sftp(chan, chroot=str(root)))
    port = listener.sockets[0].getsockname()[1]
    try:
        yield {"root": root, "port": port, "host_key": host_key.export_public_key().decode(),
               "client_key": client_key.export_private_key().decode()}
    finally:
        listener.close()
        await listener.wait_closed()


def options(server, **more):
    return SftpOptions(**{"host": "127.0.0.1", "port": server["port"],
                          "directory": "/incoming", "host_key": server["host_key"],
                          "username": "exports", "timeout": 5.0, **more})


@contextlib.contextmanager
def tiny_disk(path):
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(path)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here to fill a disk")
    try:
        (path / "filler").write_bytes(b"x" * 12_000)
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True)


class TestSftpContract(DestinationContract):
    files = True

    @pytest.fixture
    def make_destination(self, server):
        stack = contextlib.ExitStack()

        def make(case="ok"):
            secrets = {"password": PASSWORD}
            opts = options(server)
            if case == "refused_auth":
                secrets = {"password": "wrong-password-1"}
            if case == "unreachable":
                opts = options(server, port=9)
            if case == "permission_denied":
                opts = options(server, directory="/readonly")
            if case == "full_disk":
                stack.enter_context(tiny_disk(server["root"] / "full"))
                opts = options(server, directory="/full")
            return SftpDestination(opts, context=Context(secrets))

        with stack:
            yield make

    @pytest.fixture
    def delivered(self, server):
        def rows():
            out = []
            for p in sorted((server["root"] / "incoming").iterdir()):
                text = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
                out += [tuple(line.split(",")) for line in text.decode().splitlines()]
            return out
        return rows

    @pytest.fixture
    def visible(self, server):
        incoming = server["root"] / "incoming"
        return lambda: sorted(p.name for p in incoming.iterdir())


async def test_key_auth_and_check(server):
    dest = SftpDestination(options(server), context=Context(
        {"private_key": server["client_key"]}))
    await dest.check()
    assert list((server["root"] / "incoming").iterdir()) == []  # the probe is gone


async def test_a_wrong_host_key_is_refused(server):
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    dest = SftpDestination(options(server, host_key=other),
                           context=Context({"password": PASSWORD}))
    with pytest.raises(DeliveryFailed, match="host key is not the expected one"):
        await dest.check()


def test_host_keys_are_always_verified():
    with pytest.raises(DeliveryFailed, match="give known_hosts or host_key"):
        SftpDestination(SftpOptions(host="127.0.0.1", directory="/x"))


async def test_an_orchestration_delivers_through_sftp(server, tmp_path, monkeypatch):
    import orchestra_sftp.plugin

    from orchestra_core import Orchestra, Secrets, Store, generate_key

    monkeypatch.setenv("ORCHESTRA_SECRET_KEY", generate_key())
    host = Orchestra(plugins=[orchestra_sftp.plugin], load_entrypoints=False)
    store = Store.open(str(tmp_path / "o.db"))
    Secrets(store, host=host).credentials.set("sftp", username="exports",
                                              secrets={"password": PASSWORD})
    with sqlite3.connect(tmp_path / "demo.db") as demo:
        demo.execute("CREATE TABLE orders (id INTEGER, customer TEXT)")
        demo.executemany("INSERT INTO orders VALUES (?, ?)",
                         [(i, f"customer {i}") for i in range(1, 31)])
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    pipeline = host.pipeline_from_data({"name": "s", "tasks": [{
        "id": "deliver", "integration": "orchestration", "integration_job": "orchestration_run",
        "parameters": {
            "source": {"url": db, "query": "SELECT id, customer FROM orders"},
            "template": {"compression": "gzip", "done_file": "{name}.done"},
            "destination": {"type": "sftp", "credential": "sftp", "options": {
                "host": "127.0.0.1", "port": server["port"], "directory": "/incoming",
                "host_key": server["host_key"]}}}}]})
    result = await host.run(pipeline, store=store)
    store.close()
    assert result.state == "succeeded", result.tasks["deliver"]["error"]
    names = sorted(p.name for p in (server["root"] / "incoming").iterdir())
    assert len(names) == 2 and "deliver.done" in names
    data = next(p for p in (server["root"] / "incoming").iterdir() if p.suffix == ".gz")
    assert len(gzip.decompress(data.read_bytes()).decode().splitlines()) == 31
    assert result.tasks["deliver"]["meta"]["location"].startswith("sftp://127.0.0.1:")
