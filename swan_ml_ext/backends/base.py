"""The backend protocol. Backends are swappable classes (traitlets Type), found by name."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from traitlets.config import LoggingConfigurable

from ..jobs.model import Job, Update
from ..jobs.spec import Environment


@dataclass
class BackendStatus:
    name: str
    available: bool
    reason: str = ""
    capabilities: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "available": self.available,
            "capabilities": self.capabilities,
            "resources": self.resources,
            "stats": self.stats,
        }
        if not self.available:
            d["reason"] = self.reason
        return d


@dataclass
class Logs:
    stdout: str
    stderr: str
    live: bool


class Backend(LoggingConfigurable):
    """One engine. Every method may block: the service calls them in a worker thread.

    Engine failures (unreachable, refused) raise jobs.model.BackendUnavailable.
    """

    name: ClassVar[str] = ""
    supports_hold: ClassVar[bool] = False

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.engine_queries = 0  # engine round trips made by poll (benchmarks read it)
        self.polls = 0  # monitor passes that polled this backend

    def stats(self) -> dict[str, int]:
        return {"engine_queries": self.engine_queries, "monitor_polls": self.polls}

    def status(self) -> BackendStatus:
        raise NotImplementedError

    def submit(self, job: Job, staged: Path, environment: Environment) -> dict[str, Any]:
        """Start the staged job; return its engine_ref."""
        raise NotImplementedError

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
