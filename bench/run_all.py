"""Run every benchmark under bench/ and rewrite bench/RESULTS.md.

Contract for a benchmark: a module `bench/bench_<name>.py` runnable as `python -m bench.bench_<name>` that measures
its subject and a baseline in the same run, prints one markdown section (heading, command, table) on stdout and
progress on stderr. `BENCH_SCALE=small` asks for a quick run (used to check the benchmarks themselves).
"""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "RESULTS.md"


def discover() -> list[str]:
    return sorted(f"bench.{p.stem}" for p in BENCH_DIR.glob("bench_*.py"))


def main(argv: list[str]) -> int:
    selected = [m for m in discover() if not argv or any(a in m for a in argv)]
    sections: list[str] = []
    failed: list[str] = []
    for module in selected:
        print(f"== {module}", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, "-m", module], cwd=BENCH_DIR.parent, stdout=subprocess.PIPE, text=True)
        if proc.returncode != 0:
            failed.append(module)
            sections.append(f"## {module}\n\nFAILED (exit {proc.returncode}); see stderr of `python -m {module}`.\n")
        else:
            sections.append(proc.stdout.strip() + "\n")
    header = (
        "# Benchmark results\n\n"
        f"Written by `make bench` (`python -m bench.run_all`) on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}. "
        "Every figure below comes from that one run; each section names its own command.\n"
    )
    RESULTS.write_text(header + "\n" + "\n".join(sections))
    print(f"wrote {RESULTS}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
