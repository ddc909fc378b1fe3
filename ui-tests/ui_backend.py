"""A second backend for the Galata tests only: its jobs wait in a queue and never start.

It publishes other resource fields (executors, a choice of size) and fewer capabilities
(cancel only: no hold, no progress, no live logs) than the HTCondor backend, so the UI tests
see the dialog and the job view follow what a backend publishes. Not an engine, and not a
mock of one: nothing runs.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, ClassVar

from swan_ml_ext.backends.base import Backend, BackendStatus, Logs
from swan_ml_ext.jobs.model import Job, JobState, Update


class QueueBackend(Backend):
    name: ClassVar[str] = "queue"
    title: ClassVar[str] = "Waiting queue (UI tests)"
    # cancel only: the base capabilities
    engine_ref_labels: ClassVar[list[tuple[str, str]]] = [("ticket", "ticket")]

    _tickets = itertools.count(1)

    def resource_schema(self, limits: Any) -> dict[str, Any]:
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "title": "Resources",
            "additionalProperties": False,
            "properties": {
                "executors": {
                    "type": "integer",
                    "title": "Executors",
                    "description": "parallel workers",
                    "minimum": 1,
                    "maximum": 8,
                    "default": 2,
                },
                "executor_size": {
                    "type": "string",
                    "title": "Executor size",
                    "enum": ["small", "large"],
                    "default": "small",
                },
            },
        }

    def status(self) -> BackendStatus:
        return BackendStatus(self.name, True)

    def submit(self, job: Job, staged: Path, environment: Any) -> dict[str, Any]:
        return {"ticket": next(self._tickets)}

    def resubmit(self, job: Job, staged: Path, environment: Any) -> dict[str, Any]:
        return self.submit(job, staged, environment)

    def poll(self, jobs: list[Job]) -> dict[str, Update]:
        return {j.id: Update(JobState.PENDING, message="waiting in the queue") for j in jobs}

    def cancel(self, job: Job) -> None:
        pass

    def fetch(self, job: Job, staged: Path) -> None:
        pass

    def logs(self, job: Job, staged: Path, tail: int | None = None) -> Logs:
        return Logs("", "", False)
