"""``orchestra triggers preview``, ``orchestra pipelines backfill`` and ``orchestra serve
--limit`` through the CLI, and the scheduled time a run hands its tasks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from orchestra_core import Orchestra, preview_fires
from orchestra_core._store import Store
from orchestra_core.cli import cli

PIPE = """name: nightly
triggers:
  - {id: daily, cron: "30 2 * * *", timezone: Europe/Berlin}
  - {id: hourly, cron: "30 */1 * * *", timezone: Europe/London}
  - {kind: queue, queue: q}
tasks:
  - {id: a, integration: noop, integration_job: noop_run}
"""

SCRIPT = """\
import os, sys
path, value = " ".join(sys.argv[1:]).split()
with open(path, "a") as out:
    out.write(os.environ["ORCHESTRA_SCHEDULED_AT"] + " " + value + "\\n")
"""


@pytest.fixture
def env(tmp_path):
    db = str(tmp_path / "o.db")
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, ["--no-plugins", *args, "--db", db])

    (tmp_path / "p.yaml").write_text(PIPE)
    return invoke, tmp_path, db


def test_preview_of_a_file_in_local_time_and_utc_marking_dst(env):
    invoke, tmp, _ = env
    result = invoke("triggers", "preview", str(tmp / "p.yaml"), "--from",
                    "2026-10-24T23:00", "-n", "6")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["2026-10-25", "00:30:00", "BST", "2026-10-24T23:30:00Z",
                                "hourly"]
    assert lines[1].startswith("! 2026-10-25 02:30:00 CEST") and "daily" in lines[1]
    assert "happens twice" in lines[1] and "first occurrence" in lines[1]
    assert lines[3].startswith("! 2026-10-25 01:30:00 GMT") and "second occurrence" in lines[3]
    assert len(lines) == 6


def test_preview_of_a_registered_pipeline_as_json(env):
    invoke, tmp, _ = env
    assert invoke("pipelines", "apply", str(tmp / "p.yaml")).exit_code == 0
    result = invoke("triggers", "preview", "nightly", "--from", "2026-03-29T00:45+00:00",
                    "-n", "2", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data[0] == {"trigger": "daily", "at": "2026-03-29T01:00:00+00:00",
                       "local": "2026-03-29T03:00:00+02:00", "timezone": "Europe/Berlin",
                       "dst": data[0]["dst"]}
    assert data[0]["dst"].startswith("moved")
    assert data[1]["trigger"] == "hourly" and data[1]["local"] == "2026-03-29T02:30:00+01:00"
    assert data[1]["dst"] is None  # 02:30 BST exists: nothing to say
    missing = invoke("triggers", "preview", "nothere")
    assert missing.exit_code == 1 and "no registered pipeline 'nothere'" in missing.output
    assert invoke("triggers", "preview", "nightly", "--from", "yesterday").exit_code == 2


def test_preview_fires_in_python():
    host = Orchestra(load_entrypoints=False)
    pipeline = host.pipeline_from_data({
        "name": "p", "triggers": [{"kind": "interval", "frequency": 90,
                                   "frequency_type": "minutes", "timezone": "Europe/Berlin"}],
        "tasks": [{"id": "a", "integration": "noop", "integration_job": "noop_run"}]})
    fires = preview_fires(pipeline, start=datetime(2026, 3, 29, tzinfo=UTC), count=3)
    assert [f.local.strftime("%H:%M %Z") for f in fires] == ["01:30 CET", "04:00 CEST",
                                                             "05:30 CEST"]
    assert [f.dst is not None for f in fires] == [False, True, False]


def test_backfill_runs_once_per_fire_time_with_its_scheduled_time(env, tmp_path):
    invoke, tmp, db = env
    (tmp / "job.py").write_text(SCRIPT)
    out = tmp / "out.txt"
    (tmp / "b.yaml").write_text(f"""name: daily_load
triggers:
  - {{cron: "0 6 * * *", timezone: Europe/Berlin}}
tasks:
  - id: load
    integration: process
    integration_job: process_run
    parameters:
      path: {tmp / 'job.py'}
      arguments: "{out} ${{run.scheduled_at}}"
""")
    assert invoke("pipelines", "apply", str(tmp / "b.yaml")).exit_code == 0
    dry = invoke("pipelines", "backfill", "daily_load", "--from", "2026-03-27",
                 "--to", "2026-03-30", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "3 fire time(s)" in dry.output and "2026-03-29T04:00:00Z" in dry.output
    result = CliRunner().invoke(cli, ["pipelines", "backfill", "daily_load", "--from",
                                      "2026-03-27", "--to", "2026-03-30", "--concurrency",
                                      "2", "--db", db])
    assert result.exit_code == 0, result.output
    assert "3 succeeded, 0 did not" in result.output
    written = sorted(out.read_text().splitlines())
    assert written == [f"{t} {t}" for t in ("2026-03-27T05:00:00+00:00",
                                            "2026-03-28T05:00:00+00:00",
                                            "2026-03-29T04:00:00+00:00")]
    store = Store.open(db)
    try:
        runs = store.list_runs(pipeline="daily_load", limit=10)
        assert {r["trigger"] for r in runs} == {"backfill:cron"}
        assert sorted(r["scheduled_at"].replace(tzinfo=UTC) if r["scheduled_at"].tzinfo is None
                      else r["scheduled_at"] for r in runs)[0] == datetime(2026, 3, 27, 5,
                                                                            tzinfo=UTC)
    finally:
        store.close()
    bad = invoke("pipelines", "backfill", "daily_load", "--from", "2026-03-30", "--to",
                 "2026-03-27")
    assert bad.exit_code == 1 and "before --from" in bad.output
    assert invoke("pipelines", "backfill", "daily_load", "--from", "2026-03-27", "--to",
                  "2026-03-28", "--trigger", "nope").exit_code == 1


def test_serve_takes_integration_limits_like_run(env, monkeypatch):
    from orchestra_core import _service

    seen = {}

    class FakeService:
        def __init__(self, host, store, **kwargs):
            seen.update(kwargs)

        async def run(self):
            return None

    monkeypatch.setattr(_service, "Service", FakeService)
    invoke, _, _ = env
    result = invoke("serve", "--limit", "noop=3", "--limit", "process=1")
    assert result.exit_code == 0, result.output
    assert seen["integration_limits"] == {"noop": 3, "process": 1}
    bad = invoke("serve", "--limit", "nosuch=2")
    assert bad.exit_code == 2 and "unknown integration 'nosuch'" in bad.output
    assert invoke("serve", "--limit", "noop=0").exit_code == 2


async def test_service_limits_tasks_of_one_integration_across_runs(tmp_path):
    from orchestra_core._service import Service

    store = Store.open(str(tmp_path / "o.db"))
    try:
        service = Service(Orchestra(load_entrypoints=False), store, http_host=None,
                          integration_limits={"noop": 2})
        assert service.engine.integration_limits["noop"].total_tokens == 2
    finally:
        store.close()
