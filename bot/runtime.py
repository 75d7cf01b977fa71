"""Where answers are computed, apart from the ack: a bounded queue in front of a pool of worker processes.

Why this structure (measured, see bench/RESULTS.md "Bot burst"): Slack wants the ack within 3 s, but a statement
renders a PDF (fpdf2) and `transactions` a chart (matplotlib) in Python, and query compilation (MetricFlow) is
Python too. In one process those hold the GIL for tens to hundreds of milliseconds per request, so under a burst
the acks queued behind them (20 concurrent statements: 7 acks over 3 s). Threads cannot fix that; an `AsyncApp`
alone cannot either (the event loop would still share the GIL with the rendering). So:

- the web process only verifies, parses the subcommand and acks (bot/listeners/commands/finefin_command.py), then
  hands an `AnswerJob` (request id, user id, text: a few bytes) to this runtime and returns;
- the answer is computed in one of FINEFIN_ANSWER_WORKERS worker PROCESSES (spawn; each builds its own Assistant,
  warm semantic layer and warm renderers in `bot.runtime_worker.init_worker`) and comes back pickled (text, blocks,
  file bytes); the web process never imports MetricFlow, fpdf2 or matplotlib;
- a small thread pool (FINEFIN_DELIVERY_THREADS) posts it to Slack (response_url, files_upload_v2): network I/O,
  which releases the GIL.

Bounded: at most FINEFIN_MAX_PENDING requests accepted and not yet delivered per web process; beyond that `submit`
returns False and the caller acks "busy, try again in a minute" (never a missed ack). A worker that dies breaks
Python's ProcessPoolExecutor for every job in it (queued or running; the other workers are stopped too): the pool
is replaced at once; the request that was running on the dead worker (each worker writes the request id it is
computing to a status file, cleared when it is stopped by the pool) gets a polite error, never silence; every other
request is queued again on the new pool.
A hung answer (a query or a renderer that never returns) must not hold a worker for good: a watchdog thread reads
the workers' status files (the file's mtime is when its request started) and a worker computing one request for
longer than FINEFIN_ANSWER_TIMEOUT_S is killed (SIGKILL: a hung C extension ignores anything milder). That breaks
the pool, so the machinery above applies: the pool is replaced, the other requests are queued again, and the hung
request — known to the watchdog as timed out — gets "that took too long" (once: its future completes once) instead of
the crash apology.
Nothing here assumes one web process: each web process has its own pool, bound and counters.

`InProcessAnswers` (FINEFIN_ANSWER_WORKERS=0, and the tests that use an in-memory semantic layer) runs the same
jobs on threads in the web process: same interface, no GIL isolation, and no answer timeout (a thread cannot be
stopped; this mode is for debugging).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from bot import blocks as bk
from bot.answer import Answer
from bot.logs import request_context
from bot.runtime_worker import AnswerJob, WorkerConfig, answer_job, init_worker, run_job, worker_freshness, worker_pid
from finefin.errors import FinefinError

log = logging.getLogger(__name__)

FRESHNESS_REUSE_SECONDS = 10.0  # /readyz asks the workers for the data freshness at most this often
ADMISSION_THREADS = 4  # threads taking the delivery claims before the work starts (bot/dedupe.py)
MAX_REQUEUES = 3  # a request queued again this often after other requests killed workers gets the apology


class WorkersFailedError(FinefinError):
    """The worker processes died during start-up (their initializer failed): the bot cannot answer."""


Deliver = Callable[[Answer], bool]  # posts the answer to Slack; True when it reached the user
Finished = Callable[[AnswerJob, Answer, float, bool], None]  # (job, answer, latency seconds, delivered)

WORKER_CRASHED = "Sorry, something went wrong on our side. Please try again later (reference {request_id})."
TOOK_TOO_LONG = ("Sorry, that took too long to answer, so I stopped. Please try again later, or ask for less "
                 "(reference {request_id}).")


def failure_answer(job: AnswerJob, message: str = WORKER_CRASHED) -> Answer:
    text = message.format(request_id=job.request_id)
    return Answer(text=text, blocks=bk.error_blocks(text), ok=False, request_id=job.request_id)


class AnswerRuntime:
    """Accepts jobs up to a bound, computes them on an executor, delivers them on a thread pool.

    `submit` never blocks on the work and never raises: False means "over the bound, nothing was queued".
    """

    def __init__(self, make_executor: Callable[[], Executor], work: Callable[[AnswerJob], Answer], *,
                 max_pending: int = 200, delivery_threads: int = 8) -> None:
        self._make_executor = make_executor
        self._work = work
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self._pending = 0
        self._executor = make_executor()
        self._io = ThreadPoolExecutor(max_workers=delivery_threads, thread_name_prefix="deliver")
        # admissions (the delivery claims, one quick statement each) apart from the deliveries, which may be slow
        # file uploads: a burst's claims must not queue behind them
        self._admissions = ThreadPoolExecutor(max_workers=ADMISSION_THREADS, thread_name_prefix="admit")
        self.replacements = 0  # how many times a broken pool was replaced (logged, and read by tests)

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def submit(self, job: AnswerJob, deliver: Deliver, finished: Finished | None = None,
               admit: Callable[[], bool] | None = None) -> bool:
        """`admit`: run first, on one of this runtime's threads (not the caller's: the ack must not wait for it);
        False drops the job without a word (bot/dedupe.py: the delivery's claim, lost to a duplicate)."""
        with self._lock:
            if self._pending >= self.max_pending:
                log.warning("request %s: busy (%d pending), not queued", job.request_id, self._pending)
                return False
            self._pending += 1
        if admit is not None:
            self._admissions.submit(self._admit, job, deliver, finished, admit)
            return True
        self._start_or_apologize(job, deliver, finished)
        return True

    def _admit(self, job: AnswerJob, deliver: Deliver, finished: Finished | None, admit: Callable[[], bool]) -> None:
        with request_context(job.request_id):
            try:
                admitted = admit()
            except Exception:
                log.exception("request %s: admission failed; answering it anyway", job.request_id)
                admitted = True
            if not admitted:
                with self._lock:
                    self._pending -= 1
                return
            self._start_or_apologize(job, deliver, finished)

    def _start_or_apologize(self, job: AnswerJob, deliver: Deliver, finished: Finished | None) -> None:
        try:
            self._start(job, deliver, finished)
        except Exception:  # the executor refused even after a replacement: answer politely from here
            log.exception("request %s: could not queue the work", job.request_id)
            self._io.submit(self._complete, job, failure_answer(job), deliver, finished)

    def _start(self, job: AnswerJob, deliver: Deliver, finished: Finished | None, requeued: int = 0) -> None:
        executor = self._executor
        try:
            future = executor.submit(self._work, job)
        except (BrokenExecutor, RuntimeError):  # broken or shut down between two jobs: replace and try once more
            executor = self._replace(executor)
            future = executor.submit(self._work, job)
        # the callback runs in the executor's own thread: hand over at once, deliver on the I/O pool
        future.add_done_callback(
            lambda f: self._io.submit(self._collect, job, f, executor, deliver, finished, requeued)
        )

    def _collect(self, job: AnswerJob, future: Future[Answer], executor: Executor, deliver: Deliver,
                 finished: Finished | None, requeued: int) -> None:
        with request_context(job.request_id):  # a pool thread: the request's id for every line it logs
            self._collect_in_context(job, future, executor, deliver, finished, requeued)

    def _collect_in_context(self, job: AnswerJob, future: Future[Answer], executor: Executor, deliver: Deliver,
                            finished: Finished | None, requeued: int) -> None:
        try:
            answer = future.result()
        except BrokenExecutor:
            killers = self._killers(executor)
            self._replace(executor)
            if job.request_id not in killers and requeued < MAX_REQUEUES:
                log.warning("request %s: a worker died (not on this request); queued again", job.request_id)
                try:
                    self._start(job, deliver, finished, requeued + 1)
                    return
                except Exception:
                    log.exception("request %s: could not be queued again", job.request_id)
            if self._timed_out(job.request_id):
                log.error("request %s: stopped after the answer timeout; the user is told", job.request_id)
                answer = failure_answer(job, TOOK_TOO_LONG)
            else:
                log.error("request %s: the worker computing it died; the user gets an apology", job.request_id)
                answer = failure_answer(job)
        except Exception:
            log.exception("request %s: the answer could not be computed or sent back", job.request_id)
            answer = failure_answer(job)
        self._complete(job, answer, deliver, finished)

    def _killers(self, broken: Executor) -> set[str]:
        """The request ids that were running on the worker(s) whose death broke `broken` (none known: empty)."""
        return set()

    def _timed_out(self, request_id: str) -> bool:
        """True (once) if the watchdog stopped this request's worker for running too long."""
        return False

    def _complete(self, job: AnswerJob, answer: Answer, deliver: Deliver, finished: Finished | None) -> None:
        with request_context(job.request_id):
            self._complete_in_context(job, answer, deliver, finished)

    def _complete_in_context(self, job: AnswerJob, answer: Answer, deliver: Deliver, finished: Finished | None
                             ) -> None:
        delivered = False
        try:
            delivered = deliver(answer)
        except Exception:
            log.exception("request %s: could not deliver the answer to %s", job.request_id, job.user_id)
        finally:
            with self._lock:
                self._pending -= 1
        if finished is not None:
            try:
                finished(job, answer, time.monotonic() - job.received_at, delivered)
            except Exception:
                log.exception("request %s: the after-answer hook failed", job.request_id)

    def _replace(self, broken: Executor) -> Executor:
        """A new executor in place of `broken` (once, however many jobs report it)."""
        with self._lock:
            if self._executor is not broken:
                return self._executor
            self._executor = self._make_executor()
            self.replacements += 1
            fresh = self._executor
        log.error("answer pool broken (a worker died); replaced (%d so far)", self.replacements)
        broken.shutdown(wait=False, cancel_futures=False)
        self._on_replaced(fresh)
        return fresh

    def _on_replaced(self, executor: Executor) -> None:
        """Hook: warm a new pool."""

    def wait_ready(self, timeout: float) -> bool:
        return True

    def shutdown(self, wait: bool = True) -> None:
        self._admissions.shutdown(wait=wait)
        self._executor.shutdown(wait=wait, cancel_futures=not wait)
        self._io.shutdown(wait=wait)


class ProcessAnswers(AnswerRuntime):
    """Answers computed in `workers` spawned processes, each with its own warm Assistant (bot.runtime_worker)."""

    def __init__(self, config: WorkerConfig, workers: int, *, max_pending: int = 200, delivery_threads: int = 8,
                 answer_timeout: float | None = None) -> None:
        self.workers = workers
        self._status_dir = Path(tempfile.mkdtemp(prefix="finefin-answers-"))
        self._post_mortems: dict[Executor, set[str]] = {}
        self._post_mortem_lock = threading.Lock()
        self.answer_timeout = answer_timeout  # None: no watchdog
        self._stopped: set[str] = set()  # request ids whose worker the watchdog killed, until their answer is made
        self._killed: set[int] = set()  # the pids it killed
        self._stop_watch = threading.Event()
        self._freshness_job: Future[dict[str, Any]] | None = None
        self._freshness_asked = 0.0
        self._last_freshness: dict[str, Any] | None = None
        context = multiprocessing.get_context("spawn")  # no fork: a forked copy of a threaded process can deadlock
        make = functools.partial(ProcessPoolExecutor, max_workers=workers, mp_context=context,
                                 initializer=init_worker, initargs=(config, str(self._status_dir)))
        super().__init__(make, answer_job, max_pending=max_pending, delivery_threads=delivery_threads)
        self._start_workers(self._executor)
        if answer_timeout is not None:
            threading.Thread(target=self._watch, name="answer-watchdog", daemon=True).start()

    def _watch(self) -> None:
        """Every ~timeout/4 (at most 1 s): kill a worker computing one request for longer than the timeout."""
        assert self.answer_timeout is not None
        period = min(1.0, self.answer_timeout / 4)
        while not self._stop_watch.wait(period):
            try:
                for path in list(self._status_dir.iterdir()):
                    try:
                        request_id, started = path.read_text().strip(), path.stat().st_mtime
                    except FileNotFoundError:
                        continue
                    if request_id and time.time() - started > self.answer_timeout:
                        with request_context(request_id):
                            self._stop_hung(int(path.name), path, request_id, started)
            except Exception:  # the watchdog must outlive any surprise in the status directory
                log.exception("answer watchdog: could not check the workers")

    def _stop_hung(self, pid: int, path: Path, request_id: str, started: float) -> None:
        try:  # still the same request? (it may have finished between the two reads)
            if path.read_text().strip() != request_id or path.stat().st_mtime != started:
                return
        except FileNotFoundError:
            return
        with self._lock:
            if pid in self._killed:  # already stopped; the pool's post-mortem has not removed its file yet
                return
            self._killed.add(pid)
            self._stopped.add(request_id)
        log.error("request %s: still computing after %.0f s on worker %d; stopping that worker", request_id,
                  time.time() - started, pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)

    def freshness(self, wait: float) -> dict[str, Any]:
        """The data freshness as a worker sees it, for /readyz in worker mode (the web process has no semantic layer).

        A probe must neither queue up jobs nor fail because a burst of answers is ahead of it in the pool: at most
        one freshness job is in flight (asked again after FRESHNESS_REUSE_SECONDS or a failure), and when it does not
        come back within `wait` seconds the last result is returned, marked `"workers_busy": true`. No result ever
        (workers not started, pool broken) raises: not ready."""
        with self._lock:
            job = self._freshness_job
            stale = time.monotonic() - self._freshness_asked > FRESHNESS_REUSE_SECONDS
            ask = job is None or (job.done() and (stale or job.exception() is not None))
        if ask:
            executor = self._executor
            try:
                job = executor.submit(worker_freshness)
            except (BrokenExecutor, RuntimeError):  # a pool that broke while idle: replaced here, or never (no
                job = self._replace(executor).submit(worker_freshness)  # request comes to a process not ready)
            with self._lock:
                self._freshness_job, self._freshness_asked = job, time.monotonic()
        assert job is not None
        try:
            facts = job.result(timeout=wait)
        except FutureTimeout:
            with self._lock:
                last = self._last_freshness
            if last is None:
                raise
            return {**last, "workers_busy": True}
        with self._lock:
            self._last_freshness = facts
        return facts

    def _timed_out(self, request_id: str) -> bool:
        with self._lock:
            if request_id in self._stopped:
                self._stopped.discard(request_id)
                return True
            return False

    def _killers(self, broken: Executor) -> set[str]:
        """Once per broken pool: wait until its workers are gone (the survivors clear their status file when the
        pool stops them), then whatever request id is still written was running on a worker that died."""
        with self._post_mortem_lock:
            if broken not in self._post_mortems:
                broken.shutdown(wait=True)
                killers: set[str] = set()
                for path in self._status_dir.iterdir():
                    if not _alive(int(path.name)):
                        killers.add(path.read_text().strip())
                        path.unlink(missing_ok=True)
                killers.discard("")
                log.error("answer pool broken; request(s) running on the dead worker: %s", sorted(killers) or "?")
                self._post_mortems[broken] = killers
            return self._post_mortems[broken]

    def _start_workers(self, executor: Executor) -> list[Future[int]]:
        """The pool spawns a process per job while none is idle: one short job per worker starts them all now."""
        return [executor.submit(worker_pid, 0.2) for _ in range(self.workers)]

    def _on_replaced(self, executor: Executor) -> None:
        self._start_workers(executor)

    def shutdown(self, wait: bool = True) -> None:
        self._stop_watch.set()
        super().shutdown(wait)
        shutil.rmtree(self._status_dir, ignore_errors=True)

    def wait_ready(self, timeout: float) -> bool:
        """Block until every worker has finished its warm-up (or `timeout` seconds): True when all are ready."""
        deadline = time.monotonic() + timeout
        seen: set[int] = set()
        while len(seen) < self.workers and time.monotonic() < deadline:
            futures = self._start_workers(self._executor)
            for future in futures:
                try:
                    seen.add(future.result(timeout=max(0.0, deadline - time.monotonic())))
                except FutureTimeout:
                    break
                except BrokenExecutor as exc:  # a worker died while starting: its initializer failed
                    raise WorkersFailedError(
                        "The answer workers could not start (see the log above: semantic layer, warehouse, "
                        "settings?)."
                    ) from exc
        return len(seen) >= self.workers


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class InProcessAnswers(AnswerRuntime):
    """The same runtime on threads in this process (FINEFIN_ANSWER_WORKERS=0, tests with in-memory doubles)."""

    def __init__(self, assistant: Any, threads: int = 4, *, max_pending: int = 200, delivery_threads: int = 8) -> None:
        def work(job: AnswerJob) -> Answer:
            return run_job(assistant, job)

        make = functools.partial(ThreadPoolExecutor, max_workers=threads, thread_name_prefix="answer")
        super().__init__(make, work, max_pending=max_pending, delivery_threads=delivery_threads)
