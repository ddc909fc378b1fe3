"""What a job becomes for HTCondor: the worker-side wrapper script and the submit description.
Pure: no schedd, no user text in the description (validated numbers, our ids, our paths)."""

from __future__ import annotations

import shlex
from pathlib import Path

from ..jobs.model import Job
from ..jobs.spec import Environment

WRAPPER = "swan_job.sh"
RUNNER = Path(__file__).resolve().parent.parent / "runner.py"


def write_wrapper(job: Job, staged: Path, env: Environment) -> None:
    """The worker-side entry: set up the environment, then run runner.py (all quoted)."""
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        f"# swan-ml-ext job {job.id}, environment {env.name}",
        "mkdir -p output",
    ]
    if env.setup:
        lines.append(env.setup)
    runner_args = [
        "runner.py",
        "--notebook",
        "notebook.ipynb",
        "--parameters",
        "params.json",
        "--output",
        "output",
        "--inputs",
        "inputs",
        "--kernel",
        job.kernel_name,
        "--job-id",
        job.id,
        "--environment",
        env.name,
    ]
    lines.append(f"exec {q(env.python)} " + " ".join(q(a) for a in runner_args))
    path = staged / WRAPPER
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)


def submit_description(job: Job, staged: Path) -> dict[str, str]:
    """Only values we generate: validated integers, our ids, our paths. No user text."""
    r = job.resources
    cpus, memory, disk = r.get("cpus", 1), r.get("memory_mb", 2048), r.get("disk_mb", 4096)
    gpus, runtime = r.get("gpus", 0), r.get("max_runtime_s")
    gpu_memory, capability = r.get("gpu_memory_mb"), r.get("gpu_capability")
    names = ["notebook.ipynb", "params.json"]
    if (staged / "inputs").is_dir():
        names.append("inputs")
    # Absolute: spooling reads the files from the submitting process, whatever its cwd.
    # The runner ships from the package (the spool is the job's snapshot of it).
    inputs = [str(staged / n) for n in names] + [str(RUNNER)]
    desc = {
        "universe": "vanilla",
        "executable": str(staged / WRAPPER),
        "transfer_executable": "true",
        "initialdir": str(staged),
        "should_transfer_files": "YES",
        "when_to_transfer_output": "ON_EXIT_OR_EVICT",
        "transfer_input_files": ",".join(inputs),
        "transfer_output_files": "output",
        "output": "stdout.txt",
        "error": "stderr.txt",
        "request_cpus": str(int(cpus)),
        "request_memory": f"{int(memory)}M",
        "request_disk": f"{int(disk)}M",
        "batch_name": f"swan-ml-{job.id}",
        "+SwanML": "true",
        "+SwanMLJobId": f'"{job.id}"',
        "+WantIOProxy": "true",
    }
    if gpus:
        desc["request_gpus"] = str(int(gpus))
        req = []
        if gpu_memory:
            req.append(f"GlobalMemoryMb >= {int(gpu_memory)}")
        if capability:
            req.append(f"Capability >= {float(capability)!r}")
        if req:
            desc["require_gpus"] = " && ".join(req)
    if runtime:
        # Enforced by the schedd's periodic policy (every PERIODIC_EXPR_INTERVAL seconds):
        # the job is removed and reported as failed with the limit in words.
        desc["+SwanMLMaxRuntime"] = str(int(runtime))
        desc["periodic_remove"] = (
            "JobStatus == 2 && (time() - JobCurrentStartDate) > SwanMLMaxRuntime"
        )
    return desc
