"""A notebook job -> a KFP v2 pipeline (IR YAML) with one lightweight Python component that
runs the notebook with swan_ml_ext's runner (papermill), embedded in the component.

The pipeline's inputs are exactly the keys of engine.pipeline_arguments (notebook_b64,
parameters_json, kernel_name, job_id); the component's outputs are three artifacts:
`notebook` (the executed notebook, also the partial one of a failing cell), `files` (a folder:
what the notebook wrote) and `result` (the runner's result.json). A failing cell fails the task
(the run shows it), after the three artifacts are written.

Resources become task settings (CPU and memory requests = limits, accelerator type and count);
the environment becomes the base image. Caching is off: a notebook run is never skipped.
Imports kfp: the backend imports this module only when kfp is installed.
"""

# No `from __future__ import annotations`: kfp reads the component's annotations as types.
import base64
import json
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kfp import compiler, dsl
from kfp.dsl import Artifact, Output

RUNNER = Path(__file__).resolve().parent.parent.parent / "runner.py"
RUNNER_MODULE = "swan_ml_runner"  # the runner's name inside the component (no clash with "runner")
TASK = "run-notebook"  # the component's task name: <pipeline_root>/<run>/run-notebook/<output>
OUTPUTS = ("notebook", "files", "result")
INPUTS = ("notebook_b64", "parameters_json", "kernel_name", "job_id")
DEFAULT_IMAGE = "python:3.11"


@dataclass
class PipelineSettings:
    """Everything of the job that the compiled pipeline depends on (besides its arguments)."""

    name: str  # the pipeline's name: swan-ml-<job id>
    image: str = DEFAULT_IMAGE
    environment: str = ""
    cpus: int | None = None
    memory_mb: int | None = None
    gpus: int = 0
    accelerator_type: str | None = None
    # What the component installs before it runs (remote only: kfp.local with use_venv=False
    # would install into the calling interpreter). Empty + no kfp: nothing is installed.
    packages_to_install: list[str] = field(default_factory=list)
    install_kfp_package: bool = False
    description: str = ""
    # Notebook variables the runner brings back (a sweep point's `collect`): set as the task's
    # SWAN_ML_COLLECT (a JSON list of identifiers), read back from the `result` artifact.
    collect: list[str] = field(default_factory=list)


def run_notebook(
    notebook_b64: str,
    parameters_json: str,
    kernel_name: str,
    job_id: str,
    notebook: Output[Artifact],
    files: Output[Artifact],
    result: Output[Artifact],
):
    """Runs the notebook with swan_ml_ext's runner (papermill). The runner ships embedded in
    this component; progress goes to $SWAN_ML_PROGRESS_FILE when the engine sets it. A SIGTERM
    (cancel, pod deletion) ends the run cleanly: what the notebook got to is kept, temporary
    folders are removed."""
    import base64
    import json
    import os
    import shutil
    import signal
    import tempfile

    import swan_ml_runner

    def stop(signum, frame):
        signal.signal(signal.SIGTERM, lambda *_: None)  # once: the cleanup is not interrupted
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    work = tempfile.mkdtemp(prefix="swan-ml-kfp-")
    out = os.path.join(work, "output")
    outcome = {"status": "error", "message": "the run was stopped"}
    try:
        nb_path = os.path.join(work, "notebook.ipynb")
        params_path = os.path.join(work, "params.json")
        with open(nb_path, "wb") as f:
            f.write(base64.b64decode(notebook_b64))
        with open(params_path, "w") as f:
            f.write(parameters_json)
        argv = ["--notebook", nb_path, "--parameters", params_path, "--output", out]
        argv += ["--kernel", kernel_name, "--job-id", job_id]
        argv += ["--workdir", os.path.join(work, "work")]
        argv += ["--environment", os.environ.get("SWAN_ML_ENVIRONMENT", "")]
        if os.environ.get("SWAN_ML_COLLECT"):
            collect_path = os.path.join(work, "collect.json")
            with open(collect_path, "w") as f:
                f.write(os.environ["SWAN_ML_COLLECT"])
            argv += ["--collect", collect_path]
        progress = os.environ.get("SWAN_ML_PROGRESS_FILE")
        if progress:
            argv += ["--reporter", "file", "--progress-file", progress]
        code = swan_ml_runner.main(argv)
    finally:
        if os.path.exists(os.path.join(out, "notebook.ipynb")):
            shutil.copyfile(os.path.join(out, "notebook.ipynb"), notebook.path)
        if os.path.isdir(os.path.join(out, "files")):
            shutil.copytree(os.path.join(out, "files"), files.path, dirs_exist_ok=True)
        if os.path.exists(os.path.join(out, "result.json")):
            shutil.copyfile(os.path.join(out, "result.json"), result.path)
            with open(result.path) as f:
                outcome = json.load(f)
        else:
            with open(result.path, "w") as f:
                json.dump(outcome, f)
        shutil.rmtree(work, ignore_errors=True)
    if code != 0:
        raise RuntimeError(f"the notebook {outcome['status']}: {outcome.get('message', '')}")


def _component(s: PipelineSettings, runner_dir: Path) -> Any:
    return dsl.component(
        run_notebook,
        base_image=s.image,
        packages_to_install=list(s.packages_to_install),
        install_kfp_package=s.install_kfp_package,
        embedded_artifact_path=str(runner_dir / f"{RUNNER_MODULE}.py"),
    )


def _pipeline(s: PipelineSettings, component: Any) -> Any:
    def pipeline(notebook_b64: str, parameters_json: str, kernel_name: str, job_id: str):
        task = component(
            notebook_b64=notebook_b64,
            parameters_json=parameters_json,
            kernel_name=kernel_name,
            job_id=job_id,
        )
        task.set_caching_options(False)
        if s.environment:
            task.set_env_variable("SWAN_ML_ENVIRONMENT", s.environment)
        if s.collect:
            task.set_env_variable("SWAN_ML_COLLECT", json.dumps(list(s.collect)))
        if s.cpus:
            task.set_cpu_request(str(int(s.cpus))).set_cpu_limit(str(int(s.cpus)))
        if s.memory_mb:
            mem = f"{int(s.memory_mb)}Mi"  # MB as HTCondor counts them: MiB
            task.set_memory_request(mem).set_memory_limit(mem)
        if s.gpus and s.accelerator_type:
            task.set_accelerator_type(s.accelerator_type)
            task.set_accelerator_limit(int(s.gpus))

    return dsl.pipeline(name=s.name, description=s.description or None)(pipeline)


# kfp's pipeline builder keeps process-wide state: two compilations at once fail with
# "Nested pipelines are not allowed" (seen with concurrent submissions and previews).
_COMPILE_LOCK = threading.Lock()


def compile_pipeline(s: PipelineSettings) -> str:
    """The pipeline's IR YAML text. Deterministic: the same settings give the same text."""
    with _COMPILE_LOCK, tempfile.TemporaryDirectory(prefix="swan-ml-compile-") as tmp:
        runner_dir = Path(tmp) / "runner"
        runner_dir.mkdir()
        copy = runner_dir / f"{RUNNER_MODULE}.py"
        shutil.copyfile(RUNNER, copy)
        st = RUNNER.stat()
        os.utime(copy, (st.st_mtime, st.st_mtime))  # the archive's entry: the runner's own mtime
        package = Path(tmp) / "pipeline.yaml"
        compiler.Compiler().compile(_pipeline(s, _component(s, runner_dir)), str(package))
        return _deterministic(package.read_text())


_ARCHIVE = re.compile(r"__KFP_EMBEDDED_ARCHIVE_B64 = '([A-Za-z0-9+/=]+)'")


def _deterministic(text: str) -> str:
    """kfp gzips the embedded runner with the current time in the gzip header: zero it (the
    header's mtime is outside the CRC), so a preview and a submission of the same job agree."""

    def fix(m: re.Match[str]) -> str:
        raw = bytearray(base64.b64decode(m.group(1)))
        if raw[:2] == b"\x1f\x8b":
            raw[4:8] = b"\x00\x00\x00\x00"
        return f"__KFP_EMBEDDED_ARCHIVE_B64 = '{base64.b64encode(bytes(raw)).decode()}'"

    return _ARCHIVE.sub(fix, text)
