"""Hook implementations of the Slack plugin: the ``slack`` notification channel."""

from __future__ import annotations

from orchestra_core import ChannelRegistry, ConnectionSpec, IntegrationRegistry, hookimpl

from .channel import SlackChannel, SlackOptions


@hookimpl
def orchestra_register_integrations(registry: IntegrationRegistry) -> None:
    """Declare the ``slack`` integration (no jobs): what its stored connections need (the
    webhook URL as a credential field), and its simulator (``orchestra simulate slack``)."""
    registry.integration(
        "slack", description="Slack incoming webhooks (the slack notification channel)",
        connection=ConnectionSpec(secrets=("webhook_url",)),
        simulator="orchestra_slack.testing:SlackSimulator")


@hookimpl
def orchestra_register_notification_channels(registry: ChannelRegistry) -> None:
    """Register the ``slack`` channel type."""
    registry.add("slack", factory=SlackChannel, options=SlackOptions,
                 description="a message to a Slack channel through an incoming webhook")
