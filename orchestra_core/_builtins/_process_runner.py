"""The runner of the built-in ``process`` integration: local scripts and commands.

``start`` spawns the process (after cloning the repository, for ``git: true``) and ``wait``
streams its output to the run log and waits for its exit code. Processes marked
``blocking: true`` run alone on the host: a readers/writer lock per runner instance, then a
host-wide one on lock files (``_host_lock``: every worker of the machine), let non-blocking
processes run side by side (shared) while a blocking one holds them exclusively, from before
it starts until it has exited.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING, Any

import anyio

from .._models import ExternalRun, JobResult, JobState
from ._host_lock import HostLock
from ._process_output import emit_line, pump_output
from ._process_spawn import (
    POSIX,
    Child,
    build_command,
    clone_repository,
    orchestra_env,
    remove_tree,
    signal_process,
    spawn_error,
    stderr_excerpt,
)
from ._readers_writer_lock import ReadersWriterLock

if TYPE_CHECKING:
    from .._protocols import TaskContext
    from .process import ProcessParameters

__all__ = ("ProcessRunner", "ReadersWriterLock")

#: The message of a ``wait`` for a process started by an earlier Orchestra process (the
#: engine retries the task only if its retries allow, and says so in the run log).
LOST_MESSAGE = ("the process was lost when Orchestra stopped (a process started by an earlier "
                "Orchestra process cannot be re-attached)")
#: Seconds ``wait`` keeps reading output after the process exited (a child process it left
#: behind may hold the pipes open).
DRAIN_GRACE = 1.0
#: Seconds between checks for exited ``async`` processes while waiting for the lock.
REAP_INTERVAL = 0.1


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
    - ``blocking: true`` waits until no other process runs on this host (this runner's, or
      any other Orchestra worker's sharing ``ORCHESTRA_LOCK_DIR``), and nothing starts beside
      it until it has exited.

    ``start`` returns once the process is spawned; ``wait`` must then be called (it reads the
    output, which otherwise fills the pipes, and frees the lock when the process exits) or
    ``cancel``. A cancelled ``wait`` leaves the process running and can be called again. The
    one exception is a task with ``async: true`` (``ctx.task.async_``), which the engine does
    not wait for: its output goes nowhere, and the runner notices its exit by itself (the
    process keeps its share of the lock until then). A process cannot be re-attached by
    another runner or Orchestra process (:attr:`reattachable` is ``False``): ``wait`` there
    returns a retryable failure, and a graceful stop (``Engine.drain``) waits for the
    running processes, then stops those still running.

    :param host: the :class:`~orchestra_core.Orchestra` the runner belongs to (unused).
    :param kill_after: seconds ``cancel`` waits after SIGTERM before sending SIGKILL.
    """

    #: the engine stops this runner's jobs when it stops, instead of leaving them to be
    #: re-attached by a later process (see ``Engine.drain``)
    reattachable = False

    def __init__(self, host: Any = None, *, kill_after: float = 5.0) -> None:
        self.host = host
        self.kill_after = kill_after
        self.lock = ReadersWriterLock()
        self._children: dict[str, Child] = {}

    @property
    def running(self) -> int:
        """How many processes this runner started that have not been waited for or cancelled."""
        return len(self._children)

    # -- JobRunner ---------------------------------------------------------------------------

    async def start(self, ctx: TaskContext) -> ExternalRun:
        """Clone the repository (``git``), take the lock, spawn the process; return its pid."""
        params: ProcessParameters = ctx.parameters
        clone_dir = await clone_repository(ctx, params.path) if params.git else None
        try:
            argv, cwd, shown = build_command(params, clone_dir)
            env = dict(os.environ)
            env.pop("ORCHESTRA_SECRET_KEY", None)  # the key stays with the orchestrator
            env.setdefault("PYTHONUNBUFFERED", "1")
            env.update(orchestra_env(ctx))
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
            host_lock = HostLock(exclusive)
            try:
                if host_lock.would_wait:
                    ctx.log("blocking process: waiting for the processes of other workers on "
                            "this host to finish" if exclusive else
                            "waiting for a blocking process of another worker on this host")
                await host_lock.acquire()
            except BaseException:
                self.lock.release(exclusive)
                raise
            output = subprocess.DEVNULL if detached else subprocess.PIPE
            try:
                process = await anyio.open_process(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=output,
                    cwd=cwd,
                    env=env,
                    start_new_session=POSIX,
                )
            except BaseException as exc:
                host_lock.release()
                self.lock.release(exclusive)
                if isinstance(exc, OSError):
                    raise spawn_error(exc, argv[1] if len(argv) > 1 and (
                        argv[0] == sys.executable) else argv[0]) from exc
                raise
        except BaseException:
            if clone_dir is not None:
                await remove_tree(clone_dir)
            raise
        token = uuid.uuid4().hex
        child = self._children[token] = Child(
            process, token=token, exclusive=exclusive, clone_dir=clone_dir, detached=detached
        )
        child.host_lock = host_lock
        child.redactor = getattr(self.host, "redactor", None)
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
                tg.start_soon(pump_output, ctx, child, "stdout")
                tg.start_soon(pump_output, ctx, child, "stderr")
                await child.process.wait()
                with anyio.move_on_after(DRAIN_GRACE):
                    await child.drained.wait()
                tg.cancel_scope.cancel()
        finally:
            child.waits -= 1
        for name in ("stdout", "stderr"):  # output left without a final newline
            if child.buffers[name]:
                emit_line(ctx, child, name, bytes(child.buffers[name]))
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
                signal_process(child, kill=False)
                with anyio.move_on_after(self.kill_after):
                    await process.wait()
                if process.returncode is None:
                    ctx.log(f"process {child.pid} did not stop {self.kill_after:g} s after "
                            "SIGTERM: killing it", level="warning")
                    signal_process(child, kill=True)
                    await process.wait()
            await self._finish(child)
            await self._close(child)

    async def stop_detached(self) -> None:
        """Stop the processes of ``async`` tasks still running (nobody waits for them; the
        engine calls this when it stops): SIGTERM, then SIGKILL after :attr:`kill_after`."""
        await self._reap()
        children = [c for c in self._children.values() if c.detached and c.waits == 0]
        for child in children:
            signal_process(child, kill=False)
        with anyio.move_on_after(self.kill_after):
            for child in children:
                await child.process.wait()
        for child in children:
            signal_process(child, kill=True)
            with anyio.CancelScope(shield=True):
                await child.process.wait()
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

    async def _finish(self, child: Child) -> None:
        """Once the process has exited: free the lock, forget it, remove its clone."""
        if child.released:
            return
        child.released = True
        self._children.pop(child.token, None)
        if child.host_lock is not None:
            child.host_lock.release()
        self.lock.release(child.exclusive)
        if child.clone_dir is not None:
            await remove_tree(child.clone_dir)

    @staticmethod
    async def _close(child: Child) -> None:
        """Close the pipes, unless a ``wait`` is still reading them (it closes them then)."""
        if child.waits == 0:
            with anyio.CancelScope(shield=True):
                await child.process.aclose()

    @staticmethod
    def _result(child: Child) -> JobResult:
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
                         + stderr_excerpt(list(child.stderr_tail)), metadata=metadata)

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
            await remove_tree(clone_dir)
        return JobResult(state=JobState.FAILED, message=LOST_MESSAGE, retryable=True,
                         metadata={"pid": pid})
