"""A small fake "job API" over real HTTP, for tests and benchmarks of the ``http`` integration.

``POST /jobs`` creates a job that finishes ``duration`` seconds (real time) after it was
created; ``GET /jobs/{id}`` reports ``{"id": ..., "status": "running" | "succeeded" |
"failed"}``. A trigger carrying an ``Idempotency-Key`` header already seen returns the
existing job (200 instead of 201) and counts a replay::

    with JobServer(duration=0.2) as server:
        ...  # POST f"{server.url}/jobs", then poll f"{server.url}/jobs/{id}"
        assert server.created == 1

The request body may hold ``{"fail": true}`` and ``{"duration": seconds}`` to override the
outcome or the duration of one job. Run it on its own for benchmarks::

    python -m orchestra_core.testing.jobserver --port 8765 --duration 2

It is a stdlib :class:`~http.server.ThreadingHTTPServer` speaking HTTP/1.1 with keep-alive,
with Nagle's algorithm off on every connection (otherwise each keep-alive request waits for
a delayed ACK, ~40 ms) and a listen backlog sized for hundreds of concurrent clients.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ("Job", "JobServer", "main")


class Job:
    """One job of the fake API."""

    def __init__(self, job_id: str, key: str | None, duration: float, fail: bool) -> None:
        self.id = job_id
        self.key = key
        self.created = time.monotonic()
        self.duration = duration
        self.fail = fail

    @property
    def status(self) -> str:
        """``running`` until ``duration`` has passed, then ``succeeded`` or ``failed``."""
        if time.monotonic() - self.created < self.duration:
            return "running"
        return "failed" if self.fail else "succeeded"

    def to_dict(self) -> dict[str, Any]:
        """The JSON the API returns for this job."""
        return {"id": self.id, "status": self.status}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    owner: JobServer

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.owner._lock:
            self.owner._connections.add(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        with self.owner._lock:
            self.owner._connections.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def _send(self, status: int, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def do_POST(self) -> None:
        owner = self.server.owner
        body = self._body()
        path = self.path.split("?")[0].rstrip("/")
        with owner._lock:
            owner.requests += 1
            if path != "/jobs":
                status, payload = 404, {"error": f"no such endpoint: POST {path}"}
            elif body is None or not isinstance(body, dict):
                status, payload = 400, {"error": "the body must be a JSON object"}
            else:
                status, payload = owner._create(self.headers.get("Idempotency-Key"), body)
        self._send(status, payload)

    def do_GET(self) -> None:
        owner = self.server.owner
        path = self.path.split("?")[0].rstrip("/")
        with owner._lock:
            owner.requests += 1
            status, payload = owner._get(path)
        self._send(status, payload)


class JobServer:
    """The fake job API, on ``127.0.0.1`` (an ephemeral port unless *port* is given).

    :param duration: seconds (real time) from a job's creation until it finishes.
    :param fail_keys: idempotency keys (or job ids) of jobs that finish as ``failed``.
    :param port: the port to listen on; ``0`` picks a free one (see :attr:`url`).

    Counters, safe to read at any time: :attr:`created` (jobs created), :attr:`replays`
    (triggers answered with an existing job), :attr:`requests` (every request) and
    :attr:`jobs_by_key` (idempotency key to job id).
    """

    def __init__(
        self,
        *,
        duration: float = 2.0,
        fail_keys: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.duration = duration
        self.fail_keys = set(fail_keys)
        self.created = 0
        self.replays = 0
        self.requests = 0
        self.jobs: dict[str, Job] = {}
        self.jobs_by_key: dict[str, str] = {}
        self._errors: list[int] = []
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self._server = _Server((host, port), _Handler)
        self._server.owner = self

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash."""
        return f"http://{self._server.server_address[0]}:{self.port}"

    def fail_next_polls(self, count: int = 1, status: int = 500) -> None:
        """Answer the next *count* ``GET /jobs/{id}`` requests with HTTP *status*."""
        with self._lock:
            self._errors.extend([status] * count)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> JobServer:
        """Serve in a background thread; return ``self``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                name="orchestra-jobserver", daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close every connection."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        with self._lock:
            connections = list(self._connections)
            self._connections.clear()
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()

    def __enter__(self) -> JobServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the API (called with the lock held) -------------------------------------------------

    def _create(self, key: str | None, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if key is not None and key in self.jobs_by_key:
            self.replays += 1
            return 200, self.jobs[self.jobs_by_key[key]].to_dict()
        self.created += 1
        job_id = f"job-{self.created}"
        fail = bool(body.get("fail")) or job_id in self.fail_keys or (
            key is not None and key in self.fail_keys
        )
        duration = body.get("duration", self.duration)
        if not isinstance(duration, (int, float)) or isinstance(duration, bool):
            duration = self.duration
        job = Job(job_id, key, float(duration), fail)
        self.jobs[job_id] = job
        if key is not None:
            self.jobs_by_key[key] = job_id
        return 201, job.to_dict()

    def _get(self, path: str) -> tuple[int, dict[str, Any]]:
        prefix = "/jobs/"
        if not path.startswith(prefix):
            return 404, {"error": f"no such endpoint: GET {path}"}
        if self._errors:
            status = self._errors.pop(0)
            return status, {"error": "injected failure"}
        job = self.jobs.get(path[len(prefix):])
        if job is None:
            return 404, {"error": f"no such job: {path[len(prefix):]}"}
        return 200, job.to_dict()


def main(argv: list[str] | None = None) -> None:
    """Serve the fake job API until interrupted (``python -m orchestra_core.testing.jobserver``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--duration", type=float, default=2.0,
                        help="seconds from a job's creation until it finishes")
    args = parser.parse_args(argv)
    server = JobServer(duration=args.duration, host=args.host, port=args.port)
    print(f"job API on {server.url} (jobs finish after {args.duration:g} s); Ctrl-C stops it",
          flush=True)
    try:
        server._server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
