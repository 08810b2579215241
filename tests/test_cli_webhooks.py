"""``orchestra webhooks register``: a user stores a vendor connection through the CLI and
registers the vendor's webhook for Orchestra against the vendor simulators (served on
127.0.0.1); the signing secret lands in the connection's credential, where Orchestra's
webhook endpoint verifies deliveries with it, and is never printed."""

from __future__ import annotations

import httpx
import pytest
from click.testing import CliRunner
from orchestra_census.testing import DEFAULT_TOKEN, CensusSimulator
from orchestra_dbt.testing import DbtCloudSimulator
from orchestra_fivetran.testing import FivetranSimulator

from orchestra_core import Engine, Orchestra, Store, create_app
from orchestra_core._secrets import Secrets
from orchestra_core._secrets._lookup import stored_connection
from orchestra_core.cli import cli


@pytest.fixture
def home(home, monkeypatch):
    """The shared fresh home (tests/conftest.py), with a secret key in the environment."""
    from orchestra_core._secrets import generate_key

    monkeypatch.setenv("ORCHESTRA_SECRET_KEY", generate_key())
    return home


def invoke(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input)


def ok(*args, input=None):
    result = invoke(*args, input=input)
    assert result.exit_code == 0, result.output
    return result.output


def stored(db, name):
    store = Store.open(db)
    try:
        return stored_connection(Secrets(store, host=Orchestra()), name)
    finally:
        store.close()


def test_register_fivetran_webhook_through_the_cli(home):
    db = str(home / "o.db")
    host = Orchestra()
    store = Store.open(db)
    app = create_app(host, Engine(host, store))  # Orchestra's endpoint, on the same store
    sim = FivetranSimulator(webhook_transport=httpx.ASGITransport(app=app))
    try:
        with sim.serve() as url:
            creds = sim.credentials()
            ok("credentials", "set", "ft", "--field", "api_key", "--field", "api_secret",
               "--stdin", "--db", db, input=f"{creds['api_key']}\n{creds['api_secret']}\n")
            ok("connections", "add", "ft-prod", "--integration", "fivetran", "--base-url", url,
               "--credential", "ft", "--db", db)
            out = ok("webhooks", "register", "fivetran", "--connection", "ft-prod", "--url",
                     "https://orchestra.example.com", "--db", db)
            again = invoke("webhooks", "register", "fivetran", "--connection", "ft-prod",
                           "--url", "https://orchestra.example.com", "--db", db)
            first_secret = stored(db, "ft-prod").secrets["webhook_secret"]
            replaced = ok("webhooks", "register", "fivetran", "--connection", "ft-prod",
                          "--url", "https://orchestra.example.com", "--replace", "--db", db)
    finally:
        store.close()
    target = "https://orchestra.example.com/webhooks/fivetran/ft-prod"
    assert out.startswith("registered fivetran webhook ")
    assert f"-> {target} (sync_start, sync_end); its signing secret is stored in credential " \
           "'ft' (field webhook_secret)" in out
    assert again.exit_code == 1 and "exists already" in again.output
    assert replaced.startswith("replaced fivetran webhook ")
    conn = stored(db, "ft-prod")
    secret = conn.secrets["webhook_secret"]
    assert secret != first_secret and conn.secrets["api_key"] == creds["api_key"]
    for text in (out, again.output, replaced):
        assert secret not in text and first_secret not in text
    [hook] = sim.webhook_targets
    assert hook.url == target and hook.secret == secret
    # Fivetran's test delivery at creation was verified by Orchestra with the stored secret
    assert any(d.status == 200 for d in sim.deliveries), sim.deliveries


def test_register_dbt_cloud_subscription_through_the_cli(home):
    db = str(home / "o.db")
    sim = DbtCloudSimulator()
    with sim.serve() as url:
        ok("credentials", "set", "dbt", "--field", "token", "--stdin", "--db", db,
           input=sim.token + "\n")
        ok("connections", "add", "dbt-prod", "--integration", "dbt", "--base-url", url,
           "--credential", "dbt", "--option", f"account_id={sim.account_id}", "--db", db)
        out = ok("webhooks", "register", "dbt", "--connection", "dbt-prod", "--url",
                 "http://127.0.0.1:8080", "--db", db)
    target = "http://127.0.0.1:8080/webhooks/dbt/dbt-prod"
    assert f"-> {target} (job.run.started, job.run.completed, job.run.errored)" in out
    [sub] = sim.webhook_targets
    secret = stored(db, "dbt-prod").secrets["webhook_secret"]
    assert sub.secret == secret and sub.url == target
    assert secret not in out


def test_register_census_webhook_through_the_cli(home):
    db = str(home / "o.db")
    sim = CensusSimulator()
    with sim.serve() as url:
        ok("credentials", "set", "census", "--field", "token", "--stdin", "--db", db,
           input=DEFAULT_TOKEN + "\n")
        ok("connections", "add", "census-prod", "--integration", "census", "--base-url", url,
           "--credential", "census", "--db", db)
        out = ok("webhooks", "register", "census", "--connection", "census-prod", "--url",
                 "http://127.0.0.1:8080", "--db", db)
        again = invoke("webhooks", "register", "census", "--connection", "census-prod",
                       "--url", "http://127.0.0.1:8080", "--db", db)
        replaced = ok("webhooks", "register", "census", "--connection", "census-prod",
                      "--url", "http://127.0.0.1:8080", "--replace", "--db", db)
    target = "http://127.0.0.1:8080/webhooks/census/census-prod"
    assert f"-> {target} (sync.triggered, sync.started, sync.completed)" in out
    assert again.exit_code == 1 and "exists already" in again.output
    assert replaced.startswith("replaced census webhook ")
    [hook] = sim.census_webhooks()
    secret = stored(db, "census-prod").secrets["webhook_secret"]
    assert hook.secret == secret and hook.url == target
    assert secret not in out + replaced


def test_integrations_without_webhook_registration_are_named(home):
    result = invoke("webhooks", "register", "noop", "--connection", "x", "--url",
                    "https://o.example.com")
    assert result.exit_code == 2
    assert "integration 'noop' has no API to register webhooks with; integrations that " \
           "can register theirs: census, dbt, fivetran" in result.output
    missing = invoke("webhooks", "register", "fivetran", "--connection", "nope", "--url",
                     "https://o.example.com", "--db", str(home / "o.db"))
    assert missing.exit_code == 1 and "connection 'nope' does not exist" in missing.output
