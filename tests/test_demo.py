"""`make demo`: its server keeps jupyter-server-proxy's any-port route off, and its Spark
notebooks run as they are (the local profile in a kernel; the batch one on the spark backend)."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from swan_ml_ext.demo import server_command, write_examples

from .conftest import outputs_text, read_output, server_config
from .server import ServerProcess, free_port
from .spark_ui_helpers import serve_http

TOKEN = "demo-test-token"


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from a local port"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def local_service() -> Iterator[int]:
    """Some local web service (a database console, another user's app...)."""
    with serve_http(Hello) as port:
        yield port


def get(url: str, token: str = TOKEN) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except urllib.error.URLError:  # not listening (yet)
        return 0, b""


def fetch_through(tmp: Path, cmd: list[str], path: str) -> tuple[int, bytes]:
    """Start the JupyterLab command line, GET one path with the token, stop it."""
    port = int(next(a for a in cmd if a.startswith("--port=")).split("=")[1])
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp / "runtime")}
    extra = [
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}",
        f"--SwanMLApp.db_path={tmp / 'jobs.sqlite'}",
        f"--SwanMLApp.staging_dir={tmp / 'staging'}",
        "--SwanMLApp.backends=spark",
    ]
    with open(tmp / "server.log", "ab") as log:
        proc = subprocess.Popen(
            cmd + extra, stdout=log, stderr=log, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        while get(f"http://127.0.0.1:{port}/api/status")[0] != 200:
            assert proc.poll() is None, (tmp / "server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the demo server did not start"
            time.sleep(0.3)
        return get(f"http://127.0.0.1:{port}{path}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_demo_server_does_not_proxy_arbitrary_local_ports(tmp_path: Path, local_service: int):
    # Given: the demo's command line, and the same without its config (the control: installing
    # jupyter-server-proxy enables its extension through a jupyter_server_config.d file)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    demo = server_command(tmp_path, free_port())
    plain = [a for a in server_command(tmp_path, free_port()) if "jupyter_server_proxy" not in a]
    path = f"/proxy/{local_service}/"
    # When
    plain_status, plain_body = fetch_through(tmp_path / "b", plain, path)
    demo_status, demo_body = fetch_through(tmp_path / "a", demo, path)
    # Then
    assert (plain_status, plain_body) == (200, b"hello from a local port")
    assert demo_status == 404
    assert b"hello from a local port" not in demo_body


def test_spark_local_notebook_runs_with_nothing_set_up(tmp_path: Path):
    # Given: the demo's notebooks; no Jupyter server to find (the magic warns, Spark works)
    write_examples(tmp_path)
    nb = nbformat.read(str(tmp_path / "spark-local.ipynb"), as_version=4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWAN_ML_")}
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    # When
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env=env)
    # Then
    text = outputs_text(nb)
    assert "Spark connected: profile 'local' (local[2])" in text
    assert "1240" in text  # sum of squares 0..15, the few-seconds job
    assert "Spark stopped" in text


@pytest.fixture
def jp_server_config(tmp_path: Path) -> dict[str, Any]:
    return server_config(tmp_path, backends=["spark"])


async def test_spark_batch_notebook_runs_on_the_spark_backend(api, jp_root_dir: Path):
    # Given
    write_examples(jp_root_dir)
    resources = {"profile": "local", "cpus": 1, "memory_mb": 512}
    # When
    job = await api.submit(
        notebook="spark-batch.ipynb", backend="spark", resources=resources,
        parameters={"rows": 100_000},
    )  # fmt: skip
    done = await api.wait(job["id"], timeout=300)
    # Then: `spark` came from the backend (no connect in the notebook), the csv came back
    assert done["state"] == "completed", done
    text = outputs_text(read_output(jp_root_dir, done))
    assert "Spark connected" not in text
    assert "master local[1]" in text and "wrote summary.csv" in text
    assert any(f.endswith("summary.csv") for f in done["outputs"]["files"])


def test_test_servers_do_not_proxy_arbitrary_local_ports(tmp_path: Path, local_service: int):
    # Given: the real server process the contract tests and benchmarks use
    server = ServerProcess(tmp_path, "--SwanMLApp.backends=spark")
    server.start()
    try:
        # When
        status, body = get(f"http://127.0.0.1:{server.port}/proxy/{local_service}/", "test-token")
    finally:
        server.stop()
    # Then
    assert status == 404 and b"hello from a local port" not in body
