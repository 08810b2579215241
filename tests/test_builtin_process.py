"""The built-in ``process`` runner: real scripts, git clones, blocking, cancel, lost runs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from orchestra_core import ExternalRun, JobRunner, JobState, Orchestra, TaskFailed
from orchestra_core._builtins._process_runner import LOST_MESSAGE, ProcessRunner, ReadersWriterLock
from orchestra_core._builtins.process import ProcessParameters
from orchestra_core.testing import StubContext

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and shell scripts")


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param


class Ctx(StubContext):
    """The stub context, plus the process's own output lines."""

    def output(self) -> list[tuple[str, str]]:
        """Logged lines that are not the runner's own remarks."""
        return [(level, text) for level, text in self.logs
                if not text.startswith(("started ", "cloning ", "terminating "))]


def script(tmp_path: Path, body: str, name: str = "job.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return str(path)


async def run(runner: ProcessRunner, ctx: Ctx) -> Any:
    external = await runner.start(ctx)
    return await runner.wait(ctx, external)


async def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)


def test_registered_as_the_runner_of_process_run():
    host = Orchestra(load_entrypoints=False)
    runner = host.runner(host.find_job("process", "run"))
    assert isinstance(runner, ProcessRunner)
    assert isinstance(runner, JobRunner)
    assert runner.host is host


async def test_success_output_and_the_external_run(tmp_path):
    path = script(tmp_path, """\
        import sys
        print("hello")
        print("careful", file=sys.stderr)
        print()
        print("bye", end="")
    """)
    ctx = Ctx(ProcessParameters(path=path))
    runner = ProcessRunner()
    external = await runner.start(ctx)
    pid = int(external.id)
    assert external.started_at == ctx.now()
    assert external.data["pid"] == pid
    assert external.data["started_at"] == ctx.now().isoformat()
    json.dumps(dict(external.data))  # storable as JSON
    assert runner.running == 1
    result = await runner.wait(ctx, external)
    assert result.state is JobState.SUCCEEDED
    assert result.message == "process exited with code 0"
    assert result.metadata == {"pid": pid, "exit_code": 0}
    assert ctx.logs[0] == ("info", f"started python {path} (pid {pid})")
    assert sorted(ctx.output()) == [("info", "bye"), ("info", "hello"), ("warning", "careful")]
    assert runner.running == 0


async def test_failure_quotes_the_last_lines_of_stderr(tmp_path):
    path = script(tmp_path, """\
        import sys
        for i in range(15):
            print(f"line {i}", file=sys.stderr)
        sys.exit(3)
    """)
    result = await run(ProcessRunner(), Ctx(ProcessParameters(path=path)))
    assert result.state is JobState.FAILED
    assert result.message == "process exited with code 3; stderr ends with:\n" + "\n".join(
        f"line {i}" for i in range(5, 15))
    assert result.metadata["exit_code"] == 3
    assert result.retryable is None
    quiet = script(tmp_path, "raise SystemExit(2)\n", "quiet.py")
    result = await run(ProcessRunner(), Ctx(ProcessParameters(path=quiet)))
    assert result.message == "process exited with code 2"


async def test_arguments_are_one_argv_string(tmp_path):
    path = script(tmp_path, "import json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    arguments = '{"date": "2026-01-01", "tables": ["a b", "c"]}'
    ctx = Ctx(ProcessParameters(path=path, arguments=arguments))
    assert (await run(ProcessRunner(), ctx)).state is JobState.SUCCEEDED
    assert ctx.output() == [("info", json.dumps([arguments]))]
    ctx = Ctx(ProcessParameters(path=path))
    await run(ProcessRunner(), ctx)
    assert ctx.output() == [("info", "[]")]


async def test_env_is_merged_and_workdir_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCHESTRA_TEST_OUTER", "outer")
    workdir = tmp_path / "work"
    workdir.mkdir()
    script(workdir, """\
        import os
        print(os.getcwd())
        print(os.environ["ORCHESTRA_TEST_OUTER"], os.environ["ORCHESTRA_TEST_INNER"])
    """, "rel.py")
    ctx = Ctx(ProcessParameters(path="rel.py", env={"ORCHESTRA_TEST_INNER": "inner"},
                                workdir=str(workdir)))
    assert (await run(ProcessRunner(), ctx)).state is JobState.SUCCEEDED
    assert ctx.output() == [("info", os.path.realpath(workdir)), ("info", "outer inner")]


@posix_only
async def test_an_executable_with_arguments(tmp_path):
    path = tmp_path / "job.sh"
    path.write_text('#!/bin/sh\necho "got: $1 / $#"\n')
    path.chmod(0o755)
    ctx = Ctx(ProcessParameters(path=str(path), arguments="a b  c"))
    assert (await run(ProcessRunner(), ctx)).state is JobState.SUCCEEDED
    assert ctx.output() == [("info", "got: a b  c / 1")]
    ctx = Ctx(ProcessParameters(path="echo", arguments="from PATH"))
    assert (await run(ProcessRunner(), ctx)).state is JobState.SUCCEEDED
    assert ctx.output() == [("info", "from PATH")]


async def test_what_cannot_start_fails_without_retry(tmp_path):
    runner = ProcessRunner()
    with pytest.raises(TaskFailed) as caught:
        await runner.start(Ctx(ProcessParameters(path="no-such-command-for-orchestra")))
    assert str(caught.value) == ("cannot run 'no-such-command-for-orchestra': no such file or "
                                 "command")
    assert caught.value.retryable is False
    with pytest.raises(TaskFailed) as caught:
        await runner.start(Ctx(ProcessParameters(path="x.py", workdir=str(tmp_path / "nope"))))
    assert str(caught.value) == (f"the working directory {str(tmp_path / 'nope')!r} does not "
                                 "exist")
    # a failed blocking start gives the lock back
    with pytest.raises(TaskFailed):
        await runner.start(Ctx(ProcessParameters(path="no-such-command-for-orchestra",
                                                 blocking=True)))
    assert (runner.lock.readers, runner.lock.writer, runner.running) == (0, False, 0)


async def test_output_is_logged_as_it_arrives(tmp_path):
    go = tmp_path / "go"
    path = script(tmp_path, f"""\
        import os, time
        print("first", flush=True)
        deadline = time.time() + 10
        while not os.path.exists({str(go)!r}) and time.time() < deadline:
            time.sleep(0.01)
        print("second")
    """)
    ctx = Ctx(ProcessParameters(path=path))
    runner = ProcessRunner()
    external = await runner.start(ctx)
    results: list[Any] = []

    async def waiter() -> None:
        results.append(await runner.wait(ctx, external))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await wait_for(lambda: ("info", "first") in ctx.logs)
        assert ctx.output() == [("info", "first")]
        assert results == []
        go.touch()
    assert results[0].state is JobState.SUCCEEDED
    assert ctx.output() == [("info", "first"), ("info", "second")]


async def test_a_cancelled_wait_can_be_resumed(tmp_path):
    path = script(tmp_path, """\
        import time
        print("one", flush=True)
        time.sleep(0.3)
        print("two")
    """)
    ctx = Ctx(ProcessParameters(path=path))
    runner = ProcessRunner()
    external = await runner.start(ctx)
    with anyio.move_on_after(0.1):
        await runner.wait(ctx, external)
    assert runner.running == 1
    result = await runner.wait(ctx, external)
    assert result.state is JobState.SUCCEEDED
    assert ctx.output() == [("info", "one"), ("info", "two")]


# -- blocking ----------------------------------------------------------------------------------

TIMED = """\
    import sys, time
    name, seconds, record = sys.argv[1].split(",")
    with open(record, "a") as f:
        f.write(f"{name} start {time.time()}\\n")
    time.sleep(float(seconds))
    with open(record, "a") as f:
        f.write(f"{name} end {time.time()}\\n")
"""


def intervals(record: Path) -> dict[str, tuple[float, float]]:
    times: dict[str, dict[str, float]] = {}
    for line in record.read_text().splitlines():
        name, what, when = line.split()
        times.setdefault(name, {})[what] = float(when)
    return {name: (t["start"], t["end"]) for name, t in times.items()}


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


async def test_blocking_runs_alone(tmp_path):
    path = script(tmp_path, TIMED)
    record = tmp_path / "record.txt"
    runner = ProcessRunner()
    order: list[str] = []

    async def task(name: str, seconds: float, blocking: bool = False) -> None:
        ctx = Ctx(ProcessParameters(path=path, arguments=f"{name},{seconds},{record}",
                                    blocking=blocking))
        result = await run(runner, ctx)
        assert result.state is JobState.SUCCEEDED, result
        order.append(name)
        if name == "B":
            assert ("info", "blocking process: waiting for the running processes to finish"
                    ) in ctx.logs
        if name == "C":
            assert ("info", "waiting for a blocking process to finish") in ctx.logs

    async with anyio.create_task_group() as tg:
        tg.start_soon(task, "A", 0.3)
        tg.start_soon(task, "D", 0.3)
        await wait_for(lambda: runner.running == 2)
        tg.start_soon(task, "B", 0.2, True)  # waits for A and D
        await wait_for(lambda: runner.lock.would_wait(False))
        tg.start_soon(task, "C", 0.1)  # came after B: waits for B
        await wait_for(lambda: len(runner.lock._waiters) == 2)
    spans = intervals(record)
    assert set(spans) == {"A", "B", "C", "D"}
    assert overlap(spans["A"], spans["D"])  # non-blocking processes run side by side
    for other in "ACD":
        assert not overlap(spans["B"], spans[other]), spans
    assert spans["B"][0] >= max(spans["A"][1], spans["D"][1])
    assert spans["C"][0] >= spans["B"][1]
    assert order[-2:] == ["B", "C"]


class AsyncTask:
    async_ = True


async def test_async_tasks_are_not_waited_for_but_still_hold_the_lock(tmp_path):
    path = script(tmp_path, TIMED)
    record = tmp_path / "record.txt"
    runner = ProcessRunner()
    ctx = Ctx(ProcessParameters(path=path, arguments=f"A,0.3,{record}"))
    ctx.task = AsyncTask()  # the engine never calls wait for it
    await runner.start(ctx)
    assert ctx.logs[-1][1].endswith("; async task: its output is not captured")
    blocking = Ctx(ProcessParameters(path=path, arguments=f"B,0.05,{record}", blocking=True))
    assert (await run(runner, blocking)).state is JobState.SUCCEEDED
    spans = intervals(record)
    assert spans["B"][0] >= spans["A"][1]
    assert (runner.running, runner.lock.readers, runner.lock.writer) == (0, 0, False)


async def test_lock_is_first_come_first_served_and_cancellable():
    lock = ReadersWriterLock()
    await lock.acquire(False)
    await lock.acquire(False)
    events: list[str] = []

    async def take(name: str, exclusive: bool, hold: anyio.Event) -> None:
        await lock.acquire(exclusive)
        events.append(name)
        await hold.wait()
        lock.release(exclusive)

    release_w, release_r = anyio.Event(), anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(take, "writer", True, release_w)
        await wait_for(lambda: len(lock._waiters) == 1)
        tg.start_soon(take, "reader", False, release_r)
        await wait_for(lambda: len(lock._waiters) == 2)
        lock.release(False)
        await anyio.sleep(0.01)
        assert events == []  # the writer still waits for the second reader
        lock.release(False)
        await wait_for(lambda: events == ["writer"])
        assert lock.writer and lock._waiters
        release_w.set()
        await wait_for(lambda: events == ["writer", "reader"])
        release_r.set()
    assert (lock.readers, lock.writer) == (0, False)

    # a cancelled waiting writer lets the readers queued behind it in
    await lock.acquire(False)
    async with anyio.create_task_group() as tg:
        scope = anyio.CancelScope()

        async def writer() -> None:
            with scope:
                await lock.acquire(True)

        tg.start_soon(writer)
        await wait_for(lambda: len(lock._waiters) == 1)
        tg.start_soon(take, "late reader", False, release_r)
        await wait_for(lambda: len(lock._waiters) == 2)
        scope.cancel()
        await wait_for(lambda: "late reader" in events)
    lock.release(False)
    assert (lock.readers, lock.writer, len(lock._waiters)) == (0, False, 0)


# -- git ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    path = tmp_path_factory.mktemp("repo")
    (path / "main.py").write_text(
        "import os, sys\nprint('cloned main', sys.argv[1:], os.path.basename(os.getcwd()))\n")
    (path / "jobs").mkdir()
    (path / "jobs" / "other.py").write_text("print('other entry')\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for argv in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-q", "-m", "x"]):
        subprocess.run(argv, cwd=path, env=env, check=True)
    return path


async def test_git_clone_and_run_the_entry_script(repo):
    ctx = Ctx(ProcessParameters(path=str(repo), git=True, arguments="--full"))
    runner = ProcessRunner()
    external = await runner.start(ctx)
    clone_dir = external.data["clone_dir"]
    assert os.path.isdir(clone_dir)
    result = await runner.wait(ctx, external)
    assert result.state is JobState.SUCCEEDED
    assert ctx.output() == [("info", "cloned main ['--full'] repo")]
    assert ctx.logs[0] == ("info", f"cloning {repo}")
    assert not os.path.exists(clone_dir)  # removed once the process finished


async def test_git_file_url_entry_and_workdir(repo):
    ctx = Ctx(ProcessParameters(path=repo.as_uri(), git=True, entry="jobs/other.py",
                                workdir="jobs"))
    assert (await run(ProcessRunner(), ctx)).state is JobState.SUCCEEDED
    assert ctx.output() == [("info", "other entry")]


async def test_git_failures(repo, tmp_path):
    before = {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("orchestra-git-")}
    with pytest.raises(TaskFailed) as caught:
        await ProcessRunner().start(Ctx(ProcessParameters(path=str(repo), git=True,
                                                          entry="missing.py")))
    assert str(caught.value) == f"the repository {repo} has no entry script 'missing.py'"
    assert caught.value.retryable is False
    nowhere = str(tmp_path / "nowhere")
    with pytest.raises(TaskFailed) as caught:
        await ProcessRunner().start(Ctx(ProcessParameters(path=nowhere, git=True)))
    assert str(caught.value).startswith(f"git clone of {nowhere} failed with exit code 128; "
                                        "stderr ends with:\nfatal: ")
    after = {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("orchestra-git-")}
    assert after <= before  # the clones were removed


# -- cancel and lost processes -----------------------------------------------------------------


@posix_only
async def test_cancel_terminates_a_running_process(tmp_path):
    path = script(tmp_path, "import time\nprint('sleeping', flush=True)\ntime.sleep(30)\n")
    ctx = Ctx(ProcessParameters(path=path, blocking=True))
    runner = ProcessRunner()
    external = await runner.start(ctx)
    results: list[Any] = []

    async def waiter() -> None:
        results.append(await runner.wait(ctx, external))

    began = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await wait_for(lambda: ("info", "sleeping") in ctx.logs)
        await runner.cancel(ctx, external)
    assert time.monotonic() - began < 3
    (result,) = results
    assert result.state is JobState.CANCELLED
    assert result.metadata["exit_code"] == -signal.SIGTERM
    assert ("warning", f"terminating process {external.id}") in ctx.logs
    assert (runner.lock.writer, runner.running) == (False, 0)
    await runner.cancel(ctx, external)  # again: nothing left to stop
    assert ctx.logs[-1] == ("warning", f"process {external.id} is not running under this "
                                       "Orchestra process: nothing to stop")


@posix_only
async def test_cancel_kills_what_ignores_sigterm(tmp_path):
    path = script(tmp_path, """\
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(30)
    """)
    ctx = Ctx(ProcessParameters(path=path))
    runner = ProcessRunner(kill_after=0.3)
    external = await runner.start(ctx)
    results: list[Any] = []

    async def waiter() -> None:
        results.append(await runner.wait(ctx, external))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await wait_for(lambda: ("info", "ready") in ctx.logs)
        await runner.cancel(ctx, external)
    assert ("warning", f"process {external.id} did not stop 0.3 s after SIGTERM: killing it"
            ) in ctx.logs
    assert results[0].state is JobState.CANCELLED
    assert results[0].metadata["exit_code"] == -signal.SIGKILL
    assert runner.running == 0


async def test_a_process_of_another_runner_is_lost(tmp_path):
    path = script(tmp_path, "import time\ntime.sleep(30)\n")
    ctx = Ctx(ProcessParameters(path=path))
    first = ProcessRunner()
    external = await first.start(ctx)
    try:
        result = await ProcessRunner().wait(ctx, external)  # "a later Orchestra process"
        assert result.state is JobState.FAILED
        assert result.message == LOST_MESSAGE
        # no promise of a retry: the engine retries only if the task's retries allow
        assert "will be retried" not in result.message
        assert result.message.startswith("the process was lost when Orchestra stopped")
        assert result.retryable is True
        assert result.metadata == {"pid": int(external.id)}
    finally:
        await first.cancel(ctx, external)
    stored = ExternalRun(id="999999", started_at=ctx.now(),
                         data={"pid": 999999, "started_at": ctx.now().isoformat()})
    result = await first.wait(ctx, stored)
    assert (result.state, result.message, result.retryable) == (JobState.FAILED, LOST_MESSAGE,
                                                                True)
