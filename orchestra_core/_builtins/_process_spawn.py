"""Spawning the processes of the ``process`` integration: the command line, the environment,
the git clone, spawn errors, and signalling a child's process group."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import deque
from datetime import UTC
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import Process

from .._errors import TaskFailed

if TYPE_CHECKING:
    from .._protocols import TaskContext
    from .process import ProcessParameters

__all__ = ("POSIX", "STDERR_TAIL", "Child", "build_command", "clone_repository",
           "orchestra_env", "remove_tree", "signal_process", "spawn_error", "stderr_excerpt")

#: Lines of stderr quoted in the message of a failed process.
STDERR_TAIL = 10
#: Whether children lead their own session (and process group), so signals reach theirs.
POSIX = os.name == "posix"


class Child:
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
        #: the host's redactor (long output lines are never cut through a secret)
        self.redactor: Any = None


async def remove_tree(path: str) -> None:
    """Delete directory *path* (a clone), shielded from cancellation."""
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(partial(shutil.rmtree, path, ignore_errors=True))


def orchestra_env(ctx: TaskContext) -> dict[str, str]:
    """What tells a child process which run it belongs to, and where the store is (so it can
    use ``orchestra queue claim`` or ``Queues.from_env()``): ``ORCHESTRA_DB``,
    ``ORCHESTRA_RUN_ID``, ``ORCHESTRA_TASK_ID``, ``ORCHESTRA_PIPELINE``, ``ORCHESTRA_ATTEMPT``,
    and ``ORCHESTRA_SCHEDULED_AT`` (the time the run stands for, ISO 8601 UTC)."""
    env = {"ORCHESTRA_RUN_ID": str(ctx.run_id), "ORCHESTRA_TASK_ID": str(ctx.task_id),
           "ORCHESTRA_PIPELINE": str(ctx.pipeline), "ORCHESTRA_ATTEMPT": str(ctx.attempt)}
    scheduled = getattr(ctx, "scheduled_at", None)
    if scheduled is not None:
        env["ORCHESTRA_SCHEDULED_AT"] = scheduled.astimezone(UTC).isoformat()
    # the engine's context carries its store; other contexts (test stubs) may not
    store = getattr(ctx, "store", None)  # the engine's store (not part of TaskContext)
    url = getattr(getattr(store, "engine", None), "url", None)
    if url is not None:
        env["ORCHESTRA_DB"] = url.render_as_string(hide_password=False)
    return env


def stderr_excerpt(lines: deque[str] | list[str]) -> str:
    """The end of a failure message quoting the last lines of stderr (empty without any)."""
    return ("; stderr ends with:\n" + "\n".join(lines)) if lines else ""


def build_command(
    params: ProcessParameters, clone_dir: str | None
) -> tuple[list[str], str | None, str]:
    """The argv, working directory and shown command of a task's process."""
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


def spawn_error(exc: OSError, target: str) -> TaskFailed:
    """The :class:`TaskFailed` for an :class:`OSError` raised spawning *target*."""
    if isinstance(exc, FileNotFoundError):
        return TaskFailed(f"cannot run {target!r}: no such file or command",
                          retryable=False)
    if isinstance(exc, PermissionError):
        return TaskFailed(f"cannot run {target!r}: permission denied (is it executable?)",
                          retryable=False)
    return TaskFailed(f"cannot run {target!r}: {exc.strerror or exc}")


async def clone_repository(ctx: TaskContext, url: str) -> str:
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
        await remove_tree(clone_dir)
        if isinstance(exc, FileNotFoundError):
            raise TaskFailed("cannot clone: git is not installed (no 'git' on PATH)",
                             retryable=False) from exc
        raise
    if result.returncode != 0:
        await remove_tree(clone_dir)
        lines = [line for line in result.stderr.decode(errors="replace").splitlines()
                 if line.strip()][-STDERR_TAIL:]
        raise TaskFailed(f"git clone of {url} failed with exit code {result.returncode}"
                         + stderr_excerpt(lines))
    return clone_dir


def signal_process(child: Child, *, kill: bool) -> None:
    """SIGTERM (or SIGKILL with *kill*) *child* and, on POSIX, its process group."""
    process = child.process
    if process.returncode is not None:
        return
    if POSIX:  # the child leads its own session: stop its children too
        try:
            os.killpg(child.pid, signal.SIGKILL if kill else signal.SIGTERM)
            return
        except ProcessLookupError:
            return
        except PermissionError:
            pass
    with contextlib.suppress(ProcessLookupError):
        process.kill() if kill else process.terminate()

