"""The embedded engine: each run is kfp.local (SubprocessRunner, use_venv=False) in a supervised
local process of its own (local_run.py under the server's interpreter), never inside the server,
never installing packages.

Per job, under the backend's local pipeline root (per user, under the data dir):

    <root>/<job id>/arguments.json   the pipeline's arguments (engine.pipeline_arguments)
    <root>/<job id>/process/         the LocalProcess state folder: state.json, stdout.txt,
                                     stderr.txt, exit.json, progress.json (the runner's reports)
    <root>/<job id>/runs/            kfp.local's pipeline root: <pipeline>-<timestamp>/run-notebook/
                                     {notebook, files/, result, executor_output.json}
    (a resubmission moves an earlier process/ and runs/ aside: process-<ms>/, runs-<ms>/)

A poll reads files only (state, progress, log tail) for all active jobs in one pass; no engine
is queried. fetch() moves the run's artifacts into the job's staging folder; what stays is
kfp.local's record of each run (executor_output.json once the task succeeded).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...jobs.files import read_tail
from ...jobs.model import Conflict, Job, JobState, Update
from ..base import BackendStatus, Logs
from ..local_process import LocalProcess, LocalProcessError, progress_file, read_progress
from .engine import pipeline_arguments

if TYPE_CHECKING:
    from .backend import KubeflowBackend

LOCAL_RUN = Path(__file__).resolve().parent / "local_run.py"
TASK = "run-notebook"  # compile.TASK (not imported: compile imports kfp)
TAIL_LINES = 40
# Variables the server sets for its own kernels; a batch run gets nothing of the live session.
_SESSION_VARS = ("SWAN_ML_URL", "SWAN_ML_TOKEN", "SWAN_ML_ROOT", "JPY_PARENT_PID")


class EmbeddedEngine:
    mode = "embedded"

    def __init__(self, backend: KubeflowBackend) -> None:
        self.backend = backend
        self._procs: dict[str, LocalProcess] = {}
        self._runs: dict[str, str] = {}  # job id -> its kfp.local run folder's name
        self._lock = threading.Lock()

    # -- where things are ----------------------------------------------------------------
    @property
    def root(self) -> Path:
        return Path(self.backend.local_root())

    def job_root(self, job: Job) -> Path:
        return self.root / job.id

    def _state_dir(self, job: Job) -> Path:
        stored = job.engine_ref.get("state_dir")
        return Path(stored) if stored else self.job_root(job) / "process"

    def _process(self, job: Job) -> LocalProcess | None:
        with self._lock:
            lp = self._procs.get(job.id)
        if lp is None:
            lp = LocalProcess.attach(self._state_dir(job))
            if lp is not None:
                with self._lock:
                    self._procs[job.id] = lp
        return lp

    def _run_dir(self, job: Job) -> Path | None:
        """The job's kfp.local run folder (the newest: a resubmitted job has an older one)."""
        name = self._runs.get(job.id)
        runs = self.job_root(job) / "runs"
        if name is None:
            try:
                found = sorted(p.name for p in runs.iterdir() if p.is_dir())
            except FileNotFoundError:
                return None
            if not found:
                return None
            name = found[-1]
            if (runs / name / TASK).exists():
                self._runs[job.id] = name
        return runs / name

    # -- the engine interface ------------------------------------------------------------
    def status(self) -> BackendStatus:
        return BackendStatus(
            self.backend.name,
            True,
            resources={"mode": self.mode, "runner": "kfp.local (SubprocessRunner)"},
        )

    def submit(self, job: Job, staged: Path, pipeline: Path) -> dict[str, Any]:
        jr = self.job_root(job)
        jr.mkdir(parents=True, exist_ok=True)
        state_dir = jr / "process"
        old = LocalProcess.attach(state_dir)
        if old is not None:  # a resubmission: the earlier process was cancelled first
            if old.status().state == "running":
                raise Conflict(f"job {job.id} still has a kfp.local run in progress")
            aside = int(time.time() * 1000)
            state_dir.rename(jr / f"process-{aside}")
            if (jr / "runs").exists():
                (jr / "runs").rename(jr / f"runs-{aside}")
        args = jr / "arguments.json"
        args.write_text(json.dumps(pipeline_arguments(job, staged)))
        env = {k: v for k, v in os.environ.items() if k not in _SESSION_VARS}
        env["SWAN_ML_PROGRESS_FILE"] = str(progress_file(state_dir))
        env["PYTHONUNBUFFERED"] = "1"
        argv = [sys.executable, str(LOCAL_RUN), "--pipeline", str(pipeline)]
        argv += ["--arguments", str(args), "--pipeline-root", str(jr / "runs")]
        try:
            lp = LocalProcess.start(state_dir, argv, cwd=jr, env=env)
        except LocalProcessError as e:
            raise RuntimeError(f"kfp.local could not be started: {e}") from e
        with self._lock:
            self._procs[job.id] = lp
            self._runs.pop(job.id, None)
        return {"state_dir": str(state_dir), "pid": lp.pid}

    def poll(self, jobs: list[Job]) -> dict[str, Update]:
        updates: dict[str, Update] = {}
        for job in jobs:
            updates[job.id] = self._look(job)
        with self._lock:
            for gone in set(self._procs) - {j.id for j in jobs}:
                del self._procs[gone]
                self._runs.pop(gone, None)
        return updates

    def _look(self, job: Job) -> Update:
        lp = self._process(job)
        if lp is None:
            return Update(
                JobState.FAILED,
                message=f"the kfp.local run's state folder is gone ({self._state_dir(job)})",
                has_outputs=False,
            )
        st = lp.status()
        report = read_progress(lp.state_dir) or {}
        progress = None
        if report.get("cells_total") is not None:
            progress = {"cells_done": report["cells_done"], "cells_total": report["cells_total"]}
        ref = None
        run = self._run_dir(job)
        if run is not None and job.engine_ref.get("run_id") != run.name:
            ref = {"run_id": run.name}
        if st.state == "running":
            # The runner's tail (the notebook's output) once it runs; kfp.local's before.
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
        if st.state == "exited" and st.returncode == 0:
            return Update(
                JobState.COMPLETED,
                progress=progress,
                started_at=lp.started_at,
                finished_at=finished,
                engine_ref=ref,
            )
        result = report.get("result") or {}
        why = result.get("message") or self._reason(lp, st.returncode, st.message)
        return Update(
            JobState.FAILED,
            message=why,
            progress=progress,
            started_at=lp.started_at,
            finished_at=finished,
            engine_ref=ref,
        )

    def _reason(self, lp: LocalProcess, returncode: int | None, message: str) -> str:
        last = [line for line in lp.tail(20)[1].splitlines() if line.strip()]
        said = last[-1].strip() if last else message
        if returncode is not None and returncode < 0:
            return f"the kfp.local run was killed by signal {-returncode}"
        return f"the kfp.local run failed (exit {returncode}): {said}"

    def fetch(self, job: Job, staged: Path) -> None:
        """The run's artifacts into staged/output (result.json last: it marks the fetch done),
        its stdout/stderr into staged/."""
        out = staged / "output"
        (out / "files").mkdir(parents=True, exist_ok=True)
        lp = self._process(job)
        if lp is not None:
            for name in ("stdout.txt", "stderr.txt"):
                if (lp.state_dir / name).exists():
                    shutil.copyfile(lp.state_dir / name, staged / name)
        run = self._run_dir(job)
        task = run / TASK if run is not None else None
        result: dict[str, Any] | None = None
        if task is not None:
            if (task / "notebook").is_file():
                shutil.move(task / "notebook", out / "notebook.ipynb")
            if (task / "files").is_dir():
                for p in sorted((task / "files").iterdir()):
                    shutil.move(p, out / "files" / p.name)
                (task / "files").rmdir()
            if (task / "result").is_file():
                try:
                    result = json.loads((task / "result").read_text())
                except ValueError:
                    result = None
                (task / "result").unlink()
        if not isinstance(result, dict):
            st = lp.status() if lp is not None else None
            why = (
                self._reason(lp, st.returncode, st.message)
                if lp is not None and st is not None
                else "the kfp.local run left no result"
            )
            result = {"status": "error", "message": why}
        (out / "result.json").write_text(json.dumps(result, indent=1))
        self._forget(job, remove_process=True)

    def _forget(self, job: Job, remove_process: bool) -> None:
        jr = self.job_root(job)
        (jr / "arguments.json").unlink(missing_ok=True)
        if remove_process:
            for p in jr.glob("process*"):
                shutil.rmtree(p, ignore_errors=True)
        with self._lock:
            self._procs.pop(job.id, None)
            self._runs.pop(job.id, None)

    def cancel(self, job: Job) -> None:
        """Stops the run's process group (also of a job whose submission was interrupted: the
        process folder is at a known place); what the run wrote is removed."""
        lp = self._process(job) or LocalProcess.attach(self.job_root(job) / "process")
        if lp is not None:
            lp.cancel(grace_s=self.backend.cancel_grace_s)
        run = self._run_dir(job)
        if run is not None:
            for name in ("notebook", "files", "result"):
                p = run / TASK / name
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                elif p.exists():
                    p.unlink()
        self._forget(job, remove_process=False)

    def logs(self, job: Job, staged: Path, tail: int | None) -> Logs:
        if (staged / "stdout.txt").exists():
            folder = staged
        else:
            folder = self._state_dir(job)
        return Logs(
            stdout=read_tail(folder / "stdout.txt", tail),
            stderr=read_tail(folder / "stderr.txt", tail),
            live=False,
        )

    def completed_runs(self, job_id: str) -> int:
        """How many kfp.local runs of this job succeeded (tests and benchmarks ask)."""
        return len(list((self.root / job_id).glob(f"runs*/*/{TASK}/executor_output.json")))

    def close(self) -> None:
        pass
