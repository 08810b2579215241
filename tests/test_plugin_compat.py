"""The compatibility promise: ``orchestra plugins --check`` names plugins whose declared
orchestra-core range excludes the installed core, and a plugin written against the
documented API (only public names, the hooks as docs/hooks.md shows them) keeps working."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from orchestra_core import __version__
from orchestra_core.cli import cli
from orchestra_core.cli._compat import satisfies


def fake_dist(root, name, requires):
    """An installed distribution *name* with an ``orchestra`` entry point."""
    info = root / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    lines = [f"Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    (info / "entry_points.txt").write_text(
        f"[orchestra]\n{name.split('-')[-1]} = {name.replace('-', '_')}.plugin\n")


@pytest.mark.parametrize(("spec", "version", "ok"), [
    (">=0.1,<0.2", "0.1.0", True), (">=0.1,<0.2", "0.2.0", False), ("<0.2,>=0.1", "0.1.7", True),
    ("~=0.1", "0.9", True), ("~=0.1.0", "0.2.0", False), ("==0.1.*", "0.1.3", True),
    ("==0.1.*", "0.10.0", False), ("!=0.1.0", "0.1.0", False), (">0.1", "0.1.0", False),
    ("", "5.0", True), (">=1.0", "0.9.9", False),
])
def test_specifiers(spec, version, ok):
    assert satisfies(spec, version) is ok


def test_plugins_check_names_plugins_whose_core_range_excludes_this_core(tmp_path,
                                                                         monkeypatch):
    major, minor = (int(p) for p in __version__.split(".")[:2])
    fake_dist(tmp_path, "orchestra-future", [f"orchestra-core>={major}.{minor + 1}",
                                              "attrs>=24"])
    fake_dist(tmp_path, "orchestra-today", [f"orchestra-core<{major}.{minor + 1},"
                                             f">={major}.{minor}"])
    fake_dist(tmp_path, "orchestra-anyver", ["attrs"])
    monkeypatch.syspath_prepend(str(tmp_path))
    result = CliRunner().invoke(cli, ["plugins", "--check"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert f"FAIL orchestra-future 1.0: declares orchestra-core>={major}.{minor + 1}" in lines
    assert any(line.startswith("ok   orchestra-today 1.0") for line in lines)
    assert "ok   orchestra-anyver 1.0: declares any orchestra-core" in lines
    assert lines[-1].endswith("upgrade or reinstall: orchestra-future")
    as_json = CliRunner().invoke(cli, ["plugins", "--check", "--json"])
    data = {p["distribution"]: p for p in json.loads(as_json.output)["plugins"]}
    assert data["orchestra-future"]["compatible"] is False
    assert data["orchestra-today"]["compatible"] is True


def test_plugins_check_passes_for_the_workspace_plugins():
    result = CliRunner().invoke(cli, ["plugins", "--check"])
    assert result.exit_code == 0, result.output
    assert "FAIL" not in result.output
