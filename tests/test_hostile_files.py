"""Hostile pipeline files: validation stays bounded, located and free of tracebacks.

Each finding of issue 13 (C) as a user meets it, through ``orchestra validate`` (and
``pipelines apply`` / ``triggers add`` for crons), plus a property-based test over mutated
example files.
"""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra_core import Orchestra
from orchestra_core.cli import cli

ROOT = Path(__file__).resolve().parents[1]
TASK = "tasks:\n  - id: t\n    integration: noop\n    integration_job: noop_run\n"


def validate(tmp_path: Path, name: str, content: str | bytes) -> tuple[int, str]:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8",
                                                                                "surrogatepass"))
    result = CliRunner().invoke(cli, ["--no-plugins", "validate", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output.replace(str(tmp_path) + "/", "")


def _bomb(levels: int) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_is_refused_quickly_and_located(tmp_path):
    text = _bomb(9)  # ~440 bytes; expanded: 9**9 strings (minutes and gigabytes before)
    assert len(text) < 500
    tracemalloc.start()
    started = time.process_time()
    code, out = validate(tmp_path, "bomb.yaml", text)
    spent = time.process_time() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert code == 1
    assert "bomb.yaml:6:10: $: aliases expand" in out and "aliases expand to too many values" in out
    assert spent < 5 and peak < 50 * 2**20


def test_aliases_within_the_limit_still_work(tmp_path):
    text = ("name: p\ndefaults: &d {timeout: 5m}\n" + TASK
            + "  - {id: u, integration: noop, integration_job: noop_run, <<: *d}\n")
    code, out = validate(tmp_path, "ok.yaml", text)
    assert code == 0, out


def test_huge_integer_in_json_is_located_not_a_traceback(tmp_path):
    code, out = validate(tmp_path, "big.json", '{"name": "p",\n "version": ' + "9" * 5000 + "}")
    assert code == 1
    assert "big.json:2:13: $: number too long (5000 digits; at most 100)" in out


@pytest.mark.parametrize(("snippet", "expected"), [
    ("    retries: {count: 1000000000000000000000000000000}\n",
     "ok.yaml:6:22: $.tasks[0].retries.count: expected an integer between"),
    ("    retries: 101\n", "ok.yaml:6:14: $.tasks[0].retries: count must be between 0 and 100"),
    ("    timeout: 100000000000000d\n",
     "ok.yaml:6:14: $.tasks[0].timeout: expected a number at most 1000000000"),
    ("    timeout: 1e300\n", "ok.yaml:6:14: $.tasks[0].timeout: expected a number at most"),
    ("    retries: {count: 1, max_delay: 30d}\n",
     "ok.yaml:6:14: $.tasks[0].retries: max_delay must be at most 86400 seconds"),
    ("    parameters: {fail_times: 99999999999999999999}\n",
     "ok.yaml:6:30: $.tasks[0].parameters.fail_times: expected an integer between"),
])
def test_every_number_has_a_range_reported_with_its_location(tmp_path, snippet, expected):
    code, out = validate(tmp_path, "ok.yaml", "name: p\n" + TASK + snippet)
    assert code == 1
    assert expected in out


def test_non_utf8_file_is_located_at_the_bad_byte(tmp_path):
    code, out = validate(tmp_path, "latin1.yaml",
                         ("name: p\n" + TASK).encode() + b'    parameters: {message: "caf\xe9"}\n')
    assert code == 1
    assert "latin1.yaml:6:31: $: the file is not UTF-8 text: byte 0xe9" in out


def test_nul_character_in_yaml_is_located(tmp_path):
    code, out = validate(tmp_path, "nul.yaml",
                         "name: p\n" + TASK + '    parameters: {message: "a\x00"}\n')
    assert code == 1
    assert "nul.yaml:6:29: $: invalid YAML: the character '\\x00' is not allowed" in out


def test_nul_escape_in_json_string_is_refused_at_its_path(tmp_path):
    doc = {"name": "p", "tasks": [{"id": "t", "integration": "noop",
                                   "integration_job": "noop_run",
                                   "parameters": {"message": "a\x00b"}}]}
    code, out = validate(tmp_path, "nul.json", json.dumps(doc, indent=1))
    assert code == 1
    assert "$.tasks[0].parameters.message: the string holds a NUL character" in out
    assert "nul.json:9:" in out


def test_lone_surrogate_is_refused_by_validate(tmp_path):
    code, out = validate(tmp_path, "sur.json", '{"name": "sur\\ud800rogate", "tasks": []}')
    assert code == 1
    assert "sur.json:1:10: $.name: the string holds a lone surrogate character (\\ud800)" in out


@pytest.mark.parametrize(("name", "text", "where"), [
    ("deep.json", '{"name": "p",\n "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "deep.json:2:"),
    ("deep.yaml", "name: p\nx: " + "[" * 100_000 + "]" * 100_000 + "\n", "deep.yaml:2:"),
    ("deep2.yaml", "name: p\nx:\n" + "".join(" " * i + "- \n" for i in range(0, 140, 2)),
     "deep2.yaml:"),
])
def test_deep_nesting_is_located(tmp_path, name, text, where):
    code, out = validate(tmp_path, name, text)
    assert code == 1
    assert where in out and "nested too deeply (more than 64 levels" in out


def test_json_duplicate_key_is_reported_at_the_key(tmp_path):
    text = ('{"name": "p",\n "tasks": [{"id": "t", "integration": "noop",\n'
            '   "integration": "noop", "integration_job": "noop_run"}]}')
    code, out = validate(tmp_path, "dup.json", text)
    assert code == 1
    assert "dup.json:3:4: $.tasks[0].integration: duplicate key 'integration'" in out


def test_cron_that_never_fires_is_refused_everywhere(tmp_path):
    text = "name: p\n" + TASK + "triggers:\n  - cron: '0 0 30 2 *'\n"
    code, out = validate(tmp_path, "cron.yaml", text)
    assert code == 1
    assert "cron.yaml:7:11: $.triggers[0].cron: the cron expression '0 0 30 2 *' never fires" \
        in out
    runner = CliRunner()
    db = str(tmp_path / "o.db")
    (tmp_path / "cron.yaml").write_text(text)
    applied = runner.invoke(cli, ["--no-plugins", "pipelines", "apply", "--db", db,
                                   str(tmp_path / "cron.yaml")])
    assert applied.exit_code == 1 and "never fires" in applied.output
    assert not isinstance(applied.exception, Exception) or isinstance(applied.exception,
                                                                      SystemExit)
    (tmp_path / "p.yaml").write_text("name: p\n" + TASK)
    assert runner.invoke(cli, ["--no-plugins", "pipelines", "apply", "--db", db,
                                str(tmp_path / "p.yaml")]).exit_code == 0
    added = runner.invoke(cli, ["--no-plugins", "triggers", "add", "--db", db, "p",
                                 "{cron: '0 0 31 4,6,9,11 *'}"])
    assert added.exit_code == 1 and "never fires" in added.output, added.output
    assert isinstance(added.exception, SystemExit)
    leap = runner.invoke(cli, ["--no-plugins", "triggers", "add", "--db", db, "p",
                                "{cron: '0 0 29 2 *'}"])  # leap years only: it fires
    assert leap.exit_code == 0, leap.output


# -- property-based: mutated example files --------------------------------------------------

HOST = Orchestra(load_entrypoints=False)
EXAMPLES = sorted([*ROOT.glob("examples/*.yaml"), *ROOT.glob("examples/*.json")])
HOSTILE = [
    b"&a", b"*a", b"<<: *a", b"\x00", b"\xff\xfe", b"\xe9", b"[" * 200, b"{" * 200,
    b"9" * 5000, b'"\\ud800"', b"1e400", b"-1", b"18446744073709551616", b"\t", b"\n  - ",
    b": ", b"'", b'"', b"!!python/object:os.system", b"%YAML 1.1\n", b"---\n", b"? ",
    b"\xef\xbb\xbf", b"0 0 30 2 *", b"100000000000000d", b"NaN", b".inf", b"~", b"|\n",
]


@st.composite
def mutated(draw):
    path = draw(st.sampled_from(EXAMPLES))
    data = bytearray(path.read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "replace", "repeat"]))
        if kind == "delete":
            del data[where:where + draw(st.integers(1, 40))]
        elif kind == "repeat":
            span = bytes(data[where:where + draw(st.integers(1, 60))])
            data[where:where] = span * draw(st.integers(1, 50))
        else:
            payload = draw(st.sampled_from(HOSTILE) | st.binary(min_size=1, max_size=8))
            end = where + (len(payload) if kind == "replace" else 0)
            data[where:end] = payload
    return path.suffix, bytes(data)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_example_files_validate_boundedly_and_located(tmp_path_factory, case):
    suffix, content = case
    path = tmp_path_factory.mktemp("fuzz") / f"pipeline{suffix}"
    path.write_bytes(content)
    tracemalloc.start()
    started = time.process_time()
    try:
        pipeline, problems = HOST.check_file(path)
        spent = time.process_time() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (pipeline is None) == bool(problems)
    for p in problems:
        assert p.line is not None and p.column is not None, p.format()
        assert p.message and p.path.startswith("$")
    # loose bounds (tracemalloc slows work ~2x): a file is checked in well under 1 s / 100 MB
    assert spent < 2.0, spent
    assert peak < 100 * 2**20, peak


def test_every_example_is_within_the_limits():
    for path in EXAMPLES:
        pipeline, problems = HOST.check_file(path)
        assert pipeline is not None or all("plugin" in p.message or "integration" in p.message
                                           for p in problems), problems


@pytest.mark.parametrize(("text", "where"), [
    ("name: p\n" + TASK + "---\nx: " + "[" * 100 + "]" * 100 + "\n", "deep.yaml:7:67:"),
    ("name: p\nx: " + "[" * 100 + "1]" + "]" * 99 + "\ny: [\n", "deep.yaml:2:"),
    ("name: p\nx: " + "[" * 65 + "]" * 65 + "\n" + TASK, "deep.yaml:2:"),
])
def test_too_deep_wins_over_later_problems(tmp_path, text, where):
    """The depth limit is reported where it is broken, before a second document or a later
    syntax error, and for an empty innermost list too."""
    code, out = validate(tmp_path, "deep.yaml", text)
    assert code == 1
    assert where in out and "nested too deeply (more than 64 levels" in out


def test_nesting_at_the_limit_is_read(tmp_path):
    """64 levels (the mapping and 63 lists) are within the limit: the file is read, and only
    the unknown key is reported."""
    text = "name: p\nx: " + "[" * 63 + "1" + "]" * 63 + "\n" + TASK
    code, out = validate(tmp_path, "limit.yaml", text)
    assert code == 1
    assert out.startswith("limit.yaml:2:4: $.x: unknown key 'x'") and "deeply" not in out
