"""`%swan spark` in a kernel the server started: the session registers with the server (the
magic's POST spark/sessions {"kernel_id"}), status links the server's Spark UI route, stop
ends the server's record."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from jupyter_client import BlockingKernelClient
from jupyter_core.paths import jupyter_runtime_dir

from .server import ServerProcess
from .spark_kernel_helpers import SMALL, Kernel, wait_for

CONF = " ".join(f"--conf {k}={v}" for k, v in SMALL.items())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = ServerProcess(tmp_path_factory.mktemp("spark-magics"))
    srv.start()
    yield srv
    srv.stop()


def _api(srv: ServerProcess, method: str, path: str) -> Any:
    req = urllib.request.Request(f"{srv.client.server.url}api/{path}", method=method, data=b"{}")
    req.add_header("Authorization", f"token {srv.client.server.token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


@pytest.fixture
def kernel(server: ServerProcess):
    """A kernel started by the server (so the server knows its id), attached to from here."""
    kid = _api(server, "POST", "kernels")["id"]
    client = BlockingKernelClient(connection_file=f"{jupyter_runtime_dir()}/kernel-{kid}.json")
    client.load_connection_file()
    client.start_channels()
    client.wait_for_ready(timeout=60)
    k = Kernel(client=client)
    try:
        yield k, kid
    finally:
        k.stop()
        _api(server, "DELETE", f"kernels/{kid}")


def test_magic_session_registers_with_the_server(server: ServerProcess, kernel: Any):
    k, kid = kernel
    # When the notebook connects itself
    k.ok("%load_ext swan_ml_ext")
    out = k.ok(f"%swan spark connect local {CONF}", timeout=240)
    assert "Spark connected: profile 'local'" in out["stdout"]
    assert "warning" not in out["stderr"]
    info = k.value("__import__('swan_ml_ext.spark.kernel', fromlist=['x']).info()")

    # Then the server registers it once the kernel is idle
    def registered() -> dict[str, Any] | None:
        sessions = server.client.request("GET", "spark/sessions")["sessions"]
        return next((s for s in sessions if s["kernel_id"] == kid and s["state"] == "active"),
                    None)  # fmt: skip

    session = wait_for("the server's session", registered, timeout=30)
    assert session["app_id"] == info["app_id"] and session["profile"] == "local"
    # And status links the server's Spark UI route
    status = k.ok("%swan spark status")["stdout"]
    assert f"Spark UI: {server.client.server.url}{session['ui_path']}" in status
    # When the notebook stops it, the server's record ends
    k.ok("%swan spark stop")

    def ended() -> bool:
        found = server.client.request("GET", f"spark/sessions/{session['id']}")
        return found["state"] == "ended"

    wait_for("the session to end", ended, timeout=30)
