"""Queues from the command line and from inside running ``process`` tasks: the runner hands
the child the store and its run identity (``ORCHESTRA_DB``, ``ORCHESTRA_RUN_ID``,
``ORCHESTRA_TASK_ID``), so a script can call ``orchestra queue claim`` or
``Queues.from_env()``."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest
from click.testing import CliRunner

from orchestra_core import Orchestra
from orchestra_core._engine import Engine
from orchestra_core._queues import ElementStatus, Queues
from orchestra_core.cli import cli

from .test_queues import store  # noqa: F401  (the SQLite/PostgreSQL store fixture)

CONSUMER = textwrap.dedent("""\
    import json, os, sys
    from orchestra_core._queues import Queues

    with Queues.from_env() as queues:
        done = 0
        while (element := queues.claim("invoices")) is not None:
            if element.data["amount"] < 0:
                queues.fail(element.id, "negative amount")
            else:
                queues.complete(element.id, f"booked {element.data['amount']}")
            done += 1
    print(f"handled {done} invoices as", os.environ["ORCHESTRA_TASK_ID"])
""")

SHELL_CONSUMER = textwrap.dedent("""\
    #!/bin/sh
    set -e
    "$PYTHON" -m orchestra_core queue claim reports --json > "$OUT"
    id=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$OUT")
    "$PYTHON" -m orchestra_core queue complete "$id" --message "sent by $ORCHESTRA_TASK_ID"
""")


@pytest.fixture
def anyio_backend():
    return "asyncio"  # the engine under trio is covered elsewhere; children are slow to start


def pipeline_file(tmp_path):
    consumer = tmp_path / "consume.py"
    consumer.write_text(CONSUMER)
    shell = tmp_path / "report.sh"
    shell.write_text(SHELL_CONSUMER)
    shell.chmod(0o755)
    path = tmp_path / "work.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: queue-work
        tasks:
          - id: consume
            integration: process
            integration_job: process_run
            parameters: {{path: {consumer}}}
          - id: report
            integration: process
            integration_job: process_run
            parameters:
              path: {shell}
              env: {{PYTHON: {sys.executable}, OUT: {tmp_path / "claimed.json"}}}
        """))
    return path


def test_process_tasks_consume_queues_pushed_from_the_cli(tmp_path):
    db = str(tmp_path / "o.db")
    runner = CliRunner()
    for amount, ref in ((120, "INV-1"), (-5, "INV-2"), (80, "INV-3")):
        pushed = runner.invoke(cli, ["queue", "push", "invoices", json.dumps({"amount": amount}),
                                     "--reference", ref, "--by", "billing", "--db", db])
        assert pushed.exit_code == 0, pushed.output
    runner.invoke(cli, ["queue", "push", "reports", '{"month": "2026-01"}', "--db", db])

    result = runner.invoke(cli, ["--no-plugins", "run", str(pipeline_file(tmp_path)), "--db", db,
                                 "--progress", "none"])
    assert result.exit_code == 0, result.output
    run_id = result.output.split()[1]

    listed = json.loads(runner.invoke(cli, ["queue", "list", "invoices", "--json", "--db",
                                            db]).output)
    assert [(e["reference"], e["status"], e["message"]) for e in listed] == [
        ("INV-1", "done", "booked 120"), ("INV-2", "failed", "negative amount"),
        ("INV-3", "done", "booked 80")]
    assert {e["created_by"] for e in listed} == {"billing"}
    assert {e["claimed_by"] for e in listed} == {f"task queue-work/consume (run {run_id})"}

    claimed = json.loads((tmp_path / "claimed.json").read_text())
    assert claimed["data"] == {"month": "2026-01"}
    assert claimed["claimed_by"] == f"task queue-work/report (run {run_id})"
    report = json.loads(runner.invoke(cli, ["queue", "show", str(claimed["id"]), "--json",
                                            "--db", db]).output)
    assert (report["status"], report["message"]) == ("done", "sent by report")

    logs = runner.invoke(cli, ["logs", "--task", "consume", "--db", db]).output
    assert "handled 3 invoices as consume" in logs
    summary = runner.invoke(cli, ["queue", "list", "--db", db]).output.splitlines()
    assert summary == [
        "invoices                 new     0  in_progress     0  done     2  failed     1",
        "reports                  new     0  in_progress     0  done     1  failed     0"]


async def test_a_process_task_reaches_the_store_of_its_run(store, tmp_path):  # noqa: F811
    """On PostgreSQL too: the child gets the full URL (schema options included)."""
    queues = Queues(store, identity="pusher")
    queues.push_many("invoices", [({"amount": n}, None) for n in (1, 2, 3, 4)])
    script = tmp_path / "consume.py"
    script.write_text(CONSUMER)
    host = Orchestra(load_entrypoints=False)
    pipeline = host.pipeline_from_data({"name": "drain", "tasks": [
        {"id": "worker", "integration": "process", "integration_job": "process_run",
         "parameters": {"path": str(script)}}]})
    result = await Engine(host, store).run(pipeline)
    assert result.state == "succeeded", result.error
    elements = queues.list("invoices")
    assert [e.status for e in elements] == [ElementStatus.DONE] * 4
    assert {e.claimed_by for e in elements} == {f"task drain/worker (run {result.run_id})"}


def test_cli_queue_errors_are_clear_and_change_nothing(tmp_path):
    db = str(tmp_path / "o.db")
    runner = CliRunner()
    bad = runner.invoke(cli, ["queue", "push", "q", '{"a": ', "--db", db])
    assert bad.exit_code == 2
    assert "invalid JSON: Expecting value (line 1, column 7)" in bad.output
    assert json.loads(runner.invoke(cli, ["queue", "list", "--json", "--db", db]).output) == []
    empty = runner.invoke(cli, ["queue", "claim", "q", "--db", db])
    assert empty.exit_code == 3
    assert "queue 'q' has no new element" in empty.output
    pushed = runner.invoke(cli, ["queue", "push", "q", "plain words", "--db", db])
    assert pushed.output == "pushed element 1 to queue 'q'\n"
    early = runner.invoke(cli, ["queue", "fail", "1", "-m", "nope", "--db", db])
    assert early.exit_code == 1
    assert early.output == ("Error: cannot fail element 1 of queue 'q': it is new, not "
                            "in_progress (claim it first)\n")
    shown = json.loads(runner.invoke(cli, ["queue", "show", "1", "--json", "--db", db]).output)
    assert (shown["status"], shown["data"], shown["message"]) == ("new", "plain words", None)
    missing = runner.invoke(cli, ["queue", "show", "42", "--db", db])
    assert (missing.exit_code, missing.output) == (1, "Error: no queue element with id 42\n")


@pytest.mark.parametrize("source", ["argument", "file"])
def test_queue_push_reads_json_from_an_argument_or_a_file(tmp_path, source):
    db = str(tmp_path / "o.db")
    data = {"rows": [1, 2], "name": "x"}
    if source == "file":
        path = tmp_path / "data.json"
        path.write_text(json.dumps(data))
        args = ["--data-file", str(path)]
    else:
        args = [json.dumps(data)]
    out = CliRunner().invoke(cli, ["queue", "push", "q", *args, "--json", "--db", db])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["data"] == data
