"""SQLite job store: our index and memory (the engine is the source of truth for state)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .model import ACTIVE_STATES, Conflict, Job, Sweep

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    backend TEXT NOT NULL,
    state TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    data TEXT NOT NULL,
    public TEXT NOT NULL,
    summary TEXT NOT NULL,
    sweep_id TEXT,
    sweep_point INTEGER,
    sweep_row TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
CREATE INDEX IF NOT EXISTS jobs_backend ON jobs (backend, state, seq);
CREATE TABLE IF NOT EXISTS sweeps (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    idempotency_key TEXT UNIQUE,
    data TEXT NOT NULL
);
"""
_SWEEP_ROW_TYPE = "TEXT NOT NULL DEFAULT ''"
# A sweep point's row in its results table: the newest job of each point (a resubmitted point
# has older ones) is one index lookup.
_SWEEP_INDEX = "CREATE INDEX IF NOT EXISTS jobs_sweep ON jobs (sweep_id, sweep_point, seq)"
_SWEEP_ROW_MESSAGE = 1000  # characters of a point's message in the table (GET jobs/{id}: all)
TRACKED_SWEEPS = 256  # sweeps whose writes are tracked (SweepVersions); the least recent forgotten


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
        # Bumped (under the lock) whenever a sweep or one of its jobs is written: a reader
        # may keep what it computed from a sweep while its version stays the same, and read
        # again only the points written since (sweep_changes).
        self._versions = SweepVersions(TRACKED_SWEEPS)
        self._migrate()

    def _migrate(self) -> None:
        """Stores written before the 'public' / 'summary' columns existed get them filled in;
        those written before sweeps get the (empty) sweep columns."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        added = (("sweep_id", "TEXT"), ("sweep_point", "INTEGER"), ("sweep_row", _SWEEP_ROW_TYPE))
        for column, kind in added:
            if column not in columns:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")
        self._db.execute(_SWEEP_INDEX)
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
                self._insert(job)
        except sqlite3.IntegrityError as e:
            raise Conflict(f"a job with this id or idempotency key exists: {e}") from e

    def _insert(self, job: Job) -> None:
        if job.sweep_id is not None:
            self._versions.bump(job.sweep_id, job.point)
        values = (job.id, job.backend, job.state.value, job.idempotency_key, _dump(job))
        values += (_public(job), _summary(job), job.sweep_id, job.point, _sweep_row(job))
        self._db.execute(
            "INSERT INTO jobs (id, backend, state, idempotency_key, data, public, summary,"
            " sweep_id, sweep_point, sweep_row) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )

    def update(self, job: Job) -> None:
        with self._lock:
            self._update(job)

    def _update(self, job: Job) -> None:
        if job.sweep_id is not None:
            self._versions.bump(job.sweep_id, job.point)
        self._db.execute(
            "UPDATE jobs SET state = ?, data = ?, public = ?, summary = ?, sweep_row = ?"
            " WHERE id = ?",
            (job.state.value, _dump(job), _public(job), _summary(job), _sweep_row(job), job.id),
        )

    def update_many(self, jobs: list[Job]) -> None:
        """Several jobs in one transaction (a sweep's points after their batch submission)."""
        with self._lock, self._transaction():
            for job in jobs:
                self._update(job)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One transaction (the caller holds the lock): all or nothing, one commit."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

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

    # -- sweeps ---------------------------------------------------------------------------
    def sweep_version(self, sweep_id: str) -> int:
        """Changes whenever the sweep or one of its jobs is written (in this process). Read
        without the lock: it is what a cached answer is checked against on the event loop."""
        return self._versions.version(sweep_id)

    def sweep_changes(self, sweep_id: str, since: int) -> list[int] | None:
        """The points whose jobs were written after version `since`; None: read them all
        (jobs were deleted since, or the writes since are no longer tracked)."""
        with self._lock:
            return self._versions.changes(sweep_id, since)

    def insert_sweep(self, sweep: Sweep, jobs: list[Job]) -> None:
        """The sweep and its points' jobs, in one transaction."""
        try:
            with self._lock, self._transaction():
                self._versions.bump(sweep.id)
                self._db.execute(
                    "INSERT INTO sweeps (id, idempotency_key, data) VALUES (?, ?, ?)",
                    (sweep.id, sweep.idempotency_key, _dump_sweep(sweep)),
                )
                for job in jobs:
                    self._insert(job)
        except sqlite3.IntegrityError as e:
            raise Conflict(f"a sweep with this id or idempotency key exists: {e}") from e

    def add_sweep_jobs(self, sweep: Sweep, jobs: list[Job]) -> None:
        """New jobs of a sweep (resubmitted points) and the sweep's record, in one transaction."""
        with self._lock, self._transaction():
            self._versions.bump(sweep.id)
            self._db.execute(
                "UPDATE sweeps SET data = ? WHERE id = ?", (_dump_sweep(sweep), sweep.id)
            )
            for job in jobs:
                self._insert(job)

    def update_sweep(self, sweep: Sweep) -> None:
        with self._lock:
            self._versions.bump(sweep.id)
            self._db.execute(
                "UPDATE sweeps SET data = ? WHERE id = ?", (_dump_sweep(sweep), sweep.id)
            )

    def delete_jobs(self, job_ids: list[str], sweep_id: str, drop_sweep: bool = False) -> None:
        """Jobs of a sweep that were never submitted (and the sweep itself: drop_sweep), in
        one transaction."""
        with self._lock, self._transaction():
            self._versions.bump(sweep_id, reset=True)
            self._db.executemany("DELETE FROM jobs WHERE id = ?", [(i,) for i in job_ids])
            if drop_sweep:
                self._db.execute("DELETE FROM sweeps WHERE id = ?", (sweep_id,))

    def get_sweep(self, sweep_id: str) -> Sweep | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
        return _load_sweep(row[0]) if row else None

    def sweep_by_key(self, key: str) -> Sweep | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM sweeps WHERE idempotency_key = ?", (key,)
            ).fetchone()
        return _load_sweep(row[0]) if row else None

    def list_sweeps(
        self, limit: int = 25, before_seq: int | None = None
    ) -> tuple[list[tuple[int, Sweep]], int]:
        """Newest first: ((seq, sweep) rows, total)."""
        sql = "SELECT seq, data FROM sweeps"
        args: list[Any] = []
        if before_seq is not None:
            sql += " WHERE seq < ?"
            args.append(before_seq)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq DESC LIMIT ?", [*args, limit]).fetchall()
            total = self._db.execute("SELECT COUNT(*) FROM sweeps").fetchone()[0]
        return [(seq, _load_sweep(data)) for seq, data in rows], total

    def sweep_results(
        self, sweep_id: str, points: list[int] | None = None
    ) -> dict[int, dict[str, Any]]:
        """Point -> the table row of its newest job (see _sweep_row), for every point or
        these: one JSON text decoded (a thousand small ones cost 4x more)."""
        sql = (
            "SELECT '[' || COALESCE(group_concat('[' || seq || ',' || sweep_row || ']', ','),"
            " '') || ']' FROM jobs WHERE sweep_id = ?"
        )
        args: list[Any] = [sweep_id]
        if points is not None:
            sql += f" AND sweep_point IN ({','.join('?' * len(points))})"
            args += points
        with self._lock:
            (text,) = self._db.execute(sql, args).fetchone()
        newest: dict[int, tuple[int, dict[str, Any]]] = {}
        for seq, row in json.loads(text):
            seen = newest.get(row["point"])
            if seen is None or seq > seen[0]:
                newest[row["point"]] = (seq, row)
        return {point: row for point, (_, row) in newest.items()}

    def sweep_counts(self, sweep_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Sweep id -> {state: points in it, "finished_at": the latest end}, over each point's
        newest job."""
        if not sweep_ids:
            return {}
        marks = ",".join("?" * len(sweep_ids))
        sql = (
            "SELECT j.sweep_id, j.state, COUNT(*),"
            " MAX(json_extract(j.sweep_row, '$.finished_at')) FROM jobs j"
            f" WHERE j.sweep_id IN ({marks}) AND j.seq = (SELECT MAX(k.seq) FROM jobs k"
            " WHERE k.sweep_id = j.sweep_id AND k.sweep_point = j.sweep_point)"
            " GROUP BY j.sweep_id, j.state"
        )
        out: dict[str, dict[str, Any]] = {i: {} for i in sweep_ids}
        with self._lock:
            rows = self._db.execute(sql, sweep_ids).fetchall()
        for sweep_id, state, n, finished in rows:
            c = out[sweep_id]
            c[state] = n
            if finished is not None:
                c["finished_at"] = max(c.get("finished_at") or 0, finished)
        return out

    def sweep_jobs(self, sweep_id: str) -> list[Job]:
        """The newest job of each point, in point order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT j.data FROM jobs j WHERE j.sweep_id = ? AND j.seq = (SELECT MAX(k.seq)"
                " FROM jobs k WHERE k.sweep_id = j.sweep_id AND k.sweep_point = j.sweep_point)"
                " ORDER BY j.sweep_point",
                (sweep_id,),
            ).fetchall()
        return [_load(data) for (data,) in rows]


class SweepVersions:
    """What was written of which sweep, for readers that keep answers built from a sweep:
    a version per sweep (from one counter: it only grows) and per point, for the `keep` sweeps
    written most recently; a sweep forgotten, or one not written since this process started,
    reads as untracked (sweep_changes: None, read it all). Bounded: at most `keep` sweeps,
    each with at most its points. The caller serialises writes (the store's lock)."""

    def __init__(self, keep: int):
        self._keep = keep
        self._clock = 0
        self._forgotten = 0  # sweeps forgotten so far: an untracked sweep's version is -this
        self._sweeps: OrderedDict[str, _Tracked] = OrderedDict()

    def bump(self, sweep_id: str, point: int | None = None, reset: bool = False) -> None:
        """A write of the sweep (of one point's job); `reset`: jobs of it were deleted, what
        was built before must be built again from scratch."""
        self._clock += 1
        tracked = self._sweeps.get(sweep_id)
        if tracked is None:
            # Tracked from now on: writes after `since` are known, earlier ones are not.
            tracked = self._sweeps[sweep_id] = _Tracked(since=self._clock - 1)
            while len(self._sweeps) > self._keep:
                self._sweeps.popitem(last=False)
                self._forgotten += 1
        else:
            self._sweeps.move_to_end(sweep_id)
        tracked.version = self._clock
        if reset:
            tracked.since = self._clock
            tracked.points.clear()
        if point is not None:
            tracked.points[point] = self._clock

    def version(self, sweep_id: str) -> int:
        tracked = self._sweeps.get(sweep_id)
        return tracked.version if tracked is not None else -self._forgotten

    def changes(self, sweep_id: str, since: int) -> list[int] | None:
        tracked = self._sweeps.get(sweep_id)
        if tracked is None or tracked.since > since:
            return None
        return [p for p, v in tracked.points.items() if v > since]

    def __len__(self) -> int:
        return len(self._sweeps)


class _Tracked:
    __slots__ = ("points", "since", "version")

    def __init__(self, since: int):
        self.since = since  # writes with a version above it are in `points`
        self.version = since
        self.points: dict[int, int] = {}  # point -> the version its job was last written at


def _sweep_row(job: Job) -> str:
    """What a sweep's results table shows of a point's job ('' for other jobs)."""
    if job.sweep_id is None:
        return ""
    message = job.message
    if len(message) > _SWEEP_ROW_MESSAGE:
        message = message[: _SWEEP_ROW_MESSAGE - 1] + "…"
    row = {
        "point": job.point,
        "job": job.id,
        "state": job.state.value,
        "message": message,
        "notebook": job.outputs.get("notebook"),
        "collected": job.collected or None,
        "collect_notes": job.collect_notes or None,
        "finished_at": job.finished_at,
    }
    return json.dumps(row, separators=(",", ":"))


def _dump_sweep(sweep: Sweep) -> str:
    return json.dumps(sweep.to_record(), separators=(",", ":"))


def _load_sweep(data: str) -> Sweep:
    return Sweep.from_record(json.loads(data))


def _dump(job: Job) -> str:
    return json.dumps(job.to_record(), separators=(",", ":"))


def _public(job: Job) -> str:
    return json.dumps(job.to_json(), separators=(",", ":"))


def _summary(job: Job) -> str:
    return json.dumps(job.to_summary(), separators=(",", ":"))


def _load(data: str) -> Job:
    return Job.from_record(json.loads(data))
