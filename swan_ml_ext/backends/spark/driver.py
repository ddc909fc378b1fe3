"""The Spark batch engine: each job is our runner (papermill) in a supervised local process of
its own under the server's interpreter: the Spark driver (client mode), with `spark` made in
the notebook's kernel by a setup cell (kernel.connect with the resolved profile's spec) before
the notebook's first cell. The executors are wherever the profile's master puts them.

Per job, under the backend's driver root (per user, beside the staging dir):

    <root>/<job id>/process/      the LocalProcess state folder: state.json, stdout.txt,
                                  stderr.txt, exit.json, progress.json (the runner's reports),
                                  spark.json (kernel.connect's info(): app id, UI address)
    <root>/<job id>/setup.py      the setup cell
    <root>/<job id>/work/         the notebook's working directory (what it writes there
                                  becomes the job's output files)
    <root>/<job id>/output/       the runner's: notebook.ipynb, files/, result.json (fetch()
                                  moves them into the job's staging folder)
    (a resubmission moves earlier ones aside: process-<ms>/, work-<ms>/, output-<ms>/)

At the end papermill kills the kernel's process group, the JVM with it; a cancel makes the
runner do the same (runner.py). What stays of a finished run is its record: state.json,
exit.json, spark.json.
"""

from __future__ import annotations

import json
import pprint
import shutil
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...jobs.model import COLLECT_FILE, Job
from ..local_jobs import LocalJobs, run_env
from ..local_process import EXIT, LocalProcess, progress_file

if TYPE_CHECKING:
    from .backend import SparkBackend

RUNNER = Path(__file__).resolve().parent.parent.parent / "runner.py"
INFO_FILE = "spark.json"  # in the process folder: what kernel.connect() says
RECORD = ("state.json", EXIT, INFO_FILE)  # what stays of a finished run


def setup_cell(spec: dict[str, Any]) -> str:
    """The code that makes `spark` in the notebook's kernel (kept in the executed notebook)."""
    return (
        f"# Spark session of this batch job (profile {spec.get('profile')!r}), made by the\n"
        "# swan-ml Spark backend: `spark` and `sc` are ready; the session ends with the run.\n"
        "from swan_ml_ext.spark.kernel import connect as _swan_spark_connect\n\n"
        f"_swan_spark_connect(\n{pprint.pformat(spec, indent=4, width=92, sort_dicts=False)}\n)\n"
        "del _swan_spark_connect\n"
    )


def runner_argv(job: Job, staged: Path, job_root: Path, state_dir: Path) -> list[str]:
    """runner.py for a job staged in `staged` (notebook.ipynb, params.json, inputs/): output/
    and work/ in the job's folder, the setup cell first, progress to the process folder."""
    argv = [sys.executable, str(RUNNER), "--notebook", str(staged / "notebook.ipynb")]
    argv += ["--parameters", str(staged / "params.json"), "--output", str(job_root / "output")]
    argv += ["--workdir", str(job_root / "work"), "--job-id", job.id]
    argv += ["--environment", job.environment, "--setup-cell", str(job_root / "setup.py")]
    argv += ["--reporter", "file", "--progress-file", str(progress_file(state_dir))]
    if job.kernel_name:
        argv += ["--kernel", job.kernel_name]
    if (staged / "inputs").is_dir():
        argv += ["--inputs", str(staged / "inputs")]
    if job.collect:  # a sweep point (see jobs.model.COLLECT_FILE)
        argv += ["--collect", str(staged / COLLECT_FILE)]
    return argv


class SparkDrivers(LocalJobs):
    what = "the Spark driver"
    aside = ("work", "output")

    def __init__(self, backend: SparkBackend) -> None:
        super().__init__(backend)
        self._info: dict[str, dict[str, Any]] = {}  # job id -> its spark.json, once written
        self._info_lock = threading.Lock()

    def submit(self, job: Job, staged: Path, spec: dict[str, Any]) -> dict[str, Any]:
        jr = self.job_root(job)
        jr.mkdir(parents=True, exist_ok=True)
        state_dir = jr / "process"
        (jr / "setup.py").write_text(setup_cell(spec))
        # kernel.connect() writes its info() there (and applies the profile's env itself)
        env = run_env(SWAN_SPARK_INFO_FILE=str(state_dir / INFO_FILE))
        lp = self.start(job, runner_argv(job, staged, jr, state_dir), env)
        return {"state_dir": str(lp.state_dir), "pid": lp.pid}

    # -- what a poll adds ----------------------------------------------------------------
    def dropped(self, job_id: str) -> None:
        with self._info_lock:
            self._info.pop(job_id, None)

    def info(self, job: Job, lp: LocalProcess) -> dict[str, Any] | None:
        """What kernel.connect() wrote (read until found, then kept)."""
        with self._info_lock:
            found = self._info.get(job.id)
        if found is None:
            try:
                data = json.loads((lp.state_dir / INFO_FILE).read_text())
            except (FileNotFoundError, ValueError):
                return None
            if not isinstance(data, dict):
                return None
            found = {k: data.get(k) for k in ("app_id", "ui_url", "app_name", "master")}
            with self._info_lock:
                self._info[job.id] = found
        return found

    def engine_ref(self, job: Job, lp: LocalProcess, running: bool) -> dict[str, Any] | None:
        info = self.info(job, lp)
        if info is None or job.engine_ref.get("spark") == info:
            return None
        return {"spark": info, "app_id": info.get("app_id")}

    # -- outputs, cancel -----------------------------------------------------------------
    def fetch(self, job: Job, staged: Path) -> None:
        """The runner's outputs into staged/output, stdout/stderr into staged/; what stays
        is the run's record."""
        out = self.job_root(job) / "output"
        self.move_outputs(job, staged, out / "notebook.ipynb", out / "files", out / "result.json")
        self._prune(job)

    def cancel(self, job: Job) -> None:
        """Stops the driver's process group (the runner kills the kernel's, the JVM's, on the
        way); what the run wrote is removed, its process folder kept (logs)."""
        self.stop(job)
        for name in ("work", "output"):
            shutil.rmtree(self.job_root(job) / name, ignore_errors=True)
        self.forget(job, remove_process=False)

    def _prune(self, job: Job) -> None:
        jr = self.job_root(job)
        for p in jr.iterdir() if jr.is_dir() else ():
            if p.name.startswith("process"):
                for f in p.iterdir():
                    if f.name in RECORD:
                        continue
                    if f.is_dir():
                        shutil.rmtree(f, ignore_errors=True)
                    else:
                        f.unlink()
            elif p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink()
        self.forget(job, remove_process=False)
