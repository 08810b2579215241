"""Every validation rule, with the exact message a user sees."""

import pytest

from orchestra_core import ConfigError, Orchestra

NOOP = {"integration": "noop", "integration_job": "noop_run"}


def problems(host: Orchestra, text: str, fmt: str = "yaml") -> list[str]:
    _, found = host.check_text(text, source="p.yaml", fmt=fmt)
    return [p.format() for p in found]


def data_problems(host: Orchestra, data: object) -> list[str]:
    _, found = host.check_data(data)
    return [p.format() for p in found]


def pipe(*tasks: dict, **extra: object) -> dict:
    return {"name": "p", "tasks": list(tasks), **extra}


def noop(task_id: str, **extra: object) -> dict:
    return {"id": task_id, **NOOP, **extra}


def test_valid_pipeline_has_no_problems(host):
    text = """
name: ok
tasks:
  - {id: a, integration: noop, integration_job: noop_run}
  - {id: b, integration: noop, integration_job: noop_run, depends_on: a}
"""
    pipeline, found = host.check_text(text)
    assert found == []
    assert pipeline is not None
    assert pipeline.task("b").depends_on == ("a",)


def test_every_problem_is_reported_at_once(host):
    text = """name: p
tasks:
  - id: a
    integration: noop
    integration_job: noop_run
    depends_on: [ghost]
  - id: a
    integration: nope
    integration_job: x
  - id: c
    integration: noop
    integration_job: noop_run
    parameters: {sleep: soon}
"""
    assert problems(host, text) == [
        "p.yaml:6:18: $.tasks[0].depends_on[0]: depends on 'ghost', which is neither a task "
        "nor a stage of this pipeline",
        "p.yaml:7:9: $.tasks[1].id: duplicate id 'a': already used by the task at $.tasks[0]",
        "p.yaml:8:18: $.tasks[1].integration: unknown integration 'nope' (did you mean "
        "'noop'?); installed integrations: files, http, noop, orchestration, process. If a "
        "plugin provides it, install it: pip install orchestra-nope",
        "p.yaml:13:25: $.tasks[2].parameters.sleep: expected a duration such as 90, '30s', "
        "'5m' or '1h30m', got 'soon'",
    ]


def test_syntax_error_in_yaml_has_line_and_column(host):
    assert problems(host, "name: p\ntasks: [\n  {id: a\n") == [
        "p.yaml:4:1: $: invalid YAML: while parsing a flow mapping expected ',' or '}', but "
        "got '<stream end>'"
    ]


def test_syntax_error_in_json_has_line_and_column(host):
    assert problems(host, '{"name": "p",\n "tasks": [}\n', fmt="json") == [
        "p.yaml:2:12: $: invalid JSON: Expecting value"
    ]


def test_seed_json_typo_is_a_syntax_error(host):
    text = '{\n    "integration": "fivetran":\n    "integration_job":"fivetran_sync_all"\n}'
    assert problems(host, text, fmt="json") == [
        "p.yaml:2:30: $: invalid JSON: Expecting ',' delimiter"
    ]


def test_duplicate_yaml_key(host):
    assert problems(host, "name: p\nname: q\ntasks: [{id: a, integration: noop, "
                          "integration_job: noop_run}]\n") == [
        "p.yaml:2:1: $.name: duplicate key 'name'"
    ]


def test_top_level_must_be_a_mapping(host):
    assert problems(host, "- 1\n- 2\n") == [
        "p.yaml:1:1: $: a pipeline file must hold a mapping, found list"
    ]
    assert problems(host, "") == [
        "p.yaml:1:1: $: a pipeline file must hold a mapping, found nothing"]


def test_missing_name_and_tasks(host):
    assert data_problems(host, {"tasks": [noop("a")]}) == ["$: missing required key 'name'"]
    assert data_problems(host, {"name": "p"}) == [
        "$: missing required key 'tasks' (a pipeline needs at least one task)"
    ]
    assert data_problems(host, {"name": "p", "tasks": []}) == [
        "$.tasks: a pipeline needs at least one task"
    ]


def test_unknown_pipeline_key_suggests(host):
    assert data_problems(host, pipe(noop("a"), tgas=["x"])) == [
        "$.tgas: unknown key 'tgas' (did you mean 'tags'?); accepted: name, client, version, "
        "description, tags, defaults, stages, tasks, alerts, triggers, durability, "
        "destinations, data_templates, max_active_runs, on_overlap"
    ]


def test_unknown_task_key_names_task_keys_and_parameters(host):
    assert data_problems(host, pipe(noop("a", sleeep=1))) == [
        "$.tasks[0].sleeep: unknown key 'sleeep' (did you mean 'sleep'?); a task accepts "
        "alert_after, async, condition, depends_on, description, id, integration, "
        "integration_job, name, outputs, parameters, phase, resource, retries, "
        "secondary_configuration_id, tags, timeout, "
        "treat_failure_as_warning and the parameters of noop_run: sleep, fail, fail_times, message"
    ]


def test_parameter_at_top_level_of_task_is_folded(host):
    pipeline, found = host.check_data(pipe(noop("a", sleep="2m")))
    assert found == []
    assert pipeline.task("a").parameters == {"sleep": "2m"}


def test_parameter_given_twice(host):
    assert data_problems(host, pipe(noop("a", sleep=1, parameters={"sleep": 2}))) == [
        "$.tasks[0].sleep: parameter 'sleep' is given more than once (as 'sleep' and as "
        "'sleep')"
    ]


def test_parameter_given_twice_is_reported_at_the_second_spelling(host):
    proc = ("name: x\ntasks:\n  - id: a\n    integration: process\n"
            "    integration_job: process_run\n")
    assert problems(host, proc + "    parameters: {command: a, process_path: b}\n") == [
        "p.yaml:6:44: $.tasks[0].parameters.process_path: parameter 'path' is given more than "
        "once (as 'command' and as 'process_path')"
    ]
    assert problems(host, proc + "    parameters: {command: a, path: b}\n") == [
        "p.yaml:6:36: $.tasks[0].parameters.path: parameter 'path' is given more than once "
        "(as 'command' and as 'path')"
    ]


def test_problem_inside_a_top_level_list_parameter_points_at_it(host):
    text = ("name: x\ntasks:\n  - id: a\n    integration: http\n"
            "    integration_job: http_request\n    base_url: https://x\n    method: GET\n"
            "    endpoint: /a\n    expected_status: [200, 99]\n")
    assert problems(host, text) == [
        "p.yaml:9:28: $.tasks[0].expected_status[1]: not an HTTP status code: 99"
    ]


def test_unknown_parameter(host):
    assert data_problems(host, pipe(noop("a", parameters={"slep": 1}))) == [
        "$.tasks[0].parameters.slep: unknown parameter 'slep' (did you mean 'sleep'?); "
        "accepted: sleep, fail, fail_times, message"
    ]


def test_wrong_types(host):
    task = noop("a", parameters={"fail": "maybe", "fail_times": 1.5}, tags="x", async_=None)
    task.pop("async_")
    assert data_problems(host, pipe(task)) == [
        "$.tasks[0].parameters.fail: expected true or false (or yes/no), got the string 'maybe'",
        "$.tasks[0].parameters.fail_times: expected an integer, got 1.5",
    ]
    assert data_problems(host, pipe(noop("a", depends_on=5))) == [
        "$.tasks[0].depends_on: expected a list of strings, got 5"
    ]


def test_unknown_integration_lists_installed_and_hints_install(host):
    assert data_problems(host, pipe({"id": "a", "integration": "hightouch",
                                     "integration_job": "hightouch_sync",
                                     "syncid": "1"})) == [
        "$.tasks[0].integration: unknown integration 'hightouch'; installed integrations: "
        "files, http, noop, orchestration, process. If a plugin provides it, install it: "
        "pip install orchestra-hightouch"
    ]


def test_unknown_job_lists_jobs(host):
    assert data_problems(host, pipe({"id": "a", "integration": "noop",
                                     "integration_job": "noop_rnu"})) == [
        "$.tasks[0].integration_job: unknown integration job 'noop_rnu' for integration "
        "'noop' (did you mean 'noop_run'?); its jobs: noop_run. A newer or another plugin may "
        "provide it: pip install --upgrade orchestra-core"
    ]


def test_names_are_case_insensitive_and_aliases_work(host):
    pipeline, found = host.check_data(pipe(
        {"id": "a", "integration": "NOOP", "integration_job": "NOOP_RUN"},
        {"id": "b", "integration": "sdk", "integration_job": "request",
         "parameters": {"url": "https://x.io", "method": "get", "path": "/v1"}},
    ))
    assert found == []
    assert (pipeline.task("a").integration, pipeline.task("a").integration_job) == (
        "noop", "noop_run")
    assert pipeline.task("b").integration == "http"
    assert pipeline.task("b").parameters == {"base_url": "https://x.io", "method": "get",
                                             "endpoint": "/v1"}


def test_duplicate_task_ids(host):
    assert data_problems(host, pipe(noop("a"), noop("a"))) == [
        "$.tasks[1].id: duplicate id 'a': already used by the task at $.tasks[0]"
    ]


def test_stage_id_clashing_with_task_id(host):
    data = pipe(noop("a"), stages=[{"id": "a", "tasks": ["a"]}])
    assert "$.stages[0].id: duplicate id 'a': already used by the task at $.tasks[0]" in \
        data_problems(host, data)


def test_invalid_id(host):
    assert data_problems(host, pipe(noop("-bad id"))) == [
        "$.tasks[0].id: invalid task id '-bad id': use letters, digits, '_', '-' and '.' (not "
        "starting with '-' or '.'), at most 200 characters"
    ]


def test_dangling_dependency_suggests(host):
    assert data_problems(host, pipe(noop("extract"), noop("load", depends_on=["extrct"]))) == [
        "$.tasks[1].depends_on[0]: depends on 'extrct', which is neither a task nor a stage of "
        "this pipeline (did you mean 'extract'?)"
    ]


def test_self_dependency(host):
    assert data_problems(host, pipe(noop("a", depends_on="a"))) == [
        "$.tasks[0].depends_on[0]: 'a' depends on itself"
    ]


def test_cycle_is_reported_with_its_path(host):
    data = pipe(noop("a", depends_on="c"), noop("b", depends_on="a"), noop("c", depends_on="b"))
    assert data_problems(host, data) == [
        "$.tasks[0].depends_on: dependency cycle: a -> c -> b -> a (each waits for the next)"
    ]


def test_cycle_through_a_stage(host):
    data = pipe(noop("a"), noop("b", depends_on="ingest"),
                stages=[{"id": "ingest", "tasks": ["a", "b"]}])
    assert data_problems(host, data) == [
        "$.tasks[1].depends_on: dependency cycle: b -> ingest -> b (each waits for the next)"
    ]


def test_stage_rules(host):
    data = pipe(noop("a"), noop("b"), noop("c"), stages=[
        {"id": "s1", "tasks": ["a", "zz"], "core_tasks": ["b"]},
        {"id": "s2", "tasks": ["a"]},
        {"id": "s3", "tasks": []},
    ])
    assert data_problems(host, data) == [
        "$.stages[0].tasks[1]: stage 's1' lists task 'zz', which is not a task of this pipeline",
        "$.stages[0].core_tasks[0]: core task 'b' is not a member of stage 's1' (its tasks: a, "
        "zz)",
        "$.stages[1].tasks[0]: task 'a' is already in stage 's1'; a task belongs to one stage at "
        "most",
        "$.stages[2].tasks: a stage needs at least one task",
    ]


def test_stage_policies_and_condition(host):
    data = pipe(noop("a"), noop("b", depends_on="s", condition={"stage": "s",
                                                                 "outcome": "partal"}),
                stages=[{"id": "s", "tasks": ["a"], "on_failure": "explode"}])
    assert data_problems(host, data) == [
        "$.tasks[1].condition: expected one of succeeded, partial, failed, got the string "
        "'partal' (did you mean 'partial'?)",
        "$.stages[0].on_failure: expected one of block, stop_pipeline, got the string 'explode'",
    ]


def test_condition_naming_unknown_stage(host):
    data = pipe(noop("a"), noop("b", depends_on="a", condition={"stage": "ingest"}))
    assert data_problems(host, data) == [
        "$.tasks[1].condition.stage: condition names stage 'ingest', which is not a stage of "
        "this pipeline"
    ]


def test_bad_condition(host):
    assert data_problems(host, pipe(noop("a", condition="on_succes"))) == [
        "$.tasks[0].condition: expected one of on_success, on_failure, always or {stage: <id>, "
        "outcome: [...]}, got 'on_succes' (did you mean 'on_success'?)"
    ]


def test_retries_and_timeouts(host):
    data = pipe(noop("a", retries={"count": 1, "backoff": 0.5}), noop("b", timeout="forever"),
                noop("c", retries={"cuont": 2}), noop("d", retries=3, timeout="1h30m"))
    assert data_problems(host, data) == [
        "$.tasks[0].retries: backoff must be between 1 and 10, got 0.5",
        "$.tasks[1].timeout: expected a duration such as 90, '30s', '5m' or '1h30m', got "
        "'forever'",
        "$.tasks[2].retries.cuont: unknown key 'cuont' (did you mean 'count'?); accepted: "
        "count, delay, backoff, max_delay, jitter",
    ]
    pipeline, _ = host.check_data(pipe(noop("d", retries=3, timeout="1h30m", async_="yes")))
    assert pipeline is None  # async_ is not a key: the file key is 'async'
    pipeline, found = host.check_data(pipe(noop("d", retries=3, timeout="1h30m",
                                                **{"async": "yes"})))
    assert found == []
    task = pipeline.task("d")
    assert (task.retries.count, task.timeout, task.async_) == (3, 5400.0, True)


def test_retry_count_may_be_a_string_of_digits(host):
    pipeline, found = host.check_data(pipe(noop("a", retries="3"),
                                           defaults={"retries": " 2 "}))
    assert found == []
    assert pipeline.task("a").retries.count == 3
    assert pipeline.defaults.retries.count == 2
    assert data_problems(host, pipe(noop("a", retries="-3"))) == [
        "$.tasks[0].retries: expected a retry count or a mapping, got the string '-3'"
    ]


def test_negative_durations_are_rejected(host):
    data = pipe(noop("a", timeout=-5), noop("b", sleep=-0.5),
                noop("c", retries={"count": 1, "delay": -1, "max_delay": -2}),
                defaults={"timeout": -60})
    assert data_problems(host, data) == [
        "$.defaults.timeout: expected a number >= 0, got -60",
        "$.tasks[0].timeout: expected a number >= 0, got -5",
        "$.tasks[2].retries.delay: expected a number >= 0, got -1",
        "$.tasks[2].retries.max_delay: expected a number >= 0, got -2",
        "$.tasks[1].sleep: expected a number >= 0, got -0.5",  # parameters are checked last
    ]
    assert data_problems(host, pipe(noop("a", parameters={"sleep": -1}))) == [
        "$.tasks[0].parameters.sleep: expected a number >= 0, got -1"
    ]


def test_http_needs_base_url_method_endpoint_unless_connection(host):
    http = {"id": "h", "integration": "http", "integration_job": "http_request"}
    assert data_problems(host, pipe(http)) == [
        "$.tasks[0].parameters: missing required parameter 'base_url': provide base_url or "
        "secondary_configuration_id (a stored connection)",
        "$.tasks[0].parameters: missing required parameter 'method': provide method or "
        "secondary_configuration_id (a stored connection)",
        "$.tasks[0].parameters: missing required parameter 'endpoint': provide endpoint or "
        "secondary_configuration_id (a stored connection)",
    ]
    assert data_problems(host, pipe({**http, "secondary_configuration_id": "api"})) == []
    assert data_problems(host, pipe({**http, "connection": "api"})) == []


def test_sdk_integration_has_the_same_rule(host):
    sdk = {"id": "s", "integration": "sdk", "integration_job": "http_request",
           "parameters": {"base_url": "https://x.io", "method": "POST"}}
    assert data_problems(host, pipe(sdk)) == [
        "$.tasks[0].parameters: missing required parameter 'endpoint': provide endpoint or "
        "secondary_configuration_id (a stored connection)"
    ]


def test_process_requires_path(host):
    assert data_problems(host, pipe({"id": "p", "integration": "process",
                                     "integration_job": "process_run"})) == [
        "$.tasks[0].parameters: missing required parameter 'path' (a script (.py runs with this "
        "Python), an executable, or a git repository URL) (integration job process_run)"
    ]


def test_tasks_may_be_a_mapping_by_id(host):
    pipeline, found = host.check_data({"name": "p", "tasks": {"a": NOOP, "b": {
        **NOOP, "depends_on": "a"}}})
    assert found == []
    assert [t.id for t in pipeline.tasks] == ["a", "b"]


def test_team_is_an_alias_of_client(host):
    pipeline, found = host.check_data(pipe(noop("a"), team="marketing"))
    assert found == []
    assert pipeline.client == "marketing"


def test_load_pipeline_raises_config_error_with_every_problem(host, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: p\ntasks:\n  - {id: a, integration: x, integration_job: y}\n"
                    "  - {id: b, integration: noop, integration_job: noop_run, depends_on: q}\n")
    with pytest.raises(ConfigError) as info:
        host.load_pipeline(path)
    assert len(info.value.problems) == 2
    assert str(info.value).splitlines()[0] == f"{path}: 2 problems"


def test_missing_file(host, tmp_path):
    missing = tmp_path / "nope.yaml"
    _, found = host.check_file(missing)
    assert [p.format() for p in found] == [f"{missing}: $: file not found"]


def test_plugin_validate_pipeline_hook_adds_problems():
    from orchestra_core import Problem, hookimpl

    class NamingRule:
        @hookimpl
        def orchestra_validate_pipeline(self, pipeline):
            if not pipeline.name.islower():
                return [Problem(path="$.name", message="pipeline names must be lower-case")]
            return None

    host = Orchestra(plugins=[NamingRule()], load_entrypoints=False)
    assert data_problems(host, {"name": "Mixed", "tasks": [noop("a")]}) == [
        "$.name: pipeline names must be lower-case"
    ]


def test_stage_condition_needs_the_stage_as_a_dependency(host):
    data = pipe(noop("a"), noop("b", condition={"stage": "s", "outcome": "failed"}),
                stages=[{"id": "s", "tasks": ["a"]}])
    assert data_problems(host, data) == [
        "$.tasks[1].condition.stage: condition names stage 's', but 'b' does not depend on it: "
        "add 's' to depends_on"
    ]


def test_every_plugin_validates_every_task_and_a_scoped_one_only_its_own():
    """A plugin's validate-task hook sees every task (a builtin's too); one declared with
    validates_parameters is called only for tasks whose parameters are of its classes."""
    from orchestra_core import Problem, hookimpl
    from orchestra_core._builtins.http import HttpParameters
    from orchestra_core._markers import validates_parameters

    class TagRule:
        @hookimpl
        def orchestra_validate_task(self, task, path):
            return [Problem(path=f"{path}.id", message=f"{task.id} needs tags")]

    seen: list[str] = []

    class HttpOnly:
        @hookimpl
        @validates_parameters(HttpParameters)
        def orchestra_validate_task(self, task):
            seen.append(task.id)

    host = Orchestra(plugins=[TagRule(), HttpOnly()], load_entrypoints=False)
    http = {"id": "h", "integration": "http", "integration_job": "http_request",
            "parameters": {"base_url": "http://x", "method": "GET", "endpoint": "/"}}
    assert data_problems(host, pipe(noop("a"), http, noop("b"))) == [
        "$.tasks[0].id: a needs tags", "$.tasks[1].id: h needs tags",
        "$.tasks[2].id: b needs tags"]
    assert seen == ["h"]


def test_cycle_among_tasks_written_out_of_order_is_found(host):
    data = pipe(noop("a", depends_on=["c"]), noop("b", depends_on=["a"]),
                noop("c", depends_on=["b"]), noop("d", depends_on=["e"]), noop("e"))
    assert data_problems(host, data) == [
        "$.tasks[0].depends_on: dependency cycle: a -> c -> b -> a (each waits for the next)"
    ]
    assert data_problems(host, pipe(noop("d", depends_on=["e"]), noop("e"))) == []
