"""HTCondor-specific restarts (the lifecycle every backend passes is in test_contract.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import condor_clusters, dying_server, restarted_after, write_notebook
from .server import ServerProcess


@pytest.mark.parametrize("when", ["before", "after"])
def test_sigkill_between_stored_and_submitted(tmp_path: Path, condor_pool: None, when: str) -> None:
    # Given a server that dies in the middle of a submission (the job is stored; the schedd
    # has it not yet, or has it but its cluster id was not stored)
    killer = "tests.kill_backend.KillDuringSubmitBackend"
    dying = dying_server(tmp_path, killer, SWAN_ML_TEST_KILL=when)
    write_notebook(dying.root / "quick.ipynb", "print('ran once')")
    dying.start()
    body = {"notebook": "quick.ipynb", "resources": {"memory_mb": 256}, "idempotency_key": "k"}
    # When it is started again (plain backend)
    server = restarted_after(dying, lambda: dying.client.submit(body))
    try:
        page = server.client.jobs()
        assert page["total"] == 1
        job_id = page["jobs"][0]["id"]
        # Then the job is submitted again from its snapshot and completes, exactly once
        (job,) = server.wait_all([job_id])
        assert job["state"] == "completed", job
        assert "ran once" in (server.root / job["outputs"]["notebook"]).read_text()
        # (the completed cluster, once it is in the history)
        states = condor_clusters(job_id, lambda st: 4 in st.values())
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
