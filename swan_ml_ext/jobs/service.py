"""JobService: the one entry point for REST, magics, CLI and the monitor. No tornado."""

from __future__ import annotations

import asyncio
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
from .detect import detect_inputs
from .files import last_lines, read_tail
from .model import (
    Conflict,
    InvalidRequest,
    Job,
    JobSpec,
    JobState,
    NotFound,
    SwanMLError,
)
from .parameters_cell import parameter_warnings
from .spec import Environment, Limits, check_json, input_plan, parse_spec
from .store import JobStore
from .submission import (
    body_fingerprint,
    generic_preview,
    next_page_token,
    page_before,
    same_request,
)
from .tracking import EngineUpdates
from .workspace import drop_staging, stage

EventSink = Callable[[Job, "JobState | None"], None]

# The job id a preview shows: the real one is assigned when the job is submitted.
PREVIEW_JOB_ID = "xxxxxxxxxxxx"


class JobService(EngineUpdates):
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
        rows, total = self.store.list_public(
            backend=backend, states=states, limit=limit, before_seq=page_before(page_token)
        )
        next_token = next_page_token(rows, limit)
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
        fingerprint = body_fingerprint(body)
        key = body.get("idempotency_key") if isinstance(body, dict) else None
        if isinstance(key, str) and key:
            existing = self.store.by_idempotency_key(key)
            if existing is not None:
                return fingerprint, same_request(existing, key, fingerprint)
        return fingerprint, None

    def parse(self, body: Any) -> JobSpec:
        return parse_spec(
            body,
            root_dir=self.root_dir,
            backends=self.backends,
            environments=self.environments,
            limits=self.limits,
            default_backend=self.default_backend,
            default_environment=self.default_environment,
        )

    def new_job(self, spec: JobSpec, owner: str, fingerprint: str, job_id: str) -> Job:
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
        spec = self.parse(body)
        job = self.new_job(spec, owner, fingerprint, uuid.uuid4().hex[:12])
        # The inputs walked again for the snapshot, and checked again (they may have grown).
        env = self.environments[job.environment]
        plan = input_plan(self.root_dir, job.notebook, job.inputs, self.limits, env)
        stage(self.root_dir, job, self.staging_root / job.id, plan=plan)
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
            return same_request(winner, key, fingerprint), False
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
        spec = self.parse(body)
        job = self.new_job(spec, owner, fingerprint, PREVIEW_JOB_ID)
        backend = self.backends[job.backend]
        scratch = Path(tempfile.mkdtemp(prefix="swan-ml-preview-"))
        try:
            staged = scratch / job.id
            stage(self.root_dir, job, staged, link_inputs=True)
            try:
                shown = backend.preview(job, staged, self.environments[job.environment])
                fmt, text = str(shown["format"]), str(shown["text"])
            except NotImplementedError:
                fmt, text = "text", generic_preview(job, backend)
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
            "detected_inputs": self._detected(spec),
        }

    # -- check --------------------------------------------------------------------------
    async def check(self, body: Any, owner: str = "") -> dict[str, Any]:
        """Could any machine of the chosen backend ever run the job of this body, and if not
        why, in words (the backend's fit over its cached machine ads), plus warnings about
        the request. The same validation as submit (the same 4xx); nothing is stored, staged
        or sent to the engine. The one place the answer is built."""
        return await to_thread.run_sync(self._check, body)

    def _check(self, body: Any) -> dict[str, Any]:
        self._check_key(body)
        spec = self.parse(body)
        fit = self.backends[spec.backend].fit(spec.resources)
        detected = self._detected(spec)
        warnings = parameter_warnings(spec.document, spec.parameters)
        sendable = [d["path"] for d in detected if not d["in_place"]]
        if sendable and not self.backends[spec.backend].capabilities.get("inputs", True):
            warnings.append(
                f"the notebook reads {', '.join(sendable[:5])}{' …' * (len(sendable) > 5)},"
                f" but the {spec.backend} backend sends no input files: read them from a shared"
                " filesystem, or use a backend that sends inputs"
            )
        return {
            "feasible": bool(fit.get("feasible", True)),
            "message": str(fit.get("message") or ""),
            "reasons": [str(r) for r in fit.get("reasons") or []],
            "matching": fit.get("matching"),
            "warnings": warnings,
            "detected_inputs": detected,
        }

    def _detected(self, spec: JobSpec) -> list[dict[str, Any]]:
        """What the notebook's code reads (jobs/detect.py), proposed as inputs by check and
        preview: never the jobs' output folder, nor the staging folder when it lies under
        the root. A nicety: when it fails, the answer proposes nothing."""
        try:
            exclude = [self.output_dir] if self.output_dir else []
            staging = self.staging_root.resolve()
            if self.root_dir in staging.parents:
                exclude.append(staging.relative_to(self.root_dir).as_posix())
            return detect_inputs(
                self.root_dir,
                spec.notebook,
                spec.document,
                self.environments[spec.environment].shared_prefixes,
                max_files=self.limits.max_inputs_files,
                exclude=exclude,
            )
        except (OSError, ValueError, RecursionError, SwanMLError) as e:  # answers stand without
            self.log.warning("swan-ml: detecting the inputs of %s failed: %s", spec.notebook, e)
            return []

    def _discard(self, job_id: str) -> None:
        self.store.delete(job_id)
        shutil.rmtree(self.staging_root / job_id, ignore_errors=True)

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
        await to_thread.run_sync(drop_staging, self.staging_root, job)
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
        if job.state.final:
            logs = await to_thread.run_sync(self._final_logs, job, tail)
        else:  # what the last monitor pass read: no engine query per request
            tail_text = last_lines(self.live_tails.get(job.id, ""), tail)
            logs = Logs(stdout=tail_text, stderr="", live=True)
        return {
            "id": job.id,
            "state": job.state.value,
            "live": logs.live,
            "stdout": logs.stdout,
            "stderr": logs.stderr,
        }

    def _final_logs(self, job: Job, tail: int | None) -> Logs:
        """From the job's published output folder, read from the end of the files; from the
        backend when the outputs never reached the workspace."""
        folder = job.outputs.get("folder")
        out = self.root_dir / folder if folder else None
        if out is not None and (out / "stdout.txt").exists():
            return Logs(
                read_tail(out / "stdout.txt", tail), read_tail(out / "stderr.txt", tail), False
            )
        return self.backends[job.backend].logs(job, self.staging_root / job.id, tail)
