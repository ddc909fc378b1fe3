"""The Spark poller: ONE asyncio task for the whole server. Each pass makes, for each active
session, at most one round of Spark REST calls (however many clients read the cache): idle
sessions only GET jobs (a new job shows within a pass); sessions with running jobs also GET
the active stages, and the executors (which change rarely) every EXECUTORS_EVERY_S. It
registers the sessions of batch jobs that publish engine_ref["spark"], and ends sessions whose
kernel or job is gone or whose UI stopped answering. Events (`spark/v1`) only when something
changed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from anyio import to_thread

from ..jobs.model import SwanMLError
from . import rest
from .registry import Registry, Session, SparkUnavailable

MISSES_TO_END = 20  # passes in a row without an answer from the UI (10 s at 0.5 s)
JOB_SCAN_EVERY_S = 1.0  # how often the job store is scanned for engine_ref["spark"]
KEEP_STAGES = 200
# Executors (cores, memory, GPUs) change rarely: while jobs run they are asked for this often,
# not every pass (fewer calls into the driver: issue 10's benchmark of a watched workload).
EXECUTORS_EVERY_S = 2.0


class Poller:
    def __init__(
        self,
        registry: Registry,
        interval: float,
        *,
        kernel_alive: Callable[[str], bool],
        active_jobs: Callable[[], list[Any]] | None = None,
        log: logging.Logger | None = None,
    ):
        self.registry = registry
        self.interval = interval
        self.kernel_alive = kernel_alive
        self.active_jobs = active_jobs
        self.log = log or logging.getLogger(__name__)
        self.passes = 0
        self._task: asyncio.Task[None] | None = None
        self._last_scan = 0.0
        # session id -> the (jobs, stages) last told: an event only when they change
        self._told: dict[str, tuple[list[Any], list[Any]]] = {}
        self._executors_at: dict[str, float] = {}  # session id -> when executors were asked
        self._inflight: dict[str, asyncio.Task[None]] = {}  # session id -> its poll

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="swan-ml-ext spark poller")

    async def stop(self) -> None:
        for task in list(self._inflight.values()):
            task.cancel()
        await asyncio.gather(*self._inflight.values(), return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.tick(wait=False)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad pass must not end polling for good
                self.log.exception("swan-ml: Spark poller pass failed")
            await asyncio.sleep(max(0.05, self.interval - (time.monotonic() - started)))

    async def tick(self, wait: bool = True) -> None:
        """One pass: a poll for each active session that has none under way (a slow UI holds
        up only its own session). `wait`: until this pass's polls are done (tests)."""
        self.passes += 1
        if self.active_jobs is not None and time.monotonic() - self._last_scan >= JOB_SCAN_EVERY_S:
            self._last_scan = time.monotonic()
            await self.scan_jobs()
        sessions = self.registry.active()
        for session in sessions:
            if session.kernel_id and not self.kernel_alive(session.kernel_id):
                self.registry.end(session.id)
        started = []
        for session in self.registry.active():
            if session.id in self._inflight:
                continue
            task = asyncio.create_task(self._poll_safely(session))
            self._inflight[session.id] = task
            task.add_done_callback(lambda _, sid=session.id: self._inflight.pop(sid, None))
            started.append(task)
        live = {s.id for s in self.registry.active()}
        for sid in [sid for sid in self._told if sid not in live]:
            del self._told[sid]
            self._executors_at.pop(sid, None)
        if wait and started:
            await asyncio.gather(*started)

    async def _poll_safely(self, session: Session) -> None:
        try:
            await self.poll(session)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug for one session must not stop the others' polling
            self.log.exception("swan-ml: Spark session %s: poll failed", session.id)

    async def scan_jobs(self) -> None:
        """Batch jobs whose engine_ref has "spark" get a session while they are active; a
        session whose job is no longer active ends."""
        assert self.active_jobs is not None
        jobs = await to_thread.run_sync(self.active_jobs)
        live = set()
        for job in jobs:
            ref = (job.engine_ref or {}).get("spark")
            if not isinstance(ref, dict):
                continue
            live.add(job.id)
            try:
                self.registry.register(
                    {"kind": "classic", **ref, "app_name": ref.get("app_name") or job.name},
                    source="job",
                    job_id=job.id,
                    profile=str((job.resources or {}).get("profile") or ""),
                )
            except SparkUnavailable as e:
                self.log.warning("swan-ml: job %s: Spark session not registered: %s", job.id, e)
        for session in self.registry.active():
            if session.source == "job" and session.job_id not in live:
                self.registry.end(session.id)

    async def poll(self, session: Session) -> None:
        """One round of REST calls for one session; the cache and events follow."""
        try:
            running_before = any(j["status"] == "RUNNING" for j in session.jobs)
            jobs = await rest.jobs(session)
            running = any(j["status"] == "RUNNING" for j in jobs)
            if running or running_before or not session.executors:
                # A job that finished since the last pass: one last look at its stages.
                now = time.monotonic()
                last = self._executors_at.get(session.id)
                if not running or last is None or now - last >= EXECUTORS_EVERY_S:
                    session.executors = await rest.executors(session)
                    self._executors_at[session.id] = now
                self._merge_stages(
                    session, jobs, await rest.stages(session, "stages?status=active")
                )
            else:
                self._merge_stages(session, jobs, [])
        except (SwanMLError, ValueError, KeyError, TypeError) as e:
            session.misses += 1
            if session.misses == 1 or session.misses % 10 == 0:
                self.log.info("swan-ml: Spark session %s: %s", session.id, e)
            if session.misses >= MISSES_TO_END and session.active:
                self.registry.end(session.id)
            return
        session.misses = 0
        session.jobs, session.updated_at = jobs, time.time()
        # Compared by value: _merge_stages never changes a stage dict it kept (it replaces it)
        if self._told.get(session.id) != (jobs, session.stages):
            self._told[session.id] = (jobs, session.stages)
            if session.active:
                self.registry.on_change(session, "jobs")

    def _merge_stages(
        self, session: Session, jobs: list[dict[str, Any]], active: list[dict[str, Any]]
    ) -> None:
        """Active stages as Spark says; a stage that left the active list takes the end of its
        job (Spark drops finished stages from ?status=active)."""
        mine = {sid for j in jobs for sid in j["stage_ids"]}
        if session.kind == "connect":
            active = [s for s in active if s["stage_id"] in mine]
        by_key = {(s["stage_id"], s["attempt_id"]): s for s in session.stages}
        fresh = {(s["stage_id"], s["attempt_id"]) for s in active}
        job_of = {sid: j for j in jobs for sid in j["stage_ids"]}
        for key, stage in list(by_key.items()):
            if key in fresh or stage["status"] != "ACTIVE":
                continue
            job = job_of.get(stage["stage_id"])
            if job is None or job["status"] == "RUNNING":
                continue
            done = job["status"] == "SUCCEEDED"
            by_key[key] = {
                **stage,
                "status": "COMPLETE" if done else "FAILED",
                "num_active_tasks": 0,
                "num_complete_tasks": stage["num_tasks"] if done else stage["num_complete_tasks"],
            }
        for stage in active:
            by_key[(stage["stage_id"], stage["attempt_id"])] = stage
        ordered = sorted(by_key.values(), key=lambda s: (s["stage_id"], s["attempt_id"]))
        session.stages = ordered[-KEEP_STAGES:][::-1]
