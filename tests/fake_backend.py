"""FakeBackend: an in-memory engine for pool-free tests of the service and the monitor.

Not a mock of HTCondor: it is a backend of its own that keeps its jobs in a dict, whose
states the test sets, and that writes a result the way the runner does.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, ClassVar

from swan_ml_ext.backends.base import Backend, BackendStatus, Logs
from swan_ml_ext.jobs.files import read_tail
from swan_ml_ext.jobs.model import BackendUnavailable, Job, JobState, Update
from swan_ml_ext.jobs.spec import Environment


class FakeBackend(Backend):
    name: ClassVar[str] = "fake"
    title: ClassVar[str] = "Fake engine (tests)"
    capabilities: ClassVar[dict[str, bool]] = {
        **Backend.capabilities,
        "hold": True,
        "release": True,
    }
    engine_ref_labels: ClassVar[list[tuple[str, str]]] = [("fake_id", "fake job")]

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.engine: dict[int, dict[str, Any]] = {}  # engine id -> {"job", "state", ...}
        self.next_id = 1
        self.down = ""  # a reason: the engine is unreachable
        self.poll_gate: threading.Event | None = None  # set: poll blocks until it is set
        self.lock = threading.Lock()

    def _check(self) -> None:
        if self.down:
            raise BackendUnavailable(self.down)

    def status(self) -> BackendStatus:
        return BackendStatus(self.name, not self.down, reason=self.down)

    def submit(self, job: Job, staged: Path, environment: Environment) -> dict[str, Any]:
        self._check()
        with self.lock:
            eid, self.next_id = self.next_id, self.next_id + 1
            self.engine[eid] = {"job": job.id, "state": JobState.PENDING, "staged": staged}
        return {"fake_id": eid}

    def runs_of(self, job_id: str) -> list[dict[str, Any]]:
        return [e for e in self.engine.values() if e["job"] == job_id]

    def set_state(self, job_id: str, state: JobState) -> None:
        for e in self.runs_of(job_id):
            if e["state"] != JobState.CANCELLED:
                e["state"] = state

    def poll(self, jobs: list[Job]) -> dict[str, Update]:
        if self.poll_gate is not None:
            self.poll_gate.wait()
        self._check()
        self.engine_queries += 1
        updates = {}
        for job in jobs:
            e = self.engine.get(job.engine_ref.get("fake_id"))
            if e is not None:
                updates[job.id] = Update(e["state"])
        return updates

    def fetch(self, job: Job, staged: Path) -> None:
        """What the runner leaves: the executed notebook, a created file, result.json, logs."""
        self._check()
        out = staged / "output"
        (out / "files").mkdir(parents=True, exist_ok=True)
        (out / "notebook.ipynb").write_bytes((staged / "notebook.ipynb").read_bytes())
        (out / "files" / "result.txt").write_text("42")
        e = self.engine[job.engine_ref["fake_id"]]
        status = "completed" if e["state"] == JobState.COMPLETED else "failed"
        (out / "result.json").write_text(json.dumps({"status": status}))
        (staged / "stdout.txt").write_text("".join(f"line {i}\n" for i in range(1000)))
        (staged / "stderr.txt").write_text("")

    def resubmit(self, job: Job, staged: Path, environment: Environment) -> dict[str, Any]:
        for e in self.runs_of(job.id):
            e["state"] = JobState.CANCELLED
        return self.submit(job, staged, environment)

    def cancel(self, job: Job) -> None:
        self._check()
        for e in self.runs_of(job.id):
            e["state"] = JobState.CANCELLED

    def hold(self, job: Job) -> None:
        self.set_state(job.id, JobState.HELD)

    def release(self, job: Job) -> None:
        self.set_state(job.id, JobState.PENDING)

    def logs(self, job: Job, staged: Path, tail: int | None = None) -> Logs:
        return Logs(
            read_tail(staged / "stdout.txt", tail), read_tail(staged / "stderr.txt", tail), False
        )
