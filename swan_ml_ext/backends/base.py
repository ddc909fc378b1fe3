"""The backend protocol. Backends are found by name (see backends/__init__.py) and publish
what differs between engines as data: capabilities, the resources they accept (a JSON
Schema), and labels for their engine references."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from traitlets.config import LoggingConfigurable

from ..jobs.model import Job, JobState, Update
from ..jobs.spec import Environment, Limits


@dataclass
class BackendStatus:
    """What the engine says now (GET backends adds what the backend class publishes)."""

    name: str
    available: bool
    reason: str = ""
    resources: dict[str, Any] = field(default_factory=dict)  # free slots, GPUs by type...


@dataclass
class Logs:
    stdout: str
    stderr: str
    live: bool


def integer(title: str, description: str, lo: int, hi: int | None, default: Any, **kw: Any):
    """A JSON Schema integer field ('x-unit' says the unit to a form)."""
    field_: dict[str, Any] = {"type": "integer", "title": title, "description": description}
    field_["minimum"] = lo
    if hi is not None:
        field_["maximum"] = hi
    if default is None:
        field_["type"] = ["integer", "null"]
    field_["default"] = default
    return {**field_, **kw}


def enforce_max_runtime(
    jobs: list[Job], updates: dict[str, Update], stop: Callable[[Job], None]
) -> None:
    """A running job past its resources' max_runtime_s is stopped (`stop`) and failed,
    saying so: its update in `updates` is replaced (a backend's poll calls this)."""
    now = time.time()
    for job in jobs:
        limit = job.resources.get("max_runtime_s")
        u = updates.get(job.id)
        state = u.state if u is not None else job.state
        started = job.started_at or (u.started_at if u is not None else None)
        if not limit or state != JobState.RUNNING or not started or now - started <= limit:
            continue
        stop(job)
        updates[job.id] = Update(
            JobState.FAILED,
            message=f"exceeded the maximum runtime of {limit} s; the run was stopped",
            finished_at=now,
            has_outputs=False,
        )


class Backend(LoggingConfigurable):
    """One engine. Every method may block: the service calls them in a worker thread.

    Engine failures (unreachable, refused) raise jobs.model.BackendUnavailable.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    # What the UI, the magics and the CLI may offer for this engine's jobs. A backend states
    # only what differs: capabilities = {**Backend.capabilities, "hold": True, ...}.
    capabilities: ClassVar[dict[str, bool]] = {
        "cancel": True,
        "hold": False,
        "release": False,
        "live_logs": False,
        "progress": False,
        # submit_many hands a sweep's points to the engine in one submission
        "batch_submit": False,
        # the job's `inputs` (files and folders) reach its working folder
        "inputs": True,
    }
    # How to show engine_ref: (key, label) in order; keys without a label are not shown.
    engine_ref_labels: ClassVar[list[tuple[str, str]]] = []

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.engine_queries = 0  # engine round trips made by poll (benchmarks read it)
        self.polls = 0  # monitor passes that polled this backend
        # engine submissions, counted by the backend's submit (a batch of points counts once)
        self.submissions = 0

    def stats(self) -> dict[str, int]:
        return {
            "engine_queries": self.engine_queries,
            "monitor_polls": self.polls,
            "submissions": self.submissions,
        }

    # -- published as data ---------------------------------------------------------------
    def resource_schema(self, limits: Limits) -> dict[str, Any]:
        """JSON Schema (draft 2020-12) of the `resources` object this backend accepts, with
        the server's limits as minimum/maximum. The server validates against it; the dialog
        renders it; the CLI takes its fields as --resource key=value."""
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "title": "Resources",
            "additionalProperties": False,
            "properties": {
                "cpus": integer("CPUs", "CPU cores for the job", 1, limits.max_cpus, 1),
                "memory_mb": integer(
                    "Memory",
                    "memory for the job, in MB",
                    1,
                    limits.max_memory_mb,
                    2048,
                    **{"x-unit": "MB"},
                ),  # fmt: skip
                "disk_mb": integer(
                    "Disk",
                    "scratch disk for the job, in MB",
                    1,
                    limits.max_disk_mb,
                    4096,
                    **{"x-unit": "MB"},
                ),  # fmt: skip
                "max_runtime_s": integer(
                    "Maximum runtime",
                    "the job is stopped and failed after this many seconds",
                    1,
                    limits.max_runtime_s,
                    None,
                    **{"x-unit": "s"},
                ),  # fmt: skip
            },
        }

    def check_resources(self, resources: dict[str, Any]) -> None:
        """Rules across fields the schema cannot say; raise InvalidRequest."""

    def fit(self, resources: dict[str, Any]) -> dict[str, Any]:
        """Could any of the engine's machines ever run a job with these (validated)
        resources, and if not why, in words: {"feasible", "message", "reasons", "matching"}
        (POST jobs/check). An engine that publishes no machine ads cannot tell: feasible,
        no message."""
        return {"feasible": True, "message": "", "reasons": [], "matching": None}

    def describe(self, status: BackendStatus, limits: Limits) -> dict[str, Any]:
        """This backend in GET backends."""
        d: dict[str, Any] = {
            "name": self.name,
            "title": self.title or self.name,
            "available": status.available,
            "capabilities": dict(self.capabilities),
            "resource_schema": self.resource_schema(limits),
            "engine_ref_labels": [{"key": k, "label": v} for k, v in self.engine_ref_labels],
            "resources": status.resources,
            "stats": self.stats(),
        }
        if not status.available:
            d["reason"] = status.reason
        return d

    def preview(self, job: Job, staged: Path, environment: Environment) -> dict[str, str]:
        """What submit() would hand to the engine, submitting nothing: {"format": e.g.
        "htcondor-submit" or "kfp-pipeline-yaml", "text": ...}. `staged` holds the job's
        snapshot as submit() would see it (a scratch folder, removed afterwards)."""
        raise NotImplementedError

    # -- the engine ------------------------------------------------------------------------
    def status(self) -> BackendStatus:
        raise NotImplementedError

    def submit(self, job: Job, staged: Path, environment: Environment) -> dict[str, Any]:
        """Start the staged job; return its engine_ref."""
        raise NotImplementedError

    def submit_many(
        self, jobs: list[Job], staged: list[Path], environment: Environment
    ) -> list[dict[str, Any]]:
        """Start several staged jobs (a sweep's points: same notebook, resources and
        environment; their own parameters); return their engine_refs in order. This default
        submits them one by one; a backend that can do it in one engine submission overrides
        it and says so in capabilities["batch_submit"]. All or nothing: when one fails, those
        already submitted are cancelled before the error is raised."""
        refs: list[dict[str, Any]] = []
        try:
            for job, folder in zip(jobs, staged, strict=True):
                refs.append(self.submit(job, folder, environment))
        except BaseException:
            for job, ref in zip(jobs, refs, strict=False):
                try:
                    self.cancel(replace(job, engine_ref=ref))
                except Exception as e:  # best effort: the submission error is what matters
                    self.log.warning("swan-ml: job %s could not be cancelled: %s", job.id, e)
            raise
        return refs

    def cancel_many(self, jobs: list[Job]) -> None:
        """Remove these jobs from the engine (a sweep's active points). This default cancels
        them one by one."""
        for job in jobs:
            self.cancel(job)

    def poll(self, jobs: list[Job]) -> dict[str, Update]:
        """ONE batched engine query for all these active jobs; job id -> update."""
        raise NotImplementedError

    def fetch(self, job: Job, staged: Path) -> None:
        """Bring the worker's output/ (and stdout/stderr) back into the staged folder."""
        raise NotImplementedError

    def resubmit(self, job: Job, staged: Path, environment: Environment) -> dict[str, Any]:
        """Submit again a job whose engine lost it before it started, or whose submission was
        interrupted (job.engine_ref empty): first remove whatever of it the engine has, so it
        never runs twice; returns the new engine_ref."""
        raise NotImplementedError

    def cancel(self, job: Job) -> None:
        """Remove the job from the engine; also for a job whose submission was interrupted
        (job.engine_ref empty), where the engine may or may not have it."""
        raise NotImplementedError

    def hold(self, job: Job) -> None:
        raise NotImplementedError

    def release(self, job: Job) -> None:
        raise NotImplementedError

    def logs(self, job: Job, staged: Path, tail: int | None = None) -> Logs:
        """The stdout/stderr of a finished job whose outputs were not published (its last
        `tail` lines, read from the end; live tails come with poll updates)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release engine connections (server shutdown)."""
