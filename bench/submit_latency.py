"""Submit latency: POST /swan-ml-ext/jobs vs a raw htcondor2 submit + spool of the same files.

Both submit jobs that can never match (they ask for more GPU memory than any slot has), so
the pool stays idle; every job is removed at the end. Runs alternate A B A B.
"""

from __future__ import annotations

import shutil
import time

from _common import ServerProcess, raw_schedd, report, workdir, write_notebook

N = 30
IMPOSSIBLE = {"gpus": 1, "gpu_memory_mb": 10_000_000, "memory_mb": 256}


def main() -> float:
    import htcondor2

    tmp = workdir("submit")
    server = ServerProcess(tmp)
    write_notebook(server.root / "nb.ipynb", "print(x)", params="x = 1")
    server.start()
    schedd = raw_schedd()
    from swan_ml_ext.backends.condor import CondorBackend
    from swan_ml_ext.jobs.model import Job, JobState

    backend = CondorBackend()
    ours, raw = [], []
    try:
        for i in range(N + 2):
            # ours: validation, snapshot, store, submit + spool, over HTTP
            t = time.perf_counter()
            server.client.submit(
                {"notebook": "nb.ipynb", "parameters": {"x": i}, "resources": IMPOSSIBLE}
            )
            dt_ours = time.perf_counter() - t
            # raw: the same submit description and files, straight to htcondor2
            staged = tmp / "raw" / str(i)
            staged.mkdir(parents=True)
            for name in ("notebook.ipynb", "params.json", "runner.py"):
                (staged / name).write_text("{}")
            job = Job(
                id=f"raw{i:05d}", name="raw", backend="condor", state=JobState.PENDING,
                notebook="nb.ipynb", parameters={}, resources=dict(IMPOSSIBLE),
                environment="default",
            )  # fmt: skip
            backend.write_wrapper(job, staged, _env())
            t = time.perf_counter()
            sub = htcondor2.Submit(backend.submit_description(job, staged))
            result = schedd.submit(sub, spool=True)
            schedd.spool(result)
            dt_raw = time.perf_counter() - t
            if i >= 2:  # warm-up
                ours.append(dt_ours)
                raw.append(dt_raw)
        return report("submit latency (REST POST vs raw submit+spool)", ours, raw, goal=1.2)
    finally:
        schedd.act(htcondor2.JobAction.Remove, "SwanML =?= true && JobStatus == 1")
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _env():
    from swan_ml_ext.jobs.spec import Environment

    return Environment(name="default", python="/opt/worker/bin/python")


if __name__ == "__main__":
    main()
