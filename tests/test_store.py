"""JobStore (SQLite): round trips, filters, pagination, recovery queries, persistence, migration."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from swan_ml_ext.jobs.model import FINAL_STATES, Conflict, Job, JobState
from swan_ml_ext.jobs.store import JobStore

T0 = 1_700_000_000.25


def make_job(n: int = 0, **overrides: Any) -> Job:
    fields: dict[str, Any] = {
        "id": f"job-{n:04d}",
        "name": f"train {n}",
        "backend": "condor",
        "state": JobState.PENDING,
        "notebook": "work/train.ipynb",
        "parameters": {"lr": 0.01, "epochs": n, "tags": ["a", "b"], "note": 'é "q"\n'},
        "resources": {"cpus": 2, "memory_mb": 4096, "gpus": 1, "gpu_capability": 8.0},
        "environment": "default",
        "inputs": ["data/x.csv"],
        "engine_ref": {"cluster_id": 100 + n},
        "created_at": T0 + n,
    }
    fields.update(overrides)
    return Job(**fields)


@pytest.fixture
def store(tmp_path: Path):
    s = JobStore(tmp_path / "jobs.sqlite")
    yield s
    s.close()


def public_text(job: Job) -> str:
    return json.dumps(job.to_json(), separators=(",", ":"))


def ids(rows: list[tuple[int, Any]]) -> list[str]:
    return [job.id if isinstance(job, Job) else json.loads(job)["id"] for _, job in rows]


# --- round trip -----------------------------------------------------------------------------


def test_insert_get_and_get_public_round_trip(store: JobStore) -> None:
    # Given
    job = make_job(1, idempotency_key="k-1", owner="alice", message="queued")

    # When
    store.insert(job)

    # Then: the full record comes back equal, the REST text is to_json() serialised
    assert store.get(job.id) == job
    public = store.get_public(job.id)
    assert public is not None
    assert public == public_text(job)
    assert json.loads(public) == job.to_json()
    assert json.loads(public)["created_at"] == "2023-11-14T22:13:21.250Z"  # T0 + 1
    # private fields stay out of the public JSON
    assert "owner" not in json.loads(public)
    assert "idempotency_key" not in json.loads(public)


def test_unknown_id_is_none(store: JobStore) -> None:
    assert store.get("nope") is None
    assert store.get_public("nope") is None
    assert store.by_idempotency_key("nope") is None


def test_update_changes_state_record_and_public_json(store: JobStore) -> None:
    # Given
    job = make_job(1)
    store.insert(job)

    # When
    job.state = JobState.RUNNING
    job.started_at = T0 + 10
    job.progress = {"cells_done": 2, "cells_total": 5}
    job.message = "running on node-3"
    store.update(job)

    # Then
    got = store.get(job.id)
    assert got is not None
    assert got.state is JobState.RUNNING
    assert got.progress == {"cells_done": 2, "cells_total": 5}
    public = json.loads(store.get_public(job.id) or "null")
    assert public["state"] == "running"
    assert public["message"] == "running on node-3"
    assert public["started_at"] == "2023-11-14T22:13:30.250Z"
    assert store.get_public(job.id) == public_text(job)
    # the indexed state column follows too
    rows, total = store.list(states=["running"])
    assert (ids(rows), total) == ([job.id], 1)
    assert store.list(states=["pending"]) == ([], 0)


def test_delete_removes_the_job(store: JobStore) -> None:
    store.insert(make_job(1))
    store.insert(make_job(2))
    store.delete("job-0001")
    assert store.get("job-0001") is None
    assert store.get_public("job-0001") is None
    assert ids(store.list()[0]) == ["job-0002"]


# --- uniqueness ---------------------------------------------------------------------------


def test_idempotency_key_is_unique_and_findable(store: JobStore) -> None:
    # Given
    first = make_job(1, idempotency_key="submit-abc")
    store.insert(first)

    # When / Then: a second job with the same key is a Conflict (HTTP 409)
    with pytest.raises(Conflict) as info:
        store.insert(make_job(2, idempotency_key="submit-abc"))
    assert info.value.status == 409

    # and the store still holds only the first one, found by its key
    assert store.get("job-0002") is None
    found = store.by_idempotency_key("submit-abc")
    assert found is not None and found.id == first.id
    assert store.list()[1] == 1


def test_jobs_without_idempotency_key_do_not_conflict(store: JobStore) -> None:
    store.insert(make_job(1))
    store.insert(make_job(2))
    assert store.list()[1] == 2


def test_duplicate_id_is_a_conflict(store: JobStore) -> None:
    store.insert(make_job(1))
    with pytest.raises(Conflict):
        store.insert(make_job(1, name="other"))
    got = store.get("job-0001")
    assert got is not None and got.name == "train 1"


# --- listing ------------------------------------------------------------------------------


def test_list_and_list_public_are_newest_first(store: JobStore) -> None:
    # Given: inserted in order 0..4 (created_at deliberately reversed: order is insertion)
    for n in range(5):
        store.insert(make_job(n, created_at=T0 - n))

    # When
    rows, total = store.list()
    public_rows, public_total = store.list_public()

    # Then
    expected = [f"job-{n:04d}" for n in (4, 3, 2, 1, 0)]
    assert ids(rows) == expected and total == 5
    assert ids(public_rows) == expected and public_total == 5
    seqs = [seq for seq, _ in rows]
    assert seqs == sorted(seqs, reverse=True)
    assert [seq for seq, _ in public_rows] == seqs
    for (_, job), (_, text) in zip(rows, public_rows, strict=True):
        assert isinstance(job, Job)
        assert text == public_text(job)


def test_filter_by_backend_and_states(store: JobStore) -> None:
    # Given
    layout = [
        ("condor", JobState.PENDING),
        ("condor", JobState.RUNNING),
        ("condor", JobState.COMPLETED),
        ("spark", JobState.RUNNING),
        ("spark", JobState.FAILED),
        ("condor", JobState.HELD),
        ("kubeflow", JobState.CANCELLED),
    ]
    for n, (backend, state) in enumerate(layout):
        store.insert(make_job(n, backend=backend, state=state))

    # When / Then: backend only
    rows, total = store.list(backend="spark")
    assert (ids(rows), total) == (["job-0004", "job-0003"], 2)

    # several states
    rows, total = store.list(states=["running", "held"])
    assert (ids(rows), total) == (["job-0005", "job-0003", "job-0001"], 3)

    # both filters combine with AND
    rows, total = store.list_public(backend="condor", states=["running", "completed"])
    assert (ids(rows), total) == (["job-0002", "job-0001"], 2)
    for _, text in rows:
        assert json.loads(text)["backend"] == "condor"

    # nothing matches
    assert store.list(backend="condor", states=["failed"]) == ([], 0)
    assert store.list(backend="nope") == ([], 0)

    # no filter (None or empty) is everything
    assert store.list(limit=100)[1] == len(layout)
    assert store.list(backend="", states=[], limit=100)[1] == len(layout)


def test_pagination_with_before_seq_sees_every_job_once(store: JobStore) -> None:
    # Given: 60 jobs, every 3rd one on spark
    for n in range(60):
        store.insert(make_job(n, backend="spark" if n % 3 == 0 else "condor"))

    for backend, expected_total in ((None, 60), ("condor", 40), ("spark", 20)):
        # When: walk the pages the way the REST next_page_token does
        seen: list[str] = []
        pages = 0
        before: int | None = None
        while True:
            rows, total = store.list(backend=backend, limit=25, before_seq=before)
            # Then: total counts all matching jobs, not just those after the cursor
            assert total == expected_total
            if not rows:
                break
            pages += 1
            assert len(rows) <= 25
            seen += ids(rows)
            before = rows[-1][0]
            if len(rows) < 25:
                break

        assert len(seen) == len(set(seen)) == expected_total
        expected = [
            f"job-{n:04d}"
            for n in reversed(range(60))
            if backend is None or (backend == "spark") == (n % 3 == 0)
        ]
        assert seen == expected  # newest first across pages, no gaps, no repeats
        assert pages == -(-expected_total // 25)


def test_list_public_pages_like_list(store: JobStore) -> None:
    for n in range(7):
        store.insert(make_job(n))
    rows, total = store.list_public(limit=3)
    assert ids(rows) == ["job-0006", "job-0005", "job-0004"] and total == 7
    rows2, total2 = store.list_public(limit=3, before_seq=rows[-1][0])
    assert ids(rows2) == ["job-0003", "job-0002", "job-0001"] and total2 == 7
    rows3, _ = store.list_public(limit=3, before_seq=rows2[-1][0])
    assert ids(rows3) == ["job-0000"]


# --- recovery queries ---------------------------------------------------------------------


def test_active_returns_only_non_final_jobs(store: JobStore) -> None:
    # Given: one job in every state on two backends
    n = 0
    for backend in ("condor", "spark"):
        for state in JobState:
            store.insert(make_job(n, backend=backend, state=state))
            n += 1

    # When
    active = store.active()
    condor_active = store.active("condor")

    # Then
    assert len(active) == 6  # pending, running, held on each backend
    assert all(not job.state.final for job in active)
    assert {job.state for job in active} == {JobState.PENDING, JobState.RUNNING, JobState.HELD}
    assert len(condor_active) == 3
    assert {job.backend for job in condor_active} == {"condor"}
    assert not any(job.state in FINAL_STATES for job in condor_active)


def test_active_is_not_limited_to_one_page(store: JobStore) -> None:
    for n in range(40):
        store.insert(make_job(n, state=JobState.RUNNING))
    assert len(store.active()) == 40


def test_reopening_the_same_file_keeps_everything(tmp_path: Path) -> None:
    # Given
    path = tmp_path / "nested" / "dir" / "jobs.sqlite"  # parent folders are created
    first = JobStore(path)
    for n in range(3):
        first.insert(make_job(n, idempotency_key=f"key-{n}"))
    job = make_job(1, idempotency_key="key-1", state=JobState.COMPLETED, finished_at=T0 + 99)
    first.update(job)
    first.close()

    # When
    second = JobStore(path)
    try:
        # Then
        assert second.get("job-0001") == job
        assert second.get_public("job-0001") == public_text(job)
        rows, total = second.list()
        assert ids(rows) == ["job-0002", "job-0001", "job-0000"] and total == 3
        found = second.by_idempotency_key("key-2")
        assert found is not None and found.id == "job-0002"
        with pytest.raises(Conflict):
            second.insert(make_job(9, idempotency_key="key-0"))
        # new rows continue after the old ones
        second.insert(make_job(3))
        assert ids(second.list(limit=1)[0]) == ["job-0003"]
    finally:
        second.close()


def test_in_memory_store_works(tmp_path: Path) -> None:
    s = JobStore(":memory:")
    try:
        s.insert(make_job(1))
        assert s.get_public("job-0001") == public_text(make_job(1))
    finally:
        s.close()


def test_migrate_fills_public_for_an_old_schema(tmp_path: Path) -> None:
    # Given: a store written before the 'public' column existed
    path = tmp_path / "old.sqlite"
    old_jobs = [
        make_job(1, state=JobState.COMPLETED, outputs={"notebook": "o/nb.ipynb"}),
        make_job(2, idempotency_key="old-key"),
    ]
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            backend TEXT NOT NULL,
            state TEXT NOT NULL,
            idempotency_key TEXT UNIQUE,
            data TEXT NOT NULL
        );
        """
    )
    for job in old_jobs:
        db.execute(
            "INSERT INTO jobs (id, backend, state, idempotency_key, data) VALUES (?, ?, ?, ?, ?)",
            (
                job.id,
                job.backend,
                job.state.value,
                job.idempotency_key,
                json.dumps(job.to_record()),
            ),
        )
    db.commit()
    db.close()

    # When
    store = JobStore(path)
    try:
        # Then: the public JSON is there for old rows, and everything else still works
        for job in old_jobs:
            assert store.get(job.id) == job
            assert store.get_public(job.id) == public_text(job)
        rows, total = store.list_public()
        assert total == 2
        assert [json.loads(text) for _, text in rows] == [j.to_json() for j in reversed(old_jobs)]
        found = store.by_idempotency_key("old-key")
        assert found is not None and found.id == "job-0002"
        new = make_job(3)
        store.insert(new)
        assert store.get_public(new.id) == public_text(new)
    finally:
        store.close()

    # and opening it again does not migrate twice or lose anything
    again = JobStore(path)
    try:
        columns = [row[1] for row in again._db.execute("PRAGMA table_info(jobs)")]
        assert columns.count("public") == 1
        assert again.list()[1] == 3
        assert again.get_public("job-0001") == public_text(old_jobs[0])
    finally:
        again.close()
