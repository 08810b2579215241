"""Start-up stays light: commands import only what they use.

Each case runs the real ``orchestra`` entry point in a fresh interpreter (installed plugins
loaded, as a user's command loads them) and lists the heavy packages it imported. Loading
SQLAlchemy, httpx (and through it rich and pygments), cryptography, Starlette or alembic
costs tenths of a second, so ``--help`` must import none of them nor the pipeline
machinery, ``validate`` none of them, and ``run`` of a pipeline that reads no secret no
HTTP client, web framework or cipher.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("sqlalchemy", "httpx", "cryptography", "starlette", "uvicorn", "alembic", "rich",
         "pygments", "psycopg")

#: Made lazy for start-up: a host registers the built-in destinations, the process job and
#: the email channel without importing what only using them needs (SMTP, TLS, subprocesses,
#: the HTTP destination, the data templates, the event loop); timezones load when one is named.
USED_ONLY_WHEN_RUN = ("smtplib", "ssl", "subprocess", "asyncio", "zoneinfo")
LAZY_CORE_MODULES = ("orchestra_core._delivery.destinations.http",
                     "orchestra_core._delivery.destinations.filedrop",
                     "orchestra_core._delivery.templates",
                     "orchestra_core._delivery.sources",
                     "orchestra_core._builtins._process_runner")

PROBE = """
import json, sys
from orchestra_core.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})), file=sys.__stderr__)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("orchestra_core"))),
      file=sys.__stderr__)
"""

ONE_TASK = "name: one\ntasks:\n  - {id: a, integration: noop, integration_job: noop_run}\n"


def _probe(tmp_path: Path, *args: str) -> tuple[set[str], set[str]]:
    """The top-level packages and the ``orchestra_core`` modules the command imported."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ORCHESTRA_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    packages, core = proc.stderr.strip().splitlines()[-2:]
    return set(json.loads(packages)), set(json.loads(core))


def _imported(tmp_path: Path, *args: str) -> set[str]:
    return _probe(tmp_path, *args)[0]


@pytest.fixture
def one(tmp_path: Path) -> Path:
    path = tmp_path / "one.yaml"
    path.write_text(ONE_TASK)
    return path


def test_help_imports_no_plugin_store_or_pipeline_machinery(tmp_path: Path) -> None:
    mods = _imported(tmp_path, "--help")
    assert "click" in mods  # the probe ran the command line
    assert mods & {*HEAVY, "yaml", "attrs", "attr", "cattrs", "pluggy", "anyio"} == set()


def test_validate_imports_no_store_http_or_crypto(tmp_path: Path, one: Path) -> None:
    mods, core = _probe(tmp_path, "validate", str(one))
    assert "yaml" in mods  # the file was read
    assert mods & set(HEAVY) == set()
    assert mods & set(USED_ONLY_WHEN_RUN) == set()
    assert core & set(LAZY_CORE_MODULES) == set()


def test_a_command_imports_its_own_command_module_only(tmp_path: Path, one: Path) -> None:
    from orchestra_core.cli import COMMANDS

    _, core = _probe(tmp_path, "validate", str(one))
    modules = {"orchestra_core.cli" + where.split(":")[0] for where in COMMANDS.values()}
    assert core & modules == {"orchestra_core.cli._run"}
    _, core = _probe(tmp_path, "--help")
    assert modules <= core  # listing the commands imports them all


def test_run_of_noop_pipeline_imports_no_http_client_web_framework_or_cipher(
        tmp_path: Path, one: Path) -> None:
    mods = _imported(tmp_path, "run", "--progress", "none", "--db", str(tmp_path / "o.db"),
                     str(one))
    with sqlite3.connect(tmp_path / "o.db") as db:  # the run was stored
        assert db.execute("SELECT state FROM pipeline_runs").fetchall() == [("succeeded",)]
    # a SQLite store's run path is plain sqlite3 (see tests/test_store_paths.py)
    assert mods & {"httpx", "cryptography", "starlette", "uvicorn", "alembic", "rich",
                   "pygments", "psycopg", "sqlalchemy"} == set()
