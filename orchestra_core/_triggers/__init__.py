"""Triggers: when a registered pipeline runs by itself.

The models (:mod:`.model`, plain attrs classes), the next-fire computation (:mod:`.times`) and
the structuring of a pipeline file's ``triggers:`` (:mod:`._parse`). The scheduler that fires
them lives in ``orchestra_core._scheduling``.
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
