"""A REST receiver for the ``http`` destination, and the demo database of
``orchestra run examples/delivery.yaml --simulate``.

``POST /records`` with ``{"records": [...]}`` and ``Authorization: Bearer <token>``:

- accepts the records and answers ``{"accepted": n, "rejected": [{"index", "error"}]}``;
  a record whose ``email`` is present but empty is rejected (a receiver-side validation);
- honours ``Idempotency-Key``: a key seen before gets the first answer again and adds
  nothing, so a batch re-sent after a crash is not stored twice;
- rate-limits: every ``rate_limit_every``-th request (default: never) gets ``429`` with
  ``Retry-After: 0``; ``sim.fail(...)`` injects other failures.

``env(url)`` (what ``--simulate`` calls) also builds a small SQLite demo database (table
``orders``) in a temporary directory and returns ``ORCHESTRA_RECEIVER_URL``,
``ORCHESTRA_RECEIVER_TOKEN`` and ``ORCHESTRA_DEMO_DB_URL``.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import tempfile
import weakref
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._auth import bearer_token
from ._base import Simulator

__all__ = ("DeliverySimulator", "make_demo_database")


def make_demo_database(path: str | Path, rows: int = 250) -> str:
    """Create the demo ``orders`` table in SQLite file *path*; return its SQLAlchemy URL."""
    start = dt.datetime(2026, 1, 1, 8, 0, 0)
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE IF EXISTS orders")
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, email TEXT, "
                   "amount NUMERIC, status TEXT, ordered_at TEXT)")
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)", [
            (i, f"Customer {i:04d}", "" if i % 50 == 0 else f"c{i:04d}@example.com",
             round(10 + (i * 7.31) % 490, 2), ("paid", "shipped", "refunded")[i % 3],
             (start + dt.timedelta(hours=i)).isoformat(sep=" "))
            for i in range(1, rows + 1)])
    return f"sqlite:///{Path(path).resolve()}"


class DeliverySimulator(Simulator):
    """The REST receiver (see the module documentation)."""

    name = "orchestration"

    def __init__(self, *, token: str = "receiver-test-token", rate_limit_every: int = 0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.rate_limit_every = rate_limit_every
        #: every accepted record, in arrival order
        self.records: list[dict[str, Any]] = []
        #: the answer given to each idempotency key
        self.answers: dict[str, dict[str, Any]] = {}
        self.posts = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    def routes(self) -> list[Any]:
        """``POST /records``."""
        return [Route("/records", self.receive, methods=["POST"])]

    def authenticate(self, request: Request) -> bool:
        """A bearer token equal to :attr:`token`."""
        return bearer_token(request) == self.token

    def credentials(self) -> dict[str, str]:
        """The token the receiver accepts."""
        return {"token": self.token}

    def describe(self) -> dict[str, Any]:
        """How many records arrived."""
        return {"records": len(self.records)}

    def env(self, url: str) -> dict[str, str]:
        """The receiver's URL and token, and a fresh demo database."""
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="orchestra-demo-")
            weakref.finalize(self, self._dir.cleanup)
        db = make_demo_database(Path(self._dir.name) / "demo.db")
        return {"ORCHESTRA_RECEIVER_URL": url, "ORCHESTRA_RECEIVER_TOKEN": self.token,
                "ORCHESTRA_DEMO_DB_URL": db}

    async def receive(self, request: Request) -> Response:
        """Accept a batch of records (see the module documentation)."""
        key = request.headers.get("idempotency-key")
        with self.lock:
            self.posts += 1
            if self.rate_limit_every and self.posts % self.rate_limit_every == 0:
                return JSONResponse({"error": "rate limited"}, status_code=429,
                                    headers={"Retry-After": "0"})
            if key and key in self.answers:
                return JSONResponse(self.answers[key])
        try:
            body = json.loads(await request.body())
            records = body["records"]
            assert isinstance(records, list)
        except (ValueError, KeyError, AssertionError):
            return JSONResponse({"error": "expected {\"records\": [...]}"}, status_code=400)
        rejected, accepted = [], []
        for i, record in enumerate(records):
            if not isinstance(record, dict) or record.get("email") == "":
                rejected.append({"index": i, "error": f"record {i}: email is empty"})
            else:
                accepted.append(record)
        answer = {"accepted": len(accepted), "rejected": rejected}
        with self.lock:
            if key and key in self.answers:
                return JSONResponse(self.answers[key])
            self.records.extend(accepted)
            if key:
                self.answers[key] = answer
        return JSONResponse(answer)
