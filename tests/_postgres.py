"""Whether the PostgreSQL tests run, skip or fail.

``ORCHESTRA_TEST_POSTGRES_URL`` names the server (``.ci/run`` exports it and starts the
server). When it is set, PostgreSQL is expected: a server that cannot be reached fails every
PostgreSQL test, so a CI run can never pass by skipping them quietly. When it is not set, the
tests use a server at the default URL if one answers, and otherwise skip saying why.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping

import pytest

ENV = "ORCHESTRA_TEST_POSTGRES_URL"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: The server the PostgreSQL tests use.
PG = os.environ.get(ENV) or DEFAULT_URL


@functools.cache
def unreachable(url: str) -> str | None:
    """Why *url* cannot be connected to, or ``None`` when it can (asked once per URL)."""
    try:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), connect_timeout=2):
            return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()


def skip_reason(env: Mapping[str, str] | None = None) -> str | None:
    """``None`` when the PostgreSQL tests can run; the reason to skip them when no server is
    expected (``ORCHESTRA_TEST_POSTGRES_URL`` unset) and none answers at the default URL.

    :raises pytest.fail.Exception: when ``ORCHESTRA_TEST_POSTGRES_URL`` is set and its server
        cannot be reached.
    """
    env = os.environ if env is None else env
    url = env.get(ENV) or DEFAULT_URL
    problem = unreachable(url)
    if problem is None:
        return None
    if env.get(ENV):
        pytest.fail(f"{ENV} is set ({url}) but PostgreSQL is not reachable: {problem}; start "
                    f"the server, or unset {ENV} to skip the PostgreSQL tests", pytrace=False)
    return (f"PostgreSQL tests skipped: {ENV} is not set and no server answers at "
            f"{DEFAULT_URL} ({problem}); set {ENV} to a reachable server to run them")
