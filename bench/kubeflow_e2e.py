"""End to end, trivial notebook, Kubeflow embedded: POST jobs (backend kubeflow) → completed
with the executed notebook in the workspace, vs a direct kfp.local run of the same compiled
pipeline (a fresh Python process: kfp.local.init with the SubprocessRunner, use_venv=False,
then the pipeline loaded from its YAML and called), timed until its outputs are on disk.

Ours: compile in the server, a supervised local process running kfp.local, the monitor's pass
every 0.5 s (the test server's poll_interval, as in bench/e2e_trivial.py), fetch and publish;
the client asks for the job every 50 ms. The direct run applies the same fix of kfp.local's
'python3' rewriting of arguments (without it the kernel name 'python3' reaches papermill
rewritten and the run fails).

n pairs (SWAN_BENCH_KFP_N, default 12, at least 10) after a warm-up pair; which side goes
first alternates per pair. Prints the ratio of the medians (goal <= 1.2x), the median of
paired ratios and the ratio of the minimums.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import ServerProcess, report, workdir, write_notebook

N = max(10, int(os.environ.get("SWAN_BENCH_KFP_N", "12")))
POLL = 0.5  # tests/server.py sets it (a second --SwanMLApp.poll_interval is refused)

DIRECT = r"""
import json, sys
from kfp import components, local
from kfp.local import subprocess_task_handler as h

original = h.replace_python_executable

def keep_arguments(cmd, exe):  # the same fix as swan_ml_ext's local_run.py
    for i, part in enumerate(cmd):
        if '"$program_path/ephemeral_component.py"' in part and '"$@"' in part:
            return original(cmd[: i + 1], exe) + list(cmd[i + 1 :])
    return original(cmd, exe)

h.replace_python_executable = keep_arguments
pipeline_file, arguments_file, root = sys.argv[1:4]
local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=root)
components.load_component_from_file(pipeline_file)(**json.load(open(arguments_file)))
"""


def prepare_direct(folder: Path) -> tuple[Path, Path]:
    """The same pipeline the extension compiles for this notebook, and its arguments."""
    from swan_ml_ext.backends.kubeflow import KubeflowBackend
    from swan_ml_ext.backends.kubeflow.engine import pipeline_arguments
    from swan_ml_ext.jobs.model import Job, JobState
    from swan_ml_ext.jobs.spec import Environment

    folder.mkdir(parents=True)
    write_notebook(folder / "notebook.ipynb", "print('hello')")
    job = Job(
        id="direct000000",
        name="nb",
        backend="kubeflow",
        state=JobState.PENDING,
        notebook="nb.ipynb",
        parameters={},
        resources={"cpus": 1, "memory_mb": 256},
        environment="default",
    )
    backend = KubeflowBackend(local_pipeline_root=str(folder / "unused"))
    pipeline = folder / "pipeline.yaml"
    pipeline.write_text(backend.pipeline_yaml(job, Environment(name="default")))
    arguments = folder / "arguments.json"
    arguments.write_text(json.dumps(pipeline_arguments(job, folder)))
    return pipeline, arguments


def direct_run(pipeline: Path, arguments: Path, root: Path) -> float:
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", DIRECT, str(pipeline), str(arguments), str(root)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - t
    (out,) = root.glob("*/run-notebook/notebook")
    assert "hello" in out.read_text()
    return elapsed


def ours_run(server: ServerProcess) -> float:
    t = time.perf_counter()
    job = server.client.submit(
        {"notebook": "nb.ipynb", "backend": "kubeflow", "resources": {"memory_mb": 256}}
    )
    while job["state"] not in ("completed", "failed", "cancelled"):
        time.sleep(0.05)
        job = server.client.job(job["id"])
    elapsed = time.perf_counter() - t
    assert job["state"] == "completed", job
    assert "hello" in (server.root / job["outputs"]["notebook"]).read_text()
    return elapsed


def main() -> float:
    tmp = workdir("kubeflow-e2e")
    server = ServerProcess(tmp, "--SwanMLApp.backends=kubeflow")
    write_notebook(server.root / "nb.ipynb", "print('hello')")
    server.start()
    pipeline, arguments = prepare_direct(tmp / "direct")
    ours, raw = [], []
    try:
        for i in range(N + 1):
            root = tmp / "direct" / f"root-{i}"
            if i % 2:
                r = direct_run(pipeline, arguments, root)
                o = ours_run(server)
            else:
                o = ours_run(server)
                r = direct_run(pipeline, arguments, root)
            if i:  # the first pair warms up (imports, page cache)
                ours.append(o)
                raw.append(r)
        return report(
            f"kubeflow embedded end to end, trivial notebook (poll {POLL:g} s) vs direct kfp.local",
            ours,
            raw,
            goal=1.2,
            unit="s",
        )
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
