"""The backend contract: the lifecycle every real backend must pass, on a real server process.

Each engine under test says how to start its server, how to make its engine unreachable (if it
can be: an engine that runs as local processes of the server has nothing to take away) and
how many times the engine ran a job; the lifecycle is the same for all. HTCondor, Kubeflow
(embedded: kfp.local) and Spark (a local driver, profile `local`) pass it.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import nbformat
import pytest

from swan_ml_ext import pool
from swan_ml_ext.client import ClientError

from .conftest import condor_clusters, write_notebook
from .server import ServerProcess

SLOW = "import time\nfor i in range(600):\n    time.sleep(0.2)"


def condor_completed_runs(job_id: str) -> int:
    """Clusters of this job the schedd ran to completion, once its final record (completed or
    removed) is visible (the history file lags the queue by a moment)."""
    states = condor_clusters(job_id, lambda st: bool({3, 4} & set(st.values())))
    return list(states.values()).count(4)


@contextlib.contextmanager
def condor_outage() -> Iterator[None]:
    pool.run("down")
    try:
        yield
    finally:
        pool.run("up")


def kubeflow_runs(server: ServerProcess, job_id: str) -> int:
    """kfp.local runs of this job whose task succeeded (kfp.local writes executor_output.json
    only then), under the embedded engine's pipeline root (beside the server's staging dir)."""
    root = server.tmp / "kfp-local" / job_id
    return len(list(root.glob("runs*/*/run-notebook/executor_output.json")))


def spark_runs(server: ServerProcess, job_id: str) -> int:
    """Driver runs of this job that exited 0 uncancelled (each keeps its exit record)."""
    done = 0
    for exit_file in (server.tmp / "spark-local" / job_id).glob("process*/exit.json"):
        data = json.loads(exit_file.read_text())
        done += data.get("returncode") == 0 and not data.get("cancelled")
    return done


@dataclass
class Engine:
    name: str
    # makes the engine unreachable for a while; None: it cannot be (why: no_outage)
    outage: Callable[[], contextlib.AbstractContextManager[None]] | None
    # how many runs of the job the engine completed (no duplicates: exactly 1)
    completed_runs: Callable[[ServerProcess, str], int]
    resources: dict = field(default_factory=dict)
    server_args: tuple[str, ...] = ()
    no_outage: str = ""


ENGINES = {
    "condor": Engine(
        "condor",
        outage=condor_outage,
        completed_runs=lambda server, job_id: condor_completed_runs(job_id),
        resources={"memory_mb": 256},
    ),
    "kubeflow": Engine(
        "kubeflow",
        outage=None,
        completed_runs=kubeflow_runs,
        resources={"memory_mb": 256},
        server_args=("--SwanMLApp.backends=kubeflow",),
        no_outage="the embedded kubeflow engine (kfp.local) runs as local processes of this"
        " server: there is no engine to make unreachable (remote KFP outages are tested"
        " against the KFP stand-in in test_kubeflow_remote.py)",
    ),
    "spark": Engine(
        "spark",
        outage=None,
        completed_runs=lambda server, job_id: spark_runs(server, job_id),
        # the built-in `local` profile (local[2]); 512 MB: spark.driver.memory=512m
        resources={"profile": "local", "memory_mb": 512},
        server_args=("--SwanMLApp.backends=spark",),
        no_outage="the spark backend runs each job as a Spark driver in a local process of"
        " this server (client mode): there is no engine to make unreachable",
    ),
}


@pytest.fixture(params=sorted(ENGINES), scope="module")
def engine(request: pytest.FixtureRequest) -> Engine:
    if request.param == "condor":
        request.getfixturevalue("condor_pool")
    return ENGINES[request.param]


@pytest.fixture(scope="module")
def condor_pool() -> None:
    pool.run("up")


@pytest.fixture(scope="module")
def server(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp(f"contract-{engine.name}"), *engine.server_args)
    write_notebook(
        srv.root / "analysis" / "work.ipynb",
        "print('n is', n)",
        "open(f'out-{n}.txt', 'w').write(str(n * n))",
        params="n = 0",
    )
    write_notebook(srv.root / "bad.ipynb", "print('before')", "1 / 0", "print('never')")
    write_notebook(srv.root / "slow.ipynb", SLOW)
    write_notebook(srv.root / "sleepy.ipynb", "import time\ntime.sleep(4)\nprint('woke')")
    srv.start()
    yield srv
    srv.stop()


def submit(server: ServerProcess, engine: Engine, notebook: str, **extra) -> dict:
    return server.client.submit(
        {"notebook": notebook, "backend": engine.name, "resources": engine.resources, **extra}
    )


def wait_state(server: ServerProcess, job_id: str, states: set[str], timeout: float = 120):
    deadline = time.monotonic() + timeout
    while True:
        job = server.client.job(job_id)
        if job["state"] in states:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.3)


def test_submit_runs_to_completion_with_outputs(server, engine):
    job = submit(server, engine, "analysis/work.ipynb", parameters={"n": 7})
    assert job["state"] == "pending" and job["backend"] == engine.name and job["engine_ref"]
    (job,) = server.wait_all([job["id"]])
    assert job["state"] == "completed", job
    assert job["started_at"] and job["finished_at"]
    executed = (server.root / job["outputs"]["notebook"]).read_text()
    assert "n is 7" in executed
    out = f"{job['outputs']['folder']}/out-7.txt"
    assert out in job["outputs"]["files"] and (server.root / out).read_text() == "49"
    assert engine.completed_runs(server, job["id"]) == 1


def test_failing_cell_fails_with_the_cell_and_the_partial_notebook(server, engine):
    (job,) = server.wait_all([submit(server, engine, "bad.ipynb")["id"]])
    assert job["state"] == "failed"
    assert "cell 2" in job["message"] and "ZeroDivisionError" in job["message"]
    nb = nbformat.read(str(server.root / job["outputs"]["notebook"]), as_version=4)
    printed = [o.get("text", "") for c in nb.cells for o in c.get("outputs", [])]
    assert any("before" in t for t in printed) and not any("never" in t for t in printed)


def test_cancel(server, engine):
    job = submit(server, engine, "slow.ipynb")
    wait_state(server, job["id"], {"running"})
    cancelled = server.client.cancel(job["id"])
    assert cancelled["state"] == "cancelled"
    time.sleep(2)  # a monitor pass or more: the engine must not bring it back
    again = server.client.job(job["id"])
    assert again["state"] == "cancelled" and again["finished_at"]
    with pytest.raises(ClientError) as e:
        server.client.cancel(job["id"])
    assert e.value.status == 409
    assert engine.completed_runs(server, job["id"]) == 0


def test_restart_mid_job_reattaches_without_duplicates(server, engine):
    ids = [submit(server, engine, "sleepy.ipynb")["id"] for _ in range(3)]
    wait_state(server, ids[0], {"running", "completed"})
    server.kill()
    time.sleep(2)
    server.start()
    jobs = server.wait_all(ids)
    assert [j["state"] for j in jobs] == ["completed"] * 3, jobs
    for job in jobs:
        assert "woke" in (server.root / job["outputs"]["notebook"]).read_text()
        assert engine.completed_runs(server, job["id"]) == 1
    assert len({j["id"] for j in server.client.jobs(limit=100)["jobs"]}) >= 3


def test_engine_unreachable_keeps_jobs_and_refuses_submissions(server, engine):
    if engine.outage is None:
        pytest.skip(engine.no_outage)
    ids = [submit(server, engine, "sleepy.ipynb")["id"] for _ in range(2)]
    before = server.client.jobs(limit=500)["total"]
    with engine.outage():
        deadline = time.monotonic() + 60
        while True:
            (me,) = [b for b in server.client.backends()["backends"] if b["name"] == engine.name]
            jobs = [server.client.job(i) for i in ids]
            if not me["available"] and all("unreachable" in j["message"] for j in jobs):
                break
            assert time.monotonic() < deadline, (me, jobs)
            time.sleep(0.5)
        assert me["reason"]
        assert all(j["state"] in ("pending", "running") for j in jobs), jobs
        with pytest.raises(ClientError) as e:
            submit(server, engine, "sleepy.ipynb")
        assert e.value.status == 503
        assert server.client.jobs(limit=500)["total"] == before
    jobs = server.wait_all(ids)
    assert [j["state"] for j in jobs] == ["completed", "completed"]
