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
import shutil
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...jobs.model import Job
from ..base import BackendStatus
from ..local_jobs import LocalJobs, run_env
from ..local_process import LocalProcess, progress_file
from .engine import pipeline_arguments

if TYPE_CHECKING:
    from .backend import KubeflowBackend

LOCAL_RUN = Path(__file__).resolve().parent / "local_run.py"
TASK = "run-notebook"  # compile.TASK (not imported: compile imports kfp)


class EmbeddedEngine(LocalJobs):
    mode = "embedded"
    what = "the kfp.local run"
    aside = ("runs",)

    def __init__(self, backend: KubeflowBackend) -> None:
        super().__init__(backend)
        self._runs: dict[str, str] = {}  # job id -> its kfp.local run folder's name
        self._runs_lock = threading.Lock()

    def _run_dir(self, job: Job) -> Path | None:
        """The job's kfp.local run folder (the newest: a resubmitted job has an older one)."""
        with self._runs_lock:
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
                with self._runs_lock:
                    self._runs[job.id] = name
        return runs / name

    def dropped(self, job_id: str) -> None:
        with self._runs_lock:
            self._runs.pop(job_id, None)

    def engine_ref(self, job: Job, lp: LocalProcess, running: bool) -> dict[str, Any] | None:
        run = self._run_dir(job)
        if run is not None and job.engine_ref.get("run_id") != run.name:
            return {"run_id": run.name}
        return None

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
        args = jr / "arguments.json"
        args.write_text(json.dumps(pipeline_arguments(job, staged)))
        env = run_env(SWAN_ML_PROGRESS_FILE=str(progress_file(jr / "process")))
        argv = [sys.executable, str(LOCAL_RUN), "--pipeline", str(pipeline)]
        argv += ["--arguments", str(args), "--pipeline-root", str(jr / "runs")]
        lp = self.start(job, argv, env)
        return {"state_dir": str(lp.state_dir), "pid": lp.pid}

    def fetch(self, job: Job, staged: Path) -> None:
        """The run's artifacts into staged/output (result.json last: it marks the fetch done),
        its stdout/stderr into staged/."""
        run = self._run_dir(job)
        task = run / TASK if run is not None else self.job_root(job) / "no-run"
        self.move_outputs(job, staged, task / "notebook", task / "files", task / "result")
        self._forget(job, remove_process=True)

    def _forget(self, job: Job, remove_process: bool) -> None:
        (self.job_root(job) / "arguments.json").unlink(missing_ok=True)
        self.forget(job, remove_process)

    def cancel(self, job: Job) -> None:
        """Stops the run's process group (also of a job whose submission was interrupted: the
        process folder is at a known place); what the run wrote is removed."""
        self.stop(job)
        run = self._run_dir(job)
        if run is not None:
            for name in ("notebook", "files", "result"):
                p = run / TASK / name
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                elif p.exists():
                    p.unlink()
        self._forget(job, remove_process=False)

    def close(self) -> None:
        pass
