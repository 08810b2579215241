"""The documentation in docs/ agrees with the code.

- docs/hooks.md has one heading per hookspec, carrying its exact signature, and no other hook;
- docs/pipeline-files.md documents every key of Pipeline, Defaults, Task, Stage and TaskRetry,
  and no key that does not exist; each validation message it quotes is produced by the core;
  its example pipelines validate;
- docs/python-api.md's sessions run as written (doctest), and it names every export;
- every code block of docs/writing-a-plugin.md marked as a quote is in the quoted file;
- docs/cli.md documents every command of the ``orchestra`` CLI, each in its own section with
  every one of its options, and mentions no option that does not exist; its sample output of
  ``runs show`` is what the demo pipeline produces;
- docs/running.md lists every task state and quotes the engine's messages as they are;
- relative links between the pages resolve, anchors included.
"""

from __future__ import annotations

import doctest
import inspect
import re
import shutil
from pathlib import Path

import click
import pytest

from orchestra_core import Orchestra, hookspecs
from orchestra_core._config import file_keys
from orchestra_core._pipeline import Defaults, Pipeline, Stage, Task, TaskRetry
from orchestra_core.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PLUGIN = DOCS / "examples" / "orchestra_weather"


def read(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


# -- hooks.md ----------------------------------------------------------------------------------


def hookspec_functions() -> dict[str, object]:
    return {name: fn for name, fn in vars(hookspecs).items()
            if name.startswith("orchestra_") and inspect.isfunction(fn)}


def signature_text(name: str, fn: object) -> str:
    """``name(arg: Annotation, ...) -> Return`` as written in hookspecs.py.

    hookspecs.py uses ``from __future__ import annotations``, so every annotation is the
    source text as a string.
    """
    sig = inspect.signature(fn)
    args = []
    for param in sig.parameters.values():
        assert isinstance(param.annotation, str), f"{name}: {param.name} is not annotated"
        args.append(f"{param.name}: {param.annotation}")
    assert isinstance(sig.return_annotation, str), f"{name}: no return annotation"
    return f"{name}({', '.join(args)}) -> {sig.return_annotation}"


def hook_headings() -> list[str]:
    return re.findall(r"^#{2,4} `(orchestra_\w+\(.*\).*)`\s*$", read("hooks.md"), re.MULTILINE)


def test_hookspecs_are_found():
    specs = hookspec_functions()
    assert "orchestra_register_integrations" in specs
    assert set(specs) == set(hookspecs.__all__)


@pytest.mark.parametrize("name", sorted(hookspec_functions()))
def test_every_hook_has_a_heading_with_its_exact_signature(name):
    expected = signature_text(name, hookspec_functions()[name])
    headings = hook_headings()
    assert expected in headings, (
        f"docs/hooks.md needs the heading:\n### `{expected}`\nfound: {headings}")
    assert headings.count(expected) == 1


def test_hooks_md_documents_no_hook_that_does_not_exist():
    specs = hookspec_functions()
    text = read("hooks.md")
    documented = {h.split("(", 1)[0] for h in hook_headings()}
    assert not documented - set(specs), f"not hooks: {documented - set(specs)}"
    mentioned = set(re.findall(r"\b(orchestra_[a-z_]+)\(", text))
    assert not mentioned - set(specs), f"unknown hooks mentioned: {mentioned - set(specs)}"
    # every heading that looks like a hook signature is one of the exact signatures
    exact = {signature_text(n, fn) for n, fn in specs.items()}
    assert not set(hook_headings()) - exact


def test_hook_signature_text_matches_the_source():
    # the expected heading is what a reader of hookspecs.py sees, not a repr with quotes
    fn = hookspecs.orchestra_validate_task
    assert signature_text("orchestra_validate_task", fn) == (
        "orchestra_validate_task(task: Task, job: JobType, parameters: object, "
        "pipeline: Pipeline, path: str) -> Iterable[Problem] | None")


# -- pipeline-files.md: keys -------------------------------------------------------------------

#: the section of docs/pipeline-files.md holding each model's key table
SECTIONS = {
    Pipeline: "## Top level",
    Defaults: "## `defaults`",
    Task: "## Tasks",
    TaskRetry: "## Retries",
    Stage: "## Stages",
}


def first_table_keys(heading: str) -> list[str]:
    """The first-column keys of the first table after *heading* (up to the next ``## ``)."""
    text = read("pipeline-files.md")
    lines = text.splitlines()
    assert heading in lines, f"docs/pipeline-files.md has no heading {heading!r}"
    start = lines.index(heading) + 1
    keys: list[str] = []
    in_table = False
    for line in lines[start:]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            in_table = True
            match = re.match(r"\|\s*`([^`]+)`", line)
            if match:
                keys.append(match.group(1))
        elif in_table:
            break
    return keys


@pytest.mark.parametrize("model", list(SECTIONS), ids=lambda m: m.__name__)
def test_every_key_is_documented(model):
    keys = file_keys(model)  # the keys a file may hold (not internal ones such as source)
    documented = first_table_keys(SECTIONS[model])
    missing = [k for k in keys if k not in documented]
    assert not missing, f"keys of {model.__name__} missing from {SECTIONS[model]!r}: {missing}"
    unknown = [k for k in documented if k not in keys]
    assert not unknown, f"{SECTIONS[model]!r} documents keys that do not exist: {unknown}"


def test_async_is_written_async():
    assert "async_" not in read("pipeline-files.md")
    assert "async" in first_table_keys("## Tasks")


# -- pipeline-files.md: validation messages ----------------------------------------------------

T = "tasks:\n  - id: a\n    integration: noop\n    integration_job: noop_run\n"
B = "  - id: b\n    integration: noop\n    integration_job: noop_run\n"
HTTP = "name: x\ntasks:\n  - id: a\n    integration: http\n    integration_job: http_request\n"
PROC = "name: x\ntasks:\n  - id: a\n    integration: process\n    integration_job: process_run\n"
BAD_HTTP = HTTP + "    parameters: {url: ftp://x, method: FETCH, path: /a, expected_status: [99]}\n"

#: (format, pipeline text, a problem it must produce, as ``path: message``)
MESSAGES = [
    ("yaml", "name: x\ntasks: [\n", "$: invalid YAML: while parsing a flow node expected the "
     "node content, but found '<stream end>'"),
    ("json", '{"name": "x",}', "$: invalid JSON: Expecting property name enclosed in double "
     "quotes"),
    ("yaml", "name: x\nname: y\n" + T, "$.name: duplicate key 'name'"),
    ("yaml", "name: x\nclient: a\nteam: b\n" + T,
     "$.team: 'client' and 'team' are the same key; give one"),
    ("yaml", "- a\n- b\n", "$: a pipeline file must hold a mapping, found list"),
    ("yaml", T, "$: missing required key 'name'"),
    ("yaml", "name: x\n", "$: missing required key 'tasks' (a pipeline needs at least one task)"),
    ("yaml", "name: x\ntasks:\n  - id: a\n    integration_job: noop_run\n",
     "$.tasks[0]: missing required key 'integration'"),
    ("yaml", "name: x\ntasks: []\n", "$.tasks: a pipeline needs at least one task"),
    ("yaml", "name: x\ntasks: 3\n", "$.tasks: expected a list of tasks"),
    ("yaml", "name: x\ntasks: [3]\n", "$.tasks[0]: a task must be a mapping"),
    ("yaml", "name: x\nnmae: y\n" + T, "$.nmae: unknown key 'nmae' (did you mean 'name'?); "
     "accepted: name, client, version, description, tags, defaults, stages, tasks, alerts, "
     "triggers, durability, destinations, data_templates, max_active_runs, on_overlap"),
    ("yaml", "name: x\nsource: x.yaml\n" + T, "$.source: unknown key 'source'; accepted: "
     "name, client, version, description, tags, defaults, stages, tasks, alerts, triggers, "
     "durability, destinations, data_templates, max_active_runs, on_overlap"),
    ("yaml", "name: x\nstages: [{id: s, tasks: [a], core: [a]}]\n" + T,
     "$.stages[0].core: unknown key 'core'; accepted: id, tasks, name, description, "
     "core_tasks, depends_on, condition, on_failure, on_partial"),
    ("yaml", "name: x\nstages: [{id: s, tasks: [a], core tasks: [a]}]\n" + T,
     "$.stages[0]: unknown key 'core tasks' (did you mean 'core_tasks'?); accepted: id, "
     "tasks, name, description, core_tasks, depends_on, condition, on_failure, on_partial"),
    ("yaml", "name: x\ndefaults: {timeout: 1h, retry: 2}\n" + T,
     "$.defaults.retry: unknown key 'retry' (did you mean 'retries'?); accepted: retries, "
     "timeout"),
    ("yaml", "name: x\n" + T + "    retries: {count: 1, delays: 2}\n",
     "$.tasks[0].retries.delays: unknown key 'delays' (did you mean 'delay'?); accepted: "
     "count, delay, backoff, max_delay, jitter"),
    ("yaml", "name: x\ntags: [a, 3]\n" + T, "$.tags: expected a list of strings; item 1 is 3"),
    ("yaml", "name: x\nversion: v1\n" + T, "$.version: expected an integer, got the string 'v1'"),
    ("yaml", "name: x\n" + T + "    parameters: [1]\n",
     "$.tasks[0].parameters: expected a mapping, got a list"),
    ("yaml", "name: x\n" + T + "    parameters: {fail_times: x}\n",
     "$.tasks[0].parameters.fail_times: expected an integer, got the string 'x'"),
    ("yaml", "name: x\n" + T + "    timeout: 5 minutes\n", "$.tasks[0].timeout: expected a "
     "duration such as 90, '30s', '5m' or '1h30m', got '5 minutes'"),
    ("yaml", "name: x\n" + T + "    timeout: -5\n",
     "$.tasks[0].timeout: expected a number >= 0, got -5"),
    ("yaml", "name: x\n" + T + "    timeout: 100000000000000d\n",
     "$.tasks[0].timeout: expected a number at most 1000000000 (durations: about 31 years in "
     "seconds), got 8.64e+18"),
    ("yaml", "name: x\nversion: 1000000000000000000000000000000\n" + T,
     "$.version: expected an integer between -9007199254740991 and 9007199254740991, got "
     "1000000000000000000000000000000"),
    ("json", '{"name": "x", "version": ' + "9" * 5000 + "}",
     "$: number too long (5000 digits; at most 100)"),
    ("json", '{"name": "sur\\ud800rogate", "tasks": []}',
     "$.name: the string holds a lone surrogate character (\\ud800), which is not text"),
    ("yaml", "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
     "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
     "$: aliases expand to too many values (more than 100000 in this file)"),
    ("yaml", "a: " + "[" * 70 + "]" * 70 + "\n",
     "$: nested too deeply (more than 64 levels of mappings and lists)"),
    ("yaml", "name: x\n" + T + "    retries: {count: 1, delay: 2d}\n",
     "$.tasks[0].retries: delay must be at most 86400 seconds (a day), got 172800"),
    ("yaml", "name: x\n" + T + "    async: maybe\n",
     "$.tasks[0].async: expected true or false (or yes/no), got the string 'maybe'"),
    ("yaml", "name: x\n" + T + "    phase: ingest\n", "$.tasks[0].phase: expected one of "
     "ingestion, processing, activation, got the string 'ingest' (did you mean 'ingestion'?)"),
    ("yaml", "name: x\nstages: [{id: s, tasks: [a], on_failure: stop}]\n" + T,
     "$.stages[0].on_failure: expected one of block, stop_pipeline, got the string 'stop'"),
    ("yaml", "name: x\n" + T + "    retries: lots\n",
     "$.tasks[0].retries: expected a retry count or a mapping, got the string 'lots'"),
    ("yaml", "name: x\n" + T + "    retries: -1\n",
     "$.tasks[0].retries: count must be between 0 and 100, got -1"),
    ("yaml", "name: x\n" + T + "    retries: {count: 1, backoff: 0.5}\n",
     "$.tasks[0].retries: backoff must be between 1 and 10, got 0.5"),
    ("yaml", "name: x\n" + T + "    retries: {count: 1, jitter: 2}\n",
     "$.tasks[0].retries: jitter must be between 0 and 1, got 2.0"),
    ("yaml", "name: x\n" + T + "    condition: on_sucess\n", "$.tasks[0].condition: expected one "
     "of on_success, on_failure, always or {stage: <id>, outcome: [...]}, got 'on_sucess' "
     "(did you mean 'on_success'?)"),
    ("yaml", "name: x\n" + T + "    condition: {stage: s, outcom: failed}\n",
     "$.tasks[0].condition: unknown key 'outcom' in condition (expected stage, outcome)"),
    ("yaml", "name: x\n" + T + "    condition: {outcome: failed}\n",
     "$.tasks[0].condition: a stage condition needs 'stage': the id of a stage"),
    ("yaml", "name: x\nstages: [{id: s, tasks: [a]}]\n" + T + B
     + "    condition: {stage: s, outcome: [faild]}\n", "$.tasks[1].condition: expected one of "
     "succeeded, partial, failed, got the string 'faild' (did you mean 'failed'?)"),
    ("yaml", "name: x\nstages: [{id: s, tasks: [a]}]\n" + T + B
     + "    condition: {stage: s, outcome: []}\n",
     "$.tasks[1].condition: 'outcome' must be one outcome or a list of them"),
    ("yaml", "name: x\ntasks:\n  - id: -a\n    integration: noop\n    integration_job: noop_run\n",
     "$.tasks[0].id: invalid task id '-a': use letters, digits, '_', '-' and '.' (not starting "
     "with '-' or '.'), at most 200 characters"),
    ("yaml", "name: x\n" + T + T.replace("tasks:\n", ""),
     "$.tasks[1].id: duplicate id 'a': already used by the task at $.tasks[0]"),
    ("yaml", "name: x\n" + T + "    depends_on: [b]\n", "$.tasks[0].depends_on[0]: depends on "
     "'b', which is neither a task nor a stage of this pipeline"),
    ("yaml", "name: x\n" + T + "    depends_on: a\n",
     "$.tasks[0].depends_on[0]: 'a' depends on itself"),
    ("yaml", "name: x\n" + T + "    depends_on: b\n" + B + "    depends_on: a\n",
     "$.tasks[0].depends_on: dependency cycle: a -> b -> a (each waits for the next)"),
    ("yaml", "name: x\n" + T + "    condition: {stage: s, outcome: failed}\n",
     "$.tasks[0].condition.stage: condition names stage 's', which is not a stage of this "
     "pipeline"),
    ("yaml", "name: x\nstages: [{id: s, tasks: [b]}]\n" + T,
     "$.stages[0].tasks[0]: stage 's' lists task 'b', which is not a task of this pipeline"),
    ("yaml", "name: x\nstages: [{id: s, tasks: [a], core_tasks: [b]}]\n" + T,
     "$.stages[0].core_tasks[0]: core task 'b' is not a member of stage 's' (its tasks: a)"),
    ("yaml", "name: x\nstages: [{id: s, tasks: []}]\n" + T,
     "$.stages[0].tasks: a stage needs at least one task"),
    ("yaml", "name: x\nstages: [{id: s, tasks: [a]}, {id: t, tasks: [a]}]\n" + T,
     "$.stages[1].tasks[0]: task 'a' is already in stage 's'; a task belongs to one stage at "
     "most"),
    ("yaml", "name: x\ntasks:\n  - id: a\n    integration: fivetran\n    integration_job: x\n",
     "$.tasks[0].integration: unknown integration 'fivetran'; installed integrations: http, "
     "noop, orchestration, process. If a plugin provides it, install it: pip install "
     "orchestra-fivetran"),
    ("yaml", "name: x\ntasks:\n  - id: a\n    integration: noop\n    integration_job: noop_go\n",
     "$.tasks[0].integration_job: unknown integration job 'noop_go' for integration 'noop' "
     "(did you mean 'noop_run'?); its jobs: noop_run. A newer or another plugin may provide "
     "it: pip install --upgrade orchestra-core"),
    ("yaml", "name: x\ntasks:\n  - id: a\n    integration: noop\n    integration_job: noop_go\n"
     "    depend_on: [b]\n",
     "$.tasks[0].depend_on: unknown key 'depend_on' (did you mean 'depends_on'?)"),
    ("yaml", "name: x\n" + T + "    slep: 3\n", "$.tasks[0].slep: unknown key 'slep' (did you "
     "mean 'sleep'?); a task accepts async, condition, depends_on, description, id, "
     "integration, integration_job, name, outputs, parameters, phase, retries, "
     "secondary_configuration_id, tags, timeout, treat_failure_as_warning and the parameters "
     "of noop_run: sleep, fail, fail_times, message"),
    ("yaml", "name: x\n" + T + "    parameters: {slep: 3}\n", "$.tasks[0].parameters.slep: "
     "unknown parameter 'slep' (did you mean 'sleep'?); accepted: sleep, fail, fail_times, "
     "message"),
    ("yaml", PROC + "    parameters: {path: a, command: b}\n", "$.tasks[0].parameters.command: "
     "parameter 'path' is given more than once (as 'path' and as 'command')"),
    ("yaml", "name: x\n" + T + "    sleep: soon\n", "$.tasks[0].sleep: expected a duration "
     "such as 90, '30s', '5m' or '1h30m', got 'soon'"),
    ("yaml", PROC, "$.tasks[0].parameters: missing required parameter 'path' (a script (.py "
     "runs with this Python), an executable, or a git repository URL) (integration job "
     "process_run)"),
    ("yaml", HTTP + "    connection: api\n    parameters: {poll: {endpoint: /s, success: [ok]}}\n",
     "$.tasks[0].parameters.poll: missing required parameter 'field' (integration job "
     "http_request)"),
    ("yaml", HTTP + "    parameters: {method: GET, endpoint: /a}\n", "$.tasks[0].parameters: "
     "missing required parameter 'base_url': provide base_url or secondary_configuration_id "
     "(a stored connection)"),
    ("yaml", BAD_HTTP,
     "$.tasks[0].parameters.url: expected an http:// or https:// URL, got 'ftp://x'"),
    ("yaml", BAD_HTTP, "$.tasks[0].parameters.method: expected one of GET, POST, PUT, PATCH, "
     "DELETE, HEAD, got 'FETCH'"),
    ("yaml", BAD_HTTP, "$.tasks[0].parameters.expected_status[0]: not an HTTP status code: 99"),
    ("yaml", PROC + "    parameters: {path: ' '}\n",
     "$.tasks[0].parameters.path: path must not be empty"),
    ("yaml", PROC + "    parameters: {path: r.git, git: true, entry: ../x.py}\n",
     "$.tasks[0].parameters.entry: entry must be a relative path inside the repository"),
    ("yaml", "version: v1\nname: x\npipeline:\n  g:\n    tasks:\n      a: {integration: NOOP, "
     "integration_job: NOOP_RUN, parameters: {slep: 1}}\n", "$.pipeline.g.tasks.a.parameters."
     "slep: unknown parameter 'slep' (did you mean 'sleep'?); accepted: sleep, fail, "
     "fail_times, message"),
    ("yaml", "version: v1\nname: x\ninputs: {a: {type: string}}\npipeline:\n  g:\n    tasks:\n"
     "      a: {integration: noop, integration_job: noop_run}\n", "$.inputs: unknown key "
     "'inputs'; accepted: name, client, version, description, tags, defaults, stages, tasks, "
     "alerts, triggers, durability, destinations, data_templates, max_active_runs, "
     "on_overlap"),
]


@pytest.fixture(scope="module")
def builtins_host() -> Orchestra:
    return Orchestra(load_entrypoints=False)


@pytest.mark.parametrize(("fmt", "text", "expected"), MESSAGES,
                         ids=[m[2][:60] for m in MESSAGES])
def test_documented_validation_message_is_real(builtins_host, fmt, text, expected):
    _, problems = builtins_host.check_text(text, fmt=fmt)
    produced = [p.format() for p in problems]
    assert expected in produced, f"the core now says: {produced}"
    assert f"`{expected}`" in read("pipeline-files.md"), "message not quoted in the docs"


def test_file_level_messages_are_real(builtins_host, tmp_path):
    _, problems = builtins_host.check_file(tmp_path / "missing.yaml")
    assert [(p.code, p.path, p.message) for p in problems] == [
        ("file-not-found", "$", "file not found")]
    _, problems = builtins_host.check_file(tmp_path)
    assert [(p.code, p.message) for p in problems] == [
        ("unreadable", "cannot read file: Is a directory")]
    text = read("pipeline-files.md")
    assert "`$: file not found`" in text
    assert "`$: cannot read file: Is a directory`" in text


def test_every_problem_code_is_documented(builtins_host):
    codes = set()
    for fmt, text, _ in MESSAGES:
        codes |= {p.code for p in builtins_host.check_text(text, fmt=fmt)[1]}
    codes |= {"file-not-found", "unreadable"}
    section = read("pipeline-files.md").split("## Validation rules", 1)[1]
    missing = sorted(c for c in codes if f"`{c}`" not in section)
    assert not missing, f"problem codes not documented under 'Validation rules': {missing}"


@pytest.mark.parametrize("page", ["pipeline-files.md", "concepts.md", "index.md", "running.md"])
def test_example_pipelines_validate(page):
    """Whole pipelines shown on the reference pages are valid (with the plugins they use)."""
    host = Orchestra()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", read(page), re.DOTALL)
              if re.search(r"^name:", b, re.MULTILINE)
              and re.search(r"^(tasks|pipeline):", b, re.MULTILINE)]
    for block in blocks:
        _, problems = host.check_text(block)
        if any(p.code == "unknown-integration" for p in problems):
            continue  # the vendor plugin it needs is not installed here
        assert [p.format() for p in problems] == [], block


# -- python-api.md -----------------------------------------------------------------------------


def test_python_api_sessions_run_as_written(tmp_path, monkeypatch):
    text = read("python-api.md")
    files = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", text, re.DOTALL)
    assert files, "python-api.md shows no file for its sessions"
    for name, body in files:
        (tmp_path / name).write_text(body, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    test = doctest.DocTestParser().get_doctest(
        text, {"__name__": "python_api"}, "python-api.md", str(DOCS / "python-api.md"), 0)
    assert len(test.examples) > 20
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    output: list[str] = []
    runner.run(test, out=output.append)
    assert runner.failures == 0, "".join(output)


def test_python_api_names_every_export():
    import orchestra_core

    text = read("python-api.md")
    missing = [name for name in orchestra_core.__all__ if name not in text]
    assert not missing, f"python-api.md does not mention: {missing}"


# -- writing-a-plugin.md -----------------------------------------------------------------------

QUOTE = re.compile(r"<!-- quote: (\S+) -->\n```\w*\n(.*?)```", re.DOTALL)


def test_plugin_guide_quotes_match_the_example_plugin():
    quotes = QUOTE.findall(read("writing-a-plugin.md"))
    assert len(quotes) >= 10
    for rel, block in quotes:
        source = (PLUGIN / rel).read_text(encoding="utf-8")
        assert block in source, f"the quote of {rel} no longer matches the file:\n{block}"


def test_plugin_guide_quotes_every_file_of_the_package():
    quoted = {rel for rel, _ in QUOTE.findall(read("writing-a-plugin.md"))}
    for rel in ("pyproject.toml", "src/orchestra_weather/params.py",
                "src/orchestra_weather/plugin.py", "src/orchestra_weather/runner.py",
                "tests/test_weather_plugin.py"):
        assert rel in quoted, f"writing-a-plugin.md does not quote {rel}"


def test_example_plugin_is_packaged_as_documented():
    import tomllib

    project = tomllib.loads((PLUGIN / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["build-system"]["build-backend"] == "hatchling.build"
    assert project["project"]["entry-points"]["orchestra"] == {
        "weather": "orchestra_weather.plugin"}
    assert "orchestra-plugin" in project["project"]["keywords"]
    assert not any("orchestra" in c.lower() for c in project["project"].get("classifiers", []))


# -- cli.md ------------------------------------------------------------------------------------


def cli_commands() -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command of the ``orchestra`` CLI, groups included, as (path, command)."""
    found = []

    def walk(command: click.Command, path: tuple[str, ...]) -> None:
        found.append((path, command))
        if isinstance(command, click.Group):
            for name, sub in sorted(command.commands.items()):
                walk(sub, (*path, name))

    walk(cli, ())
    return found


def long_options(command: click.Command) -> list[str]:
    """The long option names of *command* (``--db``, ``--json``, ...), not counting help."""
    names = []
    for param in command.params:
        if isinstance(param, click.Option):
            names += [o for o in (*param.opts, *param.secondary_opts) if o.startswith("--")]
    return names


def markdown_sections(text: str) -> list[tuple[int, str, str]]:
    """``(level, heading, body)`` per heading outside code blocks; a body runs to the next
    heading of the same or a higher level, so it holds its subsections."""
    lines = text.splitlines()
    headings = []
    fenced = False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"^(#{1,6}) (.+)$", line)):
            headings.append((i, len(match.group(1)), match.group(2)))
    sections = []
    for n, (i, level, heading) in enumerate(headings):
        end = next((j for j, lv, _ in headings[n + 1:] if lv <= level), len(lines))
        sections.append((level, heading, "\n".join(lines[i + 1:end])))
    return sections


def heading_command(heading: str) -> tuple[str, ...] | None:
    """The command a heading such as "`orchestra runs show RUN_ID`" documents:
    ``("runs", "show")``, the lower-case words after ``orchestra``."""
    match = re.match(r"`orchestra ([^`]*)`", heading)
    if match is None:
        return None
    words = []
    for word in match.group(1).split():
        if not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        words.append(word)
    return tuple(words)


def cli_section(path: tuple[str, ...]) -> str:
    """The body of the section of docs/cli.md documenting the command at *path*."""
    sections = markdown_sections(read("cli.md"))
    if not path:
        wanted = "Global options"
        found = [body for _, heading, body in sections if heading == wanted]
    else:
        wanted = f"`orchestra {' '.join(path)} ...`"
        found = [body for _, heading, body in sections if heading_command(heading) == path]
    assert len(found) == 1, (
        f"docs/cli.md needs exactly one section headed {wanted!r}, found {len(found)}")
    return found[0]


def mentions(text: str, option: str) -> bool:
    return re.search(r"(?<![\w-])" + re.escape(option) + r"(?![\w-])", text) is not None


@pytest.mark.parametrize(("path", "command"), cli_commands(),
                         ids=[" ".join(("orchestra", *p)) for p, _ in cli_commands()])
def test_cli_md_documents_every_command_and_option(path, command):
    section = cli_section(path)
    missing = [o for o in long_options(command) if not mentions(section, o)]
    assert not missing, (
        f"the section of 'orchestra {' '.join(path)}' in docs/cli.md does not mention {missing}")


def test_cli_commands_are_all_found():
    paths = {" ".join(path) for path, _ in cli_commands()}
    assert {"", "validate", "plugins", "run", "runs", "runs list", "runs show", "runs cancel",
            "logs"} <= paths
    assert "--resume" in long_options(cli.commands["run"])


def test_cli_md_documents_help_and_no_option_that_does_not_exist():
    text = read("cli.md")
    assert mentions(cli_section(()), "--help") and mentions(cli_section(()), "-h")
    real = {o for _, command in cli_commands() for o in long_options(command)} | {"--help"}
    mentioned = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))
    assert not mentioned - real, f"docs/cli.md mentions options that do not exist: " \
        f"{sorted(mentioned - real)}"


def normalise_output(text: str) -> list[str]:
    """Output lines with what changes from run to run (ids, times, pids) replaced."""
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "RUN_ID", text)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ?", "TIME", text)
    text = re.sub(r"external id: \d+", "external id: PID", text)
    return text.rstrip("\n").splitlines()


def test_cli_md_runs_show_sample_is_what_the_demo_produces(tmp_path, monkeypatch):
    from click.testing import CliRunner

    block = re.search(r"<!-- demo: runs show -->\n```console\n\$ [^\n]*\n(.*?)```",
                      read("cli.md"), re.DOTALL)
    assert block, "docs/cli.md has no '<!-- demo: runs show -->' sample"
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "demo.db")
    runner = CliRunner()
    ran = runner.invoke(cli, ["run", "examples/builtins_demo.yaml", "--progress", "none",
                              "--db", db])
    assert ran.exit_code == 0, ran.output
    run_id = ran.output.split()[1]
    shown = runner.invoke(cli, ["runs", "show", run_id, "--db", db])
    assert shown.exit_code == 0, shown.output
    assert normalise_output(shown.output) == normalise_output(block.group(1))


# -- running.md --------------------------------------------------------------------------------


def test_running_md_lists_every_task_state():
    from orchestra_core._engine import TaskState

    sections = {heading: body for _, heading, body in markdown_sections(read("running.md"))}
    assert "Task states" in sections, "docs/running.md has no section 'Task states'"
    table = re.findall(r"^\|\s*`([a-z_]+)`\s*\|", sections["Task states"], re.MULTILINE)
    assert sorted(table) == sorted(s.value for s in TaskState), (
        "the table under 'Task states' must list exactly the TaskState values")


#: messages docs/running.md quotes, and the source file that must produce them
ENGINE_MESSAGES = [
    ("_engine/", "no dependency failed (on_failure)"),
    ("_engine/", "did not succeed"),
    ("_engine/", "not in run type"),
    ("_engine/", "triggered (async: not waiting)"),
    ("_engine/", "cancelled on request"),
    ("_engine/", "cancel requested"),
    ("_engine/", "on_failure: stop_pipeline"),
    ("_engine/", "cancelled the external job"),
    ("_engine/", "resuming run"),
    ("_builtins/_process_runner.py", "the process was lost when Orchestra stopped (a process "
     "started by an earlier"),
    ("_engine/", "interrupted: Orchestra stopped while the process ran, and stopped it"),
    ("_builtins/_process_runner.py", "blocking process: waiting for the running processes to "
     "finish"),
]


@pytest.mark.parametrize(("source", "message"), ENGINE_MESSAGES, ids=[m for _, m in
                                                                       ENGINE_MESSAGES])
def test_running_md_quotes_real_messages(source, message):
    path = ROOT / "orchestra_core" / source
    files = sorted(path.glob("*.py")) if path.is_dir() else [path]
    code = "".join(f.read_text(encoding="utf-8") for f in files)
    assert message in code, f"orchestra_core/{source} no longer says {message!r}"
    assert message in re.sub(r"\s+", " ", read("running.md")), (
        f"docs/running.md does not quote {message!r}")


def test_running_md_matches_the_defaults_it_states():
    from orchestra_core._builtins._process_runner import ProcessRunner
    from orchestra_core._engine import Engine

    engine = inspect.signature(Engine).parameters
    assert engine["max_concurrency"].default == 1000
    assert engine["cancel_poll"].default == 1.0
    assert inspect.signature(ProcessRunner).parameters["kill_after"].default == 5.0
    store = "".join(p.read_text(encoding="utf-8")
                    for p in sorted((ROOT / "orchestra_core" / "_store").glob("*.py")))
    assert "journal_mode=WAL" in store and "synchronous=FULL" in store
    text = re.sub(r"\s+", " ", read("running.md"))
    assert "default 1,000" in text and "every second (`cancel_poll`)" in text
    assert "SIGKILL 5 seconds later" in text
    assert "`synchronous=FULL`" in text and "WAL mode" in text


# -- links -------------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)}


@pytest.mark.parametrize("page", sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")))
def test_links_resolve(page):
    path = DOCS / page
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        assert dest.exists(), f"{page}: broken link {target}"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), f"{page}: no heading for #{anchor} in {dest.name}"


def test_index_links_every_page():
    index = read("index.md")
    for page in [*DOCS.glob("*.md"), *DOCS.glob("plugins/*.md")]:
        name = str(page.relative_to(DOCS))
        if name != "index.md":
            assert f"({name})" in index, f"index.md does not link {name}"
