"""JobService: the one entry point for REST, magics, CLI and the monitor. No tornado."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from anyio import to_thread

from ..backends.base import Backend, Logs
from .files import read_tail
from .model import (
    FINAL_STATES,
    Conflict,
    InvalidRequest,
    Job,
    JobSpec,
    JobState,
    NotFound,
    Unprocessable,
    Update,
)
from .spec import Environment, Limits, check_json, parse_spec
from .store import JobStore

EventSink = Callable[[Job, "JobState | None"], None]

# The job id a preview shows: the real one is assigned when the job is submitted.
PREVIEW_JOB_ID = "xxxxxxxxxxxx"


class JobService:
    def __init__(
        self,
        *,
        store: JobStore,
        backends: dict[str, Backend],
        environments: dict[str, Environment],
        limits: Limits,
        root_dir: str | Path,
        staging_root: str | Path,
        output_dir: str,
        default_backend: str,
        default_environment: str,
        emit: EventSink | None = None,
        log: logging.Logger | None = None,
    ):
        self.store = store
        self.backends = backends
        self.environments = environments
        self.limits = limits
        self.root_dir = Path(root_dir).resolve()
        self.staging_root = Path(staging_root)
        self.output_dir = output_dir.strip("/")
        self.default_backend = default_backend
        self.default_environment = default_environment
        # Jobs whose submission runs in this process right now (stored, not yet submitted).
        # A stored job without an engine reference that is NOT here was interrupted (the
        # server died mid-submission): the monitor submits it again from its snapshot.
        self.submitting: set[str] = set()
        self.emit = emit or (lambda job, previous: None)
        self.log = log or logging.getLogger(__name__)
        self.wake: Callable[[], None] = lambda: None  # set by the monitor
        self.live_tails: dict[str, str] = {}  # job id -> log tail the running job reported
        # One lock per backend, held by that backend's monitor from reading its active jobs to
        # writing their updates, and by user actions on its jobs (cancel, hold, release): a
        # poll never writes back a stale state over an action taken meanwhile, and a slow
        # engine holds up nothing of another.
        self.locks = {name: asyncio.Lock() for name in backends}
        self.finishing: set[str] = set()  # jobs whose outputs are being fetched now
        self.unavailable: dict[str, str] = {}  # backend -> why its monitor cannot reach it
        # Bumped whenever a job of the backend is written by anything but its monitor pass
        # (submit, user actions, recovery, finish): the monitor re-reads its active jobs then.
        self.generation = {name: 0 for name in backends}

    # -- reads --------------------------------------------------------------------------
    async def describe_backends(self) -> list[dict[str, Any]]:
        """Each backend as GET backends shows it (statuses asked concurrently)."""
        statuses = await asyncio.gather(
            *(to_thread.run_sync(b.status, abandon_on_cancel=True) for b in self.backends.values())
        )
        described = []
        for name, b, status in zip(self.backends, self.backends.values(), statuses, strict=True):
            why = self.unavailable.get(name)
            if why and status.available:  # the monitor's query fails although status answers
                status = replace(status, available=False, reason=why)
            described.append(b.describe(status, self.limits))
        return described

    async def get(self, job_id: str) -> Job:
        job = await to_thread.run_sync(self.store.get, job_id)
        if job is None:
            raise NotFound(f"no job with id {job_id!r}")
        return job

    # Reads of the REST shape run inline: they are indexed SQLite reads of stored JSON text
    # (p95 0.04-0.4 ms with 10,000 jobs, bench/list_jobs.py), while a hop to a worker thread
    # costs ~0.5 ms on a 2-core machine. Writes, engine calls and file copies use threads.
    async def get_json(self, job_id: str) -> str:
        """The job's REST JSON text, as stored (no decode/encode per request)."""
        text = self.store.get_public(job_id)
        if text is None:
            raise NotFound(f"no job with id {job_id!r}")
        return text

    async def list_json(
        self,
        *,
        backend: str | None,
        states: list[str] | None,
        limit: int,
        page_token: str | None,
    ) -> str:
        """A page of jobs, newest first, as the REST JSON text (see JobList in openapi.yaml)."""
        if backend is not None and backend not in self.backends:
            raise InvalidRequest(f"unknown backend {backend[:100]!r}")
        valid = {s.value for s in JobState}
        for s in states or []:
            if s not in valid:
                raise InvalidRequest(
                    f"unknown state {s[:100]!r}; one of: {', '.join(sorted(valid))}"
                )
        before = None
        if page_token is not None:
            # ASCII digits only ('²'.isdigit() is True) and within SQLite's 64-bit integers.
            if not (page_token.isascii() and page_token.isdigit() and len(page_token) <= 18):
                raise InvalidRequest("invalid page_token: use next_page_token of a previous page")
            before = int(page_token)
        rows, total = self.store.list_public(
            backend=backend, states=states, limit=limit, before_seq=before
        )
        next_token = str(rows[-1][0]) if len(rows) == limit and rows[-1][0] > 1 else None
        return (
            '{"jobs":[' + ",".join(text for _, text in rows) + "]"
            f',"total":{total},"next_page_token":{json.dumps(next_token)}}}'
        )

    # -- submit -------------------------------------------------------------------------
    async def submit(self, body: Any, owner: str = "") -> tuple[Job, bool]:
        """Returns (job, created). A retried POST with the same idempotency_key → same job."""
        job, created = await to_thread.run_sync(self._create, body, owner)
        if created:
            self.generation[job.backend] += 1
            self.emit(job, None)
            self.wake()
        return job, created

    def _create(self, body: Any, owner: str) -> tuple[Job, bool]:
        """Validate, snapshot, store (pending), submit: one trip off the event loop."""
        job, created = self._prepare(body, owner)
        if not created:
            return job, False
        try:
            job.engine_ref = self.backends[job.backend].submit(
                job, self.staging_root / job.id, self.environments[job.environment]
            )
            job.message = "submitted"
            self.store.update(job)
        except BaseException:
            # Never leave a half-created job: no row, no staging folder.
            self._discard(job.id)
            raise
        finally:
            self.submitting.discard(job.id)
        return job, True

    # Submit and preview check a body with these two, in this order: every bad input is the
    # same 4xx with the same message for both.
    def _check_key(self, body: Any) -> tuple[str, Job | None]:
        """The body's JSON, then its idempotency_key: (fingerprint, the job created earlier
        with this key and this body, else None); a key used before with another body is a
        422. Reads only."""
        if isinstance(body, dict):
            check_json(body)  # before anything touches the key (SQLite cannot bind surrogates)
        fingerprint = _fingerprint(body)
        key = body.get("idempotency_key") if isinstance(body, dict) else None
        if isinstance(key, str) and key:
            existing = self.store.by_idempotency_key(key)
            if existing is not None:
                return fingerprint, _same_request(existing, key, fingerprint)
        return fingerprint, None

    def _parse(self, body: Any) -> JobSpec:
        return parse_spec(
            body,
            root_dir=self.root_dir,
            backends=self.backends,
            environments=self.environments,
            limits=self.limits,
            default_backend=self.default_backend,
            default_environment=self.default_environment,
        )

    def _new_job(self, spec: JobSpec, owner: str, fingerprint: str, job_id: str) -> Job:
        return Job(
            id=job_id,
            name=spec.name,
            backend=spec.backend,
            state=JobState.PENDING,
            notebook=spec.notebook,
            parameters=spec.parameters,
            resources=spec.resources,
            environment=spec.environment,
            kernel_name=spec.kernel_name,
            inputs=spec.inputs,
            idempotency_key=spec.idempotency_key,
            owner=owner,
            message="submitting",
            request_hash=fingerprint,
        )

    def _prepare(self, body: Any, owner: str) -> tuple[Job, bool]:
        """Validate, snapshot and store (pending), in one trip off the event loop."""
        fingerprint, existing = self._check_key(body)
        if existing is not None:  # a retried POST gets its job (even if the notebook changed)
            return existing, False
        spec = self._parse(body)
        job = self._new_job(spec, owner, fingerprint, uuid.uuid4().hex[:12])
        self._stage(job, self.staging_root / job.id)
        self.submitting.add(job.id)
        try:
            self.store.insert(job)
        except Conflict:
            # The same idempotency key raced us: answer with the job that won.
            self.submitting.discard(job.id)
            shutil.rmtree(self.staging_root / job.id, ignore_errors=True)
            key = spec.idempotency_key
            winner = self.store.by_idempotency_key(key) if key else None
            if winner is None:
                raise
            return _same_request(winner, key, fingerprint), False
        except BaseException:
            self.submitting.discard(job.id)
            shutil.rmtree(self.staging_root / job.id, ignore_errors=True)
            raise
        return job, True

    # -- preview ------------------------------------------------------------------------
    async def preview(self, body: Any, owner: str = "") -> dict[str, Any]:
        """What POST jobs with this body would hand to the engine, submitting nothing: the
        same validation (the same 4xx), then the backend's preview of a snapshot taken in a
        scratch folder outside the staging folder and removed afterwards. Nothing is
        stored, staged or sent; the same body gives the same answer."""
        return await to_thread.run_sync(self._preview, body, owner)

    def _preview(self, body: Any, owner: str) -> dict[str, Any]:
        fingerprint, existing = self._check_key(body)
        job = self._new_job(self._parse(body), owner, fingerprint, PREVIEW_JOB_ID)
        backend = self.backends[job.backend]
        scratch = Path(tempfile.mkdtemp(prefix="swan-ml-preview-"))
        try:
            staged = scratch / job.id
            self._stage(job, staged, link_inputs=True)
            try:
                shown = backend.preview(job, staged, self.environments[job.environment])
                fmt, text = str(shown["format"]), str(shown["text"])
            except NotImplementedError:
                fmt, text = "text", _generic_preview(job, backend)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        # Paths as submit() would stage them: the scratch folder stands in for the job's own.
        text = text.replace(str(staged), str(self.staging_root / job.id))
        return {
            "backend": job.backend,
            "format": fmt,
            "text": text,
            "notebook": job.notebook,
            "name": job.name,
            "parameters": job.parameters,
            "resources": dict(job.resources),
            "environment": job.environment,
            "kernel_name": job.kernel_name,
            "inputs": job.inputs,
            "existing_job": existing.id if existing is not None else None,
        }

    def _discard(self, job_id: str) -> None:
        self.store.delete(job_id)
        shutil.rmtree(self.staging_root / job_id, ignore_errors=True)

    def _stage(self, job: Job, staged: Path, link_inputs: bool = False) -> None:
        """Snapshot the notebook, its inputs and the parameters (a preview links the inputs
        instead of copying them: the backend only looks at them)."""
        staged.mkdir(parents=True, exist_ok=False)
        shutil.copyfile(self.root_dir / job.notebook, staged / "notebook.ipynb")
        (staged / "params.json").write_text(json.dumps(job.parameters))
        nb_dir = Path(job.notebook).parent
        for rel in job.inputs:
            p = Path(rel)
            target = p.relative_to(nb_dir) if nb_dir in p.parents else Path(p.name)
            dest = staged / "inputs" / target
            dest.parent.mkdir(parents=True, exist_ok=True)
            if link_inputs:
                dest.symlink_to(self.root_dir / rel)
            else:
                shutil.copy2(self.root_dir / rel, dest)

    # -- actions ------------------------------------------------------------------------
    async def cancel(self, job_id: str) -> Job:
        async with self.locks[(await self.get(job_id)).backend]:
            return await self._cancel(job_id)

    async def _cancel(self, job_id: str) -> Job:
        # Checked before reading the job: a submission that ends in between has stored its
        # engine reference before it left `submitting`.
        if job_id in self.submitting:
            raise Conflict(f"job {job_id} is being submitted right now; cancel it in a moment")
        job = await self._active(job_id, "cancel")
        # Also for a job whose submission was interrupted (no engine reference): the backend
        # removes whatever of it the engine may have got.
        await to_thread.run_sync(self.backends[job.backend].cancel, job)
        previous = job.state
        job.state = JobState.CANCELLED
        job.message = "cancelled by the user"
        job.finished_at = time.time()
        await to_thread.run_sync(self.store.update, job)
        self.generation[job.backend] += 1
        await to_thread.run_sync(self._drop_staging, job)
        self.emit(job, previous)
        return job

    async def hold(self, job_id: str) -> Job:
        async with self.locks[(await self.get(job_id)).backend]:
            return await self._hold_release(job_id, "hold")

    async def release(self, job_id: str) -> Job:
        async with self.locks[(await self.get(job_id)).backend]:
            return await self._hold_release(job_id, "release")

    async def _hold_release(self, job_id: str, verb: str) -> Job:
        job = await self._active(job_id, verb)
        backend = self.backends[job.backend]
        if not backend.capabilities.get(verb):
            raise Conflict(f"the {job.backend} backend cannot {verb} jobs")
        if not job.engine_ref:
            raise Conflict(f"job {job_id} has not reached the {job.backend} engine yet")
        if verb == "release" and job.state != JobState.HELD:
            raise Conflict(f"job {job_id} is {job.state.value}, not held")
        if verb == "hold" and job.state == JobState.HELD:
            raise Conflict(f"job {job_id} is already held")
        await to_thread.run_sync(getattr(backend, verb), job)
        previous = job.state
        if verb == "hold":
            job.state, job.message = JobState.HELD, "held by the user"
        else:
            job.state, job.message = JobState.PENDING, "released; waiting for a slot"
        await to_thread.run_sync(self.store.update, job)
        self.generation[job.backend] += 1
        self.emit(job, previous)
        self.wake()
        return job

    async def _active(self, job_id: str, verb: str) -> Job:
        job = await self.get(job_id)
        if job.state.final:
            raise Conflict(f"cannot {verb} job {job_id}: it is already {job.state.value}")
        return job

    async def logs(self, job_id: str, tail: int | None) -> dict[str, Any]:
        job = await self.get(job_id)
        folder = job.outputs.get("folder")
        if job.state.final and folder and (self.root_dir / folder / "stdout.txt").exists():
            # Published with the executed notebook: read from the end of the files.
            out = self.root_dir / folder
            logs = await to_thread.run_sync(
                lambda: Logs(
                    stdout=read_tail(out / "stdout.txt", tail),
                    stderr=read_tail(out / "stderr.txt", tail),
                    live=False,
                )
            )
        elif job.state.final:
            logs = await to_thread.run_sync(
                self.backends[job.backend].logs, job, self.staging_root / job.id, tail
            )
        else:  # what the last monitor pass read: no engine query per request
            logs = Logs(
                stdout=cut_lines(self.live_tails.get(job.id, ""), tail), stderr="", live=True
            )
        return {
            "id": job.id,
            "state": job.state.value,
            "live": logs.live,
            "stdout": logs.stdout,
            "stderr": logs.stderr,
        }

    # -- monitor side -------------------------------------------------------------------
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
            await to_thread.run_sync(self._drop_staging, job)
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
                outputs = await to_thread.run_sync(self._publish, job, staged)
            except Exception as e:  # the job did finish; say why its outputs are missing
                self.log.warning("swan-ml: outputs of job %s could not be fetched: %s", job.id, e)
                error = str(e)
            async with self.locks[job.backend]:
                job = await self.get(job_id)
                if job.state.final:  # e.g. cancelled meanwhile
                    return
                previous = job.state
                self._record_finish(job, update, staged, outputs, error)
                await to_thread.run_sync(self.store.update, job)
                self.generation[job.backend] += 1
                self.live_tails.pop(job.id, None)
                await to_thread.run_sync(self._drop_staging, job)
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

    def _record_finish(
        self,
        job: Job,
        update: Update,
        staged: Path,
        outputs: dict[str, Any] | None,
        error: str | None,
    ) -> None:
        job.finished_at = update.finished_at or time.time()
        job.state, job.message = update.state, update.message
        if error is not None or outputs is None:
            job.engine_ref["fetch_error"] = error or "no outputs"
            job.message = (job.message + "; " if job.message else "") + (
                f"outputs could not be fetched: {error}"
            )
            return
        job.outputs = outputs
        result = _read_json(staged / "output" / "result.json")
        if result.get("status") == "completed" and job.state == JobState.FAILED:
            job.message = job.message or "the job failed after the notebook completed"
        elif result.get("status") in ("failed", "error"):
            job.state = JobState.FAILED
            job.message = result.get("message") or job.message
        if result.get("assigned_gpus"):
            job.engine_ref.setdefault("assigned_gpus", result["assigned_gpus"])
        if job.state == JobState.COMPLETED and job.progress.get("cells_total"):
            job.progress = {**job.progress, "cells_done": job.progress["cells_total"]}

    def _drop_staging(self, job: Job) -> None:
        """A final job's snapshot is no longer needed, unless its outputs could not be fetched
        (kept so the fetch can be retried)."""
        if "fetch_error" not in job.engine_ref:
            shutil.rmtree(self.staging_root / job.id, ignore_errors=True)

    def _publish(self, job: Job, staged: Path) -> dict[str, Any]:
        """Move the executed notebook and created files into the workspace folder (moved, not
        copied: the staging folder is removed once the job's record says where they are)."""
        out = staged / "output"
        stem = Path(job.notebook).stem
        rel_dir = f"{self.output_dir}/{stem}-{job.id}" if self.output_dir else f"{stem}-{job.id}"
        dest = self.root_dir / rel_dir
        dest.mkdir(parents=True, exist_ok=True)
        outputs: dict[str, Any] = {"folder": rel_dir, "notebook": None, "files": []}
        if (out / "notebook.ipynb").exists():
            shutil.move(out / "notebook.ipynb", dest / f"{stem}.ipynb")
            outputs["notebook"] = f"{rel_dir}/{stem}.ipynb"
        files = out / "files"
        if files.is_dir():
            for p in sorted(files.rglob("*")):
                if p.is_file():
                    rel = p.relative_to(files)
                    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(p, dest / rel)
                    outputs["files"].append(f"{rel_dir}/{rel.as_posix()}")
        for name in ("stdout.txt", "stderr.txt"):
            if (staged / name).exists():
                shutil.move(staged / name, dest / name)
        return outputs


def _fingerprint(body: Any) -> str:
    """The same request, whatever its key order or spacing."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _same_request(existing: Job, key: str, fingerprint: str) -> Job:
    """A retried POST with its key gets its job; the key reused for another request is refused
    (as the IETF Idempotency-Key draft says)."""
    if existing.request_hash and existing.request_hash != fingerprint:
        raise Unprocessable(
            f"idempotency_key {key[:100]!r} was already used for a different request"
            f" (job {existing.id}); use a new key for a new request"
        )
    return existing


def _generic_preview(job: Job, backend: Backend) -> str:
    """For a backend that does not describe its engine request: the job as validated."""
    title = backend.title or backend.name
    shown = {
        "notebook": job.notebook,
        "name": job.name,
        "backend": job.backend,
        "environment": job.environment,
        "kernel_name": job.kernel_name,
        "parameters": job.parameters,
        "resources": job.resources,
        "inputs": job.inputs,
    }
    return (
        f"# The {title} backend does not describe what it hands to its engine.\n"
        "# The job as it would be submitted:\n" + json.dumps(shown, indent=2) + "\n"
    )


def _ref_text(ref: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in ref.items()) or "the job"


def cut_lines(text: str, tail: int | None) -> str:
    if tail is None:
        return text
    lines = text.splitlines(keepends=True)
    return "".join(lines[-tail:]) if tail else ""


def _read_json(p: Path) -> dict[str, Any]:
    try:
        data = json.loads(p.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
