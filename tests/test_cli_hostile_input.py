"""Hostile input at the CLI (issue 13, B): no traceback, no run record left ``running``.

Oversized retry counts and unstorable strings are refused before a run is recorded; a key
file that is not text is a clear error for ``run`` and ``credentials set``, checked before
the run record is created.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from orchestra_core._retry import TaskRetry
from orchestra_core._store import Store
from orchestra_core.cli import cli

TASK = "tasks:\n  - id: t\n    integration: noop\n    integration_job: noop_run\n"


def orchestra(*args: str, input: str | bytes | None = None):
    result = CliRunner().invoke(cli, ["--no-plugins", *args], input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert "Traceback" not in result.output
    return result


def run_states(home) -> list[str]:
    store = Store.open(str(home / "orchestra.db"))
    try:
        return [r["state"] for r in store.list_runs()]
    finally:
        store.close()


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("p.yaml", "name: p\n" + TASK + "    parameters: {fail: true}\n"
     "    retries: {count: 18446744073709551616, delay: 0}\n",
     "p.yaml:7:22: $.tasks[0].retries.count: expected an integer between"),
    ("p.json", '{"name": "sur\\ud800rogate", "tasks": [{"id": "t", "integration": "noop", '
     '"integration_job": "noop_run"}]}',
     "p.json:1:10: $.name: the string holds a lone surrogate character (\\ud800)"),
    ("p.yaml", 'name: "sur\\ud800rogate"\n' + TASK,
     "p.yaml:1:13: $: invalid YAML: while parsing a quoted scalar found invalid Unicode"),
])
def test_run_refuses_what_the_store_or_engine_cannot_hold(home, name, text, expected):
    (home / name).write_text(text)
    assert orchestra("init").exit_code == 0
    result = orchestra("run", name)
    assert result.exit_code == 1
    assert expected in result.output
    assert run_states(home) == []  # nothing recorded, so nothing left running


def test_a_zero_delay_never_grows_into_the_cap():
    policy = TaskRetry(count=2000, delay=0, max_delay=600)
    assert policy.wait(1025) == 0.0  # was 600 (0 * 2**1024 overflowed to the cap)


def test_a_key_file_that_is_not_text_is_an_error_before_any_run(home):
    assert orchestra("init").exit_code == 0
    assert orchestra("credentials", "set", "db", "--stdin", input="password-1\n").exit_code == 0
    (home / "p.yaml").write_text("name: p\n" + TASK
                                 + '    parameters: {message: "${credentials.db.password}"}\n')
    (home / "orchestra.key").write_bytes(b"abc\xff\xfe\n")
    result = orchestra("run", "p.yaml")
    assert result.exit_code == 1
    assert "orchestra.key is not text: byte 4 cannot be decoded as UTF-8" in result.output
    assert run_states(home) == []
    result = orchestra("credentials", "set", "db2", "--stdin", input="password-2\n")
    assert result.exit_code == 1
    assert "orchestra.key is not text" in result.output
    # a run that needs no stored secret does not need the keys
    (home / "q.yaml").write_text("name: q\n" + TASK)
    assert orchestra("run", "q.yaml").exit_code == 0


BOMB = "".join(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9 if i else ['"lol"'] * 9) + "]\n"
               for i in range(9))


@pytest.mark.parametrize(("args", "expected"), [
    (("triggers", "add", "p", BOMB), "aliases expand to too many values"),
    (("triggers", "add", "p", '{cron: "1 2 * * *", id: "a\\ud800"}'),
     "$.id: the string holds a lone surrogate character"),
    (("queue", "push", "q", "9" * 5000), "number too long (5000 digits; at most 100)"),
    (("queue", "push", "q", "[" * 100_000), "nested too deeply"),
    (("queue", "push", "q", '"a\\ud800"'), "the string holds a lone surrogate character"),
])
def test_other_commands_bound_and_check_what_they_parse(home, args, expected):
    (home / "p.yaml").write_text("name: p\n" + TASK)
    assert orchestra("pipelines", "apply", "p.yaml").exit_code == 0
    result = orchestra(*args)
    assert result.exit_code in (1, 2)
    assert expected in result.output


def test_values_that_are_not_text_are_refused_before_they_are_stored(home):
    assert orchestra("init").exit_code == 0
    bad = orchestra("credentials", "set", "x", "--stdin", input=b"pass\xff\xfeword\n")
    assert bad.exit_code == 2
    assert "--stdin: the input is not UTF-8 text" in bad.output
    for args in (("constants", "set", "k", "v\udcff"), ("queue", "push", "q", "v\udcff"),
                 ("credentials", "set", "n\udcff", "--stdin")):
        result = orchestra(*args, input="password\n")
        assert result.exit_code == 2
        assert "is not UTF-8 text (or holds a NUL character): give UTF-8 text" in result.output
    # read with surrogateescape (a C locale), the value reaches the library, which refuses it
    from orchestra_core import SecretsError
    from orchestra_core._secrets import Secrets

    store = Store.open(str(home / "orchestra.db"))
    try:
        with pytest.raises(SecretsError, match="field 'password' holds a lone surrogate"):
            Secrets(store).credentials.set("x", secrets={"password": "pass\udcffword"})
        with pytest.raises(SecretsError, match="constant 'k': the value holds a NUL"):
            Secrets(store).constants.set("k", "a\x00b")
    finally:
        store.close()
    # nothing unreadable was stored: every command still works
    assert orchestra("credentials", "list").exit_code == 0
    assert orchestra("runs", "list").exit_code == 0


def test_an_unexpected_error_is_one_line_not_a_traceback(home, monkeypatch):
    from orchestra_core._store import Store

    def broken(self, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(Store, "list_runs", broken)
    result = orchestra("runs", "list")
    assert result.exit_code == 1
    assert result.output.startswith("Error: unexpected ZeroDivisionError: division by zero (if "
                                    "the input was valid this is a bug: run again with "
                                    "ORCHESTRA_TRACEBACK=1")
    monkeypatch.setenv("ORCHESTRA_TRACEBACK", "1")
    shown = CliRunner().invoke(cli, ["--no-plugins", "runs", "list"])
    assert isinstance(shown.exception, ZeroDivisionError)
