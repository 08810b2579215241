"""Fault injection (issue 13): kill runs at random, seeded points against every vendor
simulator, resume them in a "new process" each time, and check the whole story at the end.

A kill stops the process the way SIGKILL would, in-process: the engine detaches (nothing is
cancelled at the vendor) and every task stops at its next checkpoint; no request reaches the
vendor after it. The kill points, chosen at random per run segment:

- ``before request``: the n-th vendor request of the segment never leaves;
- ``after request``: the vendor handles the n-th request, the answer is lost (a trigger sent,
  its run never recorded);
- ``after intent``: right after the m-th trigger intent is committed, before the trigger;
- ``after trigger``: the vendor handles the m-th trigger, the answer is lost;
- ``at time``: at a random moment of the engine's clock.

During each downtime, someone else may run the vendor job of a task that had not recorded an
intent yet (the vendor's schedule), with the opposite outcome of the task's own run, ending
before the resume: the false success of issue 13 would report its outcome.

Checked at the end of every run: every task reached the outcome its own vendor run has (no
false outcome), the vendor received exactly one trigger request per task (no duplicate, none
missing), and nothing is left ``running``/``queued``/``pending`` (no lost or stuck run).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

import anyio
import httpx
import orchestra_amperity.plugin
import orchestra_census.plugin
import orchestra_dbt.plugin
import orchestra_fivetran.plugin
import orchestra_hightouch.plugin
import pytest
from orchestra_amperity.testing import AmperitySimulator
from orchestra_census.testing import DEFAULT_TOKEN as CENSUS_TOKEN
from orchestra_census.testing import CensusSimulator
from orchestra_dbt.testing import DbtCloudSimulator
from orchestra_fivetran.testing import FivetranSimulator
from orchestra_hightouch.testing import HightouchSimulator

from orchestra_core import Orchestra, Store
from orchestra_core._engine._context import RunnerContext
from orchestra_core.testing import FakeClock

#: kills per vendor the suite must reach (five vendors: at least 100 in all)
KILLS_PER_VENDOR = 24
#: at most this many kills in one run, then it is left to finish
KILLS_PER_RUN = 6
#: seconds after which every vendor run of the suite has ended
RUN_ENDS_WITHIN = 400.0
TERMINAL = {"succeeded", "failed"}

#: what the suite saw, per vendor (printed at the end with ``-s``; the lead's table)
REPORT: dict[str, Counter] = {}


@pytest.fixture
def anyio_backend():
    return "asyncio"


#: the harness of the segment running now (the intent hook reads it)
CURRENT: list[Harness] = []


@pytest.fixture(autouse=True)
def kill_after_intents(monkeypatch):
    """Let the harness kill the process right after a trigger intent is committed."""
    record = RunnerContext.record_intent

    async def record_then_maybe_die(self, facts=None):
        intent = await record(self, facts)
        harness = CURRENT[-1]
        harness.intents += 1
        await harness.at("after intent", harness.intents)
        return intent

    monkeypatch.setattr(RunnerContext, "record_intent", record_then_maybe_die)


class Harness:
    """Decides and carries out the kill of one run segment."""

    def __init__(self, rng: random.Random, clock: FakeClock, allow_kill: bool) -> None:
        self.rng = rng
        self.clock = clock
        self.requests = 0
        self.intents = 0
        self.killed = False
        self.plan: tuple[str, float] | None = None
        self.triggers = 0
        if allow_kill:
            kind = rng.choice(["before request", "after request", "after intent",
                               "after trigger", "at time"])
            self.plan = (kind, rng.uniform(1, 80) if kind == "at time" else rng.randint(1, 14)
                         if kind.endswith("request") else rng.randint(1, 4))
        self.engine: Any = None
        self.scope: anyio.CancelScope | None = None

    def kill(self) -> None:
        if not self.killed:
            self.killed = True
            self.engine.detach()
            assert self.scope is not None
            self.scope.cancel()

    async def dead(self) -> None:
        """Stop here if the process was killed (raises the cancellation)."""
        if self.killed:
            await anyio.lowlevel.checkpoint()

    async def at(self, kind: str, count: int) -> None:
        if self.plan == (kind, count):
            self.kill()
        await self.dead()


class KillingTransport(httpx.AsyncBaseTransport):
    """The simulator's transport, with the harness deciding when the process dies."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.harness: Harness | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        h = self.harness
        assert h is not None
        await h.dead()
        h.requests += 1
        n = h.requests
        await h.at("before request", n)
        response = await self.inner.handle_async_request(request)
        await h.at("after request", n)
        if request.method == "POST":  # the only POSTs of these runs are triggers
            h.triggers += 1
            await h.at("after trigger", h.triggers)
        return response


# -- the vendors --------------------------------------------------------------------------------


class Vendor:
    """One vendor's scene: a simulator, K tasks on distinct resources with scripted own
    outcomes, a way to count triggers per task and to start someone else's run."""

    integration: str
    size: int

    def __init__(self, clock: FakeClock, rng: random.Random, monkeypatch: Any) -> None:
        self.clock = clock
        self.rng = rng
        # t0 succeeds; the later half of the tasks waits for it (pending during early kills)
        self.outcomes = {f"t{i}": "succeeded" if i == 0 else rng.choice(["succeeded", "failed"])
                         for i in range(self.size)}
        self.sim = self.make_sim()
        for name, value in self.env().items():
            monkeypatch.setenv(name, value)

    def pipeline(self, host: Orchestra) -> Any:
        return host.pipeline_from_data({"name": f"fi_{self.integration}", "tasks": [
            {"id": tid, "integration": self.integration, "retries": 0,
             "depends_on": ["t0"] if i > self.size // 2 else [], **self.task(i)}
            for i, tid in enumerate(self.outcomes)]})


class Fivetran(Vendor):
    plugin = orchestra_fivetran.plugin
    integration, size = "fivetran", 5

    def make_sim(self) -> Any:
        sim = FivetranSimulator(clock=self.clock, run_duration=90)
        for i, outcome in enumerate(self.outcomes.values()):
            sim.add_connector(f"c{i}", outcomes=["success" if outcome == "succeeded"
                                                 else "failure"])
        return sim

    def env(self) -> dict[str, str]:
        return self.sim.env()

    def task(self, i: int) -> dict[str, Any]:
        return {"integration_job": "fivetran_sync_all", "connectionid": f"c{i}",
                "poll_interval": 10}

    def triggers(self, i: int) -> int:
        return self.sim.count("POST", f"/v1/connections/c{i}/sync")

    def busy(self, i: int) -> bool:
        return self.sim.connector(f"c{i}").current is not None

    def foreign(self, i: int, outcome: str) -> None:
        self.sim.connector(f"c{i}").outcomes.insert(0, "success" if outcome == "succeeded"
                                                    else "failure")
        assert self.sim.start_sync(f"c{i}") == 200


class Dbt(Vendor):
    plugin = orchestra_dbt.plugin
    integration, size = "dbt", 4

    def make_sim(self) -> Any:
        sim = DbtCloudSimulator(clock=self.clock)
        for i, outcome in enumerate(self.outcomes.values()):
            sim.add_job(1000 + i, outcome="success" if outcome == "succeeded" else "error",
                        duration=60)
        return sim

    def env(self) -> dict[str, str]:
        return self.sim.env()

    def task(self, i: int) -> dict[str, Any]:
        return {"integration_job": "dbt_runjob", "jobid": 1000 + i, "poll_interval": 10}

    def triggers(self, i: int) -> int:
        return self.sim.count("POST", f"/api/v2/accounts/1/jobs/{1000 + i}/run/")

    def busy(self, i: int) -> bool:
        return False  # runs of a job queue one after the other

    def foreign(self, i: int, outcome: str) -> None:
        sim = self.sim
        with sim.lock:
            job = sim.job(1000 + i)
            run = sim.state.trigger(job, sim.now(), {"cause": "Triggered by the schedule"})
            run.outcome = "success" if outcome == "succeeded" else "error"
            sim.state.schedule(job)


class Census(Vendor):
    plugin = orchestra_census.plugin
    integration, size = "census", 4

    def make_sim(self) -> Any:
        sim = CensusSimulator(clock=self.clock, syncs=())
        for i, outcome in enumerate(self.outcomes.values()):
            sim.add_sync(60 + i, outcome="completed" if outcome == "succeeded" else "failed",
                         queued_for=1, working_for=40)
        return sim

    def env(self) -> dict[str, str]:
        return {"CENSUS_API_TOKEN": CENSUS_TOKEN, "CENSUS_BASE_URL": self.sim.base_url}

    def task(self, i: int) -> dict[str, Any]:
        return {"integration_job": "census_sync", "syncid": 60 + i, "poll_interval": 10}

    def triggers(self, i: int) -> int:
        return self.sim.count("POST", f"/api/v1/syncs/{60 + i}/trigger")

    def busy(self, i: int) -> bool:
        return self.sim.workspace.active_run(60 + i, self.clock.monotonic()) is not None

    def foreign(self, i: int, outcome: str) -> None:
        self.sim.script(60 + i, outcome="completed" if outcome == "succeeded" else "failed")
        self.sim.trigger(60 + i, trigger="Schedule")


class Hightouch(Vendor):
    plugin = orchestra_hightouch.plugin
    integration, size = "hightouch", 4

    def make_sim(self) -> Any:
        sim = HightouchSimulator(clock=self.clock, seed=False)
        self.ids = [sim.add_sync(outcome="success" if outcome == "succeeded" else "failed",
                                 duration=60).id for outcome in self.outcomes.values()]
        return sim

    def env(self) -> dict[str, str]:
        return {"HIGHTOUCH_API_TOKEN": self.sim.token, "HIGHTOUCH_BASE_URL": self.sim.base_url}

    def task(self, i: int) -> dict[str, Any]:
        return {"integration_job": "hightouch_sync", "syncid": self.ids[i], "poll_interval": 10}

    def triggers(self, i: int) -> int:
        return self.sim.count("POST", f"/api/v1/syncs/{self.ids[i]}/trigger")

    def busy(self, i: int) -> bool:
        return False  # runs queue behind the active one

    def foreign(self, i: int, outcome: str) -> None:
        sync = self.sim.sync(self.ids[i])
        with self.sim.lock:
            sync.script.appendleft("success" if outcome == "succeeded" else "failed")
            self.sim.state.trigger(sync)


class Amperity(Vendor):
    plugin = orchestra_amperity.plugin
    integration, size = "amperity", 3
    CONFIGS = ("og-fi0", "cc-fi1", "cg-fi2")  # one per workflow type: the list has no config

    def make_sim(self) -> Any:
        sim = AmperitySimulator(clock=self.clock, configs=(), rate_limit=None)
        for config, outcome in zip(self.CONFIGS, self.outcomes.values(), strict=True):
            sim.add_config(config, duration=60, outcome=outcome, attribution="customer")
        return sim

    def env(self) -> dict[str, str]:
        return self.sim.env()

    def task(self, i: int) -> dict[str, Any]:
        job = {"og": "amperity_orchestration_group", "cc": "amperity_campaign",
               "cg": "amperity_courier_group"}[self.CONFIGS[i][:2]]
        return {"integration_job": job, "config_id": self.CONFIGS[i], "poll_interval": 10}

    def triggers(self, i: int) -> int:
        return sum(1 for r in self.sim.requests if r.method == "POST"
                   and r.path == "/api/workflow/runs"
                   and json.loads(r.body or b"{}").get("config_id") == self.CONFIGS[i])

    def busy(self, i: int) -> bool:
        return False

    def foreign(self, i: int, outcome: str) -> None:
        sim = self.sim
        tenant = sim.tenants[sim.tenant]
        config = tenant.configs[self.CONFIGS[i]]
        with sim.lock:
            tenant.scripted.setdefault(config.id, []).insert(0, {"outcome": outcome})
            tenant.start(config, now=sim.clock.monotonic(), clock_now=sim.now(),
                         principal="amperity-scheduler", rng=sim._rng)


VENDORS = {v.integration: v for v in (Fivetran, Dbt, Census, Hightouch, Amperity)}


# -- the loop -----------------------------------------------------------------------------------


async def segment(vendor: Vendor, store: Store, transport: KillingTransport, harness: Harness,
                  run_id: str | None, pipeline_of: Any) -> tuple[str, bool]:
    """Run (or resume) the run in a new "process" until it ends or the harness kills it.
    Returns the run id and whether it finished."""
    transport.harness = harness
    CURRENT[:] = [harness]
    host = Orchestra(plugins=[vendor.plugin], load_entrypoints=False,
                     transports={vendor.integration: transport})
    engine = host.engine(store=store, clock=vendor.clock)
    harness.engine = engine
    created: list[str] = [run_id] if run_id else []
    finished = False

    async def body() -> None:
        nonlocal finished
        if run_id is None:
            await engine.run(pipeline_of(host), on_created=created.append)
        else:
            await engine.resume(run_id)
        finished = True
        tg.cancel_scope.cancel()

    async def timer() -> None:
        assert harness.plan is not None
        await vendor.clock.sleep(harness.plan[1])
        harness.kill()

    async with vendor.clock.driving(), anyio.create_task_group() as tg:
        harness.scope = tg.cancel_scope
        tg.start_soon(body)
        if harness.plan is not None and harness.plan[0] == "at time":
            tg.start_soon(timer)
    assert created, "the run was never created"
    return created[0], finished and not harness.killed


def downtime(vendor: Vendor, store: Store, run_id: str, rng: random.Random,
             seen: Counter) -> None:
    """Time passes while the process is dead; someone else may run a task's vendor job."""
    rows = {r["task_id"]: r for r in store.task_runs(run_id) if r["kind"] == "task"}
    for i, tid in enumerate(vendor.outcomes):
        if rows[tid]["state"] in TERMINAL or rows[tid]["external"]:
            continue
        if rows[tid].get("intent") and not vendor.triggers(i):
            seen["tasks killed between intent and trigger"] += 1
        elif vendor.triggers(i):
            seen["tasks killed between trigger and its record"] += 1
    idle = [i for i, tid in enumerate(vendor.outcomes)
            if rows[tid]["state"] not in TERMINAL and not rows[tid].get("intent")
            and not rows[tid]["external"] and not vendor.busy(i)]
    # the case of issue 13 first: a task killed while running, before its intent
    running = [i for i in idle if rows[f"t{i}"]["state"] == "running"]
    if idle and rng.random() < 0.8:
        i = rng.choice(running or idle)
        seen["foreign runs for a running task without intent"] += bool(running)
        own = vendor.outcomes[f"t{i}"]
        vendor.foreign(i, "failed" if own == "succeeded" else "succeeded")
        seen["foreign runs ending in a downtime"] += 1
        vendor.clock.advance(RUN_ENDS_WITHIN)
    else:
        vendor.clock.advance(rng.uniform(0, 120))


def check(vendor: Vendor, store: Store, run_id: str, seen: Counter) -> None:
    rows = {r["task_id"]: r for r in store.task_runs(run_id) if r["kind"] == "task"}
    run = store.get_run(run_id)
    stuck = [tid for tid, r in rows.items() if r["state"] not in TERMINAL]
    seen["lost or stuck runs"] += bool(stuck) or run["state"] not in TERMINAL
    for i, (tid, expected) in enumerate(vendor.outcomes.items()):
        triggers = vendor.triggers(i)
        seen["duplicate triggers"] += max(0, triggers - 1)
        seen["tasks never triggered"] += triggers == 0
        seen["false outcomes"] += rows[tid]["state"] != expected
        seen["tasks"] += 1
    seen["external runs recovered after a kill"] += sum(
        "recovered the external job" in e["message"] for e in store.logs(run_id=run_id))
    assert not stuck and run["state"] in TERMINAL, (run["state"], rows)
    for i, (tid, expected) in enumerate(vendor.outcomes.items()):
        assert vendor.triggers(i) == 1, (tid, vendor.triggers(i), rows[tid])
        assert rows[tid]["state"] == expected, (tid, expected, rows[tid])


@pytest.mark.parametrize("name", sorted(VENDORS))
async def test_random_kills_never_duplicate_never_lie_never_lose(name, tmp_path, monkeypatch):
    seen: Counter = Counter()
    REPORT[name] = seen
    rng = random.Random(f"fault-injection/{name}")
    runs = 0
    store = Store.open(str(tmp_path / "o.db"))
    while seen["kills"] < KILLS_PER_VENDOR:
        runs += 1
        assert runs <= 40, f"too few kill points hit: {dict(seen)}"
        clock = FakeClock()
        vendor = VENDORS[name](clock, rng, monkeypatch)
        transport = KillingTransport(vendor.sim.transport)
        try:
            run_id, kills = None, 0
            while True:
                harness = Harness(rng, clock, allow_kill=kills < KILLS_PER_RUN)
                run_id, finished = await segment(vendor, store, transport, harness, run_id,
                                                 vendor.pipeline)
                if finished:
                    break
                kills += 1
                seen["kills"] += 1
                assert harness.plan is not None
                seen[f"kill {harness.plan[0]}"] += 1
                downtime(vendor, store, run_id, rng, seen)
            check(vendor, store, run_id, seen)
        except BaseException:
            store.close()
            raise
        seen["runs"] += 1
    store.close()
    print(f"\n{name}: " + ", ".join(f"{k} {v}" for k, v in sorted(seen.items())))
