"""Triggers and the scheduler: registered pipelines that run by themselves.

The models (:mod:`.model`) and next-fire computation (:mod:`.times`) are light and imported
here; the scheduler, the registry of pipelines and the service live in their own modules
(``orchestra_core.scheduling.scheduler``, ``.registry``) and are imported where used.
"""

from .model import (
    AfterTrigger,
    ChangesTrigger,
    CronTrigger,
    FrequencyType,
    IntervalTrigger,
    ManualTrigger,
    Misfire,
    QueueTrigger,
    SingleTrigger,
    Trigger,
)
from .times import next_fire

__all__ = (
    "AfterTrigger",
    "ChangesTrigger",
    "CronTrigger",
    "FrequencyType",
    "IntervalTrigger",
    "ManualTrigger",
    "Misfire",
    "QueueTrigger",
    "SingleTrigger",
    "Trigger",
    "next_fire",
)
