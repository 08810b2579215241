"""The ``email`` notification channel: each alert as an e-mail through an SMTP server.

The server and its login come from a stored connection (never from the pipeline file)::

    orchestra credentials set smtp --username alerts@example.com          # asks the password
    orchestra connections add smtp --integration email --credential smtp \\
        --option host=mail.example.com --option port=587 --option from=alerts@example.com

``security=starttls`` (the default; port 587 by default) upgrades the connection with
STARTTLS before it logs in, and refuses to go on when the server does not offer it;
``security=tls`` (port 465 by default) speaks TLS from the first byte. The server
certificate is verified against the system's CAs, or the connection's ``ca_file`` option.
``security=none`` (a connection option) sends in clear and is accepted only for a server on
this machine (127.0.0.1, ::1, localhost), e.g. a local relay. The password is masked in every error.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from attrs import frozen

from orchestra_core import DeliveryFailed, Notification, parameter

if TYPE_CHECKING:
    import ssl
    from email.message import EmailMessage

# smtplib, ssl, the email package and anyio are imported when an e-mail is made or sent: a
# host loads this plugin at every start (to know the channel and its options), and most of
# its commands send nothing

__all__ = ("EmailChannel", "EmailOptions", "SmtpServer", "email_message")

_SECURITY = ("starttls", "tls", "none")
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@frozen(kw_only=True)
class EmailOptions:
    """Options of an ``email`` channel."""

    to: tuple[str, ...] = parameter(aliases=("destination", "recipients"),
                                    help="one or more recipient addresses")
    connection: str = parameter(default="email",
                                help="the stored connection of the SMTP server")
    sender: str | None = parameter(default=None, aliases=("from",),
                                   help="the From address (default: the connection's 'from' "
                                   "option, else its user name)")
    subject_prefix: str = parameter(default="[Orchestra]", help="put before every subject")
    timeout: float = parameter(default=30.0, help="seconds to wait for the server")

    def __attrs_post_init__(self) -> None:
        if not self.to:
            raise ValueError("to must name at least one recipient")
        for address in self.to:
            _check_address(address, "to")
        if self.sender is not None:
            _check_address(self.sender, "sender")


def _check_address(address: str, what: str) -> None:
    import email.utils

    _, addr = email.utils.parseaddr(address)
    if "@" not in addr or any(c in address for c in "\r\n"):
        raise ValueError(f"{what}: {address!r} is not an e-mail address")


@frozen(kw_only=True)
class SmtpServer:
    """Where and how to send, read from a stored connection."""

    host: str
    port: int
    security: str
    username: str | None = None
    password: str | None = None
    sender: str | None = None
    ca_file: str | None = None

    @classmethod
    def from_connection(cls, connection: Any) -> SmtpServer:
        """The server of a :class:`~orchestra_core.Connection`: its ``host``, ``port``,
        ``security``, ``from`` and ``ca_file`` options (or an ``smtp://``/``smtps://`` base
        URL where one can be stored)."""
        options = dict(connection.options or {})
        secrets = dict(connection.secrets or {})
        url = connection.base_url or ""
        parts = urlsplit(url) if url else None
        scheme = (parts.scheme.lower() if parts else "") or "smtp"
        if scheme not in ("smtp", "smtps"):
            raise DeliveryFailed(f"email: connection {connection.name!r}: the base URL must be "
                                 f"smtp://HOST[:PORT] or smtps://HOST[:PORT], got {url!r}")
        security = str(options.get("security") or ("tls" if scheme == "smtps" else "starttls"))
        if security not in _SECURITY:
            raise DeliveryFailed(f"email: connection {connection.name!r}: security must be one "
                                 f"of {', '.join(_SECURITY)}, got {security!r}")
        host = (parts.hostname if parts else None) or options.get("host")
        if not host:
            raise DeliveryFailed(f"email: connection {connection.name!r} names no SMTP server "
                                 "(add --option host=HOST to it)")
        port = (parts.port if parts else None) or options.get("port") or \
            (465 if security == "tls" else 587)
        if security == "none" and host not in _LOOPBACK:
            raise DeliveryFailed(f"email: connection {connection.name!r}: security=none sends "
                                 "the password and the alerts in clear; it is allowed only for "
                                 "a server on this machine")
        return cls(host=host, port=int(port), security=security,
                   username=secrets.get("username"), password=secrets.get("password"),
                   sender=options.get("from"), ca_file=options.get("ca_file"))

    def tls_context(self) -> ssl.SSLContext:
        """Certificate and host name checks on (against ``ca_file`` when given)."""
        import ssl

        return ssl.create_default_context(cafile=self.ca_file)

    def send(self, message: EmailMessage, timeout: float) -> None:
        """Send *message* (blocking: run it in a worker thread)."""
        import smtplib

        context = self.tls_context()
        if self.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=timeout,
                                                  context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=timeout)
        with smtp:
            smtp.ehlo()
            if self.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise DeliveryFailed(f"email: {self.host}:{self.port} does not offer "
                                         "STARTTLS; refusing to send in clear")
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username and self.password:
                smtp.login(self.username, self.password)
            smtp.send_message(message)


def email_message(notification: Notification, *, sender: str, to: tuple[str, ...],
                  subject_prefix: str = "[Orchestra]") -> EmailMessage:
    """The e-mail sent for *notification*: subject ``[Orchestra] run.failed: nightly``, the
    message and the details as text."""
    import email.utils
    from email.message import EmailMessage

    message = EmailMessage()
    prefix = f"{subject_prefix} " if subject_prefix else ""
    message["Subject"] = f"{prefix}{notification.kind}: {notification.pipeline}"
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = email.utils.format_datetime(notification.created_at)
    message["Message-ID"] = email.utils.make_msgid(domain="orchestra.local")
    event = f"{notification.run_id or notification.pipeline}/{notification.kind}"
    message["X-Orchestra-Event"] = notification.kind
    message["X-Orchestra-Event-Id"] = event
    details = json.dumps(dict(notification.data), indent=2, sort_keys=True, default=str)
    message.set_content(f"{notification.message}\n\npipeline: {notification.pipeline}\n"
                        f"run: {notification.run_id or '-'}\n"
                        f"at: {notification.created_at.isoformat()}\n\ndetails:\n{details}\n")
    return message


class EmailChannel:
    """Sends each notification as an e-mail through the SMTP server of the stored connection
    ``options.connection`` (see the module docstring)."""

    def __init__(self, options: EmailOptions, *, context: Any = None) -> None:
        if context is None:
            raise DeliveryFailed("the email channel needs the channel context (host, store)")
        self.options = options
        self.context = context

    def server(self) -> SmtpServer:
        """The SMTP server of the stored connection."""
        try:
            connection = self.context.connection(self.options.connection)
        except Exception as exc:
            raise DeliveryFailed(f"email channel: {exc}") from exc
        return SmtpServer.from_connection(connection)

    async def notify(self, notification: Notification) -> None:
        """Send the e-mail; raise :class:`DeliveryFailed` when the server refuses it."""
        server = self.server()
        redactor = self.context.host.redactor
        if server.password:
            redactor.add(server.password)
        sender = self.options.sender or server.sender or server.username
        if not sender or "@" not in sender:
            raise DeliveryFailed(f"email channel: no From address: set the channel's sender or "
                                 f"the connection's 'from' option ({self.options.connection!r})")
        message = email_message(notification, sender=sender, to=self.options.to,
                                subject_prefix=self.options.subject_prefix)
        import smtplib
        import ssl

        import anyio

        try:
            await anyio.to_thread.run_sync(server.send, message, self.options.timeout)
        except DeliveryFailed:
            raise
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise DeliveryFailed(redactor.mask(
                f"email to {', '.join(self.options.to)} through {server.host}:{server.port} "
                f"failed: {type(exc).__name__}: {exc}")) from exc
