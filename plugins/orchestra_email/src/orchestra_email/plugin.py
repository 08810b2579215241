"""Hook implementations of the e-mail plugin: the ``email`` notification channel."""

from __future__ import annotations

from orchestra_core import ChannelRegistry, ConnectionSpec, IntegrationRegistry, hookimpl

from .channel import EmailChannel, EmailOptions


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Declare the ``email`` integration (no jobs): what its stored connections need (an
    ``smtp://`` or ``smtps://`` base URL; a credential with a user name and password)."""
    registry.integration(
        "email", description="An SMTP server (the email notification channel)",
        aliases=("smtp",), connection=ConnectionSpec(secrets=("password",)))


@hookimpl
def orchestra_register_notification_channels(registry: ChannelRegistry) -> None:
    """Register the ``email`` channel type."""
    registry.add("email", factory=EmailChannel, options=EmailOptions,
                 description="an e-mail through an SMTP server (STARTTLS or TLS)")
