"""Triggers: when a registered pipeline runs by itself.

The models (:mod:`.model`, plain attrs classes), the next-fire computation (:mod:`.times`) and
the structuring of a pipeline file's ``triggers:`` (:mod:`._parse`). The scheduler that fires
them lives in ``orchestra_core._scheduling``; ``orchestra_core.next_fire`` is public.
"""
