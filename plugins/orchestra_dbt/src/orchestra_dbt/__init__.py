"""Orchestra plugin for dbt Cloud: the ``dbt`` integration and its ``dbt_runjob`` job.

Execution (trigger, wait, cancel) arrives in a later release; validating pipelines works now.
"""

from .params import DbtRunJob

__version__ = "0.1.0"

__all__ = ("DbtRunJob", "__version__")
