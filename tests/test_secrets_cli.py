"""The secrets commands as a user runs them (``orchestra init``, ``keys``, ``constants``,
``credentials``, ``connections``, ``validate --db``), and the issue's end-to-end scenarios:
a pipeline whose http task authenticates with a stored connection, and tasks that fail in
ways that echo their secrets; the store file, the logs and every output are scanned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestra_core._secrets import KeyRing, generate_key
from orchestra_core.cli import cli

from ._secrets_kit import AuthServer, plant, scan


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh ORCHESTRA_HOME as the working directory; no key in the environment."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)
    monkeypatch.setenv("ORCHESTRA_HOME", str(home))
    for var in ("ORCHESTRA_DB", "ORCHESTRA_SECRET_KEY", "ORCHESTRA_SECRET_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)
    return home


class Cli:
    """Runs ``orchestra --no-plugins ...`` and keeps every output for the final scan."""

    def __init__(self):
        self.outputs: list[str] = []

    def __call__(self, *args, input=None, ok=True, env=None):
        result = CliRunner().invoke(cli, ["--no-plugins", *args], input=input, env=env)
        self.outputs.append(result.output)
        if ok:
            assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    def all_output(self) -> str:
        return "\n".join(self.outputs)


@pytest.fixture
def orchestra():
    return Cli()


# -- init and keys ---------------------------------------------------------------------------


def test_init_creates_the_store_and_a_key_file_once(home, orchestra):
    first = orchestra("init")
    key_file = home / "orchestra.key"
    assert oct(os.stat(key_file).st_mode & 0o777) == "0o600"
    key_id = KeyRing.from_file(key_file).primary.id
    assert first.output.splitlines()[:2] == [
        f"store ready: sqlite:///{home / 'orchestra.db'}",
        f"created key file {key_file} (mode 0600) with a new key, id {key_id}"]
    assert (home / "orchestra.db").exists()
    again = orchestra("init")
    assert again.output.splitlines()[1] == (
        f"secret key configured: key id {key_id} (from key file {key_file})")
    assert KeyRing.from_file(key_file).primary.id == key_id  # kept
    key = generate_key()
    from_env = orchestra("init", "--key-file", str(home / "other.key"),
                         env={"ORCHESTRA_SECRET_KEY": key})
    assert "created key file" in from_env.output  # --key-file names a file that is missing
    os.remove(home / "other.key")
    elsewhere = home.parent / "elsewhere"
    only_env = orchestra("init", env={"ORCHESTRA_SECRET_KEY": key,
                                      "ORCHESTRA_HOME": str(elsewhere)})
    assert "secret key configured" in only_env.output
    assert sorted(p.name for p in elsewhere.iterdir()) == ["orchestra.db"]  # no key file


def test_keys_new_prints_a_key_once_or_adds_it_to_the_key_file(home, orchestra):
    printed = orchestra("keys", "new")
    key = printed.stdout.strip()
    assert KeyRing.from_text(key)  # a valid key
    assert f"key id {KeyRing.from_keys(key).primary.id}: store it safely" in printed.stderr
    orchestra("init")
    first = KeyRing.from_file(home / "orchestra.key").primary.id
    added = orchestra("keys", "new", "--add")
    ring = KeyRing.from_file(home / "orchestra.key")
    assert ring.ids[1] == first and len(ring) == 2
    assert added.output.splitlines() == [
        f"added key {ring.primary.id} to {home / 'orchestra.key'} as the newest key "
        f"(before {first})",
        "run `orchestra keys rotate` to re-encrypt the credentials under it"]
    for k in ring.keys:  # keys never appear in an output once they are in the file
        assert k.raw.hex() not in orchestra.all_output()


def test_a_key_file_readable_by_others_is_refused(home, orchestra):
    orchestra("init")
    os.chmod(home / "orchestra.key", 0o640)
    result = orchestra("credentials", "set", "db", "--from-env", "PW", env={"PW": "secret-1"},
                       ok=False)
    assert result.exit_code == 1
    assert result.output == (f"Error: key file {home / 'orchestra.key'} has mode 0640: it must "
                             f"be readable by its owner only; run: chmod 600 "
                             f"{home / 'orchestra.key'}\n")


# -- constants -------------------------------------------------------------------------------


def test_constants_commands(home, orchestra):
    orchestra("constants", "set", "region", "eu-west-1", "--description", "where")
    orchestra("constants", "set", "batch", "500")
    assert orchestra("constants", "get", "region").output == "eu-west-1\n"
    assert orchestra("constants", "list").output == "batch = 500\nregion = eu-west-1  # where\n"
    listed = json.loads(orchestra("constants", "list", "--json").output)
    assert [(c["name"], c["value"]) for c in listed] == [("batch", "500"),
                                                        ("region", "eu-west-1")]
    assert orchestra("constants", "delete", "batch").output == "constant 'batch' deleted\n"
    missing = orchestra("constants", "get", "batch", ok=False)
    assert (missing.exit_code, missing.output) == (
        1, "Error: no constant named 'batch'; stored constants: region\n")


# -- credentials -----------------------------------------------------------------------------


def test_credentials_set_prompts_hidden_or_reads_env_or_stdin(home, orchestra):
    orchestra("init")
    pw, key, sec, tok = plant("pw"), plant("key"), plant("sec"), plant("tok")
    prompted = orchestra("credentials", "set", "db", "--username", "loader",
                         input=f"{pw}\n{pw}\n")
    assert prompted.output.startswith("password for db: \nRepeat for confirmation: \n")
    orchestra("credentials", "set", "fivetran", "--from-env", "api_key=FT_KEY",
              "--from-env", "api_secret=FT_SECRET", env={"FT_KEY": key, "FT_SECRET": sec})
    orchestra("credentials", "set", "api", "--field", "token", "--stdin", input=f"{tok}\n")
    two = orchestra("credentials", "set", "two", "--field", "a", "--field", "b", "--stdin",
                    input=f"{plant()}\n{plant()}\n")
    assert "a, b encrypted with key" in two.output
    key_id = KeyRing.from_file(home / "orchestra.key").primary.id
    listing = orchestra("credentials", "list").output
    assert listing.splitlines() == [
        f"api  fields: token  key {key_id}",
        f"db  fields: password  key {key_id}  username loader",
        f"fivetran  fields: api_key, api_secret  key {key_id}",
        f"two  fields: a, b  key {key_id}"]
    listed = json.loads(orchestra("credentials", "list", "--json").output)
    assert listed[1]["fields"] == ["password"] and listed[1]["username"] == "loader"
    assert not [s for s in (pw, key, sec, tok) if s in orchestra.all_output()]
    assert not scan(home, pw, key, sec, tok)
    # a value is never an argument
    refused = orchestra("credentials", "set", "db", pw, ok=False)
    assert refused.exit_code == 2
    unset = orchestra("credentials", "set", "x", "--from-env", "NOPE_NOT_SET", ok=False)
    assert "the environment variable NOPE_NOT_SET is not set" in unset.output
    short = orchestra("credentials", "set", "x", "--stdin", input="abc\n", ok=False)
    assert "field 'password' must be at least 4 characters" in short.output


def test_credentials_without_a_key_change_nothing(home, orchestra):
    result = orchestra("credentials", "set", "db", "--stdin", input="password-1\n", ok=False)
    assert result.exit_code == 1
    assert result.output.startswith("Error: no secret key is configured: set "
                                    "ORCHESTRA_SECRET_KEY or the key file ")
    assert orchestra("credentials", "list").output == ""


# -- connections -----------------------------------------------------------------------------


def test_connections_commands(home, orchestra):
    orchestra("init")
    orchestra("credentials", "set", "api", "--field", "token", "--stdin", input=f"{plant()}\n")
    added = orchestra("connections", "add", "jobs", "--integration", "http", "--base-url",
                      "https://jobs.example.com/api", "--auth", "bearer", "--credential", "api",
                      "--option", "method=POST", "--option", "headers.X-Team=data",
                      "--description", "job API")
    assert added.output == "connection 'jobs' (http) added\n"
    key_id = KeyRing.from_file(home / "orchestra.key").primary.id
    assert orchestra("connections", "show", "jobs").output.splitlines() == [
        "connection jobs: http",
        "  base URL: https://jobs.example.com/api",
        "  auth: bearer",
        f"  credential: api (fields token, key {key_id})",
        '  option headers: {"X-Team": "data"}',
        "  option method: POST",
        "  description: job API"]
    shown = json.loads(orchestra("connections", "show", "jobs", "--json").output)
    assert shown["credential_info"]["fields"] == ["token"]
    assert orchestra("connections", "list").output == (
        "jobs  http  https://jobs.example.com/api  auth bearer  credential api\n")
    assert json.loads(orchestra("connections", "list", "--integration", "noop",
                                "--json").output) == []
    dup = orchestra("connections", "add", "jobs", "--integration", "http", ok=False)
    assert dup.output == ("Error: connection 'jobs' already exists (replace it with --replace, "
                          "or delete it first)\n")
    orchestra("connections", "add", "jobs", "--integration", "http", "--replace")
    bad = orchestra("connections", "add", "x", "--integration", "fivetran", ok=False)
    assert bad.output.startswith("Error: unknown integration 'fivetran'; installed "
                                 "integrations: http, noop, orchestration, process")
    bad_opt = orchestra("connections", "add", "x", "--integration", "http", "--option", "oops",
                        ok=False)
    assert bad_opt.exit_code == 2 and "expected KEY=VALUE, got 'oops'" in bad_opt.output
    assert orchestra("connections", "delete", "jobs").output == "connection 'jobs' deleted\n"
    assert orchestra("connections", "delete", "jobs", ok=False).exit_code == 1


# -- validation against a store ----------------------------------------------------------------


def test_validate_with_a_store_checks_connections_constants_and_credentials(home, orchestra):
    orchestra("init")
    orchestra("credentials", "set", "api", "--field", "token", "--stdin", input=f"{plant()}\n")
    orchestra("connections", "add", "jobs", "--integration", "http", "--base-url",
              "https://jobs.example.com", "--auth", "bearer", "--credential", "api")
    orchestra("constants", "set", "region", "eu")
    (home / "p.yaml").write_text(textwrap.dedent("""\
        name: p
        tasks:
          - id: a
            integration: http
            integration_job: http_request
            connection: jbos
            parameters: {method: GET, endpoint: /x}
          - id: b
            integration: noop
            integration_job: noop
            secondary_configuration_id: jobs
          - id: c
            integration: process
            integration_job: process_run
            parameters:
              path: ./x.py
              env: {REGION: "${constants.regoin}", TOKEN: "${credentials.api.tokn}",
                    OTHER: "${credentials.nope.password}", HOME2: "${HOME}"}
        """))
    without = orchestra("validate", "p.yaml")  # no store: nothing to check against
    assert without.output.startswith("ok  p.yaml")
    result = orchestra("validate", "p.yaml", "--db", str(home / "orchestra.db"), ok=False)
    assert result.exit_code == 1
    assert result.output.splitlines()[:5] == [
        "p.yaml:6:17: $.tasks[0].connection: no connection named 'jbos' (did you mean "
        "'jobs'?); stored connections: jobs",
        "p.yaml:11:33: $.tasks[1].secondary_configuration_id: connection 'jobs' is a http "
        "connection; this task runs the noop integration",
        "p.yaml:17:21: $.tasks[2].parameters.env.REGION: no constant named 'regoin' (did you "
        "mean 'region'?); stored constants: region",
        "p.yaml:17:51: $.tasks[2].parameters.env.TOKEN: credential 'api' has no field 'tokn' "
        "(its fields: token)",
        "p.yaml:18:20: $.tasks[2].parameters.env.OTHER: no credential named 'nope'; stored "
        "credentials: api"]
    as_json = json.loads(orchestra("validate", "p.yaml", "--json", ok=False,
                                   env={"ORCHESTRA_DB": str(home / "orchestra.db")}).output)
    codes = [p["code"] for p in as_json["files"][0]["problems"]]
    assert codes == ["unknown-connection", "wrong-connection-type", "unknown-constant",
                     "unknown-credential-field", "unknown-credential"]
    # the same checks refuse to run the pipeline, before anything starts
    refused = orchestra("run", "p.yaml", ok=False)
    assert refused.exit_code == 1 and "no connection named 'jbos'" in refused.output
    assert orchestra("runs", "list").output == ""


# -- the scenarios -------------------------------------------------------------------


def _subprocess_outputs(home: Path, run_id: str) -> str:
    """``runs show`` and ``logs`` in a separate process that has no key: what the store
    holds, with nothing registered to mask it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRA_")}
    env["ORCHESTRA_HOME"] = str(home.parent / "no-key-here")
    env["ORCHESTRA_DB"] = str(home / "orchestra.db")
    code = textwrap.dedent(f"""\
        from click.testing import CliRunner
        from orchestra_core.cli import cli
        for args in (["runs", "show", {run_id!r}, "--json"], ["logs", "--json"]):
            result = CliRunner().invoke(cli, ["--no-plugins", *args])
            assert result.exit_code == 0, result.output
            print(result.output)
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=True)
    assert run_id in done.stdout
    return done.stdout + done.stderr


def _read_all(orchestra: Cli, run_id: str) -> None:
    for args in (["runs", "show", run_id], ["runs", "show", run_id, "--json"],
                 ["runs", "list"], ["runs", "list", "--json"], ["logs"], ["logs", "--json"],
                 ["credentials", "list", "--json"], ["connections", "list", "--json"]):
        orchestra(*args)


def test_done_when_an_http_task_authenticates_with_a_stored_connection(home, orchestra):
    token = plant("tok")
    orchestra("init")
    orchestra("credentials", "set", "jobs-token", "--field", "token", input=f"{token}\n{token}\n")
    with AuthServer(f"Bearer {token}") as server:
        orchestra("connections", "add", "jobs", "--integration", "http", "--base-url",
                  server.url, "--auth", "bearer", "--credential", "jobs-token")
        (home / "pipeline.yaml").write_text(textwrap.dedent("""\
            name: authenticated
            tasks:
              - id: trigger
                integration: http
                integration_job: http_request
                connection: jobs
                parameters:
                  method: POST
                  endpoint: /jobs
                  body: {duration: 0}
                  poll: {endpoint: "/jobs/{id}", id_field: id, field: status,
                         success: [succeeded], interval: 0.05}
            """))
        orchestra("validate", "pipeline.yaml", "--db", "orchestra.db")
        result = orchestra("run", "pipeline.yaml", "--progress", "plain")
        assert result.output.splitlines()[-2].endswith(" succeeded")
        assert server.server.created == 1
        assert set(server.seen) == {f"Bearer {token}"}  # every request authenticated
    run_id = result.output.split()[1]
    _read_all(orchestra, run_id)
    assert token not in orchestra.all_output()
    assert not scan(home, token)  # the store file (and its WAL), the key file, the pipeline
    assert token not in _subprocess_outputs(home, run_id)


PRINTER = """\
import os, sys
print("token is", os.environ["TOKEN"])
print("region is", os.environ["REGION"])
print("failing with", os.environ["TOKEN"], file=sys.stderr)
sys.exit(3)
"""


def test_planted_secrets_never_reach_store_logs_or_outputs(home, orchestra):
    token, user, password = plant("tok"), "svc-user", plant("pw")
    orchestra("init")
    orchestra("constants", "set", "region", "eu-west-1")
    orchestra("credentials", "set", "tok", "--field", "token", "--stdin", input=f"{token}\n")
    orchestra("credentials", "set", "basic", "--username", user, "--stdin",
              input=f"{password}\n")
    (home / "printer.py").write_text(PRINTER)
    wrong = plant("wrong")
    with AuthServer(f"Bearer {wrong}") as rejecting, \
            AuthServer(f"Bearer {token}", echo_on_success=True) as echoing:
        # 1. the API rejects the token and echoes the header it got in its error body
        orchestra("connections", "add", "rejecting", "--integration", "http", "--base-url",
                  rejecting.url, "--auth", "bearer", "--credential", "tok")
        # 2. basic auth against the same: the echoed header holds base64(user:password)
        orchestra("connections", "add", "basic", "--integration", "http", "--base-url",
                  rejecting.url, "--auth", "basic", "--credential", "basic")
        # 3. the API accepts and echoes the header in its successful answer
        orchestra("connections", "add", "echoing", "--integration", "http", "--base-url",
                  echoing.url, "--auth", "bearer", "--credential", "tok")
        (home / "leaky.yaml").write_text(textwrap.dedent("""\
            name: leaky
            tasks:
              - {id: rejected, integration: http, integration_job: http_request,
                 connection: rejecting, parameters: {method: POST, endpoint: /jobs}}
              - {id: rejected_basic, integration: http, integration_job: http_request,
                 connection: basic, parameters: {method: POST, endpoint: /jobs}}
              - {id: echoed, integration: http, integration_job: http_request,
                 connection: echoing, parameters: {method: POST, endpoint: /jobs}}
              - id: printer
                integration: process
                integration_job: process_run
                parameters:
                  path: printer.py
                  env: {TOKEN: "${credentials.tok.token}", REGION: "${constants.region}"}
            """))
        result = orchestra("run", "leaky.yaml", "--progress", "plain", ok=False)
        assert result.exit_code == 1
        assert f"Bearer {token}" in rejecting.seen  # the secrets were really sent
        assert any(s and s.startswith("Basic ") for s in rejecting.seen)
    run_id = result.output.split()[1]
    shown = json.loads(orchestra("runs", "show", run_id, "--json").output)
    tasks = {t["task_id"]: t for t in shown["tasks"]}
    assert {k: t["state"] for k, t in tasks.items()} == {
        "rejected": "failed", "rejected_basic": "failed", "echoed": "succeeded",
        "printer": "failed"}
    assert "bad credentials: Bearer *****" in tasks["rejected"]["error"]
    assert "bad credentials: Basic *****" in tasks["rejected_basic"]["error"]
    assert '"authorization": "Bearer *****"' in tasks["echoed"]["meta"]["response"]
    assert "failing with *****" in tasks["printer"]["error"]
    logs = orchestra("logs", "--task", "printer").output
    assert "token is *****" in logs and "region is eu-west-1" in logs  # constants are plain
    _read_all(orchestra, run_id)
    import base64

    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    planted = (token, password, basic)
    assert not [s for s in planted if s in orchestra.all_output()]
    assert not scan(home, *planted)
    elsewhere = _subprocess_outputs(home, run_id)
    assert not [s for s in planted if s in elsewhere]


def test_errors_at_the_cli_edge_are_masked(home, orchestra, monkeypatch):
    from orchestra_core import OrchestraError
    from orchestra_core.cli._common import open_store

    secret = plant("edge")
    orchestra("init")
    orchestra("credentials", "set", "edge", "--field", "token", "--stdin", input=f"{secret}\n")

    def boom(*args, **kwargs):
        open_store(None)  # registers the stored credentials with the command line's redactor
        raise OrchestraError(f"the vendor refused {secret}")

    monkeypatch.setattr("orchestra_core._secrets.Secrets.open", boom)
    monkeypatch.setattr("orchestra_core.cli._secrets._secrets", boom)
    result = orchestra("constants", "list", ok=False)
    assert result.output == "Error: the vendor refused *****\n"


def _credential_rows(home: Path) -> list[tuple]:
    import sqlite3

    with sqlite3.connect(home / "orchestra.db") as db:
        return db.execute("SELECT * FROM credentials").fetchall()


def test_rotation_with_the_wrong_key_fails_clearly_and_changes_nothing(home, orchestra):
    orchestra("init")
    orchestra("credentials", "set", "api", "--field", "token", "--stdin", input=f"{plant()}\n")
    before = _credential_rows(home)
    old_id = KeyRing.from_file(home / "orchestra.key").primary.id
    other = generate_key()
    elsewhere = home.parent / "elsewhere"
    result = orchestra("keys", "rotate", "--db", str(home / "orchestra.db"), ok=False,
                       env={"ORCHESTRA_SECRET_KEY": other, "ORCHESTRA_HOME": str(elsewhere)})
    assert result.exit_code == 1
    assert result.output == (
        f"Error: credential 'api' is encrypted with key id {old_id}, which is not configured "
        f"(configured key ids: {KeyRing.from_keys(other).primary.id}); add that key to "
        f"ORCHESTRA_SECRET_KEY or the key file ({elsewhere / 'orchestra.key'})\n")
    assert _credential_rows(home) == before
    listing = orchestra("keys", "list").output
    assert f"{old_id}  primary        1 credential(s): api" in listing
    orchestra("keys", "new", "--add")
    rotated = orchestra("keys", "rotate")
    new_id = KeyRing.from_file(home / "orchestra.key").primary.id
    assert rotated.output == f"re-encrypted 1 credential(s) under key {new_id}: api\n"
    after = _credential_rows(home)
    assert after != before and after[0][3] == new_id
