"""Orchestra plugin for Slack: the ``slack`` notification channel (incoming webhooks).

- :class:`SlackOptions`: the channel's options (the stored connection holding the webhook URL).
- :class:`SlackChannel`: posts each alert to the webhook.
- :mod:`orchestra_slack.testing`: a simulator of Slack's incoming webhooks.
"""

from .channel import SlackChannel, SlackOptions, slack_message

__version__ = "0.1.0"

__all__ = ("SlackChannel", "SlackOptions", "__version__", "slack_message")
