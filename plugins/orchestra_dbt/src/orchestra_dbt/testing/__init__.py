"""A simulator of dbt Cloud for tests, demos and benchmarks (``orchestra simulate dbt``).

In-process, with a fake clock::

    from orchestra_dbt.testing import DbtCloudSimulator

    sim = DbtCloudSimulator(clock=clock)
    sim.add_job(42, duration=30, outcome="error", failing_models=("orders",))
    host = Orchestra(transports={"dbt": sim.transport})
    # connection: base_url=sim.base_url, token=sim.token, account_id=sim.account_id

As a real server on 127.0.0.1: ``with sim.serve() as url: ...``.
"""

from ._simulator import FAILING_JOB as FAILING_JOB
from ._simulator import SUCCEEDING_JOB as SUCCEEDING_JOB
from ._simulator import DbtCloudSimulator as DbtCloudSimulator
from ._state import SimJob as SimJob
from ._state import SimRun as SimRun

__all__ = ("FAILING_JOB", "SUCCEEDING_JOB", "DbtCloudSimulator", "SimJob", "SimRun")
