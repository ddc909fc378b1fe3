"""Reading HTCondor job ads: the attributes we query and what they mean for a job."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from ..jobs.model import JobState, Update

# The attributes we read in the one batched query per interval.
PROJECTION = [
    "ClusterId",
    "ProcId",
    "JobStatus",
    "ExitCode",
    "ExitBySignal",
    "ExitSignal",
    "HoldReason",
    "HoldReasonCode",
    "HoldReasonSubCode",
    "RemoveReason",
    "LastRejMatchReason",
    "JobCurrentStartDate",
    "JobStartDate",
    "CompletionDate",
    "EnteredCurrentStatus",
    "SwanMLJobId",
    "SwanMLProgress",
    "SwanMLResult",
    "RemoteHost",
    "AssignedGPUs",
    "NumJobStarts",
    "StageInStart",
    "StageInFinish",
    "SwanMLMaxRuntime",
    "SwanMLLogTail",
]
USER_HOLD = 1
SPOOLING_INPUT = 16  # HoldReasonCode while input files are being spooled: not a real hold


def _b64(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value).decode("utf-8", "replace")
    except ValueError:
        return None


def _classad_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def ad_to_update(ad: Any, stuck_spool_s: float) -> Update:
    """What one job ad says about the job: state, message (why pending/held/failed), progress."""
    status = int(ad.get("JobStatus") or 0)
    start = ad.get("JobCurrentStartDate") or ad.get("JobStartDate")
    started = float(start) if isinstance(start, int) and start > 0 else None
    ref = {"cluster_id": int(ad["ClusterId"])}
    host = ad.get("RemoteHost")
    if isinstance(host, str):
        ref["execute_host"] = host
    gpus = ad.get("AssignedGPUs")
    if isinstance(gpus, str):
        # HTCondor's "no device" value is 10000 (also in CUDA_VISIBLE_DEVICES).
        ids = [g.strip() for g in gpus.split(",") if g.strip() not in ("", "10000", "-1")]
        if ids:
            ref["assigned_gpus"] = ",".join(ids)
    progress = None
    prog = _b64(ad.get("SwanMLProgress"))
    if prog and "/" in prog:
        done, total = prog.split("/", 1)
        if done.isdigit() and total.isdigit():
            progress = {"cells_done": int(done), "cells_total": int(total)}
    u = Update(JobState.PENDING, progress=progress, started_at=started, engine_ref=ref)
    u.log_tail = _b64(ad.get("SwanMLLogTail"))
    if status == 1:
        why = _classad_str(ad.get("LastRejMatchReason"))
        u.message = f"idle: {why}" if why else "idle: waiting for a matching slot"
    elif status in (2, 6, 7):
        u.state = JobState.RUNNING
        u.message = {6: "transferring output", 7: "suspended"}.get(status, "")
    elif status == 5:
        code = ad.get("HoldReasonCode")
        if code == SPOOLING_INPUT:
            u.message = "transferring input files"
            began = ad.get("StageInStart")
            if (
                isinstance(began, int)
                and not isinstance(ad.get("StageInFinish"), int)
                and time.time() - began > stuck_spool_s
            ):
                u.resubmit = True
                u.message = "input transfer was interrupted; submitting again"
        else:
            u.state = JobState.HELD
            # htcondor2 25.x drops the reason of a user hold: say it in words ourselves.
            reason = _classad_str(ad.get("HoldReason"))
            if code == USER_HOLD:
                said = f" ({reason})" if reason and "swan-ml-ext" not in reason else ""
                u.message = f"held by the user{said} — Release to go on, or Cancel"
            else:
                u.message = f"held: {reason or f'code {code}'} — fix and Release, or Cancel"
    elif status == 3:
        u.state = JobState.CANCELLED
        why = _classad_str(ad.get("RemoveReason"))
        limit = ad.get("SwanMLMaxRuntime")
        if isinstance(limit, int) and "PeriodicRemove" in why:
            u.state = JobState.FAILED
            u.message = f"exceeded the maximum runtime of {limit} s; the job was stopped"
            u.has_outputs = False
        else:
            u.message = why or "removed"
        u.finished_at = float(ad.get("EnteredCurrentStatus") or time.time())
    elif status == 4:
        done_at = ad.get("CompletionDate") or ad.get("EnteredCurrentStatus")
        u.finished_at = float(done_at) if isinstance(done_at, int) and done_at else time.time()
        result = {}
        raw = _b64(ad.get("SwanMLResult"))
        if raw:
            try:
                result = json.loads(raw)
            except ValueError:
                result = {}
        if ad.get("ExitBySignal") is True:
            u.state = JobState.FAILED
            u.message = f"killed by signal {ad.get('ExitSignal')}"
        elif ad.get("ExitCode") == 0:
            u.state = JobState.COMPLETED
        else:
            u.state = JobState.FAILED
            u.message = result.get("message") or (
                f"the job exited with code {ad.get('ExitCode')}"
                + (" (the environment's python was not found)" if ad.get("ExitCode") == 127 else "")
            )
    return u
