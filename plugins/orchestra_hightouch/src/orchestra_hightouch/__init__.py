"""Orchestra plugin for Hightouch: the ``hightouch`` integration and its ``hightouch_sync`` job.

Execution (trigger, wait, cancel) arrives in a later release; validating pipelines works now.
"""

from .params import HightouchSync

__version__ = "0.1.0"

__all__ = ("HightouchSync", "__version__")
