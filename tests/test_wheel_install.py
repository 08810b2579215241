"""A plugin built as a wheel and installed next to orchestra-core in a fresh virtualenv is
discovered; uninstalled, validation names the package to install."""

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UV = shutil.which("uv")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(UV is None, reason="uv is not installed (pip install uv)"),
]

PIPELINE = """name: wheel_check
tasks:
  - id: sync
    integration: fivetran
    integration_job: fivetran_sync_all
    parameters: {connectionid: ambush_prettiest}
"""


def sh(*args: str | Path, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, check=check)


def link_dependencies(target: Path) -> None:
    """Make orchestra-core's locked dependencies importable in a fresh venv, offline: link
    their files from this environment into *target*, which a ``.pth`` file adds to the path.
    Nothing of the workspace's own packages (or their entry points) comes along."""
    exported = sh(UV, "export", "--package", "orchestra-core", "--no-hashes", "--no-dev",
                  "--no-emit-workspace", "--no-annotate", "--no-header", "--frozen")
    names = [line.split("==")[0] for line in exported.stdout.splitlines()
             if "==" in line and not line.startswith("#")]
    assert "pluggy" in names
    target.mkdir()
    for name in names:
        dist = importlib.metadata.distribution(name)
        for top in {Path(str(f)).parts[0] for f in dist.files or ()}:
            source = Path(dist.locate_file(top))
            if top not in ("..", "bin") and source.exists() and not (target / top).exists():
                (target / top).symlink_to(source)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    for package in ("orchestra-core", "orchestra-fivetran"):
        sh(UV, "build", "--wheel", "--no-build-isolation", "--package", package,
           "--out-dir", out)
    wheels = sorted(out.glob("*.whl"))
    assert [w.name.split("-")[0] for w in wheels] == ["orchestra_core", "orchestra_fivetran"]
    env_dir = out / "venv"
    sh(UV, "venv", "--python", sys.executable, env_dir)
    python = env_dir / "bin" / "python"
    site = Path(sh(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
                .stdout.strip())
    link_dependencies(out / "deps")
    (site / "orchestra_test_deps.pth").write_text(str(out / "deps") + "\n")
    sh(UV, "pip", "install", "--offline", "--no-deps", "--python", python, *wheels)
    sh(python, "-c", "import orchestra_core, httpx, yaml, cattrs")
    return env_dir


def test_installed_wheel_is_discovered_and_validates(venv, tmp_path):
    plugins = sh(venv / "bin" / "orchestra", "plugins", "--json")
    by_name = {p["name"]: p for p in json.loads(plugins.stdout)}
    assert by_name["fivetran"]["distribution"] == "orchestra-fivetran"
    assert by_name["fivetran"]["integrations"] == [
        {"name": "fivetran", "jobs": ["fivetran_sync_all"]}]
    assert "dbt" not in by_name  # only what was installed
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(PIPELINE)
    result = sh(venv / "bin" / "orchestra", "validate", pipeline)
    assert result.stdout == f"ok  {pipeline}: pipeline 'wheel_check' (1 task, 0 stages)\n"


def test_uninstalled_plugin_gives_the_install_hint(venv, tmp_path):
    sh(UV, "pip", "uninstall", "--python", venv / "bin" / "python", "orchestra-fivetran")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(PIPELINE)
    result = sh(venv / "bin" / "orchestra", "validate", pipeline, check=False)
    assert result.returncode == 1
    assert result.stdout == (
        f"{pipeline}:4:18: $.tasks[0].integration: unknown integration 'fivetran'; installed "
        "integrations: http, noop, process. If a plugin provides it, install it: "
        "pip install orchestra-fivetran\n"
    )
