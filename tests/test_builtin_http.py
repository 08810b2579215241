"""The built-in ``http`` runner, against httpx.MockTransport and the real fake job API."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import anyio
import httpx
import pytest

from orchestra_core import ExternalRun, JobRunner, JobState, Orchestra, TaskFailed
from orchestra_core._builtins._http_runner import HttpRunner
from orchestra_core._builtins.http import HttpParameters, HttpPoll
from orchestra_core._config import structure_or_raise
from orchestra_core._retry import HttpRetry
from orchestra_core._vendor_http._transport import ShardedTransport
from orchestra_core.testing import StubContext, SystemClock
from orchestra_core.testing.jobserver import JobServer


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param


Ctx = StubContext
#: Retry policies of the runners below: deterministic waits; no retries (each failed send
#: is one failed poll, as the outage pacing sees it).
NO_JITTER = HttpRetry(jitter=0)
NO_RETRIES = HttpRetry(count=0)


def http_runner(transport: httpx.AsyncBaseTransport | None = None, **kwargs: Any) -> HttpRunner:
    """A runner of a fresh host, sending through *transport* (default: the network)."""
    host = Orchestra(load_entrypoints=False,
                     transports={"http": transport} if transport is not None else None)
    kwargs.setdefault("retry", NO_JITTER)
    return HttpRunner(host, **kwargs)


class Api:
    """A scripted MockTransport: ``routes[(method, path)]`` answers in turn."""

    def __init__(self, **routes: list[Any]) -> None:
        self.routes = {tuple(key.split(" ", 1)): list(value) for key, value in routes.items()}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self.routes[(request.method, request.url.raw_path.decode().split("?")[0])]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        status, body = answer
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    def runner(self, **kwargs: Any) -> HttpRunner:
        return http_runner(httpx.MockTransport(self), **kwargs)


def params(**kwargs: Any) -> HttpParameters:
    kwargs.setdefault("base_url", "https://api.example.com/v1")
    kwargs.setdefault("method", "post")
    kwargs.setdefault("endpoint", "/jobs")
    return HttpParameters(**kwargs)


POLL = HttpPoll(endpoint="/jobs/{id}", field="data.status", success=("done",),
                failure=("error", "cancelled"), interval=2.0, id_field="data.id")


async def run(runner: HttpRunner, ctx: Ctx) -> Any:
    external = await runner.start(ctx)
    return await runner.wait(ctx, external)


# -- registration and the client ---------------------------------------------------------------


def test_registered_as_the_runner_of_http_request():
    host = Orchestra(load_entrypoints=False)
    runner = host.runner(host.find_job("sdk", "sdk_request"))
    assert isinstance(runner, HttpRunner)
    assert isinstance(runner, JobRunner)
    assert runner.host is host


async def test_one_vendor_client_per_origin_and_headers_with_large_pools_and_one_ssl_context():
    runner = http_runner()
    client = runner.client("https://api.example.com/v1/jobs", {"X-A": "1"})
    assert runner.client("https://api.example.com/v1/jobs/7?x=1", {"X-A": "1"}) is client
    assert runner.client("https://api.example.com/", {"X-A": "2"}) is not client
    assert runner.client("https://other.example.com/", {"X-A": "1"}) is not client
    assert (client.vendor, client.base_url) == ("http", "https://api.example.com")
    assert runner.host.vendor_client("http", base_url="https://api.example.com",
                                     headers={"X-A": "1"}, retry=NO_JITTER) is client
    http = client.http()
    assert http.timeout == httpx.Timeout(30.0)
    transport = http._transport
    assert isinstance(transport, ShardedTransport)
    pools = [shard._pool for shard in transport.shards]  # httpcore's pools
    assert len(pools) == 128
    assert sum(pool._max_connections for pool in pools) >= 1000
    assert sum(pool._max_keepalive_connections for pool in pools) >= 1000
    assert len({id(pool._ssl_context) for pool in pools}) == 1
    assert http_runner().client("https://api.example.com/", {"X-A": "1"}) is not client
    await runner.aclose()
    assert http.is_closed
    assert client.http() is not http
    await runner.aclose()


async def test_sharded_transport_sends_to_the_least_busy_pool(server: JobServer):
    transport = ShardedTransport(httpx.Limits(max_connections=8, max_keepalive_connections=8),
                                 shards=4)
    async with httpx.AsyncClient(transport=transport) as client:
        for _ in range(3):  # one at a time: always the first pool, one connection
            assert (await client.get(f"{server.url}/jobs/x")).status_code == 404
            assert transport.in_flight == [0, 0, 0, 0]
        assert [len(shard._pool.connections) for shard in transport.shards] == [1, 0, 0, 0]
        async with client.stream("GET", f"{server.url}/jobs/x"), \
                client.stream("GET", f"{server.url}/jobs/y"):
            assert transport.in_flight == [1, 1, 0, 0]
        assert transport.in_flight == [0, 0, 0, 0]
        with pytest.raises(httpx.ConnectError):
            await client.get("http://127.0.0.1:1/")
        assert transport.in_flight == [0, 0, 0, 0]
    assert [shard._pool._max_connections for shard in transport.shards] == [2, 2, 2, 2]


# -- one request -------------------------------------------------------------------------------


async def test_request_without_poll_is_done_after_the_response():
    api = Api(**{"POST /v1/jobs": [(201, {"ok": True})]})
    ctx = Ctx(params(headers={"Authorization": "Bearer x", "X-N": 5}, query={"a": 1},
                     body={"name": "nightly"}))
    runner = api.runner()
    external = await runner.start(ctx)
    assert external == ExternalRun(id=None, started_at=ctx.clock.now(),
                                   data={"status_code": 201, "response": '{"ok":true}'})
    (request,) = api.requests
    assert request.method == "POST"
    assert str(request.url) == "https://api.example.com/v1/jobs?a=1"
    assert request.headers["Idempotency-Key"] == "run-1/a/1"
    assert request.headers["Authorization"] == "Bearer x"
    assert request.headers["X-N"] == "5"
    assert json.loads(request.content) == {"name": "nightly"}
    result = await runner.wait(ctx, external)
    assert result.state is JobState.SUCCEEDED
    assert result.message == "HTTP 201"
    assert result.metadata == {"status_code": 201, "response": '{"ok":true}'}
    assert ctx.sleeps == []
    assert ctx.logs == [("info", "POST https://api.example.com/v1/jobs: HTTP 201")]


async def test_get_without_body_and_an_own_idempotency_key():
    api = Api(**{"GET /status": [(200, "fine")]})
    ctx = Ctx(params(base_url="https://api.example.com/", method="GET", endpoint="status",
                     headers={"idempotency-key": "mine"}))
    result = await run(api.runner(), ctx)
    assert result.metadata == {"status_code": 200, "response": "fine"}
    (request,) = api.requests
    assert str(request.url) == "https://api.example.com/status"
    assert request.headers.get_list("Idempotency-Key") == ["mine"]
    assert request.content == b""


async def test_a_full_url_endpoint_and_a_connection_fill_in():
    api = Api(**{"PUT /hook": [(204, "")]})
    connection = {"base_url": "https://ignored.example.com",
                  "headers": {"Authorization": "Token t"}}
    ctx = Ctx(HttpParameters(method="PUT", endpoint="https://hooks.example.com/hook"),
              connection=connection)
    assert (await run(api.runner(), ctx)).state is JobState.SUCCEEDED
    assert str(api.requests[0].url) == "https://hooks.example.com/hook"
    assert api.requests[0].headers["Authorization"] == "Token t"


async def test_missing_request_settings_fail_without_sending():
    api = Api()
    with pytest.raises(TaskFailed) as caught:
        await api.runner().start(Ctx(HttpParameters(method="GET", endpoint="/x")))
    assert str(caught.value) == ("the http request needs base_url: give them as parameters or "
                                 "through a connection (secondary_configuration_id)")
    assert caught.value.retryable is False
    assert api.requests == []


@pytest.mark.parametrize(("status", "body", "message", "retryable"), [
    (404, {"error": "no such connector"},
     'POST https://api.example.com/v1/jobs returned HTTP 404 Not Found (expected 2xx): '
     '{"error":"no such connector"}', False),
    (401, "", "POST https://api.example.com/v1/jobs returned HTTP 401 Unauthorized "
     "(expected 2xx)", False),
    (500, "boom", "POST https://api.example.com/v1/jobs returned HTTP 500 Internal Server "
     "Error (expected 2xx): boom", True),
    (429, "slow down", "POST https://api.example.com/v1/jobs returned HTTP 429 Too Many "
     "Requests (expected 2xx): slow down", True),
    (302, "", "POST https://api.example.com/v1/jobs returned HTTP 302 Found (expected 2xx)",
     False),
])
async def test_unexpected_status_fails_the_trigger(status, body, message, retryable):
    api = Api(**{"POST /v1/jobs": [(status, body)]})
    with pytest.raises(TaskFailed) as caught:
        await api.runner().start(Ctx(params(query={"api_key": "secret"})))
    assert str(caught.value) == message
    assert caught.value.retryable is retryable
    assert caught.value.metadata == {"status_code": status}


async def test_long_bodies_are_cut_to_500_characters():
    api = Api(**{"POST /v1/jobs": [(400, "x" * 600)]})
    with pytest.raises(TaskFailed) as caught:
        await api.runner().start(Ctx(params()))
    assert str(caught.value).endswith(": " + "x" * 500 + "...")


async def test_expected_status():
    api = Api(**{"POST /v1/jobs": [(201, {}), (404, {})]})
    with pytest.raises(TaskFailed) as caught:
        await api.runner().start(Ctx(params(expected_status=(200, 202))))
    assert str(caught.value) == ("POST https://api.example.com/v1/jobs returned HTTP 201 "
                                 "Created (expected 200, 202): {}")
    result = await run(api.runner(), Ctx(params(expected_status=(404,))))
    assert result.state is JobState.SUCCEEDED


async def test_connection_errors_are_retryable_failures():
    api = Api(**{"POST /v1/jobs": [httpx.ConnectError("connection refused")]})
    ctx = Ctx(params())
    with pytest.raises(TaskFailed) as caught:
        await api.runner().start(ctx)
    assert str(caught.value) == ("POST https://api.example.com/v1/jobs failed: ConnectError: "
                                 "connection refused")
    assert caught.value.retryable is True
    assert len(api.requests) == 5  # the vendor layer's retries ran out first
    assert ctx.sleeps == [1.0, 2.0, 4.0, 8.0]


async def test_the_trigger_is_retried_with_its_idempotency_key():
    api = Api(**{"POST /v1/jobs": [(503, "busy"), httpx.ReadTimeout("lost"),
                                   (201, {"data": {"id": "5"}})]})
    ctx = Ctx(params(poll=POLL))
    external = await api.runner().start(ctx)
    assert external.id == "5"
    assert ctx.sleeps == [1.0, 2.0]
    assert {r.headers["Idempotency-Key"] for r in api.requests} == {"run-1/a/1"}
    assert len(api.requests) == 3
    warnings = [m for level, m in ctx.logs if level == "warning"]
    assert warnings == [
        "http POST /v1/jobs: HTTP 503: busy; retrying in 1.0 s (attempt 2 of 5)",
        "http POST /v1/jobs: ReadTimeout: lost; retrying in 2.0 s (attempt 3 of 5)",
    ]


async def test_a_url_without_http_scheme_is_a_configuration_error():
    runner = http_runner()
    try:
        with pytest.raises(TaskFailed) as caught:
            await runner.start(Ctx(params(base_url="ftp://files.example.com")))
        assert str(caught.value).startswith("POST ftp://files.example.com/jobs failed: "
                                            "UnsupportedProtocol: ")
        assert caught.value.retryable is False
        ctx = Ctx(params(poll=POLL))
        stored = ExternalRun(id="1", started_at=ctx.now(), data={"poll_url": "ftp://x/1"})
        result = await runner.wait(ctx, stored)
        assert (result.state, result.retryable) == (JobState.FAILED, False)
        assert result.message.startswith("polling GET ftp://x/1 failed: UnsupportedProtocol")
    finally:
        await runner.aclose()


async def test_cancel_only_logs():
    ctx = Ctx(params(poll=POLL))
    await http_runner().cancel(ctx, ExternalRun(id="7", started_at=ctx.now()))
    assert ctx.logs == [("warning", "the http integration cannot cancel run 7: the remote job "
                                    "may keep running")]


# -- polling (mock) ----------------------------------------------------------------------------


def job(status: str, job_id: str = "j/1") -> tuple[int, dict]:
    return 200, {"data": {"id": job_id, "status": status}}


async def test_poll_until_success():
    api = Api(**{"POST /v1/jobs": [(201, {"data": {"id": "j/1"}})],
                 "GET /v1/jobs/j%2F1": [job("queued"), job("running"), job("running"),
                                        job("DONE")]})
    ctx = Ctx(params(poll=POLL))
    runner = api.runner()
    external = await runner.start(ctx)
    assert external.id == "j/1"
    assert external.data == {"status_code": 201,
                             "poll_url": "https://api.example.com/v1/jobs/j%2F1"}
    result = await runner.wait(ctx, external)
    assert result.state is JobState.SUCCEEDED
    assert result.message == "data.status is 'DONE'"
    assert result.metadata == {"status_code": 201, "poll_status_code": 200, "status": "DONE",
                               "polls": 4, "id": "j/1"}
    assert ctx.sleeps == [2.0] * 4
    assert [r.method for r in api.requests] == ["POST", "GET", "GET", "GET", "GET"]
    assert "Idempotency-Key" not in api.requests[1].headers
    assert ctx.logs == [
        ("info", "POST https://api.example.com/v1/jobs: HTTP 201, run id j/1"),
        ("info", "data.status is 'queued'; polling every 2 s"),
        ("info", "data.status is 'running'; polling every 2 s"),
    ]


async def test_poll_until_failure():
    api = Api(**{"POST /v1/jobs": [(201, {"data": {"id": 42}})],
                 "GET /v1/jobs/42": [job("running"), job("error")]})
    result = await run(api.runner(), Ctx(params(poll=POLL)))
    assert result.state is JobState.FAILED
    assert result.message == "the job failed: data.status is 'error'"
    assert result.retryable is None
    assert result.metadata["status"] == "error"


async def test_transient_poll_errors_are_retried_by_the_vendor_layer():
    api = Api(**{"POST /v1/jobs": [(201, {"data": {"id": "7"}})],
                 "GET /v1/jobs/7": [(500, "oops"), (503, "down"), httpx.ConnectError("refused"),
                                    httpx.Response(429, headers={"Retry-After": "30"}),
                                    job("done")]})
    ctx = Ctx(params(poll=POLL))
    result = await run(api.runner(), ctx)
    assert result.state is JobState.SUCCEEDED
    assert result.metadata["polls"] == 1  # one poll, sent five times
    assert ctx.sleeps == [2.0, 1.0, 2.0, 4.0, 30.0]  # the interval, backoff, Retry-After
    assert [line for line in ctx.logs if line[0] == "warning"] == [
        ("warning", "http GET /v1/jobs/7: HTTP 500: oops; retrying in 1.0 s (attempt 2 of 5)"),
        ("warning", "http GET /v1/jobs/7: HTTP 503: down; retrying in 2.0 s (attempt 3 of 5)"),
        ("warning", "http GET /v1/jobs/7: ConnectError: refused; retrying in 4.0 s "
                    "(attempt 4 of 5)"),
        ("warning", "http GET /v1/jobs/7: HTTP 429; retrying in 30.0 s (attempt 5 of 5)"),
    ]


async def test_failed_polls_are_paced_with_backoff():
    api = Api(**{"POST /v1/jobs": [(201, {"data": {"id": "7"}})],
                 "GET /v1/jobs/7": [(500, "oops"), (503, "down"), httpx.ConnectError("refused"),
                                    httpx.Response(429, headers={"Retry-After": "30"}),
                                    job("done")]})
    ctx = Ctx(params(poll=POLL))
    result = await run(api.runner(retry=NO_RETRIES), ctx)
    assert result.state is JobState.SUCCEEDED
    assert result.metadata["polls"] == 5
    assert ctx.sleeps == [2.0, 4.0, 8.0, 16.0, 32.0]
    assert [line for line in ctx.logs if line[0] == "warning"] == [
        ("warning", "polling GET https://api.example.com/v1/jobs/7 returned HTTP 500; "
                    "retrying in 4 s"),
        ("warning", "polling GET https://api.example.com/v1/jobs/7 returned HTTP 503; "
                    "retrying in 8 s"),
        ("warning", "polling GET https://api.example.com/v1/jobs/7 failed: ConnectError: "
                    "refused; retrying in 16 s"),
        ("warning", "polling GET https://api.example.com/v1/jobs/7 returned HTTP 429; "
                    "retrying in 32 s"),
    ]


@pytest.mark.parametrize(("interval", "pauses"), [
    (5.0, [10.0, 20.0, 40.0, 60.0, 60.0, 60.0]),  # doubled, capped at 60 s, never given up
    (120.0, [120.0] * 6),  # a poll interval above the cap is kept
])
async def test_the_pause_after_failed_polls_is_capped(interval, pauses):
    api = Api(**{"GET /v1/jobs/7": [*[(502, "")] * 6, job("done")]})
    ctx = Ctx(params(poll=HttpPoll(endpoint="/jobs/{id}", field="data.status",
                                   success=("done",), interval=interval)))
    stored = ExternalRun(id="7", started_at=ctx.now(), data={})
    result = await api.runner(retry=NO_RETRIES).wait(ctx, stored)
    assert result.state is JobState.SUCCEEDED
    assert ctx.sleeps == [interval, *pauses]


@pytest.mark.parametrize(("answer", "message"), [
    ((404, {"error": "gone"}), 'polling GET https://api.example.com/v1/jobs/7 returned HTTP '
                               '404 Not Found: {"error":"gone"}'),
    ((200, {"data": {}}), "polling GET https://api.example.com/v1/jobs/7: no field "
                          "'data.status' (poll.field) in the response: {\"data\":{}}"),
    ((200, "<html>"), "polling GET https://api.example.com/v1/jobs/7: no field 'data.status' "
                      "(poll.field) in the response: <html>"),
])
async def test_poll_answers_that_cannot_be_understood_fail(answer, message):
    api = Api(**{"POST /v1/jobs": [(201, {"data": {"id": "7"}})], "GET /v1/jobs/7": [answer]})
    result = await run(api.runner(), Ctx(params(poll=POLL)))
    assert result.state is JobState.FAILED
    assert result.message == message
    assert result.retryable is False


async def test_no_run_id_in_the_trigger_response():
    api = Api(**{"POST /v1/jobs": [(201, {"data": {"name": "x"}})]})
    with pytest.raises(TaskFailed) as caught:
        await api.runner().start(Ctx(params(poll=POLL)))
    assert str(caught.value) == ("POST https://api.example.com/v1/jobs: the response has no "
                                 "run id at 'data.id' (poll.id_field): "
                                 '{"data":{"name":"x"}}')
    assert caught.value.retryable is False


async def test_id_placeholder_without_id_field_fails_before_sending():
    api = Api()
    poll = HttpPoll(endpoint="/jobs/{id}", field="status", success=("done",))
    with pytest.raises(TaskFailed, match=r"poll.endpoint contains \{id\} but poll.id_field"):
        await api.runner().start(Ctx(params(poll=poll)))
    assert api.requests == []


async def test_poll_without_id_and_structured_from_a_pipeline_file():
    raw = {"base_url": "https://api.example.com", "method": "POST", "endpoint": "/refresh",
           "poll": {"endpoint": "https://status.example.com/refresh", "field": "state",
                    "success": ["ok"], "interval": 0.5}}
    api = Api(**{"POST /refresh": [(202, "")],
                 "GET /refresh": [(200, {"state": "busy"}), (200, {"state": "ok"})]})
    ctx = Ctx(structure_or_raise(raw, HttpParameters))
    result = await run(api.runner(), ctx)
    assert result.state is JobState.SUCCEEDED
    assert ctx.sleeps == [0.5, 0.5]
    assert "id" not in result.metadata


async def test_wait_resumes_from_the_stored_run_in_a_new_runner():
    api = Api(**{"GET /v1/jobs/9": [job("running"), job("done")]})
    ctx = Ctx(params(poll=POLL))
    stored = ExternalRun(id="9", started_at=ctx.now(),
                         data={"status_code": 201,
                               "poll_url": "https://api.example.com/v1/jobs/9"})
    result = await api.runner().wait(ctx, stored)
    assert result.state is JobState.SUCCEEDED
    assert [r.method for r in api.requests] == ["GET", "GET"]
    # without poll_url (an older record), the URL is rebuilt from the parameters
    api = Api(**{"GET /v1/jobs/9": [job("done")]})
    stored = ExternalRun(id="9", started_at=ctx.now(), data={})
    assert (await api.runner().wait(ctx, stored)).state is JobState.SUCCEEDED


# -- against the real fake job API -------------------------------------------------------------

SERVER_POLL = HttpPoll(endpoint="/jobs/{id}", field="status", success=("succeeded",),
                       failure=("failed",), interval=0.05, id_field="id")


def server_params(server: JobServer, **kwargs: Any) -> HttpParameters:
    return HttpParameters(base_url=server.url, method="POST", endpoint="/jobs", poll=SERVER_POLL,
                          **kwargs)


@pytest.fixture
def server() -> Any:
    with JobServer(duration=0.2) as server:
        yield server


async def test_job_server_success(server: JobServer):
    ctx = Ctx(server_params(server), clock=SystemClock())
    runner = http_runner()
    try:
        external = await runner.start(ctx)
        assert external.id == "job-1"
        assert server.jobs_by_key == {"run-1/a/1": "job-1"}
        began = time.monotonic()
        result = await runner.wait(ctx, external)
        assert time.monotonic() - began >= 0.1
        assert result.state is JobState.SUCCEEDED
        assert result.message == "status is 'succeeded'"
        assert result.metadata["status_code"] == 201
        assert result.metadata["polls"] >= 2
        assert ("info", "status is 'running'; polling every 0.05 s") in ctx.logs
        # the same attempt triggered again (a crash before the run was stored): a replay
        again = await runner.start(ctx)
        assert again.id == "job-1"
        assert again.data["status_code"] == 200
        assert (server.created, server.replays) == (1, 1)
    finally:
        await runner.aclose()


async def test_job_server_failure():
    ctx = Ctx(None, clock=SystemClock())
    with JobServer(duration=0.1, fail_keys=[ctx.idempotency_key]) as server:
        ctx.parameters = server_params(server)
        runner = http_runner()
        try:
            result = await run(runner, ctx)
        finally:
            await runner.aclose()
    assert result.state is JobState.FAILED
    assert result.message == "the job failed: status is 'failed'"


async def test_job_server_500_then_success(server: JobServer):
    server.fail_next_polls(2, status=500)
    ctx = Ctx(server_params(server), clock=SystemClock())
    runner = http_runner(retry=NO_RETRIES)
    try:
        result = await run(runner, ctx)
    finally:
        await runner.aclose()
    assert result.state is JobState.SUCCEEDED
    warnings = [message for level, message in ctx.logs if level == "warning"]
    assert warnings == [
        f"polling GET {server.url}/jobs/job-1 returned HTTP 500; retrying in 0.1 s",
        f"polling GET {server.url}/jobs/job-1 returned HTTP 500; retrying in 0.2 s",
    ]


async def test_job_server_trigger_failure_messages(server: JobServer):
    runner = http_runner()
    try:
        with pytest.raises(TaskFailed) as caught:
            await runner.start(Ctx(HttpParameters(base_url=server.url, method="POST",
                                                  endpoint="/nope?token=secret")))
        assert str(caught.value) == (f"POST {server.url}/nope returned HTTP 404 Not Found "
                                     '(expected 2xx): {"error": "no such endpoint: POST '
                                     '/nope"}')
        assert caught.value.retryable is False
        with pytest.raises(TaskFailed) as caught:
            await runner.start(Ctx(HttpParameters(base_url=server.url, method="POST",
                                                  endpoint="/jobs", body=[1])))
        assert str(caught.value) == (f"POST {server.url}/jobs returned HTTP 400 Bad Request "
                                     '(expected 2xx): {"error": "the body must be a JSON '
                                     'object"}')
    finally:
        await runner.aclose()
    port = server.port
    server.close()
    with pytest.raises(TaskFailed) as caught:
        await http_runner(retry=NO_RETRIES).start(Ctx(HttpParameters(
            base_url=f"http://127.0.0.1:{port}", method="POST", endpoint="/jobs")))
    assert str(caught.value).startswith(f"POST http://127.0.0.1:{port}/jobs failed: "
                                        "ConnectError")
    assert caught.value.retryable is True


async def test_job_server_many_concurrent_jobs_share_one_client(server: JobServer):
    runner = http_runner()
    results: dict[str, Any] = {}

    async def one(i: int) -> None:
        ctx = Ctx(server_params(server), clock=SystemClock(), task_id=f"t{i}")
        results[ctx.task_id] = await run(runner, ctx)

    began = time.monotonic()
    try:
        async with anyio.create_task_group() as tg:
            for i in range(50):
                tg.start_soon(one, i)
    finally:
        await runner.aclose()
    assert time.monotonic() - began < 3.0
    assert {r.state for r in results.values()} == {JobState.SUCCEEDED}
    assert server.created == 50
    assert server.replays == 0


# -- the job server on its own -----------------------------------------------------------------


def test_job_server_api():
    with JobServer(duration=0.1, fail_keys=["job-2"]) as server, httpx.Client() as client:
        made = client.post(f"{server.url}/jobs", headers={"Idempotency-Key": "k"})
        assert (made.status_code, made.json()) == (201, {"id": "job-1", "status": "running"})
        again = client.post(f"{server.url}/jobs", headers={"Idempotency-Key": "k"})
        assert (again.status_code, again.json()) == (200, {"id": "job-1", "status": "running"})
        assert client.post(f"{server.url}/jobs", json={"duration": 0}).json() == {
            "id": "job-2", "status": "failed"}
        assert client.post(f"{server.url}/jobs", json={"fail": True, "duration": 0}).json() == {
            "id": "job-3", "status": "failed"}
        time.sleep(0.12)
        assert client.get(f"{server.url}/jobs/job-1").json() == {"id": "job-1",
                                                                 "status": "succeeded"}
        assert client.get(f"{server.url}/jobs/job-9").status_code == 404
        server.fail_next_polls(1, status=503)
        assert client.get(f"{server.url}/jobs/job-1").status_code == 503
        assert client.get(f"{server.url}/jobs/job-1").status_code == 200
        assert (server.created, server.replays, server.requests) == (3, 1, 8)
        assert server.jobs_by_key == {"k": "job-1"}


def test_job_server_runs_as_a_module(free_tcp_port: int):
    port = free_tcp_port
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestra_core.testing.jobserver", "--port", str(port),
         "--duration", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith(f"job API on http://127.0.0.1:{port}")
        made = httpx.post(f"http://127.0.0.1:{port}/jobs")
        assert made.status_code == 201
        status = httpx.get(f"http://127.0.0.1:{port}/jobs/{made.json()['id']}").json()
        assert status["status"] == "succeeded"
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        assert proc.stdout is not None
        proc.stdout.close()
