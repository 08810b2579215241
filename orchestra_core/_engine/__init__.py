"""The run engine: executes a validated pipeline as a DAG, durably.

The parts, one job each:

- :mod:`._facade`: the :class:`Engine` facade (create a run, resume one, drain, detach);
- :mod:`._execution`: one run in progress (launch ready nodes, write transitions, watch
  for cancel requests, keep the lease);
- :mod:`._dag`: the DAG walk, conditions, stage and run outcomes, as pure code;
- :mod:`._attempt`: the attempt lifecycle of one task, as an explicit state machine;
- :mod:`._interrupted`: a local process stopped by a shutdown, recorded as interrupted;
- :mod:`._finish`: the end of a run and its alerts;
- :mod:`._events`: the webhook event channel;
- :mod:`._context`: what runners are handed;
- :mod:`._states`, :mod:`._result`: task states, transitions, the run result;
- :mod:`._gc`: garbage-collector tuning while runs execute.

See ``docs/architecture.md``.
"""

from ._events import EventChannel as EventChannel
from ._facade import Engine as Engine
from ._result import RunResult as RunResult
from ._states import TaskState as TaskState
from ._states import Transition as Transition

__all__ = ("Engine", "EventChannel", "RunResult", "TaskState", "Transition")
