"""Sweeps: a 100-point sweep from POST to all its procs in the schedd vs a raw htcondor2 submit +
spool of a 100-proc cluster of the same files (goal <= 1.5x; engine submissions: 1 per sweep,
from the backend's stats), then GET sweeps/{id} with 1,000 points (goal p95 <= 20 ms), over
HTTP both as kept by the server (the sweep unchanged) and built again (round-robin over more
sweeps than the server keeps answers of).

Both submissions ask for more GPU memory than any slot has, so nothing runs and the pool stays
idle; every proc is removed at the end. Runs alternate A B, B A (the order swapped on odd runs).
The 1,000-point sweeps are written to the store before the server starts (their points stored
as finished jobs, 70 % completed with collected values, 30 % failed with a message; they never
ran). The in-process timings of a rebuild run on a copy of the store, never on the server's.
"""

from __future__ import annotations

import http.client
import json
import shutil
import sqlite3
import time
import uuid
from pathlib import Path

from _common import ServerProcess, raw_schedd, report, stats, timed_http, workdir, write_notebook

N_POINTS = 100
RUNS = 6  # after one warm-up each
N_TABLE = 1000
N_REQ = 300
IMPOSSIBLE = {"gpus": 1, "gpu_memory_mb": 10_000_000, "memory_mb": 256}


def in_schedd(schedd, constraint: str, n: int, idle: bool, timeout: float = 60) -> None:
    """Until the schedd lists all n procs (idle: also out of the schedd's spooling hold,
    which it releases on its own a moment after the spool)."""
    if idle:
        constraint = f"({constraint}) && JobStatus == 1"
    deadline = time.monotonic() + timeout
    while len(schedd.query(constraint, projection=["ProcId"])) < n:
        assert time.monotonic() < deadline, f"not all {n} procs of {constraint} in the schedd"
        time.sleep(0.02)


def submit_side_by_side(server: ServerProcess, tmp: Path) -> None:
    import htcondor2

    from swan_ml_ext.backends.condor import CondorBackend
    from swan_ml_ext.backends.condor_submit import batch_submit_description
    from swan_ml_ext.jobs.model import Job, JobState
    from swan_ml_ext.jobs.spec import Environment

    schedd = raw_schedd()
    backend = CondorBackend()
    env = Environment(name="default", python="/opt/worker/bin/python")
    body = {"notebook": "nb.ipynb", "sweep": {"x": list(range(N_POINTS))}, "resources": IMPOSSIBLE}

    def submissions() -> int:
        (condor,) = [b for b in server.client.backends()["backends"] if b["name"] == "condor"]
        return condor["stats"]["submissions"]

    made: list[str] = []  # constraints of what this benchmark submitted (removed at the end)

    def ours() -> tuple[float, float, int]:
        """Validation, 100 snapshots, store, one submit + spool, over HTTP."""
        before = submissions()
        t = time.perf_counter()
        sweep = server.client.request("POST", "sweeps", body)
        made.append(f'JobBatchName == "swan-ml-sweep-{sweep["id"]}"')
        in_schedd(schedd, made[-1], N_POINTS, idle=False)
        dt = time.perf_counter() - t
        in_schedd(schedd, made[-1], N_POINTS, idle=True)
        return dt, time.perf_counter() - t, submissions() - before

    def raw(run: int) -> tuple[float, float]:
        """The same files and description straight to htcondor2 (the files made before)."""
        jobs, folders = [], []
        sweep_id = uuid.uuid4().hex[:12]
        for i in range(N_POINTS):
            job = Job(
                id=f"raw{run:02d}{i:07d}",
                name="raw",
                backend="condor",
                state=JobState.PENDING,
                notebook="nb.ipynb",
                parameters={"x": i},
                resources=dict(IMPOSSIBLE),
                environment="default",
                sweep_id=sweep_id,
            )
            folder = tmp / "raw" / job.id
            folder.mkdir(parents=True)
            (folder / "notebook.ipynb").write_text("{}")
            (folder / "params.json").write_text(json.dumps({"x": i}))
            backend.write_wrapper(job, folder, env)
            jobs.append(job)
            folders.append(folder)
        t = time.perf_counter()
        desc, items = batch_submit_description(jobs, folders)
        result = schedd.submit(htcondor2.Submit(desc), spool=True, itemdata=iter(items))
        schedd.spool(result)
        made.append(f"ClusterId == {result.cluster()}")
        in_schedd(schedd, made[-1], N_POINTS, idle=False)
        dt = time.perf_counter() - t
        in_schedd(schedd, made[-1], N_POINTS, idle=True)
        return dt, time.perf_counter() - t

    times: dict[str, list[float]] = {k: [] for k in ("ours", "raw", "ours_idle", "raw_idle")}
    counted = []
    try:
        for run in range(RUNS + 1):
            # A B on even runs, B A on odd ones: neither side always goes first
            if run % 2:
                raw_dt, raw_idle = raw(run)
                ours_dt, ours_idle, n = ours()
            else:
                ours_dt, ours_idle, n = ours()
                raw_dt, raw_idle = raw(run)
            if run:  # the first is a warm-up
                for key, value in zip(times, (ours_dt, raw_dt, ours_idle, raw_idle), strict=True):
                    times[key].append(value)
                counted.append(n)
        report(
            f"{N_POINTS}-point sweep: POST sweeps -> all procs in the schedd, spooled (POST"
            f" answered) vs raw htcondor2 submit + spool of a {N_POINTS}-proc cluster",
            times["ours"],
            times["raw"],
            goal=1.5,
        )
        report(
            "the same, until every proc is idle (the schedd's own spooling hold released)",
            times["ours_idle"],
            times["raw_idle"],
            goal=1.5,
        )
        print(
            f"  engine submissions per sweep (backend stats): {counted}; goal 1: "
            + ("MET" if set(counted) == {1} else "NOT MET")
        )
    finally:
        if made:  # only ours: other users of the pool keep theirs
            schedd.act(htcondor2.JobAction.Remove, " || ".join(f"({c})" for c in made))


def fill(db_path: Path, n_sweeps: int) -> list[str]:
    """n_sweeps sweeps of N_TABLE points each, stored as finished jobs (never run)."""
    from swan_ml_ext.jobs.model import Job, JobState, Sweep
    from swan_ml_ext.jobs.store import JobStore

    store = JobStore(db_path)
    ids = []
    points = [{"lr": round(0.001 * (i % 50 + 1), 3), "seed": i // 50} for i in range(N_TABLE)]
    for s in range(n_sweeps):
        sweep = Sweep(
            id=uuid.uuid4().hex[:12],
            name="train",
            notebook="ana/train.ipynb",
            backend="condor",
            environment="default",
            keys=["lr", "seed"],
            points=points,
            collect=["val_loss", "accuracy", "history"],
            request={"notebook": "ana/train.ipynb"},
            batch=True,
            submissions=1,
        )
        jobs = []
        for i, p in enumerate(points):
            ok = i % 10 < 7
            job_id = f"t{s:02d}{i:09d}"
            collected = {"val_loss": 0.1 + i / 1e4, "accuracy": 0.9, "history": [0.5, 0.3, 0.2]}
            jobs.append(
                Job(
                    id=job_id,
                    name=f"train (lr={p['lr']}, seed={p['seed']})",
                    backend="condor",
                    state=JobState.COMPLETED if ok else JobState.FAILED,
                    notebook="ana/train.ipynb",
                    parameters=p,
                    resources={"cpus": 1, "memory_mb": 2048},
                    environment="default",
                    engine_ref={"cluster_id": 7 + s, "proc_id": i},
                    sweep_id=sweep.id,
                    point=i,
                    collect=list(sweep.collect),
                    created_at=1.8e9,
                    started_at=1.8e9 + 5,
                    finished_at=1.8e9 + 60 + i,
                    message="" if ok else "cell 7: ValueError: the loss diverged at epoch 12",
                    collected=collected if ok else {},
                    outputs={
                        "folder": f"swan-ml-jobs/train-{job_id}",
                        "files": [],
                        "notebook": f"swan-ml-jobs/train-{job_id}/train.ipynb",
                    },
                )
            )
        store.insert_sweep(sweep, jobs)
        ids.append(sweep.id)
    store.close()
    return ids


def rebuilt_reads(db_path: Path, sweep_id: str) -> tuple[list[float], list[float]]:
    """What the server's cache does not cover, timed in-process (no HTTP) on a COPY of its
    store (the live server's file is never written): the read after one point's job was
    written (that point is read again, the table and its JSON rebuilt), and a first read
    (nothing kept: every row read)."""
    import asyncio
    from types import SimpleNamespace

    from swan_ml_ext.jobs.store import JobStore
    from swan_ml_ext.jobs.sweeps import SweepService

    copy = db_path.with_name("jobs-copy.sqlite")
    with sqlite3.connect(db_path) as live, sqlite3.connect(copy) as dest:
        live.backup(dest)  # a consistent copy, the server's WAL included
    store = JobStore(copy)
    jobs = [store.get(f"t00{i:09d}") for i in range(0, N_TABLE, 7)]

    def service() -> SweepService:
        return SweepService(SimpleNamespace(store=store))  # type: ignore[arg-type]

    async def measure() -> tuple[list[float], list[float]]:
        kept = service()
        after_change, first = [], []
        await kept.get_json(sweep_id)
        for job in jobs[:60]:
            job.message = "changed"
            store.update(job)  # a point's job written, as the monitor does
            t = time.perf_counter()
            await kept.get_json(sweep_id)
            after_change.append(time.perf_counter() - t)
        for _ in range(40):
            t = time.perf_counter()
            await service().get_json(sweep_id)
            first.append(time.perf_counter() - t)
        return after_change[5:], first[5:]

    try:
        return asyncio.run(measure())
    finally:
        store.close()
        copy.unlink(missing_ok=True)


def table_reads(server: ServerProcess, sweep_ids: list[str]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    token = server.client.server.token
    path = f"/swan-ml-ext/sweeps/{sweep_ids[0]}"
    try:
        for _ in range(20):
            timed_http(conn, token, path)
        kept, floor = [], []
        for n in range(N_REQ):
            pair = [path, "/api/status"]
            if n % 2:
                pair.reverse()
            times = {p: timed_http(conn, token, p) for p in pair}
            kept.append(times[path])
            floor.append(times["/api/status"])
        csv = [timed_http(conn, token, path + "?format=csv") for _ in range(100)]
        # more sweeps than the server keeps answers of, in turn: every answer is built again
        paths = [f"/swan-ml-ext/sweeps/{i}" for i in sweep_ids]
        rebuilt = [timed_http(conn, token, paths[n % len(paths)]) for n in range(len(paths) * 8)]
        rebuilt = rebuilt[len(paths) :]  # the first round: a warm-up
    finally:
        conn.close()
    o, f, c, r = stats(kept), stats(floor), stats(csv), stats(rebuilt)
    changed, first = (stats(t) for t in rebuilt_reads(server.tmp / "jobs.sqlite", sweep_ids[0]))
    print(f"\n## GET sweeps/{{id}} with {N_TABLE:,} points (stored, never run; keep-alive)")
    print(f"  {'':36} {'p50':>7} {'p95':>7} {'max':>7}  (ms)")
    rows = (
        (f"GET sweeps/{{id}}, kept (n={len(kept)})", o),
        (f"GET sweeps/{{id}}?format=csv, kept (n={len(csv)})", c),
        (f"GET sweeps/{{id}}, built again (n={len(rebuilt)})", r),
        (f"floor: GET /api/status (n={len(floor)})", f),
        ("after a point changed (in-process)", changed),
        ("first read (in-process)", first),
    )
    for label, s in rows:
        p50, p95, top = (s[k] * 1000 for k in ("median", "p95", "max"))
        print(f"  {label:36} {p50:7.2f} {p95:7.2f} {top:7.2f}")
    for what, s in (("kept", o), ("built again (round-robin over more sweeps than kept)", r)):
        verdict = "MET" if s["p95"] <= 0.020 else "NOT MET"
        print(f"  GET sweeps/{{id}} {what}: p95 {s['p95'] * 1000:.2f} ms; goal <= 20 ms: {verdict}")


def main() -> None:
    from swan_ml_ext.jobs.sweeps import CACHED_SWEEPS

    tmp = workdir("sweep")
    sweep_ids = fill(tmp / "jobs.sqlite", CACHED_SWEEPS + 1)
    server = ServerProcess(tmp)
    write_notebook(server.root / "nb.ipynb", "print(x)", params="x = 1")
    server.start()
    try:
        submit_side_by_side(server, tmp)
        table_reads(server, sweep_ids)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
