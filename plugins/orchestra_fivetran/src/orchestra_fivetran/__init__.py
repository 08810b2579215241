"""Orchestra plugin for Fivetran: the ``fivetran`` integration and its ``fivetran_sync_all`` job.

- :class:`FivetranSyncAll`: the job's parameters.
- :class:`FivetranSyncRunner`: triggers a connection's sync and waits for it (webhooks and
  polling), resumes after a restart without triggering twice.
- :class:`FivetranWebhookHandler`: verifies ``X-Fivetran-Signature-256`` deliveries.
- :func:`create_webhook`: creates the Fivetran webhook pointing at Orchestra's endpoint.
- :mod:`orchestra_fivetran.testing`: the simulator of Fivetran's REST API.
"""

from .params import FivetranSyncAll
from .runner import FivetranSyncRunner
from .webhook_api import WebhookSetup, create_webhook
from .webhooks import FivetranWebhookHandler

__version__ = "0.1.0"

__all__ = (
    "FivetranSyncAll",
    "FivetranSyncRunner",
    "FivetranWebhookHandler",
    "WebhookSetup",
    "__version__",
    "create_webhook",
)
