"""GET /jobs (first page of 25, newest first) and GET /jobs/{id} with 10,000 jobs in the store.

Side by side: the same reads straight from the SQLite store (no HTTP), to show what the REST
layer adds. Goals from the issue: p95 <= 5 ms for the page (with or without a state filter),
p95 <= 1 ms for one job; the closest peer (jupyter-scheduler 2.12.1) measured 10.4 ms / 2.1 ms
on this kind of machine.
"""

from __future__ import annotations

import http.client
import random
import shutil
import time

from _common import ServerProcess, stats, timed_http, workdir

N_JOBS = 10_000
N_REQ = 500


def fill(db_path) -> list[str]:
    from swan_ml_ext.jobs.model import Job, JobState
    from swan_ml_ext.jobs.store import JobStore

    store = JobStore(db_path)
    states = [JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED]
    ids = []
    with store._lock:
        store._db.execute("BEGIN")
    for i in range(N_JOBS):
        job = Job(
            id=f"bench{i:07d}", name=f"sweep point {i}", backend="condor",
            state=states[i % 3], notebook="analysis/train.ipynb",
            parameters={"lr": 0.01 * (i % 7), "epochs": i % 50, "tag": f"run-{i}"},
            resources={"cpus": 2, "memory_mb": 4096, "gpus": 1}, environment="default",
            engine_ref={"cluster_id": i + 1}, message="" if i % 3 == 0 else "cell 4 raised",
            progress={"cells_done": 12, "cells_total": 12}, created_at=1.7e9 + i,
            started_at=1.7e9 + i + 3, finished_at=1.7e9 + i + 60,
            outputs={"folder": f"swan-ml-jobs/train-bench{i:07d}",
                     "notebook": f"swan-ml-jobs/train-bench{i:07d}/train.ipynb", "files": []},
        )  # fmt: skip
        store.insert(job)
        ids.append(job.id)
    with store._lock:
        store._db.execute("COMMIT")
    return ids


def main() -> None:
    from swan_ml_ext.jobs.store import JobStore

    tmp = workdir("list")
    ids = fill(tmp / "jobs.sqlite")
    server = ServerProcess(tmp)
    server.start()
    store = JobStore(tmp / "jobs.sqlite")
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    token = server.client.server.token
    try:
        cases = [
            ("GET /jobs?limit=25", "/swan-ml-ext/jobs?limit=25",
             lambda: store.list_public(limit=25), 5.0, 10.4),
            ("GET /jobs?limit=25&state=failed", "/swan-ml-ext/jobs?limit=25&state=failed",
             lambda: store.list_public(limit=25, states=["failed"]), 5.0, 10.4),
        ]  # fmt: skip
        print(f"\n## reads with {N_JOBS:,} jobs in the store ({N_REQ} requests each, keep-alive)")
        print(f"  {'':34} {'p50':>7} {'p95':>7} {'raw p95':>8}  goal  peer")
        for title, path, raw_call, goal, peer in cases:
            for _ in range(20):
                timed_http(conn, token, path)
            ours = [timed_http(conn, token, path) for _ in range(N_REQ)]
            raw = []
            for _ in range(N_REQ):
                t = time.perf_counter()
                raw_call()
                raw.append(time.perf_counter() - t)
            _line(title, ours, raw, goal, peer)
        sample = random.Random(1).sample(ids, N_REQ)
        # One job vs jupyter_server's own cheapest authenticated route (GET /api/status), on
        # the same connection, requests alternating so that drift weighs on both alike.
        ours, floor = [], []
        for n, i in enumerate(sample):
            pair = [f"/swan-ml-ext/jobs/{i}", "/api/status"]
            if n % 2:
                pair.reverse()
            times = {p: timed_http(conn, token, p) for p in pair}
            ours.append(times[f"/swan-ml-ext/jobs/{i}"])
            floor.append(times["/api/status"])
        raw = []
        for i in sample:
            t = time.perf_counter()
            store.get_public(i)
            raw.append(time.perf_counter() - t)
        _line("GET /jobs/{id}", ours, raw, 1.0, 2.1)
        f, o = stats(floor), stats(ours)
        print(
            f"  {'floor: GET /api/status (jupyter_server)':34} {f['median'] * 1000:7.2f}"
            f" {f['p95'] * 1000:7.2f}"
        )
        ratio = o["median"] / f["median"]
        print(
            f"  GET /jobs/{{id}} vs GET /api/status: {ratio:.2f}x median,"
            f" {o['p95'] / f['p95']:.2f}x p95; goal <= 1.1x: "
            + ("MET" if ratio <= 1.1 else "NOT MET")
        )
    finally:
        conn.close()
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _line(title, ours, raw, goal, peer) -> None:
    o, r = stats(ours), stats(raw)
    met = "MET" if o["p95"] * 1000 <= goal else "NOT MET"
    print(
        f"  {title:34} {o['median'] * 1000:7.2f} {o['p95'] * 1000:7.2f} {r['p95'] * 1000:8.2f}"
        f"  {goal:4} {peer:5}  ms  p95 {met}; p95 vs peer {o['p95'] * 1000 / peer:.2f}x"
    )


if __name__ == "__main__":
    main()
