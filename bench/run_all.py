"""Run the benchmarks under bench/ and update bench/RESULTS.md.

Contract for a benchmark: a module `bench/bench_<name>.py` runnable as `python -m bench.bench_<name>` that measures
its subject and a baseline in the same run, prints one markdown section (a `## ` heading, the command, a table) on
stdout and progress on stderr. `BENCH_SCALE=small` asks for a quick run (used to check the benchmarks themselves).

`python -m bench.run_all` runs them all; `python -m bench.run_all ingest dbt` runs the matching ones. Each module's
section in RESULTS.md is replaced by its new output (stamped with the date and machine); the others are kept.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "RESULTS.md"
HEADER = (
    "# Benchmark results\n\n"
    "Written by `make bench` (`python -m bench.run_all [name ...]`). Each section comes from one run of its module, "
    "which measures the subject and its baseline in that same run; the line under each heading says when, where "
    "and with which command.\n"
)
_MARK = re.compile(r"^<!-- bench: (bench\.\w+) -->$", re.MULTILINE)


def discover() -> list[str]:
    return sorted(f"bench.{p.stem}" for p in BENCH_DIR.glob("bench_*.py"))


def read_sections(text: str) -> dict[str, str]:
    """Sections of an existing RESULTS.md, keyed by module (each starts with a `<!-- bench: module -->` mark)."""
    marks = list(_MARK.finditer(text))
    return {m.group(1): text[m.start(): marks[i + 1].start() if i + 1 < len(marks) else len(text)].strip() + "\n"
            for i, m in enumerate(marks)}


def stamp(module: str, body: str) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    scale = " (BENCH_SCALE=small)" if os.environ.get("BENCH_SCALE") == "small" else ""
    where = f"{os.cpu_count()} cores, Python {platform.python_version()}"
    lines = body.strip().splitlines()
    heading, rest = (lines[0], lines[1:]) if lines and lines[0].startswith("#") else (f"## {module}", lines)
    return "\n".join([f"<!-- bench: {module} -->", heading, "", f"_Measured {when}{scale} on {where}._", *rest]) + "\n"


def main(argv: list[str]) -> int:
    selected = [m for m in discover() if not argv or any(a in m for a in argv)]
    sections = read_sections(RESULTS.read_text()) if RESULTS.exists() else {}
    failed = []
    for module in selected:
        print(f"== {module}", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, "-m", module], cwd=BENCH_DIR.parent, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            failed.append(module)
            body = f"## {module}\n\nFAILED (exit {proc.returncode}); see stderr of `python -m {module}`.\n"
        else:
            body = proc.stdout
        sections[module] = stamp(module, body)
    ordered = [sections[m] for m in discover() if m in sections]
    RESULTS.write_text(HEADER + "\n" + "\n".join(ordered))
    print(f"wrote {RESULTS}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
