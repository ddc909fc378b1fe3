"""SQLite job store: our index and memory (the engine is the source of truth for state)."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from .model import ACTIVE_STATES, Conflict, Job

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    backend TEXT NOT NULL,
    state TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    data TEXT NOT NULL,
    public TEXT NOT NULL,
    summary TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
CREATE INDEX IF NOT EXISTS jobs_backend ON jobs (backend, state, seq);
"""


class JobStore:
    """Thread-safe; callers on the event loop use it through a worker thread."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._migrate()

    def _migrate(self) -> None:
        """Stores written before the 'public' / 'summary' columns existed get them filled in."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        missing = [c for c in ("public", "summary") if c not in columns]
        for column in missing:
            self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")
        if missing:
            for job_id, data in self._db.execute("SELECT id, data FROM jobs").fetchall():
                job = _load(data)
                self._db.execute(
                    "UPDATE jobs SET public = ?, summary = ? WHERE id = ?",
                    (_public(job), _summary(job), job_id),
                )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def insert(self, job: Job) -> None:
        try:
            with self._lock:
                self._db.execute(
                    "INSERT INTO jobs (id, backend, state, idempotency_key, data, public, summary)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        job.id,
                        job.backend,
                        job.state.value,
                        job.idempotency_key,
                        _dump(job),
                        _public(job),
                        _summary(job),
                    ),  # fmt: skip
                )
        except sqlite3.IntegrityError as e:
            raise Conflict(f"a job with this id or idempotency key exists: {e}") from e

    def update(self, job: Job) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET state = ?, data = ?, public = ?, summary = ? WHERE id = ?",
                (job.state.value, _dump(job), _public(job), _summary(job), job.id),
            )

    def delete(self, job_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _load(row[0]) if row else None

    def by_idempotency_key(self, key: str) -> Job | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM jobs WHERE idempotency_key = ?", (key,)
            ).fetchone()
        return _load(row[0]) if row else None

    def get_public(self, job_id: str) -> str | None:
        """The job's REST JSON, stored ready to send (reads decode nothing)."""
        with self._lock:
            row = self._db.execute("SELECT public FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row[0] if row else None

    def list(
        self,
        *,
        backend: str | None = None,
        states: list[str] | None = None,
        limit: int = 25,
        before_seq: int | None = None,
    ) -> tuple[list[tuple[int, Job]], int]:
        """Newest first. Returns ((seq, job) rows, total matching the filters)."""
        rows, total = self._page("data", backend, states, limit, before_seq)
        return [(seq, _load(data)) for seq, data in rows], total

    def list_public(
        self,
        *,
        backend: str | None = None,
        states: list[str] | None = None,
        limit: int = 25,
        before_seq: int | None = None,
    ) -> tuple[list[tuple[int, str]], int]:
        """Like list, with each job as its stored list-page JSON text (bounded fields)."""
        return self._page("summary", backend, states, limit, before_seq)

    def _page(
        self,
        column: str,
        backend: str | None,
        states: list[str] | None,
        limit: int,
        before_seq: int | None,
    ) -> tuple[list[tuple[int, str]], int]:
        where: list[str] = []
        args: list[Any] = []
        if backend:
            where.append("backend = ?")
            args.append(backend)
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            args.extend(states)
        count_sql = "SELECT COUNT(*) FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
        if before_seq is not None:
            where.append("seq < ?")
        sql = f"SELECT seq, {column} FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY seq DESC LIMIT ?"
        page_args = [*args, *([before_seq] if before_seq is not None else []), limit]
        with self._lock:
            rows = self._db.execute(sql, page_args).fetchall()
            total = self._db.execute(count_sql, args).fetchone()[0]
        return rows, total

    def active(self, backend: str | None = None) -> list[Job]:
        states = sorted(s.value for s in ACTIVE_STATES)
        rows, _ = self.list(backend=backend, states=states, limit=1_000_000)
        return [job for _, job in rows]


def _dump(job: Job) -> str:
    return json.dumps(job.to_record(), separators=(",", ":"))


def _public(job: Job) -> str:
    return json.dumps(job.to_json(), separators=(",", ":"))


def _summary(job: Job) -> str:
    return json.dumps(job.to_summary(), separators=(",", ":"))


def _load(data: str) -> Job:
    return Job.from_record(json.loads(data))
