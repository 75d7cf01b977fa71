"""Status tasks of finefin_refresh (FINEFIN_DBT_TASKS=build): one Airflow task per dbt source table and model that
shows that node's result of the refresh's one `dbt build`, without a worker process of its own.

Each status task starts in the triggerer (`start_from_trigger`) as soon as ingest is done, beside dbt_build, and is
ended by it (`TaskSuccessEvent`, `TaskFailedEvent`, `TaskSkippedEvent`): its trigger waits for the dbt task's report
(an XCom, `finefin.dbt_status.report`), logs the node's results and ends the task. So the status tasks cost the
scheduler and the triggerer a few rows each, not a task start-up each beside the build on a small machine, and they
end within a poll of the build. The triggers of one run share their reads: one XCom read per poll for all of them.

Run on a worker instead (`dag.test()`, which runs one task at a time), the operator decides at once if the report is
there, and otherwise asks to be rescheduled (it never blocks a worker waiting).

A status task never retries: the dbt task retries (the whole build, idempotent), and a status task waits for its
last word (`final`): success, or a failure with no retry left. If the dbt task dies without a report (killed, timed
out), its state says so and the status task fails with that reason; if it never ran, the status task is skipped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException, AirflowSkipException
from airflow.triggers.base import (
    BaseTrigger,
    StartTriggerArgs,
    TaskFailedEvent,
    TaskSkippedEvent,
    TaskSuccessEvent,
    TriggerEvent,
)

from finefin.dbt_status import StatusNode, Verdict, verdict

REPORT_KEY = "dbt_status"
TRIGGER_PATH = "finefin.airflow_status.DbtStatusTrigger"
POLL_SECONDS = 1.0
STATE_EVERY_POLLS = 5  # the dbt task's state is read every 5 polls (a report comes before the task ends)
# the dbt task's states in which it will never report again (failed for good, or never ran)
PRODUCER_GONE = frozenset({"failed", "upstream_failed", "skipped", "removed"})
PRODUCER_NEVER_RAN = frozenset({"upstream_failed", "skipped", "removed"})


def decide(node: StatusNode, reported: Any, producer_state: str | None,
           producer_task_id: str) -> tuple[Verdict, list[str]] | None:
    """The status task's end from the dbt task's report and state, or None while there is nothing final to say."""
    if isinstance(reported, Mapping) and reported.get("final"):
        return verdict(node, reported)
    if producer_state in PRODUCER_NEVER_RAN:
        return "skipped", [f"{producer_task_id} did not run ({producer_state})"]
    if producer_state in PRODUCER_GONE:
        return "failed", [f"{producer_task_id} ended without reporting dbt's results (killed or timed out): "
                          "see its log"]
    return None


def producer_state(dag_id: str, run_id: str, producer_task_id: str) -> str | None:
    """The dbt task's state in this run, or None when it cannot be read (then the status task keeps waiting)."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    try:
        states = RuntimeTaskInstance.get_task_states(dag_id=dag_id, task_ids=[producer_task_id], run_ids=[run_id])
    except Exception:  # e.g. an in-process test supervisor without this call
        return None
    state = (states.get(run_id) or {}).get(producer_task_id)
    return None if state is None else str(getattr(state, "value", state))


def node_of(data: Mapping[str, Any]) -> StatusNode:
    return StatusNode(**{**data, "upstream": tuple(data.get("upstream", ())), "members": tuple(data["members"])})


class _SharedReads:
    """One read per key and poll interval for all the triggers of a triggerer (they run on one event loop)."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._locks: dict[tuple[str, ...], asyncio.Lock] = {}

    async def get(self, key: tuple[str, ...], max_age: float, read: Callable[[], Any]) -> Any:
        from asgiref.sync import sync_to_async

        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._values.get(key)
            if cached is not None and time.monotonic() - cached[0] < max_age:
                return cached[1]
            value = await sync_to_async(read)()
            self._values[key] = (time.monotonic(), value)
            if len(self._values) > 1024:  # old runs' entries
                for stale in sorted(self._values, key=lambda k: self._values[k][0])[:512]:
                    self._values.pop(stale, None)
                    self._locks.pop(stale, None)
            return value


SHARED = _SharedReads()


class DbtStatusTrigger(BaseTrigger):
    """Waits for the dbt task's final report and ends the status task with its node's verdict."""

    def __init__(self, node: dict[str, Any], producer_task_id: str, dag_id: str | None = None,
                 run_id: str | None = None, poll_seconds: float = POLL_SECONDS) -> None:
        super().__init__()
        self.node = node
        self.producer_task_id = producer_task_id
        self.dag_id = dag_id
        self.run_id = run_id
        self.poll_seconds = poll_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return TRIGGER_PATH, {"node": self.node, "producer_task_id": self.producer_task_id, "dag_id": self.dag_id,
                              "run_id": self.run_id, "poll_seconds": self.poll_seconds}

    def _run_ids(self) -> tuple[str, str]:
        ti = getattr(self, "task_instance", None)
        dag_id = self.dag_id or (ti.dag_id if ti is not None else None)
        run_id = self.run_id or (ti.run_id if ti is not None else None)
        if not dag_id or not run_id:
            raise RuntimeError("DbtStatusTrigger: no dag_id/run_id (neither given nor from its task instance)")
        return dag_id, run_id

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow.sdk.execution_time.xcom import XCom
        from asgiref.sync import sync_to_async

        dag_id, run_id = self._run_ids()
        node = node_of(self.node)
        producer = self.producer_task_id

        def read_report() -> Any:
            return XCom.get_one(key=REPORT_KEY, dag_id=dag_id, task_id=producer, run_id=run_id, map_index=-1)

        def read_state() -> str | None:
            return producer_state(dag_id, run_id, producer)

        polls = 0
        while True:
            reported = await SHARED.get(("report", dag_id, run_id, producer), self.poll_seconds * 0.9, read_report)
            state = None
            if polls % STATE_EVERY_POLLS == STATE_EVERY_POLLS - 1:
                state = await SHARED.get(("state", dag_id, run_id, producer), self.poll_seconds * 0.9, read_state)
                if state in PRODUCER_GONE:  # its report may have landed since the read above
                    reported = await sync_to_async(read_report)()
            decided = decide(node, reported, state, producer)
            if decided is not None:
                break
            polls += 1
            await asyncio.sleep(self.poll_seconds)
        ending, lines = decided
        for line in lines:
            self.log.info("%s", line)
        self.log.info("%s %s: %s", node.kind, node.name, ending)
        if ending == "success":
            yield TaskSuccessEvent()
        elif ending == "skipped":
            yield TaskSkippedEvent()
        else:
            yield TaskFailedEvent()


class DbtStatusOperator(BaseOperator):
    """The status of one dbt source table or model in this run's `dbt build` (see the module docstring)."""

    ui_color = "#e8f4fa"
    start_from_trigger = True
    start_trigger_args = StartTriggerArgs(trigger_cls=TRIGGER_PATH, next_method="execute_complete")

    def __init__(self, *, node: StatusNode, producer_task_id: str, wait: timedelta, poll_seconds: float = POLL_SECONDS,
                 **kwargs: Any) -> None:
        kwargs["retries"] = 0  # the dbt task retries; this task only reports its final result
        super().__init__(**kwargs)
        self.node = asdict(node)
        self.producer_task_id = producer_task_id
        self.poll_seconds = poll_seconds
        self.doc_md = (f"Status of dbt {node.kind} `{node.unique_id}` in this run's `dbt build` "
                       f"(task `{producer_task_id}`): " + ", ".join(f"`{m}`" for m in node.members))
        self.start_trigger_args = StartTriggerArgs(
            trigger_cls=TRIGGER_PATH, next_method="execute_complete",
            timeout=wait,  # the dbt task's tries, retry delays included: then the status task fails as timed out
            trigger_kwargs={"node": self.node, "producer_task_id": producer_task_id, "poll_seconds": poll_seconds})

    def execute(self, context: Any) -> None:
        """On a worker (dag.test): decide now, or be rescheduled while the dbt task has not said its last word."""
        ti = context["ti"]
        reported = ti.xcom_pull(task_ids=self.producer_task_id, key=REPORT_KEY)
        decided = decide(node_of(self.node), reported, producer_state(ti.dag_id, ti.run_id, self.producer_task_id),
                         self.producer_task_id)
        if decided is None:
            raise AirflowRescheduleException(datetime.now(UTC) + timedelta(seconds=self.poll_seconds))
        self._end(*decided)

    def execute_complete(self, context: Any, event: Any = None) -> None:
        """Only reached if a trigger event resumes the task on a worker (the trigger normally ends it)."""
        payload = event if isinstance(event, Mapping) else {"state": str(event), "lines": []}
        self._end(payload.get("state", "failed"), list(payload.get("lines") or []))

    def _end(self, state: str, lines: list[str]) -> None:
        for line in lines:
            self.log.info("%s", line)
        if state == "skipped":
            raise AirflowSkipException(f"{self.node['name']}: " + ("; ".join(lines) or "not built by this run"))
        if state != "success":
            raise AirflowFailException(f"{self.node['name']}: " + ("; ".join(lines) or "failed"))
