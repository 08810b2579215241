"""Orchestra plugin for Amperity: the ``amperity`` integration and its workflow jobs.

``amperity_courier_group``, ``amperity_orchestration_group`` and ``amperity_campaign``.
Execution (trigger, wait, cancel) arrives in a later release; validating pipelines works now.
"""

from .params import (
    AmperityCampaign,
    AmperityCourierGroup,
    AmperityOrchestrationGroup,
    AmperityWorkflow,
)

__version__ = "0.1.0"

__all__ = (
    "AmperityCampaign",
    "AmperityCourierGroup",
    "AmperityOrchestrationGroup",
    "AmperityWorkflow",
    "__version__",
)
