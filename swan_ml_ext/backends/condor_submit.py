"""What a job becomes for HTCondor: the worker-side wrapper script and the submit description.
Pure: no schedd, no free user text in the description (validated numbers, our ids, our paths,
and a GPU model name checked against its pattern: no quotes, backslashes or newlines)."""

from __future__ import annotations

import shlex
from pathlib import Path

from ..jobs.model import COLLECT_FILE, InvalidRequest, Job
from ..jobs.spec import Environment
from .condor_fit import valid_gpu_model

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
        "--move-inputs",  # inputs/ is the sandbox's own copy: moved, not copied again
        "--kernel",
        job.kernel_name,
        "--job-id",
        job.id,
        "--environment",
        env.name,
    ]
    if job.collect:  # a sweep point: bring these variables back (see COLLECT_FILE)
        runner_args += ["--collect", COLLECT_FILE]
    lines.append(f"exec {q(env.python)} " + " ".join(q(a) for a in runner_args))
    path = staged / WRAPPER
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)


def submit_description(job: Job, staged: Path) -> dict[str, str]:
    """Only values we generate: validated integers, our ids, our paths; the one user string,
    a GPU model, only after it matched its pattern (a ClassAd string literal as it is)."""
    r = job.resources
    cpus, memory, disk = r.get("cpus", 1), r.get("memory_mb", 2048), r.get("disk_mb", 4096)
    gpus, runtime = r.get("gpus", 0), r.get("max_runtime_s")
    gpu_memory, capability = r.get("gpu_memory_mb"), r.get("gpu_capability")
    model = r.get("gpu_model")
    names = ["notebook.ipynb", "params.json"]
    if (staged / "inputs").is_dir():
        names.append("inputs")
    if job.collect:
        names.append(COLLECT_FILE)
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
        if model is not None:
            if not valid_gpu_model(model):  # check_resources refused it already
                raise InvalidRequest("resources.gpu_model is not a valid GPU model name")
            req.append(f'DeviceName == "{model}"')
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


# The submit variables a batch's itemdata sets per proc (our folders and our hex ids only).
BATCH_DIR, BATCH_JOB_ID = "swan_dir", "swan_job_id"


def batch_submit_description(
    jobs: list[Job], staged: list[Path]
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Several staged jobs of one sweep (the same notebook, resources and environment; each
    its own folder, id and parameters) as ONE submit description and its itemdata: one proc
    per job, in order. Per proc only its folder (initialdir, executable, input files) and its
    SwanMLJobId differ; the parameters travel in each folder's params.json. Pure."""
    if not jobs or len(jobs) != len(staged):
        raise ValueError("a batch needs one staged folder per job, and at least one job")
    desc = submit_description(jobs[0], staged[0])
    first = str(staged[0])
    for key in ("executable", "initialdir", "transfer_input_files"):
        desc[key] = desc[key].replace(first, f"$({BATCH_DIR})")
    desc["+SwanMLJobId"] = f'"$({BATCH_JOB_ID})"'
    sweep = jobs[0].sweep_id
    desc["batch_name"] = f"swan-ml-sweep-{sweep}" if sweep else f"swan-ml-{jobs[0].id}"
    items = [{BATCH_DIR: str(s), BATCH_JOB_ID: j.id} for j, s in zip(jobs, staged, strict=True)]
    return desc, items
