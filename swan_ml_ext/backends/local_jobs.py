"""Jobs that run as supervised local processes of this server (local_process.py), one folder
per job under a root: the Kubeflow embedded engine (kfp.local) and the Spark driver share this.

    <root>/<job id>/process/     the LocalProcess state folder: state.json, stdout.txt,
                                 stderr.txt, exit.json, progress.json (the runner's reports)
    <root>/<job id>/...          what the engine adds (moved aside with process/ on a
                                 resubmission: process-<ms>/, <name>-<ms>/)

A poll reads files only (the process state, the runner's progress file with its log tail):
no engine is queried. Every call blocks briefly; the service calls them in a worker thread.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from ..jobs.files import read_tail
from ..jobs.model import Conflict, Job, JobState, Update
from .base import Logs
from .local_process import LocalProcess, LocalProcessError, read_progress

TAIL_LINES = 40
# Variables the server sets for its own kernels; a batch run gets nothing of the live session.
SESSION_VARS = ("SWAN_ML_URL", "SWAN_ML_TOKEN", "SWAN_ML_ROOT", "JPY_PARENT_PID")


class LocalSettings(Protocol):
    """What LocalJobs needs of its backend."""

    name: str
    cancel_grace_s: float

    def local_root(self) -> str: ...


def run_env(**extra: str) -> dict[str, str]:
    """The environment of a local run: the server's, without its session's variables."""
    env = {k: v for k, v in os.environ.items() if k not in SESSION_VARS}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class LocalJobs:
    """The jobs of one backend that run as local processes, known by their folders."""

    what = "the run"  # how messages name a job's process, e.g. "the kfp.local run"
    aside: tuple[str, ...] = ()  # the job folder's entries a resubmission moves aside

    def __init__(self, backend: LocalSettings) -> None:
        self.backend = backend
        self._procs: dict[str, LocalProcess] = {}
        self._lock = threading.Lock()

    # -- where things are ----------------------------------------------------------------
    @property
    def root(self) -> Path:
        return Path(self.backend.local_root())

    def job_root(self, job: Job) -> Path:
        return self.root / job.id

    def state_dir(self, job: Job) -> Path:
        stored = job.engine_ref.get("state_dir")
        return Path(stored) if stored else self.job_root(job) / "process"

    def process(self, job: Job) -> LocalProcess | None:
        with self._lock:
            lp = self._procs.get(job.id)
        if lp is None:
            lp = LocalProcess.attach(self.state_dir(job))
            if lp is not None:
                with self._lock:
                    self._procs[job.id] = lp
        return lp

    # -- start -----------------------------------------------------------------------------
    def start(self, job: Job, argv: list[str], env: dict[str, str]) -> LocalProcess:
        """Start the job's process in its folder. A resubmission (the earlier process was
        cancelled first) moves the earlier process/ and `aside` entries out of the way."""
        jr = self.job_root(job)
        jr.mkdir(parents=True, exist_ok=True)
        state_dir = jr / "process"
        old = LocalProcess.attach(state_dir)
        if old is not None:
            if old.status().state == "running":
                raise Conflict(f"job {job.id} still has {self.what} in progress")
            stamp = int(time.time() * 1000)
            state_dir.rename(jr / f"process-{stamp}")
            for name in self.aside:
                if (jr / name).exists():
                    (jr / name).rename(jr / f"{name}-{stamp}")
        try:
            lp = LocalProcess.start(state_dir, argv, cwd=jr, env=env)
        except LocalProcessError as e:
            raise RuntimeError(f"{self.what} could not be started: {e}") from e
        with self._lock:
            self._procs[job.id] = lp
        self.dropped(job.id)
        return lp

    # -- follow --------------------------------------------------------------------------
    def poll(self, jobs: list[Job]) -> dict[str, Update]:
        updates = {job.id: self.look(job) for job in jobs}
        with self._lock:
            gone = set(self._procs) - {j.id for j in jobs}
            for job_id in gone:
                del self._procs[job_id]
        for job_id in gone:
            self.dropped(job_id)
        return updates

    def dropped(self, job_id: str) -> None:
        """A job is no longer followed (or starts afresh): forget what was cached of it."""

    def engine_ref(self, job: Job, lp: LocalProcess, running: bool) -> dict[str, Any] | None:
        """What a poll adds to the job's engine reference (None: nothing new)."""
        return None

    def look(self, job: Job) -> Update:
        """The job's state from its files: process state, the runner's progress and tail."""
        lp = self.process(job)
        if lp is None:
            return Update(
                JobState.FAILED,
                message=f"{self.what}'s state folder is gone ({self.state_dir(job)})",
                has_outputs=False,
            )
        st = lp.status()
        report = read_progress(lp.state_dir) or {}
        progress = None
        if report.get("cells_total") is not None:
            progress = {"cells_done": report["cells_done"], "cells_total": report["cells_total"]}
        ref = self.engine_ref(job, lp, st.state == "running")
        if st.state == "running":
            # The runner's tail (the notebook's output) once it runs; the process's before.
            tail = report.get("log_tail") if report else lp.tail(TAIL_LINES)[0]
            return Update(
                JobState.RUNNING,
                progress=progress,
                started_at=lp.started_at,
                engine_ref=ref,
                log_tail=tail,
            )
        finished = st.finished_at or time.time()
        if st.cancelled:
            return Update(JobState.CANCELLED, "cancelled", finished_at=finished, has_outputs=False)
        ended: dict[str, Any] = {
            "progress": progress,
            "started_at": lp.started_at,
            "finished_at": finished,
            "engine_ref": ref,
        }
        if st.state == "exited" and st.returncode == 0:
            return Update(JobState.COMPLETED, **ended)
        result = report.get("result") or {}
        why = result.get("message") or self.reason(lp, st.returncode, st.message)
        return Update(JobState.FAILED, message=why, **ended)

    def reason(self, lp: LocalProcess, returncode: int | None, message: str) -> str:
        last = [line for line in lp.tail(20)[1].splitlines() if line.strip()]
        said = last[-1].strip() if last else message
        if returncode is not None and returncode < 0:
            return f"{self.what} was killed by signal {-returncode}"
        return f"{self.what} failed (exit {returncode}): {said}"

    def final_reason(self, job: Job) -> str:
        """Why a finished job left no result, as its process says."""
        lp = self.process(job)
        if lp is None:
            return f"{self.what} left no result"
        st = lp.status()
        return self.reason(lp, st.returncode, st.message)

    # -- outputs, logs, cancel ---------------------------------------------------------------
    def copy_stdio(self, job: Job, staged: Path) -> None:
        """The process's stdout/stderr into the staging folder (published with the outputs)."""
        lp = self.process(job)
        if lp is not None:
            for name in ("stdout.txt", "stderr.txt"):
                if (lp.state_dir / name).exists():
                    shutil.copyfile(lp.state_dir / name, staged / name)

    def move_outputs(
        self, job: Job, staged: Path, notebook: Path, files: Path, result: Path
    ) -> None:
        """What a run left (the executed notebook, a folder of files, the runner's result)
        into staged/output, its stdout/stderr into staged/; result.json last: it marks the
        fetch done (a run that left no result gets one saying why)."""
        out = staged / "output"
        (out / "files").mkdir(parents=True, exist_ok=True)
        self.copy_stdio(job, staged)
        if notebook.is_file():
            shutil.move(notebook, out / "notebook.ipynb")
        if files.is_dir():
            for p in sorted(files.iterdir()):
                shutil.move(p, out / "files" / p.name)
            files.rmdir()
        outcome: Any = None
        if result.is_file():
            try:
                outcome = json.loads(result.read_text())
            except ValueError:
                outcome = None
            result.unlink()
        if not isinstance(outcome, dict):
            outcome = {"status": "error", "message": self.final_reason(job)}
        (out / "result.json").write_text(json.dumps(outcome, indent=1))

    def forget(self, job: Job, remove_process: bool) -> None:
        if remove_process:
            for p in self.job_root(job).glob("process*"):
                shutil.rmtree(p, ignore_errors=True)
        with self._lock:
            self._procs.pop(job.id, None)
        self.dropped(job.id)

    def stop(self, job: Job) -> None:
        """Stops the job's process group (also of a job whose submission was interrupted:
        the process folder is at a known place)."""
        lp = self.process(job) or LocalProcess.attach(self.job_root(job) / "process")
        if lp is not None:
            lp.cancel(grace_s=self.backend.cancel_grace_s)

    def logs(self, job: Job, staged: Path, tail: int | None) -> Logs:
        folder = staged if (staged / "stdout.txt").exists() else self.state_dir(job)
        return Logs(
            stdout=read_tail(folder / "stdout.txt", tail),
            stderr=read_tail(folder / "stderr.txt", tail),
            live=False,
        )
