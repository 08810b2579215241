"""The store file at the CLI (issue 13, F): damaged pages, a missing directory, an empty run
id and a read-only file, each a clear message and never a traceback."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestra_core.cli import cli

GOOD = "name: good\ntasks:\n  - {id: a, integration: noop, integration_job: noop_run}\n"


@pytest.fixture
def home(home):
    """The shared fresh home (tests/conftest.py), with a valid pipeline file in it."""
    (home / "good.yaml").write_text(GOOD)
    return home


def orchestra(*args: str):
    result = CliRunner().invoke(cli, ["--no-plugins", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert "Traceback" not in result.output
    return result


def test_damaged_pages_name_the_file_and_the_recovery(home):
    db = home / "o.db"
    assert orchestra("run", "--db", str(db), "good.yaml").exit_code == 0
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'pipeline_runs'"
                        ).fetchone()[0]
    conn.close()
    with open(db, "r+b") as fh:  # overwrite the runs table's page with garbage
        fh.seek((root - 1) * page_size)
        fh.write(b"\xde\xad" * (page_size // 2))
    result = orchestra("runs", "list", "--db", str(db))
    assert result.exit_code == 1
    assert f"the store file {db} is damaged (database disk image is malformed)" in result.output
    assert f"sqlite3 {db} .recover | sqlite3 {home / 'o.recovered.db'}" in result.output


def test_a_file_that_is_not_a_store_is_named(home):
    (home / "junk.db").write_bytes(b"this is not sqlite" * 400)
    result = orchestra("runs", "list", "--db", str(home / "junk.db"))
    assert result.exit_code == 1
    assert f"the store file {home / 'junk.db'} is damaged (file is not a database)" \
        in result.output


def test_db_in_a_missing_directory_is_refused_not_created(home):
    missing = home / "no" / "such" / "dir"
    result = orchestra("run", "--db", str(missing / "o.db"), "good.yaml")
    assert result.exit_code == 1
    assert f"the directory {missing} does not exist (create it first: mkdir -p {missing})" \
        in result.output
    assert not (home / "no").exists()
    assert orchestra("runs", "list", "--db", str(missing / "o.db")).exit_code == 1
    assert not (home / "no").exists()


def test_the_default_location_is_still_created(home, monkeypatch):
    monkeypatch.setenv("ORCHESTRA_HOME", str(home / "fresh" / "home"))
    assert orchestra("init").exit_code == 0
    assert (home / "fresh" / "home" / "orchestra.db").exists()
    monkeypatch.setenv("ORCHESTRA_HOME", str(home))
    assert orchestra("run", "good.yaml").exit_code == 0  # orchestra.db in the working dir
    assert (home / "orchestra.db").exists()


@pytest.mark.parametrize("empty", ["", "  "])
def test_resume_requires_a_run_id(home, empty):
    assert orchestra("run", "good.yaml").exit_code == 0  # the only run in the store
    result = orchestra("run", "--resume", empty)
    assert result.exit_code == 2
    assert "Invalid value for --resume: give the id of the run to resume" in result.output
    assert "resuming" not in result.output


def _without_write_override() -> list[str] | None:
    """A prefix that runs a command as this user without the power to ignore file modes
    (root keeps its uid, loses CAP_DAC_OVERRIDE): ``None`` where that cannot be done."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]
    probe = subprocess.run([*prefix, "true"], capture_output=True)
    return prefix if probe.returncode == 0 else None


def test_read_commands_open_a_read_only_store_read_only(home):
    prefix = _without_write_override()
    if prefix is None:
        pytest.skip("cannot drop the power to write read-only files here")
    folder = home / "ro"
    folder.mkdir()
    db = folder / "o.db"
    assert orchestra("run", "--db", str(db), "good.yaml").exit_code == 0
    run_id = orchestra("runs", "list", "--db", str(db), "--json").output.split('"id": "')[1][:36]
    before = sorted(p.name for p in folder.iterdir())
    db.chmod(0o444)
    folder.chmod(0o555)
    try:
        # one process without the power to write read-only files runs the four commands
        script = (
            "import json, sys\n"
            "from click.testing import CliRunner\n"
            "from orchestra_core.cli import cli\n"
            "out = {}\n"
            "for args in json.loads(sys.argv[1]):\n"
            "    r = CliRunner().invoke(cli, ['--no-plugins', *args])\n"
            "    out[args[0] + ' ' + args[1]] = [r.exit_code, r.output, repr(r.exception)]\n"
            "print(json.dumps(out))\n")
        commands = [["runs", "list"], ["runs", "show", run_id], ["logs", "--run", run_id],
                    ["run", "good.yaml"]]
        done = subprocess.run(
            [*prefix, sys.executable, "-c", script,
             json.dumps([[*c, "--db", str(db)] for c in commands])],
            capture_output=True, text=True, timeout=120, cwd=home)
        assert done.returncode == 0, done.stderr
        results = json.loads(done.stdout)
        code, output, _ = results["runs list"]
        assert code == 0 and run_id in output and "succeeded" in output, output
        code, output, _ = results["runs show"]
        assert code == 0 and "a  " in output, output
        code, output, _ = results["logs --run"]
        assert code == 0 and "run succeeded" in output, output
        code, output, error = results["run good.yaml"]  # a write still fails, clearly
        assert code == 1, (output, error)
        assert f"the store file {db} is read-only" in output and "Traceback" not in output
        assert sorted(p.name for p in folder.iterdir()) == before
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)


def test_a_damaged_store_at_open_is_named_too(home):
    db = home / "o.db"
    assert orchestra("run", "--db", str(db), "good.yaml").exit_code == 0
    sqlite3.connect(db).execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    data = bytearray(db.read_bytes())
    data[100:len(data)] = b"\xff" * (len(data) - 100)  # every page after the header
    Path(db).write_bytes(bytes(data))
    result = orchestra("run", "--db", str(db), "good.yaml")
    assert result.exit_code == 1
    assert f"the store file {db} is damaged" in result.output
