"""The runner of the built-in ``process`` integration (seed 002): local scripts and commands.

``start`` spawns the process (after cloning the repository, for ``git: true``) and ``wait``
streams its output to the run log and waits for its exit code. Processes marked
``blocking: true`` run alone: a readers/writer lock per runner instance lets non-blocking
processes run side by side (shared) while a blocking one holds it exclusively, from before it
starts until it has exited.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import Process

from .._errors import TaskFailed
from .._models import ExternalRun, JobResult, JobState

if TYPE_CHECKING:
    from .._protocols import TaskContext
    from .process import ProcessParameters

__all__ = ("ProcessRunner", "ReadersWriterLock")

#: The message of a ``wait`` for a process started by an earlier Orchestra process.
LOST_MESSAGE = "the process was lost when Orchestra stopped; it will be retried"
#: Lines of stderr quoted in the message of a failed process.
STDERR_TAIL = 10
#: Longest line sent to the log; longer output without a newline is cut into pieces.
MAX_LINE = 64 * 1024
#: Seconds ``wait`` keeps reading output after the process exited (a child process it left
#: behind may hold the pipes open).
DRAIN_GRACE = 1.0
#: Seconds between checks for exited ``async`` processes while waiting for the lock.
REAP_INTERVAL = 0.1

_POSIX = os.name == "posix"


class ReadersWriterLock:
    """A first-come, first-served async readers/writer lock (anyio, no owner tracking).

    Any number of shared holders, or one exclusive holder. Waiters are served in arrival
    order, so a waiting exclusive acquirer is not starved: shared acquirers arriving after it
    queue behind it.
    """

    def __init__(self) -> None:
        self.readers = 0
        self.writer = False
        self._waiters: deque[list[Any]] = deque()  # [exclusive, event, granted]

    def would_wait(self, exclusive: bool) -> bool:
        """Whether :meth:`acquire` would have to wait right now."""
        return bool(self._waiters) or not self._free(exclusive)

    def _free(self, exclusive: bool) -> bool:
        return not self.writer and (not exclusive or self.readers == 0)

    def _grant(self, exclusive: bool) -> None:
        if exclusive:
            self.writer = True
        else:
            self.readers += 1

    def _wake(self) -> None:
        while self._waiters and self._free(self._waiters[0][0]):
            waiter = self._waiters.popleft()
            self._grant(waiter[0])
            waiter[2] = True
            waiter[1].set()

    async def acquire(self, exclusive: bool) -> None:
        """Take the lock, shared or *exclusive*; cancellable while waiting."""
        if not self.would_wait(exclusive):
            self._grant(exclusive)
            return
        waiter = [exclusive, anyio.Event(), False]
        self._waiters.append(waiter)
        try:
            await waiter[1].wait()
        except BaseException:
            if waiter[2]:  # granted just as we were cancelled: give it back
                self.release(exclusive)
            else:
                self._waiters.remove(waiter)
                self._wake()  # a cancelled writer at the head may have held readers back
            raise

    def release(self, exclusive: bool) -> None:
        """Give back a lock taken with the same *exclusive*."""
        if exclusive:
            self.writer = False
        else:
            self.readers -= 1
        self._wake()


class _Child:
    """A process this runner started and still supervises."""

    def __init__(
        self, process: Process, *, token: str, exclusive: bool, clone_dir: str | None,
        detached: bool = False,
    ) -> None:
        self.process = process
        self.detached = detached
        self.pid = process.pid
        self.token = token
        self.exclusive = exclusive
        self.clone_dir = clone_dir
        self.buffers = {"stdout": bytearray(), "stderr": bytearray()}
        self.eof: set[str] = set()
        self.drained = anyio.Event()
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self.waits = 0
        self.cancelled = False
        self.released = False


async def _remove_tree(path: str) -> None:
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(partial(shutil.rmtree, path, ignore_errors=True))


def _orchestra_env(ctx: TaskContext) -> dict[str, str]:
    """What tells a child process which run it belongs to, and where the store is (so it can
    use ``orchestra queue claim`` or ``Queues.from_env()``): ``ORCHESTRA_DB``,
    ``ORCHESTRA_RUN_ID``, ``ORCHESTRA_TASK_ID``, ``ORCHESTRA_PIPELINE``, ``ORCHESTRA_ATTEMPT``."""
    env = {"ORCHESTRA_RUN_ID": str(ctx.run_id), "ORCHESTRA_TASK_ID": str(ctx.task_id),
           "ORCHESTRA_PIPELINE": str(ctx.pipeline), "ORCHESTRA_ATTEMPT": str(ctx.attempt)}
    # the engine's context carries its store; other contexts (test stubs) may not
    store = getattr(ctx, "store", None)  # the engine's store (not part of TaskContext)
    url = getattr(getattr(store, "engine", None), "url", None)
    if url is not None:
        env["ORCHESTRA_DB"] = url.render_as_string(hide_password=False)
    return env


def _tail(lines: deque[str] | list[str]) -> str:
    return ("; stderr ends with:\n" + "\n".join(lines)) if lines else ""


class ProcessRunner:
    """Runs ``process_run``: a script or command, or the entry script of a git repository.

    - the command is ``path`` (a ``.py`` file runs with this Python, ``sys.executable``)
      followed by ``arguments`` as *one* argument (left out when empty);
    - ``git: true`` clones ``path`` (``git clone --depth 1``; a URL, ``file://`` URL or local
      path) into a temporary directory, runs ``entry`` inside it, and removes it afterwards;
      a relative ``workdir`` is then resolved inside the clone;
    - ``env`` is merged into this process's environment (``PYTHONUNBUFFERED=1`` is added
      unless set, so Python output arrives line by line); ``workdir`` is the working
      directory (relative paths in ``path`` resolve against it);
    - stdout lines go to the run log at level ``info``, stderr lines at ``warning``;
    - exit code 0 succeeds; any other fails, quoting the last lines of stderr;
    - ``blocking: true`` waits until no other process of this runner runs, and nothing starts
      beside it until it has exited.

    ``start`` returns once the process is spawned; ``wait`` must then be called (it reads the
    output, which otherwise fills the pipes, and frees the lock when the process exits) or
    ``cancel``. A cancelled ``wait`` leaves the process running and can be called again. The
    one exception is a task with ``async: true`` (``ctx.task.async_``), which the engine does
    not wait for: its output goes nowhere, and the runner notices its exit by itself (the
    process keeps its share of the lock until then). A process cannot be re-attached by
    another runner or Orchestra process: ``wait`` there returns a retryable failure.

    :param host: the :class:`~orchestra_core.Orchestra` the runner belongs to (unused).
    :param kill_after: seconds ``cancel`` waits after SIGTERM before sending SIGKILL.
    """

    def __init__(self, host: Any = None, *, kill_after: float = 5.0) -> None:
        self.host = host
        self.kill_after = kill_after
        self.lock = ReadersWriterLock()
        self._children: dict[str, _Child] = {}

    @property
    def running(self) -> int:
        """How many processes this runner started that have not been waited for or cancelled."""
        return len(self._children)

    # -- JobRunner ---------------------------------------------------------------------------

    async def start(self, ctx: TaskContext) -> ExternalRun:
        """Clone the repository (``git``), take the lock, spawn the process; return its pid."""
        params: ProcessParameters = ctx.parameters
        clone_dir = await self._clone(ctx, params.path) if params.git else None
        try:
            argv, cwd, shown = self._command(params, clone_dir)
            env = dict(os.environ)
            env.pop("ORCHESTRA_SECRET_KEY", None)  # the key stays with the orchestrator
            env.setdefault("PYTHONUNBUFFERED", "1")
            env.update(_orchestra_env(ctx))
            env.update({str(key): str(value) for key, value in params.env.items()})
            exclusive = bool(params.blocking)
            detached = bool(getattr(ctx.task, "async_", False))
            await self._reap()
            if self.lock.would_wait(exclusive):
                ctx.log(
                    "blocking process: waiting for the running processes to finish"
                    if exclusive
                    else "waiting for a blocking process to finish"
                )
            await self._acquire(exclusive)
            output = subprocess.DEVNULL if detached else subprocess.PIPE
            try:
                process = await anyio.open_process(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=output,
                    cwd=cwd,
                    env=env,
                    start_new_session=_POSIX,
                )
            except BaseException as exc:
                self.lock.release(exclusive)
                if isinstance(exc, OSError):
                    raise self._spawn_error(exc, argv[1] if len(argv) > 1 and (
                        argv[0] == sys.executable) else argv[0]) from exc
                raise
        except BaseException:
            if clone_dir is not None:
                await _remove_tree(clone_dir)
            raise
        token = uuid.uuid4().hex
        self._children[token] = _Child(
            process, token=token, exclusive=exclusive, clone_dir=clone_dir, detached=detached
        )
        ctx.log(f"started {shown} (pid {process.pid})" + (" alone (blocking)" if exclusive
                                                        else "")
                + ("; async task: its output is not captured" if detached else ""))
        started_at = ctx.now()
        data: dict[str, Any] = {
            "pid": process.pid,
            "started_at": started_at.isoformat(),
            "token": token,
        }
        if clone_dir is not None:
            data["clone_dir"] = clone_dir
        return ExternalRun(id=str(process.pid), started_at=started_at, data=data)

    async def wait(self, ctx: TaskContext, run: ExternalRun) -> JobResult:
        """Log the output as it arrives and wait for the exit code."""
        child = self._children.get(str(run.data.get("token", "")))
        if child is None:
            return await self._lost(ctx, run)
        child.waits += 1
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._pump, ctx, child, "stdout")
                tg.start_soon(self._pump, ctx, child, "stderr")
                await child.process.wait()
                with anyio.move_on_after(DRAIN_GRACE):
                    await child.drained.wait()
                tg.cancel_scope.cancel()
        finally:
            child.waits -= 1
        for name in ("stdout", "stderr"):  # output left without a final newline
            if child.buffers[name]:
                self._emit(ctx, child, name, bytes(child.buffers[name]))
                child.buffers[name].clear()
        await self._finish(child)
        await self._close(child)
        return self._result(child)

    async def cancel(self, ctx: TaskContext, run: ExternalRun) -> None:
        """Terminate the process (and its process group): SIGTERM, then SIGKILL if needed."""
        child = self._children.get(str(run.data.get("token", "")))
        if child is None:
            ctx.log(f"process {run.id} is not running under this Orchestra process: nothing "
                    "to stop", level="warning")
            return
        process = child.process
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                child.cancelled = True
                ctx.log(f"terminating process {child.pid}", level="warning")
                self._signal(child, kill=False)
                with anyio.move_on_after(self.kill_after):
                    await process.wait()
                if process.returncode is None:
                    ctx.log(f"process {child.pid} did not stop {self.kill_after:g} s after "
                            "SIGTERM: killing it", level="warning")
                    self._signal(child, kill=True)
                    await process.wait()
            await self._finish(child)
            await self._close(child)

    # -- internals ---------------------------------------------------------------------------

    async def _acquire(self, exclusive: bool) -> None:
        """Take the lock; meanwhile notice ``async`` processes (never waited for) exiting."""
        if not any(child.detached for child in self._children.values()):
            await self.lock.acquire(exclusive)
            return
        async with anyio.create_task_group() as tg:

            async def reaper() -> None:
                while True:
                    await anyio.sleep(REAP_INTERVAL)
                    await self._reap()

            tg.start_soon(reaper)
            await self.lock.acquire(exclusive)
            tg.cancel_scope.cancel()

    async def _reap(self) -> None:
        """Finish the exited processes of ``async`` tasks nobody waits for (free their lock)."""
        for child in [c for c in self._children.values() if c.detached and c.waits == 0]:
            if child.process.returncode is not None:
                await self._finish(child)
                await self._close(child)

    @staticmethod
    def _command(
        params: ProcessParameters, clone_dir: str | None
    ) -> tuple[list[str], str | None, str]:
        if clone_dir is not None:
            repo = os.path.join(clone_dir, "repo")
            target = os.path.join(repo, params.entry)
            if not os.path.isfile(target):
                raise TaskFailed(f"the repository {params.path} has no entry script "
                                 f"{params.entry!r}", retryable=False)
            cwd: str | None = os.path.join(repo, params.workdir) if params.workdir else repo
            shown_target = params.entry
        else:
            target = params.path
            cwd = params.workdir or None
            shown_target = target
        if cwd is not None and not os.path.isdir(cwd):
            raise TaskFailed(f"the working directory {cwd!r} does not exist", retryable=False)
        argv = [sys.executable, target] if target.lower().endswith(".py") else [target]
        shown = shlex.join(
            ["python", shown_target] if len(argv) == 2 else [shown_target]
        )
        if params.arguments:
            argv.append(params.arguments)
        return argv, cwd, shown

    @staticmethod
    def _spawn_error(exc: OSError, target: str) -> TaskFailed:
        if isinstance(exc, FileNotFoundError):
            return TaskFailed(f"cannot run {target!r}: no such file or command",
                              retryable=False)
        if isinstance(exc, PermissionError):
            return TaskFailed(f"cannot run {target!r}: permission denied (is it executable?)",
                              retryable=False)
        return TaskFailed(f"cannot run {target!r}: {exc.strerror or exc}")

    @staticmethod
    async def _clone(ctx: TaskContext, url: str) -> str:
        """Clone *url* into ``<new temporary directory>/repo``; return the directory."""
        clone_dir = tempfile.mkdtemp(prefix="orchestra-git-")
        ctx.log(f"cloning {url}")
        env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
        try:
            result = await anyio.run_process(
                ["git", "clone", "--quiet", "--depth", "1", "--", url,
                 os.path.join(clone_dir, "repo")],
                check=False,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        except BaseException as exc:
            await _remove_tree(clone_dir)
            if isinstance(exc, FileNotFoundError):
                raise TaskFailed("cannot clone: git is not installed (no 'git' on PATH)",
                                 retryable=False) from exc
            raise
        if result.returncode != 0:
            await _remove_tree(clone_dir)
            lines = [line for line in result.stderr.decode(errors="replace").splitlines()
                     if line.strip()][-STDERR_TAIL:]
            raise TaskFailed(f"git clone of {url} failed with exit code {result.returncode}"
                             + _tail(lines))
        return clone_dir

    @staticmethod
    def _emit(ctx: TaskContext, child: _Child, name: str, raw: bytes) -> None:
        text = raw.decode(errors="replace").rstrip("\r")
        if not text.strip():
            return
        if name == "stderr":
            child.stderr_tail.append(text)
            ctx.log(text, level="warning")
        else:
            ctx.log(text)

    async def _pump(self, ctx: TaskContext, child: _Child, name: str) -> None:
        """Send *name*'s lines to the log until end of file (resumable after cancellation)."""
        if name in child.eof:
            return
        stream = child.process.stdout if name == "stdout" else child.process.stderr
        buffer = child.buffers[name]
        while stream is not None:
            try:
                chunk = await stream.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                break
            buffer += chunk
            cut = buffer.rfind(b"\n")
            if cut >= 0:
                lines = bytes(buffer[:cut]).split(b"\n")
                del buffer[: cut + 1]
                for line in lines:
                    self._emit(ctx, child, name, line)
            while len(buffer) > MAX_LINE:
                self._emit(ctx, child, name, bytes(buffer[:MAX_LINE]))
                del buffer[:MAX_LINE]
        if buffer:
            self._emit(ctx, child, name, bytes(buffer))
            buffer.clear()
        child.eof.add(name)
        if len(child.eof) == 2:
            child.drained.set()

    @staticmethod
    def _signal(child: _Child, *, kill: bool) -> None:
        process = child.process
        if process.returncode is not None:
            return
        if _POSIX:  # the child leads its own session: stop its children too
            try:
                os.killpg(child.pid, signal.SIGKILL if kill else signal.SIGTERM)
                return
            except ProcessLookupError:
                return
            except PermissionError:
                pass
        with contextlib.suppress(ProcessLookupError):
            process.kill() if kill else process.terminate()

    async def _finish(self, child: _Child) -> None:
        """Once the process has exited: free the lock, forget it, remove its clone."""
        if child.released:
            return
        child.released = True
        self._children.pop(child.token, None)
        self.lock.release(child.exclusive)
        if child.clone_dir is not None:
            await _remove_tree(child.clone_dir)

    @staticmethod
    async def _close(child: _Child) -> None:
        """Close the pipes, unless a ``wait`` is still reading them (it closes them then)."""
        if child.waits == 0:
            with anyio.CancelScope(shield=True):
                await child.process.aclose()

    @staticmethod
    def _result(child: _Child) -> JobResult:
        code = child.process.returncode
        metadata = {"pid": child.pid, "exit_code": code}
        if child.cancelled:
            return JobResult(state=JobState.CANCELLED, message="the process was terminated",
                             metadata=metadata)
        if code == 0:
            return JobResult(state=JobState.SUCCEEDED, message="process exited with code 0",
                             metadata=metadata)
        if code is not None and code < 0:
            try:
                what = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                what = f"was killed by signal {-code}"
        else:
            what = f"exited with code {code}"
        return JobResult(state=JobState.FAILED, message=f"process {what}"
                         + _tail(list(child.stderr_tail)), metadata=metadata)

    @staticmethod
    async def _lost(ctx: TaskContext, run: ExternalRun) -> JobResult:
        pid = run.data.get("pid", run.id)
        ctx.log(f"process {pid} was started by an earlier Orchestra process and cannot be "
                "re-attached; if it is still running, it is no longer supervised",
                level="warning")
        clone_dir = run.data.get("clone_dir")
        if isinstance(clone_dir, str) and os.path.basename(clone_dir).startswith(
            "orchestra-git-"
        ):
            await _remove_tree(clone_dir)
        return JobResult(state=JobState.FAILED, message=LOST_MESSAGE, retryable=True,
                         metadata={"pid": pid})
