"""HTCondor-specific restarts (the lifecycle every backend passes is in test_contract.py)."""

from __future__ import annotations

import os
from pathlib import Path

import htcondor2
import pytest

from swan_ml_ext.client import ClientError

from .conftest import write_notebook
from .server import ServerProcess


def clusters_for(job_id: str) -> set[int]:
    schedd = htcondor2.Schedd(htcondor2.Collector().locateAll(htcondor2.DaemonType.Schedd)[0])
    constraint = f'SwanMLJobId == "{job_id}"'
    ads = list(schedd.query(constraint, projection=["ClusterId"]))
    ads += list(schedd.history(constraint, projection=["ClusterId"], match=10))
    return {int(ad["ClusterId"]) for ad in ads}


def cluster_states(job_id: str) -> dict[int, int]:
    """ClusterId -> JobStatus of every cluster the schedd ever had for this job."""
    schedd = htcondor2.Schedd(htcondor2.Collector().locateAll(htcondor2.DaemonType.Schedd)[0])
    constraint = f'SwanMLJobId == "{job_id}"'
    ads = list(schedd.history(constraint, projection=["ClusterId", "JobStatus"], match=10))
    ads += list(schedd.query(constraint, projection=["ClusterId", "JobStatus"]))
    return {int(ad["ClusterId"]): int(ad["JobStatus"]) for ad in ads}


@pytest.mark.parametrize("when", ["before", "after"])
def test_sigkill_between_stored_and_submitted(tmp_path: Path, condor_pool: None, when: str) -> None:
    # Given a server that dies in the middle of a submission (the job is stored; the schedd
    # has it not yet, or has it but its cluster id was not stored)
    repo = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "SWAN_ML_TEST_KILL": when, "PYTHONPATH": repo}
    dying = ServerProcess(
        tmp_path,
        "--SwanMLApp.backend_classes=condor=tests.kill_backend.KillDuringSubmitBackend",
        env=env,
    )
    write_notebook(dying.root / "quick.ipynb", "print('ran once')")
    dying.start()
    body = {"notebook": "quick.ipynb", "resources": {"memory_mb": 256}, "idempotency_key": "k"}
    try:
        dying.client.submit(body)
        raise AssertionError("the server answered although it was killed")
    except ClientError:
        pass
    dying.proc.wait(10)
    # When it is started again (plain backend)
    server = ServerProcess(tmp_path)
    server.start()
    try:
        page = server.client.jobs()
        assert page["total"] == 1
        job_id = page["jobs"][0]["id"]
        # Then the job is submitted again from its snapshot and completes, exactly once
        (job,) = server.wait_all([job_id])
        assert job["state"] == "completed", job
        assert "ran once" in (server.root / job["outputs"]["notebook"]).read_text()
        states = cluster_states(job_id)
        assert list(states.values()).count(4) == 1, states  # one cluster completed
        assert set(states.values()) <= {3, 4}, states  # any other was removed
        # and a retried POST with its key returns it
        assert server.client.submit(body)["id"] == job_id
        assert server.client.jobs()["total"] == 1
    finally:
        server.stop()


def test_environment_variables_do_not_leak_the_token(tmp_path: Path) -> None:
    """The server log of a run must not contain the token (tokens never logged)."""
    log = tmp_path / "server.log"
    server = ServerProcess(tmp_path)
    server.start()
    server.client.backends()
    server.stop()
    assert "test-token" not in log.read_text()
