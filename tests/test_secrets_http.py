"""The built-in http runner with a connection: base URL, options and each auth scheme, sent
through a MockTransport; the auth values it builds are registered as secrets."""

from __future__ import annotations

import base64

import httpx
import pytest

from orchestra_core import Connection, Orchestra, TaskFailed
from orchestra_core._builtins._http_runner import HttpRunner
from orchestra_core._builtins.http import HttpParameters
from orchestra_core.testing import StubContext

from ._secrets_kit import plant


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


class Recorder:
    def __init__(self):
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"ok": True})


async def send(connection, hosts=None, **params):
    """Start an http task on a new host; the host is appended to *hosts* when given."""
    api = Recorder()
    host = Orchestra(load_entrypoints=False, transports={"http": httpx.MockTransport(api)})
    if hosts is not None:
        hosts.append(host)
    runner = HttpRunner(host)
    ctx = StubContext(HttpParameters(**params), connection=connection)
    await runner.start(ctx)
    return api.requests[0]


def conn(auth=None, secrets=None, **kw):
    return Connection(name="c", integration="http", auth=auth, secrets=secrets or {}, **kw)


@pytest.mark.anyio
async def test_bearer_basic_and_header_auth():
    token = plant("tok")
    sent = await send(conn("bearer", {"token": token}, base_url="http://api.test/v1"),
                      method="GET", endpoint="/jobs")
    assert str(sent.url) == "http://api.test/v1/jobs"
    assert sent.headers["authorization"] == f"Bearer {token}"

    password = plant("pw")
    hosts: list[Orchestra] = []
    sent = await send(conn("basic", {"username": "loader", "password": password},
                           base_url="http://api.test"), hosts, method="GET", endpoint="/x")
    encoded = base64.b64encode(f"loader:{password}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {encoded}"
    # registered with the host's redactor
    assert hosts[0].redactor.mask(f"echo: Basic {encoded}") == "echo: Basic *****"

    key = plant("key")
    sent = await send(conn("header", {"api_key": key}, base_url="http://api.test",
                           options={"header": "X-Token"}), method="GET", endpoint="/x")
    assert sent.headers["x-token"] == key and "authorization" not in sent.headers
    sent = await send(conn("header", {"password": key}, base_url="http://api.test"),
                      method="GET", endpoint="/x")
    assert sent.headers["x-api-key"] == key


@pytest.mark.anyio
async def test_connection_options_give_defaults_the_task_overrides():
    connection = conn("bearer", {"token": plant()}, base_url="http://api.test",
                      options={"method": "POST", "endpoint": "/run",
                               "headers": {"X-Team": "data", "Authorization": "ignored"}})
    sent = await send(connection)
    assert (sent.method, str(sent.url), sent.headers["x-team"]) == (
        "POST", "http://api.test/run", "data")
    sent = await send(connection, method="PUT", endpoint="/other",
                      headers={"x-team": "ops", "authorization": "Token mine"})
    assert (sent.method, str(sent.url)) == ("PUT", "http://api.test/other")
    assert sent.headers.get_list("x-team") == ["ops"]
    assert sent.headers.get_list("authorization") == ["Token mine"]


@pytest.mark.anyio
@pytest.mark.parametrize(("auth", "secrets", "message"), [
    ("basic", {"password": "only-pw"}, "connection 'c' uses basic auth but its credential has "
                                       "no username and password"),
    ("bearer", {"client_secret": "abcdef"}, "connection 'c' uses bearer auth but its "
                                            "credential has no token, api_key or password field"),
    ("oauth", {"token": "abcdef"}, "connection 'c': the http integration does not support "
                                   "auth scheme 'oauth' (use none, basic, bearer, header)"),
])
async def test_unusable_auth_fails_without_retry(auth, secrets, message):
    with pytest.raises(TaskFailed) as info:
        await send(conn(auth, secrets, base_url="http://api.test"), method="GET", endpoint="/")
    assert str(info.value) == message and info.value.retryable is False
