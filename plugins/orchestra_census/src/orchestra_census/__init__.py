"""Orchestra plugin for Census: the ``census`` integration and its ``census_sync`` job.

Trigger a Census sync, wait for its sync run (webhooks with polling as the fallback), cancel
it, and record its stats and destination object. :mod:`orchestra_census.testing` holds a
simulator of the Census API.
"""

from .params import CensusSync
from .runner import CensusSyncRunner
from .webhooks import CensusWebhookHandler

__version__ = "0.1.0"

__all__ = ("CensusSync", "CensusSyncRunner", "CensusWebhookHandler", "__version__")
