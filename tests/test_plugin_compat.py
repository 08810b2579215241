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
    lines = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0"]
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


# -- a plugin written against the documented API only ---------------------------------------
# Every hook as docs/hooks.md shows it (keyword arguments, subsets of hook arguments), only
# names from orchestra_core's __all__. If this test needs changing, the change breaks
# third-party plugins: it belongs in a major release (docs/writing-a-plugin.md, "Versioning").

from attrs import frozen  # noqa: E402

from orchestra_core import (  # noqa: E402
    ConnectionSpec,
    DeliveryReceipt,
    ExternalRun,
    JobResult,
    JobState,
    Orchestra,
    Problem,
    hookimpl,
    parameter,
)


@frozen(kw_only=True)
class CountParams:
    """Count to n."""

    n: int = parameter(default=1, aliases=("count",), help="how far to count")


@frozen(kw_only=True)
class DropOptions:
    """Options of the documented destination."""

    folder: str = parameter(default="out", help="where rows go")


class CountRunner:
    def __init__(self, host):
        self.host = host

    async def start(self, ctx):
        await ctx.record_intent({"n": ctx.parameters.n})
        return ExternalRun(id="count-1", started_at=ctx.now(), data={"n": ctx.parameters.n})

    async def wait(self, ctx, run):
        await ctx.sleep(0)
        ctx.log(f"counted to {run.data['n']}")
        return JobResult(state=JobState.SUCCEEDED, message="done", metadata={"n": run.data["n"]})

    async def cancel(self, ctx, run):
        return None


class DropDestination:
    def __init__(self, options):
        self.options = options

    async def deliver(self, delivery):
        rows = 0
        async for batch in delivery.batches():
            if not await delivery.checkpoints.done(batch.key):
                rows += len(batch.records())
                await delivery.checkpoints.mark(batch.key, rows=len(batch.rows))
        return DeliveryReceipt(delivered=rows, location=self.options.folder)


class ListChannel:
    def __init__(self, options):
        self.sent = []

    async def notify(self, notification):
        self.sent.append(notification)


class DocumentedPlugin:
    started = False

    @hookimpl
    def orchestra_register_integrations(self, registry):
        counter = registry.integration(
            "counter", description="counts", aliases=("count_things",),
            connection=ConnectionSpec(secrets=("token",), env={"token": "COUNTER_TOKEN",
                                                               "base_url": "COUNTER_URL"}),
            simulator=None)
        counter.job("count", parameters=CountParams, description="count to n",
                    runner=CountRunner, phase="processing", aliases=("tally",))

    @hookimpl
    def orchestra_register_destinations(self, registry):
        registry.add("drop", factory=DropDestination, description="a folder",
                     options=DropOptions)

    @hookimpl
    def orchestra_register_notification_channels(self, registry):
        registry.add("listed", factory=ListChannel, description="a list")

    @hookimpl
    def orchestra_startup(self, orchestra):
        DocumentedPlugin.started = True

    @hookimpl
    def orchestra_validate_task(self, job, parameters, path):
        if job.integration == "counter" and parameters.n > 100:
            return [Problem(path=f"{path}.parameters.n", message="too far",
                            code="invalid-value")]
        return None

    @hookimpl
    def orchestra_validate_pipeline(self, pipeline):
        return []

    @hookimpl
    def orchestra_identify_webhook(self, request):
        return None


def test_a_plugin_written_against_the_documented_api_keeps_working(tmp_path):
    import anyio

    host = Orchestra(plugins=[DocumentedPlugin()], load_entrypoints=False)
    assert DocumentedPlugin.started
    assert host.find_job("COUNT_THINGS", "Tally") is not None
    (tmp_path / "p.yaml").write_text(
        "name: counting\ntasks:\n  - id: a\n    integration: counter\n"
        "    integration_job: count\n    parameters: {Count: 3}\n")
    result = anyio.run(lambda: host.run(str(tmp_path / "p.yaml"), db=str(tmp_path / "o.db")))
    assert result.succeeded, result.error
    (tmp_path / "bad.yaml").write_text(
        "name: counting\ntasks:\n  - id: a\n    integration: counter\n"
        "    integration_job: count\n    parameters: {n: 101}\n")
    _, problems = host.check_file(str(tmp_path / "bad.yaml"))
    assert [(p.path, p.message) for p in problems] == [("$.tasks[0].parameters.n", "too far")]
    from orchestra_core.testing._contracts._destination import make_delivery, sample_rows

    drop = host.destinations.find("drop")
    receipt = anyio.run(drop.factory(drop.options()).deliver, make_delivery(sample_rows(12)))
    assert receipt.delivered == 12
