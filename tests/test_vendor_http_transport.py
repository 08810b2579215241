"""What the vendor HTTP layer costs: httpx without its command-line client, one SSL context
for every vendor transport, no cookie-jar work for answers that set no cookie."""

from __future__ import annotations

import http.cookiejar
import json
import ssl
import subprocess
import sys

import httpx
import pytest

from orchestra_core import Orchestra
from orchestra_core._vendor_http import VendorClient
from orchestra_core._vendor_http._httpx_cli import defer_httpx_cli
from orchestra_core._vendor_http._transport import ShardedTransport, shared_ssl_context


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "first_use",
    [
        "from orchestra_core._vendor_http import VendorClient",
        "from orchestra_core import Orchestra\n"
        "Orchestra(load_entrypoints=False).vendor_client('v', base_url='https://v.example')",
        "from orchestra_core import Orchestra\n"
        "from orchestra_core._builtins.http import _http_runner\n"
        "_http_runner(Orchestra(load_entrypoints=False))",
    ],
    ids=["VendorClient", "host.vendor_client", "http runner"],
)
def test_the_vendor_layer_imports_httpx_without_its_cli_packages(first_use: str):
    proc = _python(
        "import json, sys\n"
        f"{first_use}\n"
        "import httpx\n"
        "cli = ('click', 'rich', 'pygments')\n"
        "before = sorted(m for m in cli if m in sys.modules)\n"
        "from httpx._main import print_response\n"  # any other name: the real module
        "after = sorted(m for m in cli if m in sys.modules)\n"
        "print(json.dumps([before, after, callable(print_response), callable(httpx.main),\n"
        "                  type(sys.modules['httpx._main']).__name__]))\n"
    )
    assert proc.returncode == 0, proc.stderr
    before, after, found, main, kind = json.loads(proc.stdout.strip().splitlines()[-1])
    assert before == []
    assert set(after) >= {"rich", "pygments"} and found and main
    assert kind == "module"  # the stand-in gave way to the real module


def test_httpx_main_still_runs_the_real_command_line_client():
    proc = _python(
        "import sys\n"
        "from orchestra_core._vendor_http import VendorClient\n"
        "import httpx\n"
        "assert type(sys.modules['httpx._main']).__name__ == '_DeferredCli'\n"
        "sys.argv = ['httpx', '--help']\n"
        "httpx.main()\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout and "--method" in proc.stdout


def test_defer_leaves_an_imported_httpx_alone():
    real = sys.modules.get("httpx._main")
    defer_httpx_cli()  # httpx is imported in this process already
    assert sys.modules.get("httpx._main") is real


def test_vendor_transports_share_one_ssl_context():
    one = ShardedTransport(httpx.Limits(max_connections=8), shards=2)
    two = ShardedTransport(httpx.Limits(max_connections=8), shards=4)
    contexts = {id(shard._pool._ssl_context) for t in (one, two) for shard in t.shards}
    assert contexts == {id(shared_ssl_context())}
    assert shared_ssl_context().verify_mode is ssl.CERT_REQUIRED
    own = ssl.create_default_context()
    mine = ShardedTransport(httpx.Limits(max_connections=8), shards=2, ssl_context=own)
    assert {id(shard._pool._ssl_context) for shard in mine.shards} == {id(own)}


async def test_clients_of_two_hosts_share_the_ssl_context():
    first = Orchestra(load_entrypoints=False).vendor_client("a", base_url="https://a.example")
    second = Orchestra(load_entrypoints=False).vendor_client("b", base_url="https://b.example")
    pools = [shard._pool for client in (first, second) for shard in client.http()._transport.shards]
    assert {id(pool._ssl_context) for pool in pools} == {id(shared_ssl_context())}
    await first.aclose()
    await second.aclose()


async def test_vendor_client_keeps_cookies_an_answer_sets_and_skips_the_jar_otherwise(
    monkeypatch,
):
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/login":
            return httpx.Response(200, json={}, headers={"Set-Cookie": "session=s1; Path=/"})
        return httpx.Response(200, json={"cookie": request.headers.get("cookie")})

    client = VendorClient("v", "https://api.example.com", transport=httpx.MockTransport(answer))
    assert await client.get("/before") == {"cookie": None}
    assert await client.post("/login", idempotent=True) == {}
    assert await client.get("/after") == {"cookie": "session=s1"}
    assert dict(client.http().cookies) == {"session": "s1"}

    read: list[str] = []
    jar_extract = http.cookiejar.CookieJar.extract_cookies

    def spy(jar: http.cookiejar.CookieJar, response: object, request: object) -> None:
        read.append("read")
        jar_extract(jar, response, request)

    monkeypatch.setattr(http.cookiejar.CookieJar, "extract_cookies", spy)
    await client.get("/plain")
    assert read == []  # no Set-Cookie: the stdlib jar is not consulted
    await client.post("/login", idempotent=True)
    assert read == ["read"]
    await client.aclose()
