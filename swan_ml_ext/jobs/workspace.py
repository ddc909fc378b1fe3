"""The job's files: its snapshot in the staging folder, its outputs moved into the workspace.
Blocking file work: the service calls these in worker threads."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from .inputs import InputPlan, plan_inputs
from .missing import Missing
from .model import Job, JobState, Update


def stage(
    root_dir: Path,
    job: Job,
    staged: Path,
    link_inputs: bool = False,
    plan: InputPlan | None = None,
) -> None:
    """Snapshot the notebook, its inputs and the parameters (a preview links the inputs
    instead of copying them: the backend only looks at them). `plan`: the inputs' files as
    spec.input_plan checked them against the limits (walked here when not given). A failure
    leaves no staging folder."""
    staged.mkdir(parents=True, exist_ok=False)
    try:
        shutil.copyfile(root_dir / job.notebook, staged / "notebook.ipynb")
        (staged / "params.json").write_text(json.dumps(job.parameters))
        if plan is None and job.inputs:
            plan = plan_inputs(root_dir, job.notebook, job.inputs, max_files=2**62)
        made: set[Path] = set()
        for src, rel in plan.files if plan else ():
            dest = staged / "inputs" / rel
            if dest.parent not in made:
                dest.parent.mkdir(parents=True, exist_ok=True)
                made.add(dest.parent)
            if link_inputs:
                dest.symlink_to(src)
            else:
                shutil.copy2(src, dest)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def publish(root_dir: Path, output_dir: str, job: Job, staged: Path) -> dict[str, Any]:
    """Move the executed notebook and created files into the workspace folder (moved, not
    copied: the staging folder is removed once the job's record says where they are)."""
    out = staged / "output"
    stem = Path(job.notebook).stem
    rel_dir = f"{output_dir}/{stem}-{job.id}" if output_dir else f"{stem}-{job.id}"
    dest = root_dir / rel_dir
    dest.mkdir(parents=True, exist_ok=True)
    outputs: dict[str, Any] = {"folder": rel_dir, "notebook": None, "files": []}
    if (out / "notebook.ipynb").exists():
        shutil.move(out / "notebook.ipynb", dest / f"{stem}.ipynb")
        outputs["notebook"] = f"{rel_dir}/{stem}.ipynb"
    files = out / "files"
    if files.is_dir():
        for p in sorted(files.rglob("*")):
            if p.is_file():
                rel = p.relative_to(files)
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(p, dest / rel)
                outputs["files"].append(f"{rel_dir}/{rel.as_posix()}")
    for name in ("stdout.txt", "stderr.txt"):
        if (staged / name).exists():
            shutil.move(staged / name, dest / name)
    return outputs


def record_finish(
    job: Job,
    update: Update,
    result: dict[str, Any],
    outputs: dict[str, Any] | None,
    error: str | None,
    missing: Missing | None = None,
) -> None:
    """A finished job's final state, message and outputs. `result`: the runner's result.json
    (read by the caller off the event loop; {} when there is none). `missing`: the explanation of a
    failure on a workspace file the job was not sent (its message replaces the error's; the
    inputs to add are kept as outputs["suggested_inputs"], root-relative)."""
    job.finished_at = update.finished_at or time.time()
    job.state, job.message = update.state, update.message
    if error is not None or outputs is None:
        job.engine_ref["fetch_error"] = error or "no outputs"
        job.message = (job.message + "; " if job.message else "") + (
            f"outputs could not be fetched: {error}"
        )
        return
    job.outputs = outputs
    if result.get("status") == "completed" and job.state == JobState.FAILED:
        job.message = job.message or "the job failed after the notebook completed"
    elif result.get("status") in ("failed", "error"):
        job.state = JobState.FAILED
        job.message = result.get("message") or job.message
    if missing is not None and job.state == JobState.FAILED:
        job.message = missing.message
        if missing.suggested_inputs:
            job.outputs = {**job.outputs, "suggested_inputs": missing.suggested_inputs}
    if result.get("assigned_gpus"):
        job.engine_ref.setdefault("assigned_gpus", result["assigned_gpus"])
    if job.collect and isinstance(result.get("collected"), dict):  # a sweep point's values
        job.collected = result["collected"]
        notes = result.get("collect_notes")
        job.collect_notes = notes if isinstance(notes, dict) else {}
    if job.state == JobState.COMPLETED and job.progress.get("cells_total"):
        job.progress = {**job.progress, "cells_done": job.progress["cells_total"]}


def drop_staging(staging_root: Path, job: Job) -> None:
    """A final job's snapshot is no longer needed, unless its outputs could not be fetched
    (kept so the fetch can be retried)."""
    if "fetch_error" not in job.engine_ref:
        shutil.rmtree(staging_root / job.id, ignore_errors=True)


def read_json(p: Path) -> dict[str, Any]:
    try:
        data = json.loads(p.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
