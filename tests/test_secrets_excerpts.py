"""Secrets are masked before text is cut short (a cut through a secret would otherwise keep
most of it in clear), a PostgreSQL store URL's password is never printed, and a new store
file is private (0600, its -wal and -shm files too)."""

from __future__ import annotations

import http.server
import json
import os
import stat
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from click.testing import CliRunner

from orchestra_core import HttpRetry, Redactor
from orchestra_core._redaction import masked_excerpt
from orchestra_core._store import Store
from orchestra_core._vendor_http import VendorClient, VendorHTTPError
from orchestra_core.cli import cli

from ._secrets_kit import plant, stored_text


def leaks(text: str, secret: str, shortest: int = 6) -> list[str]:
    """The pieces of *secret* (at least *shortest* characters long) found in *text*."""
    return sorted({secret[i:j] for i in range(len(secret))
                   for j in range(i + shortest, len(secret) + 1) if secret[i:j] in text})


def test_masked_excerpt_masks_before_cutting():
    redactor = Redactor()
    secret = "abcdefghijklmnopqr"  # 18 characters, as in the report
    redactor.add(secret)
    text = "x" * 490 + secret + "y" * 100
    assert text[:500].endswith(secret[:10])  # what cutting first would keep
    cut = redactor.excerpt(text, 500)
    assert not leaks(cut, secret, 4) and cut.endswith("*****yyyyy...")
    assert masked_excerpt("short", 10, redactor) == "short"
    assert masked_excerpt("x" * 20, 10, None, marker="") == "x" * 10


# -- the http integration, through the CLI -----------------------------------------------------


@contextmanager
def echo_server(status: int, make_body) -> Iterator[str]:
    """A server answering every request with *status* and ``make_body(authorization)``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            body = make_body(self.headers.get("Authorization", "")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def invoke(*args: str, input: str | None = None) -> str:
    result = CliRunner().invoke(cli, ["--no-plugins", *args], input=input)
    return result.output


@pytest.mark.parametrize(("status", "cut", "expect"), [
    (200, 500, "expected_status: [201]"),  # an unexpected status quotes 500 characters
    (200, 1000, "expected_status: [200]"),  # the response kept in the external run: 1000
], ids=["error-excerpt-500", "stored-response-1000"])
def test_a_secret_across_the_cut_is_masked_in_runs_show_and_the_store(home, status, cut,
                                                                       expect):
    token = plant("tok")[:18]  # 18 characters, as in the report
    orchestra = invoke
    orchestra("init")
    orchestra("credentials", "set", "api", "--field", "token", input=f"{token}\n{token}\n")
    start = cut - 17  # 17 characters inside the excerpt, 1 outside
    with echo_server(status, lambda auth: "e" * (start - len("Bearer ")) + auth
                     + " and more text after the secret" * 5) as url:
        orchestra("connections", "add", "api", "--integration", "http", "--base-url", url,
                  "--auth", "bearer", "--credential", "api")
        (home / "p.yaml").write_text(textwrap.dedent("""\
            name: echo
            tasks:
              - id: call
                integration: http
                integration_job: http_request
                connection: api
                retries: {count: 0}
                parameters: {method: POST, endpoint: /run, EXPECT}
            """).replace("EXPECT", expect))
        out = orchestra("run", "p.yaml", "--progress", "plain")
    run_id = out.split()[1]
    shown = orchestra("runs", "show", run_id) + orchestra("runs", "show", run_id, "--json")
    shown += orchestra("logs", "--run", run_id)
    assert "call" in shown
    if cut == 500:
        assert "failed" in out and "*****" in shown, shown
    assert not leaks(shown + out, token), shown
    store = Store.open(str(home / "orchestra.db"))
    try:
        assert not leaks(stored_text(store), token)
    finally:
        store.close()


# -- the vendor HTTP layer ---------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(("body", "excerpt"), [
    (lambda s: "z" * 190 + s + " trailing words", 200),  # a body that is not JSON: 200
    (lambda s: json.dumps({"message": "m" * 290 + s + " tail"}), 300),  # the message: 300
    (lambda s: json.dumps({"message": "short", "x": "b" * 1960 + s}), 2000),  # body: 2000
], ids=["text-200", "json-message-300", "body-2000"])
async def test_vendor_http_error_messages_mask_before_cutting(body, excerpt):
    secret = plant("key")[:18]
    redactor = Redactor()
    redactor.add(secret)
    transport = httpx.MockTransport(lambda request: httpx.Response(400, text=body(secret)))
    client = VendorClient("acme", "http://acme.test", redactor=redactor,
                          retry=HttpRetry(count=0), transport=transport)
    with pytest.raises(VendorHTTPError) as caught:
        await client.get("/jobs")
    error = caught.value
    text = str(error) + json.dumps(error.metadata)
    assert "*****" in (str(error) if excerpt < 2000 else error.body)
    assert not leaks(text, secret), text


@pytest.fixture
def anyio_backend():
    return "asyncio"


# -- the store URL and the store file ----------------------------------------------------------


PG_URL = "postgresql://loader:Pg-S3cret-Passw0rd@127.0.0.1:9/orchestra"


@pytest.mark.parametrize("command", [["runs", "list"], ["run", "p.yaml"],
                                     ["serve", "--port", "0"]], ids=["runs-list", "run", "serve"])
def test_a_postgresql_password_is_never_printed(home, command):
    (home / "p.yaml").write_text("name: p\ntasks:\n  - {id: a, integration: noop, "
                                 "integration_job: noop}\n")
    result = CliRunner().invoke(cli, ["--no-plugins", *command, "--db", PG_URL])
    assert result.exit_code == 1
    assert "cannot open the store at postgresql+psycopg://loader:***@127.0.0.1:9" \
        in result.output
    assert "Pg-S3cret" not in result.output


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_new_store_file_and_its_wal_and_shm_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        store = Store.open(str(tmp_path / "o.db"))
        try:
            assert store.list_runs() == []
            names = sorted(p.name for p in tmp_path.iterdir())
            assert {"o.db", "o.db-wal", "o.db-shm"} <= set(names), names
            for name in ("o.db", "o.db-wal", "o.db-shm"):
                assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
        finally:
            store.close()
    finally:
        os.umask(old)


# -- a process's long output lines -------------------------------------------------------------


@pytest.mark.anyio
async def test_a_long_output_line_is_never_cut_through_a_secret(tmp_path):
    from orchestra_core import Orchestra
    from orchestra_core._builtins._process_output import MAX_LINE
    from orchestra_core._engine import Engine

    token = plant("tok")
    script = tmp_path / "print.py"
    script.write_text("import os, sys\n"  # the secret across the first 64 KiB cut
                      f"sys.stdout.write('x' * {MAX_LINE - 7} + os.environ['TOKEN']"
                      f" + 'y' * {MAX_LINE + 100} + '\\n')\n")
    host = Orchestra(load_entrypoints=False)
    host.redactor.add(token)
    store = Store.open(str(tmp_path / "o.db"))
    try:
        pipeline = host.pipeline_from_data({"name": "long", "tasks": [
            {"id": "p", "integration": "process", "integration_job": "process_run",
             "parameters": {"path": str(script), "env": {"TOKEN": token}}}]})
        result = await Engine(host, store).run(pipeline)
        assert result.state == "succeeded"
        logged = "\n".join(e["message"] for e in store.logs(run_id=result.run_id))
        assert "*****" in logged and "x" * 100 in logged
        assert not leaks(logged, token, 4), leaks(logged, token, 4)
    finally:
        store.close()
