"""Checking a parsed pipeline document against the model and the installed plugins.

:func:`check_document` reports **every** problem at once; see ``docs/pipeline-files.md`` for
the rules and the exact messages.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from ._alerts_parse import parse_alerts
from ._config import field_aliases, file_keys, key_name, structure
from ._gc_paused import paused_gc
from ._hookcalls import call_caller
from ._loader import Document
from ._markers import PARAMETER_CLASSES
from ._models import Problem
from ._pipeline import Pipeline, Stage, Task
from ._validation_graph import check_cycles, check_references
from ._values import key_path, suggest

if TYPE_CHECKING:
    from ._host import Orchestra
    from ._registry import IntegrationSpec, JobType
    from ._secrets import Catalog

__all__ = ("check_document", "install_hint")

_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
_TASK_KEYS = {key_name(f) for f in attrs.fields(Task)}
_TASK_ALIASES = {"connection": "secondary_configuration_id"}
_PIPELINE_ALIASES = {"team": "client"}


def install_hint(name: str) -> str:
    """The ``pip install`` line for the plugin that would provide integration *name*."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "name"
    return f"pip install orchestra-{slug}"


def _items(raw: Any, path: str, what: str, problems: list[Problem]) -> list[tuple[str, Any]]:
    """Entries of a list (or of an id -> object mapping) with their paths."""
    if raw is None:
        return []
    if isinstance(raw, list):
        return [(f"{path}[{i}]", item) for i, item in enumerate(raw)]
    if isinstance(raw, Mapping):
        out = []
        for key, item in raw.items():
            sub = key_path(path, key)
            if isinstance(item, Mapping) and "id" not in item:
                item = {"id": key, **item}
            out.append((sub, item))
        return out
    problems.append(Problem(path=path, message=f"expected a list of {what}",
                            code="invalid-value"))
    return []


def _rename(raw: Mapping[str, Any], aliases: Mapping[str, str], path: str,
            problems: list[Problem]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    spelled: dict[Any, Any] = {}
    for key, value in raw.items():
        target = aliases.get(key, key) if isinstance(key, str) else key
        if target in out:
            problems.append(Problem(path=f"{path}.{key}",
                                    message=f"{spelled[target]!r} and {key!r} are the same key; "
                                    "give one", code="duplicate-key"))
            continue
        out[target] = value
        spelled[target] = key
    return out


class _Checker:
    def __init__(self, host: Orchestra, doc: Document, catalog: Catalog | None = None) -> None:
        self.host = host
        self.converter = host.converter
        self.doc = doc
        self.catalog = catalog
        #: task path -> how its connection key is written (``connection`` is an alias)
        self.connection_keys: dict[str, str] = {}
        self.problems: list[Problem] = []
        #: canonical parameter path -> path as written (top-level or aliased parameters)
        self.folded: dict[str, str] = {}
        #: (integration, job) as written -> the registered integration and job (or ``None``)
        self.jobs: dict[tuple[str, str], tuple[IntegrationSpec | None, JobType | None]] = {}
        #: task path -> its job and structured parameters (tasks whose parameters are fine)
        self.params: dict[str, tuple[JobType, Any]] = {}
        self.task_hook = host.converter.get_structure_hook(Task)
        #: parameter class -> its structure hook
        self.param_hooks: dict[type, Any] = {}
        #: type of a task's parameters -> the validate-task hook caller for it
        self.task_callers: dict[type, pluggy.HookCaller | None] = {}

    def add(self, path: str, message: str, code: str) -> None:
        self.problems.append(Problem(path=path, message=message, code=code))

    # -- structure -----------------------------------------------------------------------------

    def run(self) -> Pipeline | None:
        data = self.doc.data
        if not isinstance(data, Mapping):
            kind = "nothing" if data is None else type(data).__name__
            self.add("$", f"a pipeline file must hold a mapping, found {kind}", "invalid-value")
            return None
        bad_keys = [k for k in data if not isinstance(k, str)]
        for key in bad_keys:
            self.add("$", f"keys must be strings, found {key!r}", "invalid-value")
        header = _rename({k: v for k, v in data.items() if k not in ("tasks", "stages", "alerts")
                          and isinstance(k, str)}, _PIPELINE_ALIASES, "$", self.problems)
        head, problems = structure(header, Pipeline, "$", converter=self.converter)
        self.problems.extend(problems)
        alerts, problems = parse_alerts(data.get("alerts"), "$.alerts", self.host)
        self.problems.extend(problems)
        if head is not None and alerts is not None:
            head = attrs.evolve(head, alerts=alerts)

        tasks: list[tuple[str, Task]] = []
        extras: dict[str, dict[str, Any]] = {}
        ids_seen: dict[str, tuple[str, str]] = {}
        for path, raw in _items(data.get("tasks"), "$.tasks", "tasks", self.problems):
            task = self.structure_task(path, raw, extras)
            raw_id = raw.get("id") if type(raw) is dict or isinstance(raw, Mapping) else None
            if isinstance(raw_id, str):
                self.check_id(raw_id, path, ids_seen, "task")
            if task is not None:
                tasks.append((path, task))
        stages: list[tuple[str, Stage]] = []
        for path, raw in _items(data.get("stages"), "$.stages", "stages", self.problems):
            stage, problems = structure(raw, Stage, path, converter=self.converter)
            self.problems.extend(problems)
            raw_id = raw.get("id") if isinstance(raw, Mapping) else None
            if isinstance(raw_id, str):
                self.check_id(raw_id, path, ids_seen, "stage")
            if stage is not None:
                stages.append((path, stage))
        if "tasks" not in data and not self.problems:
            self.add("$", "missing required key 'tasks' (a pipeline needs at least one task)",
                     "missing-required")
        elif isinstance(data.get("tasks"), list | Mapping) and not data.get("tasks"):
            self.add("$.tasks", "a pipeline needs at least one task", "invalid-value")

        known = set(ids_seen)
        raw_task_ids = {i for i, (what, _) in ids_seen.items() if what == "task"}
        check_references(self.add, tasks, stages, known, raw_task_ids)
        if not any(p.code == "duplicate-id" for p in self.problems):
            check_cycles(self.add, tasks, stages)
        canonical = [(path, self.check_job(path, task, extras.get(path, {})))
                     for path, task in tasks]
        draft = attrs.evolve(head or Pipeline(name="?"),
                             tasks=tuple(t for _, t in canonical if t is not None),
                             stages=tuple(s for _, s in stages), source=self.doc.source)
        for path, t in canonical:
            if t is None:
                continue
            job, params = self.params[path]
            caller = self.task_caller(params)
            if caller is not None:
                for found in call_caller(self.host.pm, caller, "orchestra_validate_task",
                                         task=t, job=job, parameters=params, pipeline=draft,
                                         path=path):
                    self.problems.extend(_as_problems(found))
            if self.catalog is not None:  # a store is at hand: its names must exist
                self.problems.extend(self.catalog.check_task(
                    t, path, t.integration,
                    self.connection_keys.get(path, "secondary_configuration_id")))
        if head is None or self.problems:
            return None
        for found in self.host.call_each("orchestra_validate_pipeline", pipeline=draft):
            self.problems.extend(_as_problems(found))
        return None if self.problems else draft

    def task_caller(self, params: Any) -> pluggy.HookCaller | None:
        """The ``orchestra_validate_task`` caller for a task with *params*: every
        implementation but those declared (:func:`~orchestra_core._markers.validates_parameters`)
        for other parameter classes, which would return nothing; ``None`` when no
        implementation is left. Made once per parameter class."""
        kind = type(params)
        if kind not in self.task_callers:
            caller = self.host.pm.hook.orchestra_validate_task
            others = [impl.plugin for impl in caller.get_hookimpls()
                      if not isinstance(params, getattr(impl.function, PARAMETER_CLASSES, object))]
            if others:
                caller = self.host.pm.subset_hook_caller("orchestra_validate_task", others)
            self.task_callers[kind] = caller if caller.get_hookimpls() else None
        return self.task_callers[kind]

    def structure_task(self, path: str, raw: Any, extras: dict[str, dict[str, Any]]) -> Task | None:
        if type(raw) is not dict and not isinstance(raw, Mapping):
            self.add(path, "a task must be a mapping", "invalid-value")
            return None
        if "connection" in raw:
            self.connection_keys[path] = "connection"
            raw = _rename(raw, _TASK_ALIASES, path, self.problems)
        if type(raw) is dict and raw.keys() <= _TASK_KEYS:  # the usual task: nothing to split
            own = raw
        else:
            own = {k: v for k, v in raw.items() if k in _TASK_KEYS}
            extra = {k: v for k, v in raw.items() if k not in _TASK_KEYS}
            if extra:
                extras[path] = extra
        try:  # the well-formed task, fast; a bad one again through structure(), for its problems
            return self.task_hook(own, Task)  # type: ignore[no-any-return]
        except Exception:
            task, problems = structure(own, Task, path, converter=self.converter)
            self.problems.extend(problems)
            return task

    def check_id(self, value: str, path: str, seen: dict[str, tuple[str, str]],
                 what: str) -> None:
        """Check the id *value* of the task or stage (*what*) at *path*; *seen* maps every id
        met so far to what holds it and where."""
        if not _ID.match(value):
            self.add(f"{path}.id", f"invalid {what} id {value!r}: use letters, digits, '_', '-' "
                     "and '.' (not starting with '-' or '.'), at most 200 characters",
                     "invalid-id")
        if value in seen:
            first, where = seen[value]
            self.add(f"{path}.id", f"duplicate id {value!r}: already used by the {first} at "
                     f"{where}", "duplicate-id")
        else:
            seen[value] = (what, path)

    # -- jobs and parameters ---------------------------------------------------------------------

    def find_job(self, integration: str, job: str) -> tuple[IntegrationSpec | None,
                                                            JobType | None]:
        """The integration and job a task names (each ``None`` when unknown), looked up once
        per pair of names."""
        found = self.jobs.get((integration, job))
        if found is None:
            spec = self.host.integrations.find(integration)
            found = self.jobs[integration, job] = (spec, spec.find_job(job) if spec else None)
        return found

    def check_job(self, path: str, task: Task, extra: dict[str, Any]) -> Task | None:
        spec, job = self.find_job(task.integration, task.integration_job)
        if job is None:
            for key in extra:
                hint = suggest(str(key), sorted(_TASK_KEYS), cutoff=0.85)
                if hint:
                    self.add(f"{path}.{key}", f"unknown key {key!r}{hint}", "unknown-key")
        if spec is None:
            installed = ", ".join(self.host.integrations.names()) or "none"
            self.add(f"{path}.integration",
                     f"unknown integration {task.integration!r}"
                     + suggest(task.integration, self.host.integrations.names())
                     + f"; installed integrations: {installed}. If a plugin provides it, "
                     f"install it: {install_hint(task.integration)}", "unknown-integration")
            return None
        if job is None:
            names = sorted(spec.jobs)
            self.add(f"{path}.integration_job",
                     f"unknown integration job {task.integration_job!r} for integration "
                     f"{spec.name!r}" + suggest(task.integration_job, names)
                     + f"; its jobs: {', '.join(names)}. A newer or another plugin may provide "
                     f"it: pip install --upgrade {_distribution(self.host, spec.plugin)}",
                     "unknown-job")
            return None
        params = self.parameters(path, task, job, extra)
        if params is None:
            return None
        if (task.integration, task.integration_job) == (spec.name, job.name) \
                and params == task.parameters:  # already canonical: the same task
            return task
        return attrs.evolve(task, integration=spec.name, integration_job=job.name,
                            parameters=params)

    def parameters(self, path: str, task: Task, job: JobType,
                   extra: dict[str, Any]) -> dict[str, Any] | None:
        names = _aliases(job.parameters)
        if not extra and all(names.get(k) == k for k in task.parameters):  # canonical keys only
            return self.structure_parameters(path, task.parameters, job)
        merged: dict[str, Any] = {}
        spelled: dict[str, str] = {}
        ok = True
        sources = [(f"{path}.parameters", dict(task.parameters)), (path, extra)]
        for base, raw in sources:
            for key, value in raw.items():
                canonical = (names.get(key, names.get(key.lower()))
                             if isinstance(key, str) else None)
                if canonical is None:
                    if base == path:
                        accepted = sorted(_TASK_KEYS | set(names))
                        self.add(f"{path}.{key}", f"unknown key {key!r}"
                                 + suggest(str(key), accepted)
                                 + f"; a task accepts {', '.join(sorted(_TASK_KEYS))} and the "
                                 f"parameters of {job.name}: {', '.join(_canon(job))}",
                                 "unknown-key")
                        ok = False
                        continue
                    merged[key] = value  # reported by structuring below
                    continue
                if canonical in merged:
                    self.add(f"{base}.{key}", f"parameter {canonical!r} is given more than once "
                             f"(as {spelled[canonical]!r} and as {key!r})", "duplicate-parameter")
                    ok = False
                    continue
                merged[canonical] = value
                spelled[canonical] = key
                if base == path:
                    self.folded[f"{path}.parameters.{canonical}"] = f"{path}.{key}"
                elif key != canonical:
                    self.folded[f"{path}.parameters.{canonical}"] = f"{path}.parameters.{key}"
        structured = self.structure_parameters(path, merged, job)
        return merged if ok and structured is not None else None

    def structure_parameters(self, path: str, raw: Mapping[str, Any], job: JobType
                             ) -> Mapping[str, Any] | None:
        """*raw* (canonical names) if it structures into *job*'s parameters (kept for the
        validation hooks), else ``None`` with the problems added."""
        try:  # the well-formed parameters, fast; bad ones again through the host, for problems
            hook = self.param_hooks.get(job.parameters)
            if hook is None:
                hook = self.param_hooks[job.parameters] = \
                    self.converter.get_structure_hook(job.parameters)
            self.params[path] = job, hook(dict(raw), job.parameters)
            return raw
        except Exception:
            params, problems = self.host.structure_parameters(job, raw, f"{path}.parameters")
        if problems:
            self.problems.extend(
                attrs.evolve(p, message=f"{p.message} (integration job {job.name})")
                if p.code == "missing-required" else p for p in problems)
            return None
        self.params[path] = job, params
        return raw


@functools.cache
def _aliases(cls: type) -> Mapping[str, str]:
    """:func:`field_aliases` of parameter class *cls*, computed once per class."""
    return MappingProxyType(field_aliases(cls))


def _canon(job: JobType) -> list[str]:
    return file_keys(job.parameters)


def _distribution(host: Orchestra, plugin: str) -> str:
    info = host.plugin_info(plugin)
    return info.distribution if info and info.distribution else f"<the package of plugin {plugin}>"


def _as_problems(found: Iterable[Problem] | None) -> list[Problem]:
    return list(found or ())


def _unfold(problem: Problem, folded: dict[str, str]) -> Problem:
    if problem.code == "duplicate-parameter":
        return problem  # already at the second spelling's own path
    for canonical, written in folded.items():
        if problem.path == canonical or problem.path.startswith((canonical + ".",
                                                                 canonical + "[")):
            return attrs.evolve(problem, path=written + problem.path[len(canonical):])
    return problem


def check_document(host: Orchestra, doc: Document, *, catalog: Catalog | None = None
                   ) -> tuple[Pipeline | None, list[Problem]]:
    """Validate a parsed document; return the pipeline (or ``None``) and every problem.

    With a *catalog* (the names a store holds), connections, constants and credentials the
    tasks refer to must exist; without one, they cannot be checked.
    """
    if doc.problems:
        return None, [doc.locate(p) for p in doc.problems]
    with paused_gc():  # every task stays alive until the end: collections would free nothing
        return _check(host, doc, catalog)


def _check(host: Orchestra, doc: Document, catalog: Catalog | None
           ) -> tuple[Pipeline | None, list[Problem]]:
    checker = _Checker(host, doc, catalog)
    try:
        pipeline = checker.run()
    except RecursionError:
        checker.add("$", "the document is nested too deeply", "invalid-value")
        pipeline = None
    problems = sorted((doc.locate(_unfold(p, checker.folded)) for p in checker.problems),
                      key=lambda p: (p.line or 0, p.column or 0))
    return (pipeline if not problems else None), problems
