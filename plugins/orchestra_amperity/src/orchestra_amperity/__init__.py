"""Orchestra plugin for Amperity: the ``amperity`` integration and its workflow jobs.

``amperity_courier_group``, ``amperity_orchestration_group`` and ``amperity_campaign`` each
start one Amperity workflow (``POST /api/workflow/runs``), poll it until it ends, and stop it
when the task is cancelled (:class:`AmperityWorkflowRunner`). :mod:`orchestra_amperity.testing`
holds a simulator of the Amperity API.
"""

from typing import TYPE_CHECKING, Any

from .params import (
    AmperityCampaign,
    AmperityCourierGroup,
    AmperityOrchestrationGroup,
    AmperityWorkflow,
)

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    # the runner imports httpx: loaded on first use, so that registering the plugin stays light
    if name == "AmperityWorkflowRunner":
        from .runner import AmperityWorkflowRunner

        return AmperityWorkflowRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
