"""The email channel as a user drives it: the SMTP login stored through the CLI, a pipeline
file whose alerts name an email channel, ``orchestra run`` sending through a real SMTP server
(aiosmtpd on 127.0.0.1) that requires STARTTLS with a self-signed certificate made here, and
authentication; refusals are logged, never fail the run, never show the password."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from orchestra_core import ConfigError, Orchestra, Store
from orchestra_core.cli import cli

TASKS = [{"id": "a", "integration": "noop", "integration_job": "noop_run"}]
USER, PASSWORD = "alerts@example.com", "s3cret-smtp-pw"

PIPELINE = """\
name: nightly
alerts:
  on_failure: [ops]
  channels:
    ops:
      type: email
      connection: smtp
      to: [oncall@example.com, data@example.com]
tasks:
  - id: load
    integration: noop
    integration_job: noop_run
    parameters: {fail: true}
"""


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


class Handler:
    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                              "message": message_from_bytes(envelope.content),
                              "tls": session.ssl is not None,
                              "authenticated": session.authenticated})
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(tmp_path):
    """An SMTP server on 127.0.0.1 that requires STARTTLS, then a login."""
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(),
                            tls_context=context, require_starttls=True,
                            authenticator=authenticator, auth_required=True,
                            auth_require_tls=True)
    controller.start()
    try:
        yield controller, handler, cert
    finally:
        controller.stop()


@pytest.fixture
def home(tmp_path, monkeypatch):
    from orchestra_core._secrets import generate_key

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORCHESTRA_HOME", str(tmp_path))
    monkeypatch.setenv("ORCHESTRA_SECRET_KEY", generate_key())
    return tmp_path


def invoke(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input)


def setup_store(db, port, *, password=PASSWORD, ca_file=None):
    made = invoke("credentials", "set", "smtp", "--username", USER, "--field", "password",
                  "--stdin", "--db", db, input=password + "\n")
    assert made.exit_code == 0, made.output
    options = ["--option", "from=Orchestra <alerts@example.com>"]
    if ca_file:
        options += ["--option", f"ca_file={ca_file}"]
    added = invoke("connections", "add", "smtp", "--integration", "email", "--option",
                   "host=127.0.0.1", "--option", f"port={port}", "--credential", "smtp",
                   *options, "--db", db)
    assert added.exit_code == 0, added.output


def run(home, db):
    (home / "p.yaml").write_text(PIPELINE)
    result = invoke("run", str(home / "p.yaml"), "--db", db, "--progress", "none")
    assert result.exit_code == 1, result.output  # the task fails on purpose
    store = Store.open(db)
    try:
        return [e["message"] for e in store.logs()]
    finally:
        store.close()


def test_orchestra_run_mails_the_alert_over_starttls_with_a_login(home, smtp_server):
    controller, handler, cert = smtp_server
    db = str(home / "o.db")
    setup_store(db, controller.port, ca_file=cert)
    logs = run(home, db)
    assert "alert run.failed sent to ops" in logs
    [mail] = handler.received
    assert mail["tls"] and mail["authenticated"]
    assert mail["from"] == "alerts@example.com"
    assert mail["to"] == ["oncall@example.com", "data@example.com"]
    message = mail["message"]
    assert message["Subject"] == "[Orchestra] run.failed: nightly"
    assert message["X-Orchestra-Event"] == "run.failed"
    body = message.get_payload(decode=True).decode()
    assert "pipeline 'nightly': run " in body and "failed: tasks failed: load" in body


def test_a_wrong_password_is_logged_masked_and_the_run_goes_on(home, smtp_server):
    controller, handler, cert = smtp_server
    db = str(home / "o.db")
    setup_store(db, controller.port, password="wrong-" + PASSWORD, ca_file=cert)
    logs = run(home, db)
    failed = [m for m in logs if m.startswith("alert run.failed: channel 'ops' failed")]
    assert failed and "SMTPAuthenticationError" in failed[0], logs
    assert not any("wrong-" + PASSWORD in m for m in logs)
    assert handler.received == []


def test_an_untrusted_certificate_is_refused(home, smtp_server):
    controller, handler, _ = smtp_server
    db = str(home / "o.db")
    setup_store(db, controller.port)  # no ca_file: the self-signed certificate is unknown
    logs = run(home, db)
    failed = [m for m in logs if m.startswith("alert run.failed: channel 'ops' failed")]
    assert failed and "CERTIFICATE_VERIFY_FAILED" in failed[0], logs
    assert handler.received == []


def test_a_server_without_starttls_gets_nothing(home):
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        db = str(home / "o.db")
        setup_store(db, controller.port)
        logs = run(home, db)
    finally:
        controller.stop()
    assert any("does not offer STARTTLS; refusing to send in clear" in m for m in logs), logs
    assert handler.received == []


def test_options_are_checked_where_they_are_written():
    import orchestra_email.plugin

    host = Orchestra(plugins=[orchestra_email.plugin], load_entrypoints=False)
    with pytest.raises(ConfigError) as err:
        host.pipeline_from_data({"name": "p", "alerts": {"on_failure": ["m"], "channels": {
            "m": {"type": "email", "to": "not-an-address"}}}, "tasks": TASKS})
    assert "$.alerts.channels.m" in str(err.value)
    assert "'not-an-address' is not an e-mail address" in str(err.value)
    one = host.pipeline_from_data({"name": "p", "alerts": {"on_failure": ["m"], "channels": {
        "m": {"type": "email", "to": "oncall@example.com"}}}, "tasks": TASKS})
    assert one.alerts.channels["m"].options["to"] == "oncall@example.com"
