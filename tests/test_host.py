"""The Orchestra host: its own plugin manager, explicit plugins, blocking, entry points."""

import pytest
from attrs import frozen

from orchestra_core import JobNotExecutable, Orchestra, PluginError, hookimpl, parameter


@frozen(kw_only=True)
class EchoParams:
    """Echo parameters."""

    text: str = parameter(help="what to echo")


class EchoPlugin:
    @hookimpl
    def orchestra_register_integrations(self, registry):
        registry.integration("echo", description="Echoes").job(
            "echo_say", parameters=EchoParams, description="Say it")


def test_builtins_register_as_ordinary_plugins():
    host = Orchestra(load_entrypoints=False)
    infos = {i.name: i for i in host.plugins()}
    assert set(infos) == {"http", "noop", "process"}
    assert infos["http"].builtin
    assert infos["http"].distribution == "orchestra-core"
    assert infos["http"].integrations == (("http", ("http_request",)),)


def test_hosts_are_independent():
    a = Orchestra(plugins=[EchoPlugin()], load_entrypoints=False)
    b = Orchestra(load_entrypoints=False)
    assert a.find_job("echo", "echo_say") is not None
    assert b.find_job("echo", "echo_say") is None
    assert a.pm is not b.pm


def test_explicit_plugin_and_entry_points_skipped():
    host = Orchestra(plugins=[EchoPlugin()], load_entrypoints=False)
    assert "fivetran" not in host.integrations.names()
    assert host.find_job("ECHO", "Echo_Say").name == "echo_say"


def test_entry_points_are_loaded_by_default():
    host = Orchestra()
    assert {"fivetran", "dbt", "census", "hightouch", "amperity"} <= set(
        host.integrations.names())


def test_blocked_plugins_are_not_loaded():
    host = Orchestra(blocked=["hightouch", "process"])
    assert "hightouch" not in host.integrations.names()
    assert "process" not in host.integrations.names()
    assert "fivetran" in host.integrations.names()


def test_without_builtins():
    host = Orchestra(load_entrypoints=False, builtins=False)
    assert host.integrations.names() == []


def test_job_without_runner_says_it_cannot_execute():
    host = Orchestra(plugins=[EchoPlugin()], load_entrypoints=False)
    job = host.find_job("echo", "echo_say")
    with pytest.raises(JobNotExecutable, match=r"integration job 'echo_say' \(echo\) of .* "
                       r"cannot execute yet"):
        host.runner(job)


def test_two_plugins_registering_the_same_job_clash():
    class Again(EchoPlugin):
        pass

    with pytest.raises(PluginError, match="job 'echo_say' of integration 'echo' is registered "
                       "by both plugin"):
        Orchestra(plugins=[EchoPlugin(), Again()], load_entrypoints=False)


def test_a_plugin_may_add_jobs_to_another_integration():
    @frozen
    class P:
        """P."""

    class Extra:
        @hookimpl
        def orchestra_register_integrations(self, registry):
            registry.integration("echo", description="x").job(
                "echo_shout", parameters=P, description="Shout")

    host = Orchestra(plugins=[EchoPlugin(), Extra()], load_entrypoints=False)
    assert sorted(host.integrations.find("echo").jobs) == ["echo_say", "echo_shout"]


def test_parameters_must_be_attrs():
    class Bad:
        @hookimpl
        def orchestra_register_integrations(self, registry):
            registry.integration("bad", description="x").job(
                "bad_job", parameters=dict, description="x")

    with pytest.raises(PluginError, match="parameters of job 'bad_job' must be an attrs class"):
        Orchestra(plugins=[Bad()], load_entrypoints=False)


def test_misspelled_hook_is_refused():
    class Typo:
        @hookimpl
        def orchestra_register_integration(self, registry):  # missing "s"
            pass

    with pytest.raises(PluginError, match="unknown hook 'orchestra_register_integration'"):
        Orchestra(plugins=[Typo()], load_entrypoints=False)


def test_crashing_plugin_names_itself():
    class Crash:
        @hookimpl
        def orchestra_register_integrations(self, registry):
            raise RuntimeError("boom")

    with pytest.raises(PluginError, match=r"plugin '.*' failed in "
                       r"orchestra_register_integrations: RuntimeError: boom"):
        Orchestra(plugins=[Crash()], load_entrypoints=False)


def test_destinations_and_channels_register():
    class Sinks:
        @hookimpl
        def orchestra_register_destinations(self, registry):
            registry.add("file_drop", factory=lambda options: None, description="Files")

        @hookimpl
        def orchestra_register_notification_channels(self, registry):
            registry.add("stored", factory=lambda options: None, description="Stored")

    host = Orchestra(plugins=[Sinks()], load_entrypoints=False)
    assert host.destinations.find("FILE_DROP").description == "Files"
    assert host.channels.find("stored").plugin


def test_startup_hook_receives_the_host():
    seen = []

    class Watch:
        @hookimpl
        def orchestra_startup(self, orchestra):
            seen.append(orchestra)

    host = Orchestra(plugins=[Watch()], load_entrypoints=False)
    assert seen == [host]


async def test_identify_webhook_stops_at_first_handler():
    from orchestra_core import WebhookEvent, WebhookRequest

    class Handler:
        async def handle(self, request):
            return [WebhookEvent(integration="echo", kind="done", key="k", event_id="1")]

    class Hooks:
        @hookimpl
        def orchestra_identify_webhook(self, request):
            return Handler() if request.integration == "echo" else None

    host = Orchestra(plugins=[Hooks()], load_entrypoints=False)
    request = WebhookRequest(integration="echo", method="POST", headers={}, body=b"{}")
    handler = host.hook.orchestra_identify_webhook(request=request)
    events = await handler.handle(request)
    assert events[0].kind == "done"
    other = WebhookRequest(integration="nope", method="POST", headers={}, body=b"{}")
    assert host.hook.orchestra_identify_webhook(request=other) is None
