"""Start-up runs without garbage collections, and every command collects again once it has
its host or its store (``orchestra_core.cli._startup``)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestra_core.cli import _startup


@pytest.fixture
def gc_restored():
    enabled, frozen = gc.isenabled(), gc.get_freeze_count()
    yield
    if frozen == 0:
        gc.unfreeze()
    gc.enable() if enabled else gc.disable()
    _startup._paused = False


def test_pause_then_resume_freezes_start_up_and_collects_again(gc_restored):
    gc.enable()
    _startup.pause()
    assert not gc.isenabled()
    _startup.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
    _startup.resume()  # once only
    assert gc.isenabled()


def test_resume_leaves_a_collector_it_did_not_pause_alone(gc_restored):
    gc.disable()  # turned off by the embedding program: not ours to turn on
    _startup.pause()
    _startup.resume()
    assert not gc.isenabled()


PROBE = """
import gc, json, sys
from orchestra_core.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps([gc.isenabled(), gc.get_freeze_count() > 0]), file=sys.__stderr__)
"""


def _after(tmp_path: Path, *args: str) -> list[bool]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "ORCHESTRA_HOME": str(tmp_path / "h")}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(proc.stderr.strip().splitlines()[-1])


def test_a_run_collects_again_once_started(tmp_path: Path) -> None:
    one = tmp_path / "one.yaml"
    one.write_text("name: one\ntasks:\n  - {id: a, integration: noop, integration_job: noop_run}\n")
    enabled, frozen = _after(
        tmp_path, "run", "--progress", "none", "--db", str(tmp_path / "o.db"), str(one)
    )
    assert enabled and frozen  # resumed (freezing start-up) before the run, not at exit


def test_help_ends_with_the_collector_on(tmp_path: Path) -> None:
    assert _after(tmp_path, "--help") == [True, False]
