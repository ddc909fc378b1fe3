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
from .model import FINAL_STATES, Job, JobState, NotFound, Update
from .spec import Environment
from .store import JobStore
from .workspace import drop_staging, publish, record_finish


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
        staged = self.staging_root / job.id
        previous = job.state
        if (staged / "notebook.ipynb").is_file():
            backend = self.backends[job.backend]
            job.engine_ref = await to_thread.run_sync(
                backend.resubmit, job, staged, self.environments[job.environment]
            )
            job.message = "submitted again: the server stopped while submitting it"
            self.log.warning("swan-ml: job %s %s", job.id, job.message)
        else:
            job.state, job.finished_at = JobState.FAILED, time.time()
            job.message = (
                "the server stopped while submitting this job and its snapshot is gone;"
                " submit the notebook again"
            )
        await to_thread.run_sync(self.store.update, job)
        self.generation[job.backend] += 1
        if job.state != previous:
            self.emit(job, previous)

    async def apply(self, job: Job, update: Update) -> bool:
        """Record what the engine says (under the backend's lock). Returns True when the job
        finished with outputs to fetch: the caller runs finish() for it, outside the lock."""
        previous = job.state
        if update.resubmit:
            await self._resubmit(job)
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
            self.live_tails.pop(job.id, None)
            await to_thread.run_sync(drop_staging, self.staging_root, job)
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
            error = outputs = None
            try:
                if not (staged / "output" / "result.json").exists():
                    await to_thread.run_sync(self.backends[job.backend].fetch, job, staged)
                outputs = await to_thread.run_sync(
                    publish, self.root_dir, self.output_dir, job, staged
                )
            except Exception as e:  # the job did finish; say why its outputs are missing
                self.log.warning("swan-ml: outputs of job %s could not be fetched: %s", job.id, e)
                error = str(e)
            async with self.locks[job.backend]:
                job = await self.get(job_id)
                if job.state.final:  # e.g. cancelled meanwhile
                    return
                previous = job.state
                record_finish(job, update, staged, outputs, error)
                await to_thread.run_sync(self.store.update, job)
                self.generation[job.backend] += 1
                self.live_tails.pop(job.id, None)
                await to_thread.run_sync(drop_staging, self.staging_root, job)
            self.emit(job, previous)
        finally:
            self.finishing.discard(job_id)

    async def _resubmit(self, job: Job) -> None:
        old = job.engine_ref
        job.engine_ref = await to_thread.run_sync(
            self.backends[job.backend].resubmit,
            job,
            self.staging_root / job.id,
            self.environments[job.environment],
        )
        job.message = f"submitted again: the engine lost the input of {_ref_text(old)}"
        self.log.warning("swan-ml: job %s resubmitted: %s", job.id, job.message)
        await to_thread.run_sync(self.store.update, job)


def _ref_text(ref: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in ref.items()) or "the job"
