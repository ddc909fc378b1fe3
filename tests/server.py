"""A real `jupyter server` process with swan_ml_ext, for tests and benchmarks."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from swan_ml_ext import pool
from swan_ml_ext.client import ClientError, Server, SwanMLClient

FINAL = {"completed", "failed", "cancelled"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A real `jupyter server` process with swan_ml_ext, killable like a culled session."""

    def __init__(self, tmp: Path, *extra_args: str, env: dict[str, str] | None = None):
        self.root = tmp / "root"
        self.root.mkdir(exist_ok=True)
        self.tmp = tmp
        self.port = free_port()
        self.client = SwanMLClient(Server(f"http://127.0.0.1:{self.port}/", "test-token"))
        self.proc: subprocess.Popen | None = None
        self.extra_args = list(extra_args)
        self.env = env

    def start(self) -> None:
        cmd = [
            sys.executable, "-m", "jupyter_server",
            f"--ServerApp.root_dir={self.root}", f"--port={self.port}",
            "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
            "--IdentityProvider.token=test-token", "--no-browser", "--allow-root",
            # installed for the Spark UI route's handler classes, it enables itself (config.d):
            # its /proxy/<port> reaches any local port with the caller's credentials
            "--ServerApp.jpserver_extensions=jupyter_server_proxy=False",
            f"--SwanMLApp.db_path={self.tmp / 'jobs.sqlite'}",
            f"--SwanMLApp.staging_dir={self.tmp / 'staging'}",
            *(
                []
                if any(a.startswith("--SwanMLApp.poll_interval=") for a in self.extra_args)
                else ["--SwanMLApp.poll_interval=0.5"]
            ),
            f"--CondorBackend.condor_config={pool.client_config()}",
            *self.extra_args,
        ]  # fmt: skip
        log = open(self.tmp / "server.log", "ab")
        self.proc = subprocess.Popen(
            cmd, stdout=log, stderr=log, start_new_session=True, env=self.env
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.client.backends()
                return
            except ClientError:
                assert self.proc.poll() is None, (self.tmp / "server.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.3)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_all(self, ids: list[str], timeout: float = 240) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            jobs = [self.client.job(i) for i in ids]
            if all(j["state"] in FINAL for j in jobs):
                return jobs
            assert time.monotonic() < deadline, [(j["id"], j["state"], j["message"]) for j in jobs]
            time.sleep(0.5)
