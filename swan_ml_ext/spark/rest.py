"""Spark's monitoring REST API and the UI's kill form, for one registered session: async
(tornado's AsyncHTTPClient, never blocking the loop), every call counted on the session.
Maps Spark's records to the shapes of the swan-ml-ext REST API."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from ..jobs.model import Conflict, NotFound, SwanMLError
from .registry import Session

TIMEOUT_S = 10.0  # the first REST call after a Spark start takes 2-4 s
CELL_PREFIX = "swan-cell-"
MAX_BODY = 8 << 20  # bytes of one answer from a Spark UI; above: refused
KEEP_JOBS = 500  # the newest jobs of a session that are kept (and served by GET .../jobs)
KEEP_STAGES = 500  # stages of one answer that are kept (the newest)
KEEP_EXECUTORS = 1000
_CSRF = re.compile(rb'name="csrfToken"\s+value="([^"]+)"')


class SparkUIError(SwanMLError):
    """The session's Spark UI did not answer as expected."""

    status = 502


@dataclass
class Answer:
    code: int
    body: bytes


async def fetch(session: Session, path: str, **kwargs: Any) -> Any:
    """One HTTP call to the session's UI (counted); JSON decoded unless raw=True (then an
    Answer). An answer above MAX_BODY is refused (only that much is ever held in memory)."""
    raw = kwargs.pop("raw", False)
    session.spark_requests += 1
    chunks: list[bytes] = []
    size = 0

    def collect(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)
        if size <= MAX_BODY:
            chunks.append(chunk)

    request = HTTPRequest(
        session.ui_base + path,
        connect_timeout=TIMEOUT_S,
        request_timeout=TIMEOUT_S,
        follow_redirects=False,
        streaming_callback=collect,
        **kwargs,
    )
    try:
        # raise_error=False still raises for no answer at all (refused, timeout: 599)
        response = await AsyncHTTPClient().fetch(request, raise_error=False)
    except (OSError, HTTPClientError) as e:
        raise SparkUIError(f"the Spark UI does not answer: {e}") from None
    if response.code == 599 or response.error and not isinstance(response.error, HTTPClientError):
        raise SparkUIError(f"the Spark UI does not answer: {response.error}")
    if size > MAX_BODY:
        raise SparkUIError(f"the Spark UI's answer to {path} is above {MAX_BODY >> 20} MiB")
    body = b"".join(chunks)
    if raw:
        return Answer(response.code, body)
    if response.code != 200:
        raise SparkUIError(f"the Spark UI answered {response.code} to {path}")
    return json.loads(body)


async def app_id(session: Session) -> str:
    """The application id (Connect info may lack it: the UI has one application)."""
    if session.app_id:
        return session.app_id
    apps = await fetch(session, "/api/v1/applications")
    if not apps:
        raise SparkUIError("the Spark UI lists no application")
    session.app_id = str(apps[0]["id"])
    return session.app_id


def cell_of(job: dict[str, Any], session: Session) -> str | None:
    group = job.get("jobGroup") or ""
    if group.startswith(CELL_PREFIX):
        return group[len(CELL_PREFIX) :]
    marker = f"_Tag_{CELL_PREFIX}"
    for tag in job.get("jobTags") or []:
        if marker in tag and _mine(tag, session):
            return tag.split(marker, 1)[1]
    return None


def _mine(tag: str, session: Session) -> bool:
    return not session.connect_session_id or f"_Session_{session.connect_session_id}_" in tag


def belongs(job: dict[str, Any], session: Session) -> bool:
    """Connect sessions share the Connect server's application: only their own jobs."""
    if session.kind != "connect" or not session.connect_session_id:
        return True
    return any(_mine(tag, session) for tag in job.get("jobTags") or [])


def map_job(job: dict[str, Any], session: Session) -> dict[str, Any]:
    status = job.get("status")
    return {
        "job_id": int(job["jobId"]),
        "name": str(job.get("name") or ""),
        "description": str(job.get("description") or ""),
        "status": status if status in ("RUNNING", "SUCCEEDED", "FAILED") else "UNKNOWN",
        "cell_id": cell_of(job, session),
        "num_tasks": int(job.get("numTasks", 0)),
        "num_completed_tasks": int(job.get("numCompletedTasks", 0)),
        "num_active_tasks": int(job.get("numActiveTasks", 0)),
        "num_failed_tasks": int(job.get("numFailedTasks", 0)),
        "num_killed_tasks": int(job.get("numKilledTasks", 0)),
        "stage_ids": [int(s) for s in job.get("stageIds") or []],
        "submission_time": job.get("submissionTime"),
        "completion_time": job.get("completionTime"),
    }


def map_stage(stage: dict[str, Any]) -> dict[str, Any]:
    return {
        "stage_id": int(stage["stageId"]),
        "attempt_id": int(stage.get("attemptId", 0)),
        "name": str(stage.get("name") or ""),
        "status": str(stage.get("status") or "UNKNOWN"),
        "num_tasks": int(stage.get("numTasks", 0)),
        "num_complete_tasks": int(stage.get("numCompleteTasks", 0)),
        "num_active_tasks": int(stage.get("numActiveTasks", 0)),
        "num_failed_tasks": int(stage.get("numFailedTasks", 0)),
    }


def map_executor(ex: dict[str, Any]) -> dict[str, Any]:
    resources = ex.get("resources") or {}
    return {
        "id": str(ex.get("id")),
        "host_port": str(ex.get("hostPort") or ""),
        "is_active": bool(ex.get("isActive", True)),
        "total_cores": int(ex.get("totalCores", 0)),
        "max_memory": int(ex.get("maxMemory", 0)),
        "active_tasks": int(ex.get("activeTasks", 0)),
        "completed_tasks": int(ex.get("completedTasks", 0)),
        "resources": {
            str(name): [str(a) for a in (r or {}).get("addresses") or []]
            for name, r in resources.items()
        },
    }


async def jobs(session: Session) -> list[dict[str, Any]]:
    app = await app_id(session)
    raw = await fetch(session, f"/api/v1/applications/{app}/jobs")
    mine = [j for j in raw if belongs(j, session)]
    newest = sorted(mine, key=lambda j: int(j["jobId"]), reverse=True)[:KEEP_JOBS]
    return [map_job(j, session) for j in newest]


async def stages(session: Session, query: str) -> list[dict[str, Any]]:
    app = await app_id(session)
    raw = await fetch(session, f"/api/v1/applications/{app}/{query}")
    newest = sorted(raw, key=lambda s: (int(s["stageId"]), int(s.get("attemptId", 0))))
    return [map_stage(s) for s in newest[-KEEP_STAGES:]]


async def executors(session: Session) -> list[dict[str, Any]]:
    app = await app_id(session)
    raw = await fetch(session, f"/api/v1/applications/{app}/executors")
    return [map_executor(e) for e in raw[:KEEP_EXECUTORS]]


async def kill(session: Session, job_id: int) -> None:
    """Kill one of this session's running jobs the way the UI's kill link does: the page's
    CSRF token, then POST /jobs/job/kill/ (Spark answers 302)."""
    current = {j["job_id"]: j for j in await jobs(session)}
    job = current.get(job_id)
    if job is None:
        raise NotFound(f"Spark session {session.id} has no job {job_id}")
    if job["status"] != "RUNNING":
        raise Conflict(f"Spark job {job_id} is not running ({job['status'].lower()})")
    page = await fetch(session, "/jobs/", raw=True)
    token = _CSRF.search(page.body)
    if page.code != 200 or token is None:
        raise SparkUIError("the Spark UI's jobs page has no kill form (spark.ui.killEnabled?)")
    body = urlencode({"id": str(job_id), "csrfToken": token.group(1).decode()})
    answer = await fetch(
        session,
        "/jobs/job/kill/",
        raw=True,
        method="POST",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    if answer.code not in (200, 302, 303):
        raise SparkUIError(f"the Spark UI refused to kill job {job_id} ({answer.code})")
