"""The answer workers live and die with their web process (bot/runtime_worker.py `_exit_with_parent`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

PARENT = """
import os, signal
from bot.runtime import ProcessAnswers
from bot.runtime_worker import WorkerConfig, worker_pid
from tests.bot_support import build_double, people_for, settings_for

answers = ProcessAnswers(WorkerConfig(settings_for(people_for(build_double())), "tests.runtime_support:double",
                                      warm=False), 1)
assert answers.wait_ready(120)
print(answers._executor.submit(worker_pid).result(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no atexit, no clean-up: as a crash, or uvicorn re-raising SIGTERM
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_workers_exit_when_the_web_process_is_killed() -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run([sys.executable, "-c", PARENT], capture_output=True, text=True, env=env, timeout=180)
    assert proc.returncode == -9, proc.stderr[-2000:]
    worker = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 15
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker), f"answer worker {worker} outlived its web process"
