"""Monitor cost with many active jobs: the server's CPU per 20 s at the default interval
(1 s), idle (no jobs) vs 1,000 pending HTCondor jobs, measured in one run.

Goal: <= 2% of a core per 1,000 active jobs. The jobs ask for a GPU nobody has, so they stay
pending (idle in the schedd) for the whole measurement; they are removed at the end.
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor

from _common import ServerProcess, raw_schedd, workdir, write_notebook

N_JOBS = int(os.environ.get("SWAN_BENCH_ACTIVE_JOBS", "1000"))
WINDOW_S = 20.0
PENDING = {"gpus": 1, "gpu_memory_mb": 10_000_000, "memory_mb": 64}


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(pid: int) -> float:
    """Share of one core the process used over WINDOW_S."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(WINDOW_S)
    return (cpu_seconds(pid) - c0) / (time.monotonic() - t0)


def main() -> float:
    tmp = workdir("monitor")
    server = ServerProcess(tmp, "--SwanMLApp.poll_interval=1.0")
    write_notebook(server.root / "nb.ipynb", "print(1)")
    server.start()
    try:
        pid = server.proc.pid
        time.sleep(3)
        idle = measure(pid)
        body = {"notebook": "nb.ipynb", "resources": PENDING}
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: server.client.submit(body), range(N_JOBS)))
        time.sleep(5)  # the first passes see every job once
        busy = measure(pid)
        per_1000 = (busy - idle) * 1000 / N_JOBS
        print(f"\n## monitor cost, {N_JOBS} pending jobs, interval 1 s (one {WINDOW_S:g} s window)")
        print(f"  server CPU idle:          {idle * 100:6.2f}% of a core")
        print(f"  server CPU with the jobs: {busy * 100:6.2f}% of a core")
        print(
            f"  cost per 1,000 active jobs: {per_1000 * 100:.2f}% of a core; goal <= 2%: "
            + ("MET" if per_1000 <= 0.02 else "NOT MET")
        )
        return per_1000
    finally:
        server.stop()
        schedd = raw_schedd()
        import htcondor2

        schedd.act(htcondor2.JobAction.Remove, "SwanML =?= true && JobStatus == 1")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
