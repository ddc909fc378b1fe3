"""What the kubeflow backend delegates to, one of two engines behind one interface:
kfp.local in supervised local processes (embedded, the default: no KFP host configured) or a
remote KFP server through kfp.Client. Both run the same compiled pipeline with the same
arguments (pipeline_arguments)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Protocol

from ...jobs.model import Job, Update
from ..base import BackendStatus, Logs

PIPELINE_FILE = "pipeline.yaml"  # the compiled pipeline, in the job's staging folder


class KfpEngine(Protocol):
    def status(self) -> BackendStatus: ...

    def submit(self, job: Job, staged: Path, pipeline: Path) -> dict[str, Any]:
        """Start a run of the compiled pipeline file with pipeline_arguments(job, staged);
        return the job's engine_ref (e.g. {"run_id": ..., "run_url": ...})."""
        ...

    def poll(self, jobs: list[Job]) -> dict[str, Update]:
        """ONE batched query for all these jobs' runs; job id -> update (progress, log tail)."""
        ...

    def fetch(self, job: Job, staged: Path) -> None:
        """The run's outputs into staged/output: notebook.ipynb (also the partial one of a
        failing cell), files/ (what the notebook wrote), result.json ({"status", "message"});
        stdout/stderr into staged/stdout.txt, staged/stderr.txt."""
        ...

    def cancel(self, job: Job) -> None: ...

    def logs(self, job: Job, staged: Path, tail: int | None) -> Logs: ...

    def close(self) -> None: ...


def pipeline_arguments(job: Job, staged: Path) -> dict[str, str]:
    """The compiled pipeline's inputs. The notebook travels base64 and the parameters as one
    JSON string: kfp.local rewrites the substring 'python3' in arguments, and ints inside a
    dict parameter come back as floats."""
    return {
        "notebook_b64": base64.b64encode((staged / "notebook.ipynb").read_bytes()).decode(),
        "parameters_json": json.dumps(job.parameters),
        "kernel_name": job.kernel_name,
        "job_id": job.id,
    }
