"""``orchestra pipelines`` and ``orchestra triggers`` through the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from orchestra_core._store import Store
from orchestra_core.cli import cli

PIPE = """name: nightly
triggers:
  - {id: morning, cron: "30 6 * * *", timezone: Europe/London}
  - {kind: manual}
tasks:
  - {id: a, integration: noop, integration_job: noop_run, outputs: [t.a]}
"""


@pytest.fixture
def env(tmp_path):
    db = str(tmp_path / "o.db")
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli, ["--no-plugins", *args, "--db", db])

    (tmp_path / "p.yaml").write_text(PIPE)
    return invoke, tmp_path, db


def test_apply_list_show_and_versions(env):
    invoke, tmp, _db = env
    result = invoke("pipelines", "apply", str(tmp / "p.yaml"))
    assert result.exit_code == 0, result.output
    assert "created pipeline 'nightly' version 1 (triggers: +morning +manual)" in result.output
    assert "morning (cron): next " in result.output
    assert "unchanged pipeline 'nightly' version 1" in invoke(
        "pipelines", "apply", str(tmp / "p.yaml")).output
    (tmp / "p.yaml").write_text(PIPE.replace("30 6", "45 6"))
    assert "updated pipeline 'nightly' version 2 (triggers: ~morning)" in invoke(
        "pipelines", "apply", str(tmp / "p.yaml")).output
    listed = invoke("pipelines", "list")
    assert listed.output.startswith("nightly") and "v2" in listed.output and \
        "active" in listed.output
    shown = invoke("pipelines", "show", "nightly")
    assert "morning          cron cron=45 6 * * *, timezone=Europe/London" in shown.output
    assert "v2" in shown.output and "v1" in shown.output
    data = json.loads(invoke("pipelines", "show", "nightly", "--json").output)
    assert [v["version"] for v in data["versions"]] == [2, 1]
    v1 = json.loads(invoke("pipelines", "show", "nightly", "--version", "1").output)
    assert v1["triggers"][0] == {"kind": "cron", "id": "morning", "cron": "30 6 * * *",
                                 "timezone": "Europe/London"}
    as_json = json.loads(invoke("pipelines", "apply", str(tmp / "p.yaml"), "--json").output)
    assert as_json[0]["status"] == "unchanged"
    assert json.loads(invoke("pipelines", "list", "--json").output)[0]["version"] == 2


def test_apply_of_an_invalid_file_changes_nothing(env):
    invoke, tmp, _db = env
    (tmp / "bad.yaml").write_text(PIPE.replace("Europe/London", "Europe/Londn"))
    result = invoke("pipelines", "apply", str(tmp / "p.yaml"), str(tmp / "bad.yaml"))
    assert result.exit_code == 1
    assert "bad.yaml:3:49: $.triggers[0].timezone: unknown timezone 'Europe/Londn' (did you " \
        "mean 'Europe/London'?)" in result.output
    assert "nothing applied: 1 problem(s)" in result.output
    assert "no registered pipelines" in invoke("pipelines", "list").output


def test_activate_deactivate_delete_and_run_by_hand(env):
    invoke, tmp, db = env
    invoke("pipelines", "apply", str(tmp / "p.yaml"))
    assert "pipeline 'nightly' deactivated" in invoke("pipelines", "deactivate",
                                                      "nightly").output
    assert "inactive" in invoke("pipelines", "list").output
    assert "(pipeline inactive)" in invoke("triggers", "list").output
    ran = invoke("pipelines", "run", "nightly")  # by hand, although inactive
    assert ran.exit_code == 0, ran.output
    assert ran.output.rstrip().endswith("succeeded")
    queued = invoke("pipelines", "run", "nightly", "--queue", "--run-type", "refresh")
    run_id = queued.output.split()[1]
    run = Store.open(db).get_run(run_id)
    assert (run["state"], run["run_type"], run["trigger"]) == ("pending", "refresh", "manual")
    assert "was already inactive" in invoke("pipelines", "deactivate", "nightly").output
    assert "activated" in invoke("pipelines", "activate", "nightly").output
    missing = invoke("pipelines", "show", "nightlly")
    assert missing.exit_code == 1
    assert "Error: no registered pipeline 'nightlly' (did you mean 'nightly'?)" in \
        missing.output
    deleted = invoke("pipelines", "delete", "nightly", "--yes")
    assert "deleted pipeline 'nightly' (its 2 run(s) are kept)" in deleted.output
    assert "no registered pipelines" in invoke("pipelines", "list").output


def test_triggers_add_list_delete(env):
    invoke, tmp, _db = env
    invoke("pipelines", "apply", str(tmp / "p.yaml"))
    added = invoke("triggers", "add", "nightly", "{queue: inbox, min_elements: 5}")
    assert added.exit_code == 0, added.output
    assert "added trigger queue (queue) to 'nightly'" in added.output
    bad = invoke("triggers", "add", "nightly", "{cron: '0 25 * * *'}")
    assert bad.exit_code == 1
    assert "trigger.cron: invalid cron expression '0 25 * * *'" in bad.output
    listed = invoke("triggers", "list", "--pipeline", "nightly")
    assert "nightly/queue" in listed.output and "[api]" in listed.output
    rows = json.loads(invoke("triggers", "list", "--json").output)
    assert sorted(r["name"] for r in rows) == ["manual", "morning", "queue"]
    # kept when the file is applied again
    (tmp / "p.yaml").write_text(PIPE.replace("30 6", "0 7"))
    invoke("pipelines", "apply", str(tmp / "p.yaml"))
    assert len(json.loads(invoke("triggers", "list", "--json").output)) == 3
    gone = invoke("triggers", "delete", "nightly/morning")
    assert "deleted trigger nightly/morning (cron); it is declared in the pipeline's file" in \
        gone.output
    queue_id = next(r["id"] for r in rows if r["name"] == "queue")
    assert "deleted trigger nightly/queue" in invoke("triggers", "delete", queue_id[:8]).output
    nope = invoke("triggers", "delete", "nightly/ghost")
    assert nope.exit_code == 1 and "no trigger 'nightly/ghost'" in nope.output
