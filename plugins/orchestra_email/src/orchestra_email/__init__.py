"""Orchestra plugin for e-mail: the ``email`` notification channel (SMTP with TLS).

- :class:`EmailOptions`: the channel's options (recipients, the stored SMTP connection).
- :class:`EmailChannel`: sends each alert as an e-mail, over STARTTLS or implicit TLS.
- :func:`email_message`: the message sent for a notification.
"""

from .channel import EmailChannel, EmailOptions, SmtpServer, email_message

__version__ = "0.1.0"

__all__ = ("EmailChannel", "EmailOptions", "SmtpServer", "__version__", "email_message")
