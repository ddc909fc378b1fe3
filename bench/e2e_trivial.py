"""End to end, trivial notebook: POST → completed with the executed notebook in the workspace,
vs a raw htcondor2 + papermill script (submit + spool, poll, retrieve). Both poll every 0.5 s.

n >= 15 pairs after a warm-up pair; which side goes first alternates per pair, so a pool that
speeds up or slows down during the run weighs on both sides alike. Prints the ratio of the
medians, the median of paired ratios and the ratio of the minimums.
"""

from __future__ import annotations

import os
import shutil
import time

from _common import ServerProcess, raw_papermill, raw_schedd, report, workdir, write_notebook

N = int(os.environ.get("SWAN_BENCH_E2E_N", "15"))
POLL = 0.5


def raw_run(schedd, folder) -> float:
    folder.mkdir(parents=True)
    write_notebook(folder / "nb.ipynb", "print('hello')")
    elapsed = raw_papermill(schedd, folder, poll=POLL)
    assert (folder / "out.ipynb").exists()
    return elapsed


def ours_run(server) -> float:
    t = time.perf_counter()
    job = server.client.submit({"notebook": "nb.ipynb", "resources": {"memory_mb": 256}})
    while job["state"] not in ("completed", "failed", "cancelled"):
        time.sleep(0.05)
        job = server.client.job(job["id"])
    assert job["state"] == "completed", job
    assert (server.root / job["outputs"]["notebook"]).exists()
    return time.perf_counter() - t


def main() -> float:
    tmp = workdir("e2e")
    server = ServerProcess(tmp, f"--SwanMLApp.poll_interval={POLL}")
    write_notebook(server.root / "nb.ipynb", "print('hello')")
    server.start()
    schedd = raw_schedd()
    ours, raw = [], []
    try:
        for i in range(N + 1):
            if i % 2:
                r = raw_run(schedd, tmp / "raw" / str(i))
                o = ours_run(server)
            else:
                o = ours_run(server)
                r = raw_run(schedd, tmp / "raw" / str(i))
            if i:  # the first pair warms the pool up
                ours.append(o)
                raw.append(r)
        return report("end to end, trivial notebook", ours, raw, goal=1.1, unit="s")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
