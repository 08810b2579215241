"""Start-up figures: whole processes, as a user starts them, bytecode compiled beforehand.

    uv run python benchmarks/startup.py [--repeat 7] [--output benchmarks/results]

Measures (median of the repetitions, each a fresh process, interleaved):

- ``orchestra --help`` (target < 0.1 s);
- ``orchestra validate`` of a one-task pipeline file (target < 0.2 s);
- ``orchestra run`` of a one-task ``noop`` pipeline on a fresh store (target < 0.3 s);
- the same run on a store that exists already;
- ``orchestra validate`` of a 10,000-task file (target < 1 s);
- ``python -c pass``, the interpreter alone, for scale.

Installed plugins are loaded as a user's command would load them. Before measuring, every
module of the environment is compiled (``compileall``), as ``uv sync --compile-bytecode``
does. Writes ``startup.json`` and ``startup.md`` to the output folder and records the
machine's load while measuring.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

TARGETS = {"help": 0.1, "validate": 0.2, "run fresh store": 0.3, "validate 10,000 tasks": 1.0}

ONE_TASK = "name: one\ntasks:\n  - {id: a, integration: noop, integration_job: noop_run}\n"


def _big_file(path: Path, n: int) -> None:
    lines = ["name: big", "tasks:", "  - {id: root, integration: noop, integration_job: noop_run}"]
    lines += [f"  - {{id: t{i}, integration: noop, integration_job: noop_run, "
              f"depends_on: [root]}}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")


def _timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): "
                         f"{proc.stderr.strip()[-500:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="start-up figures of the orchestra CLI")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--output", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)

    orchestra = shutil.which("orchestra", path=str(Path(sys.executable).parent))
    if orchestra is None:
        raise SystemExit("the orchestra script is not installed next to this Python")
    for folder in {sysconfig.get_paths()["purelib"], str(ROOT / "orchestra_core")}:
        compileall.compile_dir(folder, quiet=2, workers=0)
    tmp = Path(tempfile.mkdtemp(prefix="orchestra-startup-"))
    env = {k: v for k, v in os.environ.items() if k not in ("ORCHESTRA_DB", "ORCHESTRA_HOME")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    one, big = tmp / "one.yaml", tmp / "big.yaml"
    one.write_text(ONE_TASK)
    _big_file(big, 10_000)
    cases: dict[str, Any] = {
        "python -c pass": lambda i: [sys.executable, "-c", "pass"],
        "help": lambda i: [orchestra, "--help"],
        "validate": lambda i: [orchestra, "validate", str(one)],
        "run fresh store": lambda i: [orchestra, "run", str(one), "--progress", "none",
                                      "--db", str(tmp / f"fresh{i}.db")],
        "run existing store": lambda i: [orchestra, "run", str(one), "--progress", "none",
                                         "--db", str(tmp / "existing.db")],
        "validate 10,000 tasks": lambda i: [orchestra, "validate", str(big)],
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    load = []
    try:
        _timed(cases["run existing store"](0), tmp, env)  # creates it; warms the page cache
        for i in range(args.repeat):
            load.append(os.getloadavg()[0])
            for name, cmd in cases.items():
                times[name].append(_timed(cmd(i), tmp, env))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = []
    for name, values in times.items():
        median = statistics.median(values)
        target = TARGETS.get(name)
        rows.append({"case": name, "median_s": round(median, 3), "min_s": round(min(values), 3),
                     "max_s": round(max(values), 3), "target_s": target,
                     "passed": None if target is None else median < target})
        verdict = "" if target is None else (" PASS" if median < target else " FAIL") + \
            f" (target < {target:g} s)"
        print(f"{name:24} median {median:.3f} s  (min {min(values):.3f}, "
              f"max {max(values):.3f}){verdict}", flush=True)
    report = {"command": "uv run python benchmarks/startup.py"
              + "".join(f" {a}" for a in (sys.argv[1:] if argv is None else argv)),
              "repeat": args.repeat, "python": sys.version.split()[0],
              "load_average_1min": load, "rows": rows}
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "startup.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# Start-up", "", f"Command: `{report['command']}`; {args.repeat} runs each, "
             "interleaved, bytecode compiled; 1-minute load average while measuring: "
             + ", ".join(f"{x:.1f}" for x in load), "",
             "| case | median s | min s | max s | target | result |", "|---|--:|--:|--:|--:|---|"]
    for r in rows:
        target = "-" if r["target_s"] is None else f"< {r['target_s']:g} s"
        result = "-" if r["passed"] is None else ("**PASS**" if r["passed"] else "**FAIL**")
        lines.append(f"| {r['case']} | {r['median_s']:.3f} | {r['min_s']:.3f} "
                     f"| {r['max_s']:.3f} | {target} | {result} |")
    (args.output / "startup.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output / 'startup.json'} and {args.output / 'startup.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
