"""Readiness: ``GET /health/ready`` says whether this server can do its work now.

``/health`` only says the process answers (liveness). ``/health/ready`` checks:

- ``store``: a ``SELECT 1`` on the engine's store answers within :data:`STORE_TIMEOUT`;
- every check the embedding process adds (``orchestra serve`` adds ``scheduler`` and
  ``worker``: their loops are still running).

The answer is **200** ``{"status": "ready", "checks": {...}}`` when every check passes, else
**503** ``{"status": "not ready", "checks": {...}}`` with each failure's reason, so a load
balancer or an orchestrator stops sending traffic to a server whose store is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import anyio
import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = ("STORE_TIMEOUT", "readiness")

#: Seconds the store has to answer the readiness check.
STORE_TIMEOUT = 5.0

#: A check: ``None`` when it passes, else the reason it fails.
Check = Callable[[], "str | None"]


def _ping(store: Any) -> None:
    with store.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


async def _store_check(engine: Any) -> str | None:
    store = getattr(engine, "store", None)
    if store is None:
        return "no engine (and so no store) is attached to this server"
    try:
        with anyio.fail_after(STORE_TIMEOUT):
            await anyio.to_thread.run_sync(_ping, store, abandon_on_cancel=True)
    except TimeoutError:
        return f"the store did not answer within {STORE_TIMEOUT:g} s"
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else ""
        return f"the store is not reachable: {type(exc).__name__}: {text}"
    return None


def readiness(checks: Mapping[str, Check] | None = None) -> Callable[[Request], Any]:
    """The ``/health/ready`` endpoint, running the store check and *checks*."""
    extra = dict(checks or {})

    async def ready(request: Request) -> JSONResponse:
        host = request.app.state.host
        results: dict[str, Any] = {}
        failure = await _store_check(getattr(request.app.state, "engine", None))
        results["store"] = {"ok": failure is None, **({"error": failure} if failure else {})}
        for name, check in extra.items():
            try:
                failure = check()
            except Exception as exc:
                failure = f"{type(exc).__name__}: {exc}"
            results[name] = {"ok": failure is None, **({"error": failure} if failure else {})}
        ok = all(r["ok"] for r in results.values())
        body = {"status": "ready" if ok else "not ready", "checks": results}
        return JSONResponse(host.redactor.mask_obj(body), status_code=200 if ok else 503)

    return ready
