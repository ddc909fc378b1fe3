"""What a KFP run (the v2beta1 JSON of a run) means for its job, and where a run's outputs
are on a store this server can read. Pure functions: no client, no network."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ...jobs.model import Job, JobState, Update

KFP_STATES = {  # KFP runtime state -> (our state, message); None: keep the job's state
    "PENDING": (JobState.PENDING, "pending in KFP"),
    "RUNNING": (JobState.RUNNING, "running in KFP"),
    "SUCCEEDED": (JobState.COMPLETED, ""),
    "SKIPPED": (JobState.FAILED, "KFP skipped the run: the notebook did not run"),
    "FAILED": (JobState.FAILED, "the KFP run failed"),
    "CANCELING": (None, "being cancelled in KFP"),
    "CANCELED": (JobState.CANCELLED, "cancelled in KFP"),
    "PAUSED": (JobState.HELD, "paused in KFP"),
    "RUNTIME_STATE_UNSPECIFIED": (None, "KFP has not reported a state for the run yet"),
}


def run_name(job: Job) -> str:
    """The run's display name; it carries the job id, so a run whose submission was
    interrupted can still be found (and removed) by name."""
    return f"{job.name} [swan-ml {job.id}]"


def _ts(value: Any) -> float | None:
    """A KFP timestamp (RFC 3339; unset ones come as 1970-01-01) -> epoch seconds."""
    if not isinstance(value, str) or not value:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return t if t > 0 else None


def _words(value: Any, limit: int = 500) -> str:
    return " ".join(str(value).split())[:limit]


def run_update(run: dict[str, Any], job: Job) -> Update:
    """What one KFP run (the v2beta1 JSON of a run) says about its job."""
    kfp_state = str(run.get("state") or "RUNTIME_STATE_UNSPECIFIED")
    state, message = KFP_STATES.get(kfp_state, (None, f"unknown KFP run state {kfp_state}"))
    if state is None:
        state = job.state
    if state == JobState.FAILED and kfp_state == "FAILED":
        why = _run_error(run)
        message = f"the KFP run failed: {why}" if why else message
    started = None
    for entry in run.get("state_history") or []:
        if isinstance(entry, dict) and entry.get("state") == "RUNNING":
            started = _ts(entry.get("update_time"))
            break
    if started is None and state in (JobState.RUNNING, JobState.COMPLETED, JobState.FAILED):
        started = _ts(run.get("scheduled_at")) or _ts(run.get("created_at"))
    return Update(
        state=state,
        message=message,
        started_at=started,
        finished_at=_ts(run.get("finished_at")) if state.final else None,
        # a skipped run ran nothing; a failed one may have left the partial notebook
        has_outputs=kfp_state != "SKIPPED",
    )


def _run_error(run: dict[str, Any]) -> str:
    error = run.get("error") or {}
    if isinstance(error, dict) and error.get("message"):
        return _words(error["message"])
    for task in (run.get("run_details") or {}).get("task_details") or []:
        terror = task.get("error") or {}
        if task.get("state") == "FAILED" and isinstance(terror, dict) and terror.get("message"):
            name = task.get("display_name") or task.get("task_id") or "a task"
            return f"{name}: " + _words(terror["message"])
    return ""


def local_path(root: str) -> Path | None:
    if root.startswith("file://"):
        return Path(urlsplit(root).path)
    if root.startswith("/"):
        return Path(root)
    return None


def find_outputs(root: Path, run_id: str) -> Path | None:
    """The folder holding the run's `result`/`notebook`/`files` artifacts:
    <root>/<pipeline name>/<run id>/<task>[/<execution>]/<artifact> (KFP's layout)."""
    for run_dir in [root / run_id, *root.glob(f"*/{run_id}")]:
        if not run_dir.is_dir():
            continue
        for name in ("result", "notebook"):
            for found in sorted(run_dir.rglob(name)):
                if found.is_file():
                    return found.parent
    return None
