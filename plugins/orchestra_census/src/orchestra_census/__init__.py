"""Orchestra plugin for Census: the ``census`` integration and its ``census_sync`` job.

Execution (trigger, wait, cancel) arrives in a later release; validating pipelines works now.
"""

from .params import CensusSync

__version__ = "0.1.0"

__all__ = ("CensusSync", "__version__")
