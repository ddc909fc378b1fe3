"""The live Spark sessions of this server's kernels and batch jobs: what the poller watches,
the REST API lists and the UI route proxies to. No tornado, no pyspark.

A session is registered only from what a kernel of this server said about itself (its
`swan_ml_ext.spark.kernel.info()`, read through the server's own kernel client) or from a
batch job's `engine_ref["spark"]`: never from an address in a request. Its UI must be on a
loopback host unless the site allows more hosts (SwanMLApp.spark_ui_hosts)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..jobs.model import NotFound, SwanMLError
from ..jobs.model import _iso as iso

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
KEEP_ENDED = 50  # ended sessions kept (newest first) so a client can still read their last state


class SparkUnavailable(SwanMLError):
    """The kernel or job said something the registry cannot use (no UI, a host not allowed)."""

    status = 422


@dataclass
class Session:
    id: str
    kind: str  # classic | connect
    source: str  # kernel | job
    profile: str
    app_id: str | None
    app_name: str
    master: str
    ui_host: str
    ui_port: int
    kernel_id: str | None = None
    job_id: str | None = None
    connect_session_id: str | None = None
    state: str = "active"
    registered_at: float = field(default_factory=time.time)
    ended_at: float | None = None
    # Filled by the poller.
    jobs: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    executors: list[dict[str, Any]] = field(default_factory=list)
    updated_at: float | None = None
    spark_requests: int = 0
    misses: int = 0

    @property
    def active(self) -> bool:
        return self.state == "active"

    @property
    def ui_base(self) -> str:
        host = f"[{self.ui_host}]" if ":" in self.ui_host else self.ui_host
        return f"http://{host}:{self.ui_port}"

    def summary(self) -> dict[str, int]:
        running = [j for j in self.jobs if j["status"] == "RUNNING"]
        return {
            "jobs_running": len(running),
            "jobs_total": len(self.jobs),
            "tasks_total": sum(j["num_tasks"] for j in running),
            "tasks_done": sum(j["num_completed_tasks"] for j in running),
            "tasks_active": sum(j["num_active_tasks"] for j in running),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "source": self.source,
            "kernel_id": self.kernel_id,
            "job_id": self.job_id,
            "profile": self.profile,
            "app_id": self.app_id,
            "app_name": self.app_name,
            "master": self.master,
            "state": self.state,
            "registered_at": iso(self.registered_at),
            "ui_path": f"swan-ml-ext/spark/ui/{self.id}/jobs/",
            "summary": self.summary(),
            "spark_requests": self.spark_requests,
        }

    def jobs_json(self) -> dict[str, Any]:
        cells: dict[str, list[int]] = {}
        for job in self.jobs:
            if job["cell_id"]:
                cells.setdefault(job["cell_id"], []).append(job["job_id"])
        return {
            "jobs": self.jobs,
            "cells": [{"cell_id": c, "job_ids": ids} for c, ids in cells.items()],
            "updated_at": iso(self.updated_at),
        }


def ui_address(ui_url: Any, allowed_hosts: Iterable[str]) -> tuple[str, int]:
    """(host, port) of a Spark UI URL, or SparkUnavailable when it is none or not allowed."""
    if not isinstance(ui_url, str) or not ui_url:
        raise SparkUnavailable("the Spark session has no web UI (spark.ui.enabled=false?)")
    parts = urlsplit(ui_url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = (parts.hostname or "").lower()
    if parts.scheme != "http" or not host or port is None:
        raise SparkUnavailable(f"the Spark UI address {ui_url[:200]!r} is not http://host:port")
    allowed = LOOPBACK | {h.lower() for h in allowed_hosts}
    if host not in allowed:
        raise SparkUnavailable(
            f"the Spark UI is on {host!r}, which is not a loopback host; a site allows other"
            " hosts in SwanMLApp.spark_ui_hosts"
        )
    return host, port


class Registry:
    """Sessions by id. `on_change(session, change)` is told 'registered' and 'ended' (the
    poller tells 'jobs')."""

    def __init__(
        self,
        allowed_hosts: Iterable[str] = (),
        on_change: Callable[[Session, str], None] | None = None,
        keep_ended: int = KEEP_ENDED,
    ):
        self.allowed_hosts = tuple(allowed_hosts)
        self.on_change = on_change or (lambda session, change: None)
        self.keep_ended = keep_ended
        self._sessions: dict[str, Session] = {}

    def register(
        self,
        info: dict[str, Any],
        *,
        source: str,
        kernel_id: str | None = None,
        job_id: str | None = None,
        profile: str | None = None,
    ) -> Session:
        """Register what a kernel's info() or a job's engine_ref["spark"] says. The same
        application of the same kernel or job again: the session already registered. A kernel
        or job with another application: its previous session ends."""
        if not isinstance(info, dict):
            raise SparkUnavailable("the kernel has no Spark session")
        host, port = ui_address(info.get("ui_url"), self.allowed_hosts)
        app_id = _opt_str(info.get("app_id"))
        kind = "connect" if info.get("kind") == "connect" else "classic"
        connect_id = _opt_str(info.get("session_id"))
        for old in self.active():
            if (kernel_id and old.kernel_id == kernel_id) or (job_id and old.job_id == job_id):
                if _same(old, kind, app_id, port, connect_id):
                    return old
                self.end(old.id)
        session = Session(
            id=secrets.token_hex(6),
            kind=kind,
            source=source,
            profile=str(info.get("profile") or profile or ""),
            app_id=app_id,
            app_name=str(info.get("app_name") or ""),
            master=str(info.get("master") or ""),
            ui_host=host,
            ui_port=port,
            kernel_id=kernel_id,
            job_id=job_id,
            connect_session_id=connect_id,
        )
        self._sessions[session.id] = session
        self.on_change(session, "registered")
        return session

    def get(self, sid: str) -> Session:
        session = self._sessions.get(sid)
        if session is None:
            raise NotFound(f"no Spark session with id {sid[:100]!r}")
        return session

    def find(self, sid: str) -> Session | None:
        return self._sessions.get(sid)

    def all(self) -> list[Session]:
        return sorted(self._sessions.values(), key=lambda s: s.registered_at, reverse=True)

    def active(self) -> list[Session]:
        return [s for s in self._sessions.values() if s.active]

    def by_kernel(self, kernel_id: str) -> Session | None:
        return next((s for s in self.active() if s.kernel_id == kernel_id), None)

    def end(self, sid: str) -> Session:
        session = self.get(sid)
        if session.active:
            session.state, session.ended_at = "ended", time.time()
            for job in session.jobs:
                if job["status"] == "RUNNING":
                    job["status"] = "UNKNOWN"
            self._prune()
            self.on_change(session, "ended")
        return session

    def _prune(self) -> None:
        ended = sorted(
            (s for s in self._sessions.values() if not s.active),
            key=lambda s: s.ended_at or 0,
            reverse=True,
        )
        for old in ended[self.keep_ended :]:
            del self._sessions[old.id]


def _same(old: Session, kind: str, app_id: str | None, port: int, connect_id: str | None) -> bool:
    """The session already registered? A Connect session is its UI and Connect session id:
    the kernel may not know the application id (the poller fills it in from the UI)."""
    if kind == "connect" and old.kind == "connect":
        return (old.ui_port, old.connect_session_id) == (port, connect_id)
    return (old.kind, old.app_id, old.ui_port, old.connect_session_id) == (
        kind,
        app_id,
        port,
        connect_id,
    )


def _opt_str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
