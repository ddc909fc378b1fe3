"""SweepService: one notebook over many parameter points. Each point is an ordinary job (its
`sweep_id` and `point`), listed, followed and cancellable like any other; all of a sweep's
points go to the engine in ONE submission where the backend can (capabilities.batch_submit:
HTCondor makes one cluster with one proc per point), else one submission per point. The
sweep's state, counts and results table are computed from its points' newest jobs. No tornado.

The pure part (checking `sweep` and `collect`, the table's values, CSV) is jobs/sweep.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from anyio import to_thread

from .model import (
    COLLECT_FILE,
    Conflict,
    InvalidRequest,
    Job,
    JobSpec,
    JobState,
    NotFound,
    Sweep,
    _iso,
)
from .parameters_cell import parameter_warnings
from .service import JobService
from .spec import check_json, input_plan
from .submission import body_fingerprint, next_page_token, page_before, same_request
from .sweep import DEFAULT_MAX_TOTAL_BYTES, parse_sweep, to_csv
from .sweep_rows import results_table, sweep_state
from .workspace import drop_staging, stage

# Fields of POST sweeps beyond a job's body.
SWEEP_FIELDS = ("sweep", "collect")
STATES = ("pending", "running", "held", "completed", "failed", "cancelled")
MAX_POINT_LABEL = 120  # characters of a point's values in its job's name
CACHED_SWEEPS = 16  # sweeps whose REST answer is kept while they do not change


class SweepService:
    def __init__(
        self,
        jobs: JobService,
        max_points: int = 1000,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    ):
        self.jobs = jobs
        self.max_points = max_points
        self.max_total_bytes = max_total_bytes  # all points' parameters together, as JSON
        self._resubmitting = threading.Lock()  # one resubmission at a time (per server)
        # sweep id -> what its last answer was built from and the answer: clients poll a
        # running sweep; only points written since are read again, and nothing at all while
        # none changed.
        self._answers: OrderedDict[str, _Answer] = OrderedDict()

    @property
    def store(self) -> Any:
        return self.jobs.store

    # -- reads: an answer kept while its sweep is unchanged is sent inline; building one (up to
    # a thousand rows, their JSON or CSV) runs in a worker thread, off the event loop --------
    def _get(self, sweep_id: str) -> Sweep:
        sweep = self.store.get_sweep(sweep_id)
        if sweep is None:
            raise NotFound(f"no sweep with id {sweep_id[:100]!r}")
        return sweep

    async def get(self, sweep_id: str) -> dict[str, Any]:
        """The sweep with its results table (Sweep in openapi.yaml)."""
        return (await self._answer(sweep_id)).shape

    async def get_json(self, sweep_id: str) -> str:
        """get() as JSON text."""
        return (await self._answer(sweep_id)).text

    async def get_csv(self, sweep_id: str) -> tuple[str, str]:
        """(the results table as CSV, a file name for it)."""
        answer = await self._answer(sweep_id)
        d = answer.shape
        if answer.csv is None:
            answer.csv = await to_thread.run_sync(to_csv, d["columns"], d["rows"])
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", d["name"]).strip("-.")[:80] or "sweep"
        return answer.csv, f"{stem}-{d['id']}.csv"

    async def _answer(self, sweep_id: str) -> _Answer:
        """The sweep's REST shape: the one kept while the store's version of the sweep is the
        same (no lock, no thread), else built again in a worker thread from the rows of the
        points written since (the version is read first: a write made while building makes
        the next read build again)."""
        version = self.store.sweep_version(sweep_id)
        kept = self._answers.get(sweep_id)
        if kept is not None and kept.version == version:
            self._answers.move_to_end(sweep_id)
            return kept
        answer = await to_thread.run_sync(self._build, sweep_id, version, kept)
        self._answers[sweep_id] = answer
        self._answers.move_to_end(sweep_id)
        while len(self._answers) > CACHED_SWEEPS:
            self._answers.popitem(last=False)
        return answer

    def _build(self, sweep_id: str, version: int, kept: _Answer | None) -> _Answer:
        store = self.store
        sweep = self._get(sweep_id)
        changed = store.sweep_changes(sweep_id, kept.version) if kept is not None else None
        if kept is None or changed is None:
            results = store.sweep_results(sweep_id)
        elif changed:
            results = {**kept.results, **store.sweep_results(sweep_id, changed)}
        else:
            results = kept.results
        shape = self.describe(sweep, results)
        return _Answer(version, results, shape, json.dumps(shape))

    async def list_page(self, limit: int, page_token: str | None) -> dict[str, Any]:
        """A page of sweeps, newest first, without their tables (SweepList)."""
        return await to_thread.run_sync(self._list_page, limit, page_before(page_token))

    def _list_page(self, limit: int, before: int | None) -> dict[str, Any]:
        rows, total = self.store.list_sweeps(limit=limit, before_seq=before)
        counts = self.store.sweep_counts([s.id for _, s in rows])
        sweeps = [self._summary(s, counts[s.id]) for _, s in rows]
        return {"sweeps": sweeps, "total": total, "next_page_token": next_page_token(rows, limit)}

    def describe(self, sweep: Sweep, results: dict[int, dict[str, Any]]) -> dict[str, Any]:
        """The REST shape of a sweep, with its table: one row per point, from its newest
        job's row in the store (`results`: JobStore.sweep_results); see
        sweep_rows.results_table. Pure: no store, no lock."""
        found: dict[str, Any] = {}
        for r in results.values():
            found[r["state"]] = found.get(r["state"], 0) + 1
            if r.get("finished_at"):
                found["finished_at"] = max(found.get("finished_at") or 0, r["finished_at"])
        columns, info, rows = results_table(sweep, results)
        summary = self._summary(sweep, found)
        return {**summary, "columns": columns, "column_info": info, "rows": rows}

    def _summary(self, sweep: Sweep, found: dict[str, Any]) -> dict[str, Any]:
        total = len(sweep.points)
        counts = {"total": total, **{s: int(found.get(s, 0)) for s in STATES}}
        state = sweep_state(counts, sweep.cancelled)
        done = state in ("completed", "failed", "cancelled")
        return {
            "id": sweep.id,
            "name": sweep.name,
            "notebook": sweep.notebook,
            "backend": sweep.backend,
            "environment": sweep.environment,
            "state": state,
            "created_at": _iso(sweep.created_at),
            "finished_at": _iso(found.get("finished_at")) if done else None,
            "parameters": list(sweep.keys),
            "collect": list(sweep.collect),
            "counts": counts,
            "engine": {"submissions": sweep.submissions, "batch": sweep.batch},
            "warnings": list(sweep.warnings),
        }

    # -- submit ---------------------------------------------------------------------------
    async def submit(self, body: Any, owner: str = "") -> tuple[dict[str, Any], bool]:
        """(the sweep, created). A retried POST with the same idempotency_key and body gets
        the sweep created the first time."""
        sweep, jobs = await to_thread.run_sync(self._create, body, owner)
        if jobs:
            self._announce(sweep, jobs)
        return await self.get(sweep.id), bool(jobs)

    def _create(self, body: Any, owner: str) -> tuple[Sweep, list[Job]]:
        """Validate everything, snapshot every point, store the sweep and its points, submit:
        one trip off the event loop. Any bad input is a 4xx before anything is created."""
        if not isinstance(body, dict):
            raise InvalidRequest("the request body must be a JSON object")
        check_json(body)
        key = body.get("idempotency_key")
        if key is not None and not (isinstance(key, str) and 0 < len(key) <= 200):
            raise InvalidRequest("'idempotency_key' must be a string of 1-200 characters")
        fingerprint = body_fingerprint(body)
        if key:
            existing = self.store.sweep_by_key(key)
            if existing is not None:
                return same_request(existing, key, fingerprint), []
        request = {k: v for k, v in body.items() if k not in (*SWEEP_FIELDS, "idempotency_key")}
        spec = self.jobs.parse(request)  # the job's fields: the same 4xx as POST jobs
        plan = parse_sweep(
            body.get("sweep"),
            body.get("collect"),
            fixed=spec.parameters,
            max_points=self.max_points,
            max_parameters_bytes=self.jobs.limits.max_parameters_bytes,
            max_total_bytes=self.max_total_bytes,
        )
        warnings = parameter_warnings(
            spec.document, {**spec.parameters, **dict.fromkeys(plan.keys)}
        )
        backend = self.jobs.backends[spec.backend]
        sweep = Sweep(
            id=uuid.uuid4().hex[:12],
            name=spec.name,
            notebook=spec.notebook,
            backend=spec.backend,
            environment=spec.environment,
            keys=list(plan.keys),
            points=plan.points,
            collect=list(plan.collect),
            request=request,
            grid=plan.grid,
            owner=owner,
            idempotency_key=key or None,
            request_hash=fingerprint,
            batch=bool(backend.capabilities.get("batch_submit")),
            warnings=warnings,
        )
        jobs = self._point_jobs(sweep, spec, range(len(plan.points)))
        try:
            self._store_and_submit(sweep, spec, jobs, new=True)
        except Conflict:
            # The same idempotency key raced us: answer with the sweep that won.
            winner = self.store.sweep_by_key(key) if key else None
            if winner is None:
                raise
            return same_request(winner, key, fingerprint), []
        return sweep, jobs

    def _point_jobs(self, sweep: Sweep, spec: JobSpec, points: Any) -> list[Job]:
        jobs = []
        for i in points:
            values = sweep.points[i]
            label = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in values.items())
            if len(label) > MAX_POINT_LABEL:
                label = label[: MAX_POINT_LABEL - 1] + "…"
            point_spec = replace(
                spec,
                parameters={**spec.parameters, **values},
                name=f"{spec.name} ({label})"[:200],
                idempotency_key=None,
            )
            job = self.jobs.new_job(point_spec, sweep.owner, "", uuid.uuid4().hex[:12])
            job.sweep_id, job.point, job.collect = sweep.id, i, list(sweep.collect)
            jobs.append(job)
        return jobs

    def _store_and_submit(self, sweep: Sweep, spec: JobSpec, jobs: list[Job], new: bool) -> None:
        """Snapshot the points, store them (with the sweep when it is `new`, else beside its
        earlier points), hand them to the engine. On any failure nothing of them stays: not
        the jobs, not their snapshots, nor a new sweep; the sweep's stored record is as it
        was."""
        folders = self._stage(sweep, spec, jobs)
        ids = {j.id for j in jobs}
        self.jobs.submitting.update(ids)
        try:
            try:
                if new:
                    self.store.insert_sweep(sweep, jobs)
                else:
                    self.store.add_sweep_jobs(sweep, jobs)
            except BaseException:
                self._unstage(jobs)
                raise
            self._submit(sweep, jobs, folders, sweep_created=new)
        finally:
            self.jobs.submitting.difference_update(ids)

    def _stage(self, sweep: Sweep, spec: JobSpec, jobs: list[Job]) -> list[Path]:
        """Each point's snapshot in its own staging folder (what recovery and the monitor
        expect), its inputs as POST jobs stages them (spec.inputs, the same limits). The first
        is staged as any job's; the others share its files as hard links (inputs are not
        copied N times), each with its own params.json."""
        root, staging = self.jobs.root_dir, self.jobs.staging_root
        env = self.jobs.environments[spec.environment]
        plan = input_plan(root, spec.notebook, spec.inputs, self.jobs.limits, env)
        folders = [staging / j.id for j in jobs]
        try:
            stage(root, jobs[0], folders[0], plan=plan)
            if sweep.collect:
                (folders[0] / COLLECT_FILE).write_text(json.dumps(sweep.collect))
            for job, folder in zip(jobs[1:], folders[1:], strict=True):
                shutil.copytree(folders[0], folder, symlinks=True, copy_function=_link)
                params = folder / "params.json"
                params.unlink()  # a link to the first point's: replaced, not written through
                params.write_text(json.dumps(job.parameters))
        except BaseException:
            self._unstage(jobs)
            raise
        return folders

    def _unstage(self, jobs: list[Job]) -> None:
        for job in jobs:
            shutil.rmtree(self.jobs.staging_root / job.id, ignore_errors=True)

    def _submit(
        self, sweep: Sweep, jobs: list[Job], folders: list[Path], sweep_created: bool
    ) -> None:
        """The stored points to the engine (one submission where the backend batches). On
        failure nothing stays: not the jobs, not their snapshots (nor a new sweep). Once they
        are submitted the sweep is no longer cancelled (a resubmission runs its points)."""
        backend = self.jobs.backends[sweep.backend]
        try:
            refs = backend.submit_many(jobs, folders, self.jobs.environments[sweep.environment])
        except BaseException:
            self.store.delete_jobs([j.id for j in jobs], sweep.id, drop_sweep=sweep_created)
            self._unstage(jobs)
            raise
        for job, ref in zip(jobs, refs, strict=True):
            job.engine_ref, job.message = ref, "submitted"
        sweep.submissions += 1 if sweep.batch else len(jobs)
        sweep.cancelled = False
        self.store.update_many(jobs)
        self.store.update_sweep(sweep)

    def _announce(self, sweep: Sweep, jobs: list[Job]) -> None:
        self.jobs.generation[sweep.backend] += 1
        for job in jobs:
            self.jobs.emit(job, None)
        self.jobs.wake()

    # -- actions --------------------------------------------------------------------------
    async def cancel(self, sweep_id: str) -> dict[str, Any]:
        """Cancel every active point (one engine removal where the backend can). Idempotent:
        a sweep with no active point is answered as it is."""
        sweep = await to_thread.run_sync(self._get, sweep_id)
        service = self.jobs
        previous: dict[str, JobState] = {}
        async with service.locks[sweep.backend]:
            jobs = await to_thread.run_sync(self.store.sweep_jobs, sweep_id)
            if any(j.id in service.submitting for j in jobs):
                raise Conflict(
                    f"sweep {sweep_id} is being submitted right now; cancel it in a moment"
                )
            active = [j for j in jobs if not j.state.final and j.id not in service.finishing]
            if active:
                await to_thread.run_sync(service.backends[sweep.backend].cancel_many, active)
                previous = {j.id: j.state for j in active}
                now = time.time()
                for job in active:
                    job.state, job.finished_at = JobState.CANCELLED, now
                    job.message = "cancelled by the user (the whole sweep)"
                sweep.cancelled = True
                await to_thread.run_sync(self._record_cancel, sweep, active)
                service.generation[sweep.backend] += 1
        for job in active:
            service.live_tails.pop(job.id, None)
            service.emit(job, previous[job.id])
        return await self.get(sweep_id)

    def _record_cancel(self, sweep: Sweep, jobs: list[Job]) -> None:
        self.store.update_many(jobs)
        self.store.update_sweep(sweep)
        for job in jobs:
            drop_staging(self.jobs.staging_root, job)

    async def resubmit(self, sweep_id: str) -> dict[str, Any]:
        """The failed and cancelled points again, as new jobs of the sweep (snapshots of the
        notebook as it is now: fix it, then resubmit); each row shows its newest attempt."""
        sweep, jobs = await to_thread.run_sync(self._resubmit, sweep_id)
        self._announce(sweep, jobs)
        return await self.get(sweep_id)

    def _resubmit(self, sweep_id: str) -> tuple[Sweep, list[Job]]:
        with self._resubmitting:
            sweep = self._get(sweep_id)
            final = (JobState.FAILED, JobState.CANCELLED)
            latest = self.store.sweep_jobs(sweep_id)
            again = sorted(j.point for j in latest if j.state in final and j.point is not None)
            if not again:
                raise Conflict(f"sweep {sweep_id} has no failed or cancelled point to resubmit")
            spec = self.jobs.parse(sweep.request)  # checked again: the notebook may be gone
            jobs = self._point_jobs(sweep, spec, again)
            self._store_and_submit(sweep, spec, jobs, new=False)
            return sweep, jobs


@dataclass
class _Answer:
    version: int  # the store's version of the sweep it was built at
    results: dict[int, dict[str, Any]]  # point -> its newest job's row
    shape: dict[str, Any]
    text: str
    csv: str | None = None


def _link(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
