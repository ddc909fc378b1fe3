"""One slow engine stalls nothing else: with the fake backend's poll blocked for 30 s, an
HTCondor job still completes and another is cancelled, each within a poll interval or so."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import server_config

BLOCK_S = 30.0


@pytest.fixture
def jp_server_config(tmp_path: Path, condor_pool: None) -> dict[str, Any]:
    return server_config(
        tmp_path,
        backends=["condor", "fake"],
        backend_classes={"fake": "tests.fake_backend:FakeBackend"},
        engine_timeout_s=5.0,
    )


async def test_a_stuck_backend_delays_no_condor_job(api, swan_app, notebook, capsys):
    fake = swan_app.service.backends["fake"]
    gate = threading.Event()
    fake.poll_gate = gate  # every poll of the fake engine blocks until the gate opens
    quick = notebook("quick.ipynb", "print('quick')")
    slow = notebook("slow.ipynb", "import time\ntime.sleep(60)")
    try:
        # Given a fake job whose engine query hangs
        stuck = await api.submit(notebook=quick, backend="fake")
        blocked_at = time.monotonic()
        while fake.polls < 1:  # its monitor is now inside the hanging query
            assert time.monotonic() - blocked_at < 10, "the fake backend was never polled"
            await asyncio.sleep(0.1)
        # When HTCondor jobs are submitted, one of them cancelled
        t0 = time.monotonic()
        a = await api.submit(notebook=quick, resources={"memory_mb": 256})
        b = await api.submit(notebook=slow, resources={"memory_mb": 256})
        t_cancel = time.monotonic()
        status, cancelled = await api.call("DELETE", f"jobs/{b['id']}")
        cancel_s = time.monotonic() - t_cancel
        assert status == 200 and cancelled["state"] == "cancelled"
        # Then the condor job completes while the fake engine still hangs
        a = await api.wait(a["id"], timeout=BLOCK_S)
        done_s = time.monotonic() - t0
        assert a["state"] == "completed", a
        assert not gate.is_set() and time.monotonic() - blocked_at < BLOCK_S
        # and the fake backend is said to be unavailable, its job keeping its state
        # (once its query has overrun engine_timeout_s)
        while True:
            status, page = await api.call("GET", "backends")
            (described,) = [b for b in page["backends"] if b["name"] == "fake"]
            if not described["available"]:
                break
            assert time.monotonic() - blocked_at < BLOCK_S, described
            await asyncio.sleep(0.25)
        assert "fake engine" in described["reason"] and not gate.is_set()
        stuck_now = await api.job(stuck["id"])
        assert stuck_now["state"] == "pending" and "engine unreachable" in stuck_now["message"]
        with capsys.disabled():
            print(
                f"\n[stuck backend] cancel of a condor job: {cancel_s * 1000:.0f} ms;"
                f" condor job submit -> completed: {done_s:.1f} s;"
                f" fake engine blocked for {time.monotonic() - blocked_at:.1f} s"
            )
    finally:
        gate.set()
