"""Calls to the Hightouch REST API (v1) through the core's shared vendor HTTP layer."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from orchestra_core import RateLimit, TaskFailed, VendorHTTPError, format_timestamp, parse_timestamp

__all__ = (
    "DEFAULT_BASE_URL",
    "ENV",
    "RATE_LIMIT_REQUESTS",
    "RATE_LIMIT_SECONDS",
    "HightouchAPI",
    "api_time",
    "parse_time",
)

#: The API root of every Hightouch workspace.
DEFAULT_BASE_URL = "https://api.hightouch.com/api/v1"
#: "The Hightouch API rate limit is 200 requests per 10 seconds per workspace."
RATE_LIMIT_REQUESTS = 200
RATE_LIMIT_SECONDS = 10.0
#: Quick-start environment variables, by connection field.
ENV = {
    "token": "HIGHTOUCH_API_TOKEN",
    "base_url": "HIGHTOUCH_BASE_URL",
    "webhook_secret": "HIGHTOUCH_WEBHOOK_SECRET",
}


#: *when* as the API's ``after``/``before`` filters take it (ISO 8601, UTC, ``Z``).
api_time = format_timestamp
#: A timestamp of the API (``2026-02-08T16:11:04.712Z``), or ``None``.
parse_time = parse_timestamp


def _workspace_key(conn: Any, token: str, base_url: str) -> str:
    """Who shares a rate limit: every task naming the same ``workspace`` option on its
    connection, else every task using the same API key (a key belongs to one workspace)
    against the same API. A digest, so the key itself is never kept or shown."""
    options = getattr(conn, "options", None) or {}
    workspace = options.get("workspace")
    if workspace:
        return f"workspace:{base_url}:{workspace}"
    return "key:" + hashlib.sha256(f"{base_url}\0{token}".encode()).hexdigest()[:16]


class HightouchAPI:
    """The Hightouch API as one task sees it: its connection's base URL and API key.

    :param host: the :class:`~orchestra_core.Orchestra` (its ``vendor_client`` shares
        connection pools, transports installed by tests, and the host's rate limit).
    :param ctx: the task's context (retries wait on its clock and log to its run log).
    """

    def __init__(self, host: Any, ctx: Any) -> None:
        conn = ctx.connection
        if conn is None:
            raise TaskFailed(
                "no Hightouch connection: set HIGHTOUCH_API_TOKEN (and HIGHTOUCH_BASE_URL for "
                "another API root), or create a connection with `orchestra connections add` "
                "and name it in the task's secondary_configuration_id",
                retryable=False,
            )
        token = _secret(conn, "token") or _secret(conn, "api_key")
        if not token:
            raise TaskFailed(
                f"Hightouch connection {conn.name!r} has no API key: its credential needs a "
                "'token' field (or set HIGHTOUCH_API_TOKEN)",
                retryable=False,
            )
        self.base_url = (conn.base_url or DEFAULT_BASE_URL).rstrip("/")
        self.ctx = ctx
        self.client = host.vendor_client(
            "hightouch",
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            rate_limit=RateLimit(RATE_LIMIT_REQUESTS, RATE_LIMIT_SECONDS,
                                 key=_workspace_key(conn, token, self.base_url)),
        )

    # -- syncs --------------------------------------------------------------------------------

    async def sync(self, sync_id: str) -> Mapping[str, Any]:
        """``GET /syncs/{id}``; an unknown sync is a non-retryable :class:`TaskFailed`."""
        try:
            found = await self.client.get(f"/syncs/{quote(sync_id, safe='')}", ctx=self.ctx)
        except VendorHTTPError as exc:
            if exc.status in (404, 422):
                raise TaskFailed(
                    f"Hightouch has no sync with id {sync_id!r} in this workspace "
                    f"({exc})", retryable=False, metadata=exc.metadata,
                ) from exc
            raise
        if not isinstance(found, Mapping) or found.get("id") is None:
            raise TaskFailed(f"unexpected answer to GET /syncs/{sync_id}: {found!r}",
                             retryable=False)
        return found

    async def sync_by_slug(self, slug: str) -> Mapping[str, Any]:
        """``GET /syncs?slug=...`` → ``data[0]``; no match is a non-retryable error."""
        found = await self.client.get("/syncs", params={"slug": slug}, ctx=self.ctx)
        data = found.get("data") if isinstance(found, Mapping) else None
        matches = [s for s in data or [] if isinstance(s, Mapping) and s.get("id") is not None]
        exact = [s for s in matches if s.get("slug") == slug] or matches
        if not exact:
            raise TaskFailed(f"Hightouch has no sync with slug {slug!r} in this workspace",
                             retryable=False)
        return exact[0]

    # -- runs ---------------------------------------------------------------------------------

    async def trigger(self, sync_id: str, *, full_resync: bool, since: datetime,
                      after: datetime | None = None) -> str:
        """``POST /syncs/{id}/trigger``; the new run's id, as a string.

        If the POST fails after Hightouch may have received it, the run it may have created
        is looked for (``GET /syncs/{id}/runs?after=``, from *since*, and created after
        *after*: the sync's ``lastRunAt`` before the trigger) before sending again.
        """
        async def find_existing() -> Mapping[str, Any] | None:
            runs = [r for r in await self.runs_after(sync_id, since)
                    if after is None or ((created := parse_time(r.get("createdAt")))
                                         is not None and created > after)]
            if not runs:
                return None
            self.ctx.log(f"found Hightouch run {runs[0]['id']} created by a trigger whose "
                         "answer was lost; not triggering again")
            return {"id": str(runs[0]["id"])}

        answer = await self.client.post(
            f"/syncs/{quote(sync_id, safe='')}/trigger",
            json={"fullResync": bool(full_resync)}, ctx=self.ctx,
            find_existing=find_existing,
        )
        run_id = answer.get("id") if isinstance(answer, Mapping) else None
        if not isinstance(run_id, str | int) or isinstance(run_id, bool) or str(run_id) == "":
            raise TaskFailed(
                f"Hightouch accepted the trigger of sync {sync_id} but sent no run id: "
                f"{answer!r}", retryable=None,
            )
        return str(run_id)  # a string here, a number when listed: always compare as text

    async def run(self, sync_id: str, run_id: str) -> Mapping[str, Any] | None:
        """The ``SyncRun`` *run_id* of *sync_id* (``GET /syncs/{id}/runs?runId=``), or
        ``None`` when the API does not list it (yet)."""
        found = await self.client.get(
            f"/syncs/{quote(sync_id, safe='')}/runs", params={"runId": run_id}, ctx=self.ctx
        )
        data = found.get("data") if isinstance(found, Mapping) else None
        if not isinstance(data, list):
            raise TaskFailed(
                f"unexpected answer to GET /syncs/{sync_id}/runs: no 'data' list",
                retryable=True,
            )
        return next((r for r in data if isinstance(r, Mapping) and str(r.get("id")) == run_id),
                    None)

    async def runs_after(self, sync_id: str, since: datetime,
                         skew: float = 5.0) -> list[Mapping[str, Any]]:
        """The sync's runs created at or after *since* (less *skew* seconds of clock
        difference between us and Hightouch), oldest first."""
        after = since - timedelta(seconds=skew)
        found = await self.client.get(
            f"/syncs/{quote(sync_id, safe='')}/runs",
            params={"after": api_time(after), "orderBy": "createdAt", "limit": 100},
            ctx=self.ctx,
        )
        data = found.get("data") if isinstance(found, Mapping) else None
        runs = [r for r in data or [] if isinstance(r, Mapping) and r.get("id") is not None]
        kept = [r for r in runs
                if (created := parse_time(r.get("createdAt"))) is None or created >= after]
        return sorted(kept, key=lambda r: (parse_time(r.get("createdAt")) or since,
                                           _numeric(r.get("id"))))


def _numeric(value: Any) -> tuple[int, str]:
    text = str(value)
    return (int(text), text) if text.isdigit() else (-1, text)


def _secret(conn: Any, name: str) -> str | None:
    getter = getattr(conn, "secret", None)
    if callable(getter):
        return getter(name)
    secrets = getattr(conn, "secrets", None) or {}
    return secrets.get(name)
