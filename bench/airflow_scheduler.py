"""A real Airflow for the benchmark and the scheduler test: `airflow standalone` (scheduler, dag-processor, triggerer,
api-server, LocalExecutor) on loopback with its own AIRFLOW_HOME and SQLite metadata DB, pointed at the project's
dags/. Runs are triggered through the REST API (the `airflow` CLI if it refuses) and followed in the metadata DB;
everything is stopped at the end (the whole process group).
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DAGS_DIR = PROJECT_ROOT / "dags"
AIRFLOW = Path(sys.executable).with_name("airflow")
FINISHED = {"success", "failed"}


class AirflowRunError(RuntimeError):
    """Airflow did not start, did not see the DAG, or a run did not finish in time (the message holds the log tail)."""


@dataclass
class DagRunResult:
    run_id: str
    state: str
    wall_seconds: float  # from the trigger request to the run's end, seen by the caller
    run_seconds: float  # the run's queued_at (created by the trigger) -> end_date in the metadata DB
    task_states: dict[str, str] = field(default_factory=dict)
    # task -> (seconds from the run's queued_at to the task's start, to its end)
    task_times: dict[str, tuple[float, float]] = field(default_factory=dict)

    def ended(self, task_id: str) -> float:
        """Seconds from the run's creation to the end of `task_id` (nan if it did not run)."""
        return self.task_times.get(task_id, (float("nan"), float("nan")))[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_env(home: Path, port: int, extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of every Airflow process: `extra` (FINEFIN_* …) over this process's, then Airflow's own home,
    SQLite, loopback, no examples, DAGs paused at creation (any AIRFLOW* variable of the caller is dropped)."""
    env = {name: value for name, value in {**os.environ, **extra}.items() if not name.startswith("AIRFLOW")}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # only the DAG under test is unpaused
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "300",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "300",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        # the log servers default to fixed ports (8793, 8794): two Airflows on one machine would collide
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "PATH": f"{AIRFLOW.parent}{os.pathsep}{env.get('PATH', '')}",
    })
    return env


class Standalone:
    """One `airflow standalone` process group; use `running()`."""

    def __init__(self, home: Path, env: Mapping[str, str]) -> None:
        self.home = home
        self.env = dict(env)
        self.log_path = home / "standalone.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([str(AIRFLOW), "standalone"], env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True, cwd=self.home)

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        group = os.getpgid(self.process.pid)
        os.killpg(group, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        with suppress(ProcessLookupError):  # children that outlived the parent (task runners, api-server workers)
            os.killpg(group, signal.SIGKILL)
        self.process.wait(timeout=timeout)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def _alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise AirflowRunError(f"airflow standalone exited ({self.process.returncode}):\n{self.log_tail()}")

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        db = self.home / "airflow.db"
        if not db.exists():
            return []
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as con:
                return con.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # tables not migrated yet, or locked for longer than the timeout
            return []

    def wait_for_dag(self, dag_id: str, timeout: float) -> float:
        """Wait until the dag-processor has serialized `dag_id`, then unpause it (the other DAGs stay paused);
        returns the seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            self._alive()
            if self._query("select 1 from serialized_dag where dag_id = ?", (dag_id,)):
                self.cli("dags", "unpause", dag_id)
                return time.monotonic() - started
            time.sleep(1.0)
        raise AirflowRunError(f"{dag_id} was not parsed within {timeout:.0f} s:\n{self.log_tail()}")

    def cli(self, *args: str, timeout: float = 300.0) -> str:
        result = subprocess.run([str(AIRFLOW), *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                                cwd=self.home)
        if result.returncode != 0:
            raise AirflowRunError(f"airflow {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
        return result.stdout

    @property
    def api_url(self) -> str:
        return self.env["AIRFLOW__API__BASE_URL"]

    def _token(self) -> str:
        """A JWT for the REST API: the `admin` user `airflow standalone` created (simple auth manager)."""
        import json

        import httpx

        passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        response = httpx.post(f"{self.api_url}/auth/token", json={"username": "admin", "password": passwords["admin"]},
                              timeout=30)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def trigger(self, dag_id: str, run_id: str) -> None:
        """Create a run through the REST API, as the scheduler would at its slot (no CLI start-up in the figure);
        the `airflow dags trigger` CLI if the API refuses."""
        import httpx

        try:
            response = httpx.post(f"{self.api_url}/api/v2/dags/{dag_id}/dagRuns", timeout=30,
                                  headers={"Authorization": f"Bearer {self._token()}"},
                                  json={"dag_run_id": run_id, "logical_date": None})
            response.raise_for_status()
        except (httpx.HTTPError, OSError, KeyError, ValueError) as exc:
            print(f"REST trigger failed ({exc}); using the CLI", file=sys.stderr)
            self.cli("dags", "trigger", dag_id, "--run-id", run_id)

    def trigger_and_wait(self, dag_id: str, run_id: str, timeout: float) -> DagRunResult:
        """Trigger one run of `dag_id` and wait for it to succeed or fail."""
        started = time.monotonic()
        self.trigger(dag_id, run_id)
        return self.wait(dag_id, run_id, timeout, started)

    def wait(self, dag_id: str, run_id: str, timeout: float, started: float | None = None) -> DagRunResult:
        started = time.monotonic() if started is None else started
        while time.monotonic() - started < timeout:
            self._alive()
            rows = self._query("select state, queued_at, end_date from dag_run where dag_id = ? and run_id = ?",
                               (dag_id, run_id))
            if rows and rows[0][0] in FINISHED:
                wall = time.monotonic() - started
                state, queued, end = rows[0]
                times = {str(task): (_seconds_between(queued, start), _seconds_between(queued, stop))
                         for task, start, stop in self._query(
                             "select task_id, start_date, end_date from task_instance where dag_id = ? and run_id = ?",
                             (dag_id, run_id))}
                return DagRunResult(run_id, str(state), wall, _seconds_between(queued, end),
                                    self.task_states(dag_id, run_id), times)
            time.sleep(0.2)
        raise AirflowRunError(f"{dag_id} {run_id} did not finish within {timeout:.0f} s: "
                              f"{self.task_states(dag_id, run_id)}\n{self.log_tail()}")

    def task_ended(self, dag_id: str, run_id: str, task_id: str) -> bool:
        rows = self._query("select state from task_instance where dag_id = ? and run_id = ? and task_id = ?",
                           (dag_id, run_id, task_id))
        return bool(rows) and rows[0][0] == "success"

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        rows = self._query("select task_id, map_index, state from task_instance where dag_id = ? and run_id = ?",
                           (dag_id, run_id))
        return {str(task) + (f"[{index}]" if index not in (-1, None) else ""): str(state)
                for task, index, state in rows}

    def task_log(self, dag_id: str, run_id: str, task_id: str, chars: int = 3000) -> str:
        """The newest attempt's log text of one task (for failure messages)."""
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        files = sorted(folder.glob("**/*.log")) if folder.exists() else []
        return files[-1].read_text(errors="replace")[-chars:] if files else f"(no log under {folder})"


def _seconds_between(start: object, end: object) -> float:
    from datetime import datetime

    if not start or not end:
        return float("nan")
    return (datetime.fromisoformat(str(end)) - datetime.fromisoformat(str(start))).total_seconds()


@contextmanager
def running(home: Path, extra_env: Mapping[str, str], *, port: int | None = None) -> Iterator[Standalone]:
    """`airflow standalone` under `home` with `extra_env` (FINEFIN_* …); stopped on exit, whatever happened."""
    airflow = Standalone(home, airflow_env(home, port or free_port(), extra_env))
    airflow.start()
    try:
        yield airflow
    finally:
        airflow.stop()
