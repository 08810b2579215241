"""``orchestra plugin new``: a generated plugin builds as a wheel, installs into a fresh
virtualenv beside the core, passes its own tests there (the core's contract tests included)
and runs a pipeline against its simulator. Offline: the build backend (hatchling) comes from
uv's cache, the core's dependencies are linked from this environment."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestra_core import __version__
from orchestra_core.cli import cli

ROOT = Path(__file__).resolve().parent.parent
UV = shutil.which("uv")


def sh(*args: str | Path, cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT", "PYTEST_", "ORCHESTRA_"))}
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                            text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} failed:\n{result.stdout}\n{result.stderr}")
    return result


def generate(where: Path, name: str, kind: str = "integration") -> Path:
    result = CliRunner().invoke(cli, ["plugin", "new", name, "--kind", kind,
                                      "--directory", str(where)])
    assert result.exit_code == 0, result.output
    return where / f"orchestra-{name}"


def test_plugin_new_writes_a_package(tmp_path):
    target = generate(tmp_path, "acme")
    made = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert made == ["README.md", "pipeline.yaml", "pyproject.toml",
                    "src/orchestra_acme/__init__.py", "src/orchestra_acme/params.py",
                    "src/orchestra_acme/plugin.py", "src/orchestra_acme/runner.py",
                    "src/orchestra_acme/simulator.py", "tests/test_contract.py",
                    "tests/test_plugin.py"]
    pyproject = (target / "pyproject.toml").read_text()
    assert '[project.entry-points.orchestra]\nacme = "orchestra_acme.plugin"' in pyproject
    major, minor = __version__.split(".")[:2]
    assert f'"orchestra-core>={major}.{minor},<' in pyproject
    for source in target.rglob("*.py"):
        compile(source.read_text(), str(source), "exec")


def test_plugin_new_refuses_a_bad_name_or_a_full_directory(tmp_path):
    bad = CliRunner().invoke(cli, ["plugin", "new", "9lives", "--directory", str(tmp_path)])
    assert bad.exit_code == 2 and "is not a plugin name" in bad.output
    generate(tmp_path, "acme")
    again = CliRunner().invoke(cli, ["plugin", "new", "acme", "--directory", str(tmp_path)])
    assert again.exit_code == 1 and "exists and is not empty" in again.output


def link_dependencies(target: Path) -> None:
    """Make orchestra-core's locked dependencies and its ``testing`` extra importable in a
    fresh venv, offline (see tests/test_wheel_install.py)."""
    exported = sh(UV, "export", "--package", "orchestra-core", "--no-hashes", "--no-dev",
                  "--extra", "testing", "--no-emit-workspace", "--no-annotate", "--no-header",
                  "--frozen")
    names = [line.split("==")[0] for line in exported.stdout.splitlines()
             if "==" in line and not line.startswith("#")]
    target.mkdir()
    for name in names:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:  # another platform's (colorama)
            continue
        for top in {Path(str(f)).parts[0] for f in dist.files or ()}:
            source = Path(dist.locate_file(top))
            if top not in ("..", "bin") and source.exists() and not (target / top).exists():
                (target / top).symlink_to(source)


@pytest.fixture(scope="module")
def core(tmp_path_factory) -> Path:
    """The core's wheel and its dependencies, linked (built once for every kind)."""
    out = tmp_path_factory.mktemp("core")
    sh(UV, "build", "--wheel", "--no-build-isolation", "--package", "orchestra-core",
       "--out-dir", out / "wheels")
    link_dependencies(out / "deps")
    return out


KINDS = {"integration": "acme", "channel": "acmechat", "destination": "acmedrop"}


@pytest.mark.slow
@pytest.mark.skipif(UV is None, reason="uv is not installed")
def test_generated_plugin_wheels_install_pass_their_tests_and_run(core, tmp_path):
    """One plugin of each kind, built as wheels and installed side by side beside the core
    in a fresh virtualenv: each passes its own tests against the installed wheel, all are
    listed and compatible, and the integration runs a pipeline against its simulator."""
    wheels = tmp_path / "wheels"
    targets = {}
    for kind, name in KINDS.items():
        targets[kind] = generate(tmp_path, name, kind)
        sh(UV, "build", "--wheel", "--offline", "--out-dir", wheels, cwd=targets[kind])
    venv = tmp_path / "venv"
    sh(UV, "venv", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    site = Path(sh(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))")
                .stdout.strip())
    (site / "orchestra_test_deps.pth").write_text(str(core / "deps") + "\n")
    sh(UV, "pip", "install", "--offline", "--no-deps", "--python", python,
       *sorted(wheels.glob("*.whl")), *sorted((core / "wheels").glob("*.whl")))

    for kind, target in targets.items():  # its own tests, against the installed wheel
        tested = sh(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=target,
                    check=False)
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert " passed" in tested.stdout and "failed" not in tested.stdout
        # a record destination skips only the contract's file test
        skipped = "1 skipped" if kind == "destination" else "skipped"
        assert (skipped in tested.stdout) is (kind == "destination"), tested.stdout

    orchestra = venv / "bin" / "orchestra"
    listed = {p["name"]: p for p in json.loads(sh(orchestra, "plugins", "--json").stdout)}
    for name in KINDS.values():
        assert listed[name]["distribution"] == f"orchestra-{name}"
    checked = sh(orchestra, "plugins", "--check", check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "3 of 3 installed plugins" in checked.stdout
    ran = sh(orchestra, "run", "pipeline.yaml", "--simulate", "--simulate-duration", "0.5",
             "--progress", "plain", "--db", tmp_path / "o.db", cwd=targets["integration"],
             check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "acme simulator on http://127.0.0.1:" in ran.stdout
    assert " succeeded" in ran.stdout


@pytest.mark.slow
@pytest.mark.skipif(UV is None, reason="uv is not installed")
def test_a_plugin_added_to_a_uv_project_survives_uv_sync(tmp_path):
    """What writing-a-plugin.md says about uv projects: ``uv add --editable`` keeps a plugin
    across ``uv sync``; ``uv pip install`` puts it in the environment only, and the next
    ``uv sync`` removes it (``uv sync --inexact`` leaves it)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "nightly"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["orchestra-core"]\n\n[tool.uv.sources]\n'
        f'orchestra-core = {{ path = "{ROOT}", editable = true }}\n')
    acme = generate(tmp_path, "acme")
    other = generate(tmp_path, "other", "channel")
    orchestra = project / ".venv" / "bin" / "orchestra"

    def installed() -> set[str]:
        listed = json.loads(sh(orchestra, "plugins", "--json", cwd=project).stdout)
        return {p["name"] for p in listed if not p["builtin"]}

    if sh(UV, "sync", "--offline", "--python", sys.executable, cwd=project,
          check=False).returncode != 0:
        # uv's cache lacks the registry's answers a new project's resolution reads (a fresh
        # machine whose environment was installed from a lock file): fetched once, then all
        # offline again
        sh(UV, "sync", "--python", sys.executable, cwd=project)
    sh(UV, "add", "--offline", "--editable", acme, cwd=project)
    sh(UV, "pip", "install", "--offline", "-e", other, cwd=project)
    assert installed() == {"acme", "other"}
    sh(UV, "sync", "--offline", "--inexact", cwd=project)
    assert installed() == {"acme", "other"}
    sh(UV, "sync", "--offline", cwd=project)
    assert installed() == {"acme"}  # kept: it is in pyproject.toml and uv.lock
    assert "orchestra-acme" in (project / "pyproject.toml").read_text()
