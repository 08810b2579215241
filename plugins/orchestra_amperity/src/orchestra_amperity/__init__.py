"""Orchestra plugin for Amperity: the ``amperity`` integration and its workflow jobs.

``amperity_courier_group``, ``amperity_orchestration_group`` and ``amperity_campaign`` each
start one Amperity workflow (``POST /api/workflow/runs``), poll it until it ends, and stop it
when the task is cancelled (:class:`AmperityWorkflowRunner`). :mod:`orchestra_amperity.testing`
holds a simulator of the Amperity API.
"""

from .params import (
    AmperityCampaign,
    AmperityCourierGroup,
    AmperityOrchestrationGroup,
    AmperityWorkflow,
)
from .runner import AmperityWorkflowRunner

__version__ = "0.1.0"

__all__ = (
    "AmperityCampaign",
    "AmperityCourierGroup",
    "AmperityOrchestrationGroup",
    "AmperityWorkflow",
    "AmperityWorkflowRunner",
    "__version__",
)
