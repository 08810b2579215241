"""Opening a PostgreSQL store: the SQLAlchemy engine and how a pooled connection is known
to be alive before it is used.

SQLAlchemy's ``pool_pre_ping`` sends a ``SELECT 1`` (and, outside autocommit, opens a
transaction for it) at every checkout: a round trip before every commit of the engine's
write path. Here a checkout asks the network instead, and the server only when in doubt:

- the connection's socket is polled (no round trip): a server that restarted, a backend
  ended by ``pg_terminate_backend`` or ``idle_session_timeout``, or a proxy that closed the
  connection has left an error message or an end of file on it, so the socket is readable
  although the connection is idle;
- a connection that sat in the pool longer than :data:`PING_AFTER_IDLE_S` is pinged as
  before (a host that vanished without closing its sockets, e.g. a crashed machine or a
  failover, leaves nothing to read: it takes longer than that to come back);
- a connection that fails the check is replaced by a new one (``DisconnectionError``: the
  pool connects again), as ``pool_pre_ping`` does.
"""

from __future__ import annotations

import select
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

__all__ = ("PING_AFTER_IDLE_S", "postgres_engine")

#: A pooled connection idle for longer than this is pinged at checkout (seconds).
PING_AFTER_IDLE_S = 5.0

_RETURNED = "orchestra_returned_at"


def postgres_engine(url: str, **options: Any) -> sa.Engine:
    """The SQLAlchemy engine of the PostgreSQL store at *url* (``postgresql+psycopg://``;
    *options* for ``create_engine``), its pool checking connections as the module docstring
    says."""
    engine = sa.create_engine(url, **options)
    event.listen(engine, "connect", _stamp)
    event.listen(engine, "checkin", _stamp)
    event.listen(engine, "checkout", _check_alive)
    return engine


def _stamp(dbapi_conn: Any, record: Any) -> None:
    """Remember when the connection was made or returned to the pool."""
    record.info[_RETURNED] = time.monotonic()


def _readable(conn: Any) -> bool:
    """Whether the idle connection *conn* has something to read (or no socket at all)."""
    try:
        if conn.closed or conn.broken:
            return True
        fd = conn.pgconn.socket
    except Exception:
        return True
    poll = getattr(select, "poll", None)
    if poll is None:  # Windows
        return bool(select.select([fd], [], [], 0)[0])
    poller = poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _check_alive(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
    idle = time.monotonic() - record.info.get(_RETURNED, 0.0)
    if idle <= PING_AFTER_IDLE_S and not _readable(dbapi_conn):
        return
    try:
        # a NOTIFY or a notice can make an alive connection readable: ask the server
        with dbapi_conn.cursor() as cur:
            cur.execute("SELECT 1")
        dbapi_conn.rollback()
    except Exception as exc:
        raise sa.exc.DisconnectionError(f"the pooled connection is gone: {exc}") from exc
