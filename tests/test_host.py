"""The Orchestra host: its own plugin manager, explicit plugins, blocking, entry points."""

import uuid

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
    assert set(infos) == {"delivery", "files", "http", "noop", "notifications", "process"}
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
            registry.add("pager", factory=lambda options: None, description="Pager")

    host = Orchestra(plugins=[Sinks()], load_entrypoints=False)
    assert host.destinations.find("FILE_DROP").description == "Files"
    assert host.channels.find("pager").plugin


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
    handler = host.hook.orchestra_identify_webhook(request=request, orchestra=host)
    events = await handler.handle(request)
    assert events[0].kind == "done"
    other = WebhookRequest(integration="nope", method="POST", headers={}, body=b"{}")
    assert host.hook.orchestra_identify_webhook(request=other, orchestra=host) is None


# -- plugins crashing in hooks, and how explicit plugins are named ----------------------------

ECHO = {"name": "p", "tasks": [{"id": "a", "integration": "echo", "integration_job": "echo_say",
                                "text": "hi"}]}


class CrashingTaskCheck:
    @hookimpl
    def orchestra_validate_task(self, job, path):
        raise ValueError(f"no rule for {path}")


class CrashingPipelineCheck:
    @hookimpl
    def orchestra_validate_pipeline(self, pipeline):
        raise KeyError("tags")


class CrashingStartup:
    @hookimpl
    def orchestra_startup(self, orchestra):
        raise RuntimeError("no database")


def test_crash_in_validate_task_is_a_plugin_error():
    host = Orchestra(plugins=[EchoPlugin(), CrashingTaskCheck()], load_entrypoints=False)
    with pytest.raises(PluginError) as caught:
        host.check_data(ECHO)
    assert str(caught.value) == ("plugin 'CrashingTaskCheck' failed in orchestra_validate_task: "
                                 "ValueError: no rule for $.tasks[0]")
    assert isinstance(caught.value.__cause__, ValueError)


def test_crash_in_validate_pipeline_is_a_plugin_error():
    host = Orchestra(plugins=[EchoPlugin(), CrashingPipelineCheck()], load_entrypoints=False)
    with pytest.raises(PluginError) as caught:
        host.check_data(ECHO)
    assert str(caught.value) == ("plugin 'CrashingPipelineCheck' failed in "
                                 "orchestra_validate_pipeline: KeyError: 'tags'")


def test_crash_in_startup_is_a_plugin_error():
    with pytest.raises(PluginError) as caught:
        Orchestra(plugins=[CrashingStartup()], load_entrypoints=False)
    assert str(caught.value) == ("plugin 'CrashingStartup' failed in orchestra_startup: "
                                 "RuntimeError: no database")


def test_plugin_error_raised_by_a_hook_passes_through():
    class Refuse:
        @hookimpl
        def orchestra_startup(self, orchestra):
            raise PluginError("not today", distribution="orchestra-refuse")

    with pytest.raises(PluginError, match=r"^not today$") as caught:
        Orchestra(plugins=[Refuse()], load_entrypoints=False)
    assert caught.value.distribution == "orchestra-refuse"


def test_explicit_plugins_are_named_after_their_class():
    host = Orchestra(plugins=[EchoPlugin(), CrashingTaskCheck(), CrashingTaskCheck()],
                     load_entrypoints=False, builtins=False)
    assert [p.name for p in host.plugins()] == [
        "CrashingTaskCheck", "CrashingTaskCheck#2", "EchoPlugin"]
    assert host.find_job("echo", "echo_say").plugin == "EchoPlugin"


def test_unknown_job_of_a_plugin_without_distribution():
    host = Orchestra(plugins=[EchoPlugin()], load_entrypoints=False)
    _, problems = host.check_data({"name": "p", "tasks": [
        {"id": "a", "integration": "echo", "integration_job": "echo_sya"}]})
    assert [p.format() for p in problems] == [
        "$.tasks[0].integration_job: unknown integration job 'echo_sya' for integration 'echo' "
        "(did you mean 'echo_say'?); its jobs: echo_say. A newer or another plugin may provide "
        "it: pip install --upgrade <the package of plugin EchoPlugin>"
    ]


# -- parameter classes are checked when the host starts; each host has its own converter ------


@frozen(kw_only=True)
class UuidParams:
    """Parameters with a field no structure hook reads."""

    name: str = "x"
    run_id: uuid.UUID | None = None


class UuidPlugin:
    @hookimpl
    def orchestra_register_integrations(self, registry):
        registry.integration("tracker", description="x").job(
            "tracker_run", parameters=UuidParams, description="Run")


def test_a_parameter_type_the_converter_cannot_read_is_refused():
    with pytest.raises(PluginError) as caught:
        Orchestra(plugins=[UuidPlugin()], load_entrypoints=False)
    assert str(caught.value) == (
        "plugin 'UuidPlugin': parameter 'run_id' of job 'tracker_run' (integration 'tracker') "
        "cannot be read from a pipeline file: its type uuid.UUID | None has no structure hook "
        "(for uuid.UUID). Use str, int, float, bool, an enum, an attrs class, or a tuple, list "
        "or mapping of these.")


def test_parameter_classes_of_readable_types_are_accepted():
    import enum
    from collections.abc import Mapping
    from typing import Any

    class Mode(enum.StrEnum):
        FULL = "full"
        PART = "part"

    @frozen(kw_only=True)
    class Window:
        """A nested attrs class."""

        start: str
        hours: int = 1

    @frozen(kw_only=True)
    class GoodParams:
        """Every field type the converter reads."""

        text: str = parameter(help="what to say")
        count: int = 1
        wait: float | None = None
        loud: bool = False
        mode: Mode = Mode.FULL
        tags: tuple[str, ...] = ()
        ids: tuple[int, ...] = ()
        headers: Mapping[str, str] = parameter(factory=dict)
        extra: Mapping[str, Any] = parameter(factory=dict)
        window: Window | None = None
        windows: list[Window] = parameter(factory=list)

    class Good:
        @hookimpl
        def orchestra_register_integrations(self, registry):
            registry.integration("good", description="x").job(
                "good_job", parameters=GoodParams, description="Fine")

    host = Orchestra(plugins=[Good()], load_entrypoints=False)
    job = host.find_job("good", "good_job")
    params, problems = host.structure_parameters(
        job, {"text": "hi", "wait": "5m", "mode": "part", "window": {"start": "06:00"}})
    assert problems == []
    assert params.wait == 300.0 and params.mode is Mode.PART
    assert params.window == Window(start="06:00")
    _, problems = host.structure_parameters(job, {"count": "many"}, "$.tasks[0].parameters")
    assert sorted(p.format() for p in problems) == [
        "$.tasks[0].parameters.count: expected an integer, got the string 'many'",
        "$.tasks[0].parameters: missing required parameter 'text' (what to say)"]


def test_each_host_has_its_own_converter():
    a = Orchestra(plugins=[EchoPlugin()], load_entrypoints=False)
    b = Orchestra(load_entrypoints=False)
    assert a.converter is not b.converter
    a.converter.register_structure_hook(EchoParams, lambda raw, _: EchoParams(text="hooked"))
    assert a.converter.structure({"text": "hi"}, EchoParams).text == "hooked"
    assert b.converter.structure({"text": "hi"}, EchoParams).text == "hi"


class Picky:
    def __init__(self, crash):
        self.crash = crash

    @hookimpl
    def orchestra_startup(self, orchestra):
        if self.crash:
            raise RuntimeError("picky")


def test_crash_is_pinned_on_the_instance_that_raised():
    with pytest.raises(PluginError, match=r"^plugin 'Picky#2' failed in orchestra_startup: "
                       r"RuntimeError: picky$"):
        Orchestra(plugins=[Picky(False), Picky(True), Picky(False)], load_entrypoints=False)


def test_the_plugin_manager_finds_what_pluggys_finds():
    """Module plugins' implementations are found from the module's ``__dict__``: the same
    ones pluggy's own lookup finds, for every built-in and installed plugin and for a module
    holding a marked bound method."""
    import importlib
    import importlib.metadata
    import types

    import pluggy

    from orchestra_core import hookimpl, hookspecs
    from orchestra_core._hookcalls import PluginManager
    from orchestra_core._host import DEFAULT_PLUGINS

    class Holder:
        @hookimpl
        def orchestra_startup(self, orchestra):
            return None

    odd = types.ModuleType("odd_plugin")
    odd.orchestra_startup = Holder().orchestra_startup  # a bound method at module level
    odd.helper = len  # a builtin, not a hookimpl
    plugins = [importlib.import_module(m) for m in DEFAULT_PLUGINS]
    plugins += [ep.load() for ep in importlib.metadata.entry_points(group="orchestra")]
    plugins.append(odd)

    def found(pm: pluggy.PluginManager) -> set[tuple[str, str, object]]:
        pm.add_hookspecs(hookspecs)
        for i, plugin in enumerate(plugins):
            pm.register(plugin, name=f"p{i}")
        return {(name, impl.plugin_name, impl.function)
                for name, caller in vars(pm.hook).items()
                if isinstance(caller, pluggy.HookCaller)
                for impl in caller.get_hookimpls()}

    ours, theirs = found(PluginManager("orchestra")), found(pluggy.PluginManager("orchestra"))
    assert ours == theirs
    assert any(plugin == f"p{len(plugins) - 1}" for _, plugin, _ in ours)
