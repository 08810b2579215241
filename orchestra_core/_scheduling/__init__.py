"""The scheduler side of triggers: the registry of pipelines (versions and triggers in the
store), the scheduler that fires them exactly once, the worker pool that runs the runs, and
run ownership (leases). The trigger models and fire-time computation live in
``orchestra_core._triggers``."""
