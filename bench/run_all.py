"""Run the benchmarks under bench/ and update bench/RESULTS.md.

Contract for a benchmark: a module `bench/bench_<name>.py` runnable as `python -m bench.bench_<name>` that measures
its subject and a baseline in the same run, prints one markdown section (a `## ` heading, the command, a table) on
stdout and progress on stderr. `BENCH_SCALE=small` asks for a quick run (used to check the benchmarks themselves).

`python -m bench.run_all` runs them all; `python -m bench.run_all ingest dbt` runs the matching ones. Each module's
section in RESULTS.md is replaced by its new output (stamped with the date and machine); the others are kept.

It is also a regression check (bench/regression.py): each section's key figures are compared with the ones recorded
in bench/baseline.json; the figures worse than recorded beyond their stated tolerance are named on stderr and at the
end of the section in RESULTS.md, and the exit status is 1 (absolute times measured under a clearly higher load than
their record's are named apart and not counted). `--accept` records this run's figures even when worse;
`--record-results` records the figures of RESULTS.md as it stands, without running anything.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

from bench import regression

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "RESULTS.md"
BASELINE = BENCH_DIR / "baseline.json"
HEADER = (
    "# Benchmark results\n\n"
    "Written by `make bench` (`python -m bench.run_all [name ...]`). Each section comes from one run of its module, "
    "which measures the subject and its baseline in that same run; the line under each heading says when, where "
    "and with which command. The closing paragraph of each section is the regression check: its key figures "
    "against the ones recorded in bench/baseline.json (bench/regression.py states which figures and tolerances).\n"
)
_MARK = re.compile(r"^<!-- bench: (bench\.\w+) -->$", re.MULTILINE)
_MEASURED = re.compile(r"^_Measured (.+?)(?: \(BENCH_SCALE=small\))? on ", re.MULTILINE)
_RUN_LOAD = re.compile(r"^Load average \(1 min\) at the start / end of this run: (\d+(?:\.\d+)?)", re.MULTILINE)
# as the benches and older notes state it: "Load average (1 / 5 / 15 min) at the start: 1.19", "load average ~7"
_LOAD = re.compile(r"[Ll]oad average(?: \([^)]*\))?[^:\d~]*[:~]?\s*~?(\d+(?:\.\d+)?)")


def discover() -> list[str]:
    return sorted(f"bench.{p.stem}" for p in BENCH_DIR.glob("bench_*.py"))


def read_sections(text: str) -> dict[str, str]:
    """Sections of an existing RESULTS.md, keyed by module (each starts with a `<!-- bench: module -->` mark)."""
    marks = list(_MARK.finditer(text))
    return {m.group(1): text[m.start(): marks[i + 1].start() if i + 1 < len(marks) else len(text)].strip() + "\n"
            for i, m in enumerate(marks)}


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def small() -> bool:
    return os.environ.get("BENCH_SCALE") == "small"


def baseline_key(module: str, small_scale: bool) -> str:
    """Figures of quick runs are recorded apart from the full-size ones."""
    return f"{module} (BENCH_SCALE=small)" if small_scale else module


def stamp(module: str, body: str, when: str | None = None) -> str:
    scale = " (BENCH_SCALE=small)" if small() else ""
    where = f"{os.cpu_count()} cores, Python {platform.python_version()}"
    lines = body.strip().splitlines()
    heading, rest = (lines[0], lines[1:]) if lines and lines[0].startswith("#") else (f"## {module}", lines)
    return ("\n".join([f"<!-- bench: {module} -->", heading, "", f"_Measured {when or now()}{scale} on {where}._",
                       *rest]) + "\n")


def check(baseline: regression.Baseline, module: str, output: str, when: str, load: float | None = None, *,
          accept: bool = False) -> regression.Comparison:
    """Compare a run's figures with the recorded ones and record the run (worse figures only if accepted)."""
    key = baseline_key(module, small())
    recorded = baseline.get(key)
    measured = regression.figures(module, output)
    comparison = regression.compare(module, recorded, measured, load)
    baseline.put(key, regression.updated(recorded, measured, comparison, when, accept=accept))
    return comparison


def record_results(baseline: regression.Baseline, text: str) -> list[str]:
    """Record the figures of an existing RESULTS.md, each with the date its section was measured and the load
    average its text states (the one this script wrote, else the last one it mentions, when it mentions one)."""
    recorded = []
    for module, section in read_sections(text).items():
        found = _MEASURED.search(section)
        when = found.group(1) if found else "unknown"
        loads = _RUN_LOAD.findall(section) or _LOAD.findall(section)
        load = float(loads[-1]) if loads else None
        measured = regression.figures(module, section)
        if measured:
            key = baseline_key(module, found is not None and "(BENCH_SCALE=small)" in found.group(0))
            baseline.put(key, {**baseline.get(key),
                               **{n: regression.Recorded(v, when, load) for n, v in measured.items()}})
            recorded.append(f"{key}: {len(measured)} figures" + (f", load {load:g}" if load is not None else ""))
    return recorded


def main(argv: list[str]) -> int:
    accept = "--accept" in argv
    names = [a for a in argv if not a.startswith("--")]
    baseline = regression.Baseline(BASELINE)
    if "--record-results" in argv:
        for line in record_results(baseline, RESULTS.read_text()):
            print(f"recorded {line}", file=sys.stderr)
        baseline.save()
        return 0
    selected = [m for m in discover() if not names or any(a in m for a in names)]
    sections = read_sections(RESULTS.read_text()) if RESULTS.exists() else {}
    failed = []
    worse: list[str] = []
    busier: list[str] = []
    for module in selected:
        print(f"== {module}", file=sys.stderr, flush=True)
        load_start = os.getloadavg()[0]
        proc = subprocess.run([sys.executable, "-m", module], cwd=BENCH_DIR.parent, stdout=subprocess.PIPE, text=True)
        when, load_end = now(), os.getloadavg()[0]
        if proc.returncode != 0:
            failed.append(module)
            body = f"## {module}\n\nFAILED (exit {proc.returncode}); see stderr of `python -m {module}`.\n"
        else:
            body = proc.stdout
        # each figure is recorded with the load it was measured under: absolute times follow the machine's load
        comparison = check(baseline, module, body, when, round(load_start, 2), accept=accept)
        worse += [f"{module}: {change}" for change in comparison.worse]
        busier += [f"{module}: {change}" for change in comparison.busier]
        summary = (f"{comparison.summary()}\n\nLoad average (1 min) at the start / end of this run: "
                   f"{load_start:.2f} / {load_end:.2f}.")
        print(summary, file=sys.stderr, flush=True)
        sections[module] = stamp(module, body.rstrip() + "\n\n" + summary + "\n", when)
        baseline.save()
    ordered = [sections[m] for m in discover() if m in sections]
    RESULTS.write_text(HEADER + "\n" + "\n".join(ordered))
    print(f"wrote {RESULTS} and {BASELINE}", file=sys.stderr)
    if worse:
        print(f"{len(worse)} figures worse than recorded" + (" (accepted as the new record)" if accept else "")
              + ":\n" + "\n".join(f"  {w}" for w in worse), file=sys.stderr)
    if busier:
        print(f"{len(busier)} load-sensitive figures worse under a higher load than recorded (not counted; re-run on a"
              " quieter machine):\n" + "\n".join(f"  {b}" for b in busier), file=sys.stderr)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed or worse else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
