"""Every core destination type passes the DestinationContract (orchestra_core.testing)."""

import contextlib
import gzip
import os
import sqlite3
import subprocess
import uuid

import pytest

from orchestra_core._delivery.destinations.filedrop import FileDrop, FileDropOptions
from orchestra_core._delivery.destinations.http import HttpDestination, HttpOptions
from orchestra_core._delivery.destinations.sql import SqlDestination, SqlOptions
from orchestra_core._delivery.runner import DestinationContext
from orchestra_core.testing import DestinationContract, Failure
from orchestra_core.testing._simulator._receiver import DeliverySimulator


@contextlib.contextmanager
def tiny_disk(path):
    """A 16 KiB tmpfs at *path* (root only), else skip."""
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(path)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here to fill a disk")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True)


class TestFileDrop(DestinationContract):
    files = True

    @pytest.fixture
    def make_destination(self, tmp_path):
        stack = contextlib.ExitStack()

        def make(case="ok"):
            directory = tmp_path / "drop"
            if case in ("refused_auth", "unreachable"):
                pytest.skip("a local directory has no auth and no host")
            if case == "permission_denied":
                directory = "/sys"
            if case == "full_disk":
                directory = stack.enter_context(tiny_disk(tmp_path / "full"))
                (directory / "filler").write_bytes(b"x" * 12_000)
            return FileDrop(FileDropOptions(directory=str(directory), create=case == "ok"),
                            context=DestinationContext(name="drop", host=None))

        with stack:
            yield make

    @pytest.fixture
    def delivered(self, tmp_path):
        def rows():
            out = []
            for p in sorted((tmp_path / "drop").iterdir()):
                assert not p.name.endswith(".part")
                text = gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes()
                out += [tuple(line.split(",")) for line in text.decode().splitlines()]
            return out
        return rows

    @pytest.fixture
    def visible(self, tmp_path):
        drop = tmp_path / "drop"
        return lambda: sorted(p.name for p in drop.iterdir()) if drop.exists() else []


class TestHttp(DestinationContract):
    @pytest.fixture
    def receiver(self):
        sim = DeliverySimulator(rate_limit_every=4)  # every 4th request: 429, Retry-After
        with sim.serve() as url:
            yield sim, url

    @pytest.fixture
    def make_destination(self, receiver):
        sim, url = receiver

        def make(case="ok"):
            target, token = f"{url}/records", sim.token
            if case == "refused_auth":
                token = "wrong-token-value"
            if case == "unreachable":
                target = "http://127.0.0.1:9/records"
            if case == "permission_denied":
                sim.fail("POST", "*", Failure.status(403), times=100)
            if case == "full_disk":
                sim.fail("POST", "*", Failure.status(507), times=100)
            return HttpDestination(
                HttpOptions(url=target, auth="bearer", batch_size=7, retries=2,
                            retry_delay=0.0),
                context=DestinationContext(name="api", host=None, secrets={"token": token}))
        return make

    @pytest.fixture
    def delivered(self, receiver):
        sim, _ = receiver
        return lambda: [(r["id"], r["name"], r["email"]) for r in sim.records]


def pg_url():
    url = os.environ.get("ORCHESTRA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        import sqlalchemy as sa

        from orchestra_core._delivery.sources import engine_for

        engine = engine_for(url)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        pytest.skip(f"no PostgreSQL at {url}: {exc}")
    return url


@pytest.fixture
def pg_schema():
    """A schema of its own in the test PostgreSQL, dropped after."""
    import sqlalchemy as sa

    from orchestra_core._delivery.sources import engine_for

    url = pg_url()
    name = "delivery_" + uuid.uuid4().hex[:10]
    engine = engine_for(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {name}"))
    try:
        yield url, name, engine
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {name} CASCADE"))
        engine.dispose()


class TestSqlPostgres(DestinationContract):
    """The sql destination on PostgreSQL: COPY into the table, one transaction."""

    @pytest.fixture
    def make_destination(self, pg_schema):
        url, schema, _ = pg_schema

        def make(case="ok"):
            target = url
            if case == "refused_auth":
                from sqlalchemy.engine import make_url

                target = make_url(url).set(username="nobody_" + uuid.uuid4().hex[:6],
                                           password="wrong-password").render_as_string(False)
            if case == "unreachable":
                target = "postgresql://user:secret-pass@127.0.0.1:9/nowhere"
            if case == "permission_denied":
                pytest.skip("the test server's user is a superuser")
            if case == "full_disk":
                pytest.skip("cannot fill the test server's disk")
            return SqlDestination(SqlOptions(url=target, table=f"{schema}.contract"),
                                  context=DestinationContext(name="pg", host=None))
        return make

    @pytest.fixture
    def delivered(self, pg_schema):
        import sqlalchemy as sa

        _, schema, engine = pg_schema

        def rows():
            with engine.connect() as conn:
                return conn.execute(sa.text(f"SELECT id, name, email FROM {schema}.contract"))\
                    .fetchall()
        return rows


class TestSql(DestinationContract):
    @pytest.fixture
    def make_destination(self, tmp_path):
        def make(case="ok"):
            url = f"sqlite:///{tmp_path / 'warehouse.db'}"
            if case == "refused_auth":
                from sqlalchemy.engine import make_url

                url = make_url(pg_url()).set(username="nobody_" + uuid.uuid4().hex[:6],
                                         password="wrong-password").render_as_string(False)
            if case == "unreachable":
                url = "postgresql://user:secret-pass@127.0.0.1:9/nowhere"
            if case == "permission_denied":
                ro = tmp_path / "ro.db"
                sqlite3.connect(ro).close()
                url = f"sqlite:///file:{ro}?mode=ro&uri=true"
            if case == "full_disk":
                pytest.skip("a full disk is the database server's (SQLite: the OS) concern")
            return SqlDestination(SqlOptions(url=url, table="contract", mode="append"),
                                  context=DestinationContext(name="warehouse", host=None))
        return make

    @pytest.fixture
    def delivered(self, tmp_path):
        def rows():
            with sqlite3.connect(tmp_path / "warehouse.db") as db:
                return db.execute("SELECT id, name, email FROM contract").fetchall()
        return rows
