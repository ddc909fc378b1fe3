"""The monitor's side of the job service: what an engine said is recorded, finished jobs'
outputs are fetched outside locks, interrupted submissions are recovered."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from anyio import to_thread

from ..backends.base import Backend
from .missing import Missing, explain_missing
from .model import FINAL_STATES, Job, JobState, NotFound, Update
from .spec import Environment
from .store import JobStore
from .workspace import drop_staging, publish, read_json, record_finish


class EngineUpdates:
    """Mixed into JobService (which sets these attributes)."""

    store: JobStore
    backends: dict[str, Backend]
    environments: dict[str, Environment]
    root_dir: Path
    staging_root: Path
    output_dir: str
    submitting: set[str]
    finishing: set[str]
    generation: dict[str, int]
    live_tails: dict[str, str]
    locks: dict[str, asyncio.Lock]
    emit: Callable[[Job, JobState | None], None]
    log: logging.Logger

    async def get(self, job_id: str) -> Job:
        job = await to_thread.run_sync(self.store.get, job_id)
        if job is None:
            raise NotFound(f"no job with id {job_id!r}")
        return job

    def interrupted(self, jobs: list[Job]) -> list[Job]:
        """Stored jobs whose submission never finished (the server died in between)."""
        return [j for j in jobs if not j.engine_ref and j.id not in self.submitting]

    async def recover(self, job: Job) -> None:
        """Submit an interrupted job again from its snapshot, or fail it saying why."""
        # `job` may be stale: a submission may have ended since it was read. Not submitting
        # now + still no engine reference in the store = really interrupted.
        if job.id in self.submitting:
            return
        fresh = await to_thread.run_sync(self.store.get, job.id)
        if fresh is None or fresh.engine_ref or fresh.state.final:
            if fresh is not None:
                job.engine_ref = fresh.engine_ref
            return
        snapshot = self.staging_root / job.id / "notebook.ipynb"
        if await to_thread.run_sync(snapshot.is_file):
            await self._resubmit(job, "submitted again: the server stopped while submitting it")
        else:
            previous = job.state
            job.state, job.finished_at = JobState.FAILED, time.time()
            job.message = (
                "the server stopped while submitting this job and its snapshot is gone;"
                " submit the notebook again"
            )
            await to_thread.run_sync(self.store.update, job)
            self.emit(job, previous)
        self.generation[job.backend] += 1

    async def apply(self, job: Job, update: Update) -> bool:
        """Record what the engine says (under the backend's lock). Returns True when the job
        finished with outputs to fetch: the caller runs finish() for it, outside the lock."""
        previous = job.state
        if update.resubmit:
            why = f"submitted again: the engine lost the input of {_ref_text(job.engine_ref)}"
            await self._resubmit(job, why)
            return False
        changed = False
        if update.log_tail is not None:
            self.live_tails[job.id] = update.log_tail
        if update.progress:
            changed |= update.progress != job.progress
            job.progress = update.progress
        if update.engine_ref:
            merged = {**job.engine_ref, **update.engine_ref}
            changed |= merged != job.engine_ref
            job.engine_ref = merged
        if update.started_at and job.started_at is None:
            job.started_at, changed = update.started_at, True
        finishing = update.state in (JobState.COMPLETED, JobState.FAILED) and update.has_outputs
        if not finishing:
            if update.message != job.message:
                job.message, changed = update.message, True
            if update.state in FINAL_STATES and job.finished_at is None:
                job.finished_at = update.finished_at or time.time()
            job.state = update.state
        if changed or job.state != previous:
            await to_thread.run_sync(self.store.update, job)
        if job.state.final:
            await self._retire(job)
        if job.state != previous:
            self.emit(job, previous)
        return finishing

    async def finish(self, job_id: str, update: Update) -> None:
        """Fetch and publish a finished job's outputs (no lock held: a large output or a slow
        engine delays nothing else), then record its final state under the lock."""
        self.finishing.add(job_id)
        try:
            job = await self.get(job_id)
            if job.state.final:
                return
            staged = self.staging_root / job.id
            error = outputs = missing = None
            result: dict[str, Any] = {}
            try:
                outputs = await to_thread.run_sync(self._collect, job, staged)
            except Exception as e:  # the job did finish; say why its outputs are missing
                self.log.warning("swan-ml: outputs of job %s could not be fetched: %s", job.id, e)
                error = str(e)
            else:
                result, missing = await to_thread.run_sync(self._outcome, job, staged)
            async with self.locks[job.backend]:
                job = await self.get(job_id)
                if job.state.final:  # e.g. cancelled meanwhile
                    return
                previous = job.state
                record_finish(job, update, result, outputs, error, missing)
                await to_thread.run_sync(self.store.update, job)
                self.generation[job.backend] += 1
                await self._retire(job)
            self.emit(job, previous)
        finally:
            self.finishing.discard(job_id)

    def _collect(self, job: Job, staged: Path) -> dict[str, Any]:
        """The outputs from the engine (unless an earlier try brought them already) into the
        workspace. Blocking: in a worker thread."""
        if not (staged / "output" / "result.json").exists():
            self.backends[job.backend].fetch(job, staged)
        return publish(self.root_dir, self.output_dir, job, staged)

    def _outcome(self, job: Job, staged: Path) -> tuple[dict[str, Any], Missing | None]:
        """The runner's result.json, read once, and a failure on a workspace file the job was
        not sent, explained (jobs/missing.py). Blocking (file reads, stat calls): in a worker
        thread, so that recording the finish under the lock touches no file."""
        result = read_json(staged / "output" / "result.json")
        takes = self.backends[job.backend].capabilities.get("inputs", True)
        try:
            missing = explain_missing(self.root_dir, job.notebook, job.inputs, result, takes)
        except Exception as e:  # a nicety: the failure is recorded either way
            self.log.warning("swan-ml: job %s: explaining its failure failed: %s", job.id, e)
            missing = None
        return result, missing

    async def _retire(self, job: Job) -> None:
        """A job that reached a final state needs no live tail and no snapshot any more."""
        self.live_tails.pop(job.id, None)
        await to_thread.run_sync(drop_staging, self.staging_root, job)

    async def _resubmit(self, job: Job, why: str) -> None:
        """Submit the job again from its snapshot (the backend first removes what the engine
        has of it); `why` becomes its message."""
        job.engine_ref = await to_thread.run_sync(
            self.backends[job.backend].resubmit,
            job,
            self.staging_root / job.id,
            self.environments[job.environment],
        )
        job.message = why
        self.log.warning("swan-ml: job %s %s", job.id, why)
        await to_thread.run_sync(self.store.update, job)


def _ref_text(ref: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in ref.items()) or "the job"
