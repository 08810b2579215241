"""Orchestra plugin for Fivetran: the ``fivetran`` integration and its ``fivetran_sync_all`` job.

Execution (trigger, wait, cancel) arrives in a later release; validating pipelines works now.
"""

from .params import FivetranSyncAll

__version__ = "0.1.0"

__all__ = ("FivetranSyncAll", "__version__")
