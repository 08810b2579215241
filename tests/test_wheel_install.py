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


PLUGINS = {  # distribution: (integration, job, parameters of a task its simulator knows)
    "orchestra-fivetran": ("fivetran", "fivetran_sync_all",
                           "{connectionid: ambush_prettiest, poll_interval: 0.2}"),
    "orchestra-dbt": ("dbt", "dbt_runjob", "{account_id: 1, jobid: 123456, poll_interval: 0.2}"),
    "orchestra-census": ("census", "census_sync", "{syncid: 52, poll_interval: 0.2}"),
    "orchestra-hightouch": ("hightouch", "hightouch_sync",
                            "{sync_slug: daily-accounts, poll_interval: 1}"),
    "orchestra-amperity": ("amperity", "amperity_orchestration_group",
                           "{config_id: og-8qLw3p1, poll_interval: 0.2}"),
}


def one_task(integration: str, job: str, parameters: str) -> str:
    """A pipeline file with one task of *job*."""
    return (f"name: {integration}_alone\ntasks:\n  - id: t\n    integration: {integration}\n"
            f"    integration_job: {job}\n    parameters: {parameters}\n")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    for package in ("orchestra-core", *PLUGINS):
        sh(UV, "build", "--wheel", "--no-build-isolation", "--package", package,
           "--out-dir", out)
    link_dependencies(out / "deps")
    return out


def make_venv(wheels: Path, where: Path, *packages: str) -> Path:
    """A fresh virtualenv holding orchestra-core and the plugin wheels *packages* only."""
    chosen = [w for w in sorted(wheels.glob("*.whl"))
              if w.name.split("-")[0].replace("_", "-") in ("orchestra-core", *packages)]
    assert len(chosen) == 1 + len(packages)
    sh(UV, "venv", "--python", sys.executable, where)
    python = where / "bin" / "python"
    site = Path(sh(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
                .stdout.strip())
    (site / "orchestra_test_deps.pth").write_text(str(wheels / "deps") + "\n")
    sh(UV, "pip", "install", "--offline", "--no-deps", "--python", python, *chosen)
    sh(python, "-c", "import orchestra_core, httpx, yaml, cattrs")
    return where


@pytest.fixture(scope="module")
def venv(wheels, tmp_path_factory) -> Path:
    return make_venv(wheels, tmp_path_factory.mktemp("fivetran") / "venv", "orchestra-fivetran")


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


@pytest.mark.parametrize("package", list(PLUGINS))
def test_each_plugin_wheel_alone_runs_its_job(wheels, tmp_path, package):
    """Core + one plugin: its job is listed and runs against its simulator; a task of a
    plugin that is not installed is refused with the package to install."""
    integration, job, parameters = PLUGINS[package]
    env_dir = make_venv(wheels, tmp_path / "venv", package)
    orchestra = env_dir / "bin" / "orchestra"
    listed = {p["name"]: p for p in json.loads(sh(orchestra, "plugins", "--json").stdout)}
    assert listed[integration]["distribution"] == package
    assert job in listed[integration]["integrations"][0]["jobs"]
    assert not {"fivetran", "dbt", "census", "hightouch", "amperity"} - {integration} & set(
        listed)
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(one_task(integration, job, parameters))
    ran = sh(orchestra, "run", pipeline, "--simulate", "--simulate-duration", "0.5",
             "--progress", "plain", "--db", tmp_path / "o.db", check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert f"{integration} simulator on http://127.0.0.1:" in ran.stdout
    assert "succeeded" in ran.stdout.splitlines()[-3]
    other = "orchestra-dbt" if package == "orchestra-fivetran" else "orchestra-fivetran"
    missing = tmp_path / "missing.yaml"
    missing.write_text(one_task(*PLUGINS[other]))
    refused = sh(orchestra, "validate", missing, check=False)
    assert refused.returncode == 1
    assert f"unknown integration '{PLUGINS[other][0]}'" in refused.stdout
    assert refused.stdout.rstrip().endswith(f"pip install {other}")


def test_uninstalled_plugin_gives_the_install_hint(venv, tmp_path):
    sh(UV, "pip", "uninstall", "--python", venv / "bin" / "python", "orchestra-fivetran")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(PIPELINE)
    result = sh(venv / "bin" / "orchestra", "validate", pipeline, check=False)
    assert result.returncode == 1
    assert result.stdout == (
        f"{pipeline}:4:18: $.tasks[0].integration: unknown integration 'fivetran'; installed "
        "integrations: files, http, noop, orchestration, process. If a plugin provides it, "
        "install it: "
        "pip install orchestra-fivetran\n"
    )


def test_core_wheel_carries_the_dashboards_templates_and_static_files(wheels):
    import zipfile

    wheel = next(wheels.glob("orchestra_core-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("templates/base.html", "templates/run_live.html", "static/htmx.min.js",
                 "static/htmx-LICENSE.txt", "static/dashboard.css"):
        assert f"orchestra_core/_dashboard/{name}" in names, name
