"""A real Spark cluster for the tests: a standalone master, one worker with two fake GPUs, and
a Spark Connect server, all started with the sbin scripts of the venv's pyspark package.

Several people run tests on one machine at once, so every run picks free ports and keeps its
pid files, logs and work folders in a temporary folder of its own; everything listens on
127.0.0.1 only. Each daemon is started in a process group of its own, and `stop()` ends the
groups (spark-daemon.sh stop, then SIGKILL for whatever is left), executors included.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPARK_HOME = Path(importlib.util.find_spec("pyspark").origin).parent  # type: ignore[arg-type, union-attr]
# The package's discovery script: without nvidia-smi it lists the GPUs in SWAN_FAKE_GPUS.
GPU_SCRIPT = Path(__file__).resolve().parent.parent / "swan_ml_ext/spark/discover_gpus.sh"
GPUS = ["0", "1"]
MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"
CONNECT = "org.apache.spark.sql.connect.service.SparkConnectServer"
# Small and quiet: the machine is shared (driver 512m, daemons 256m).
APP_CONF = {
    "spark.driver.memory": "512m",
    "spark.executor.memory": "512m",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
}


# Kills the daemons' process groups once the test process is gone without stopping them
# (SIGTERM/SIGKILL from `timeout` skips fixture finalizers). argv: root pgid...
WATCHDOG = """
import os, shutil, signal, sys, time
owner = os.getppid()
while os.getppid() == owner:
    time.sleep(1)
for sig in (signal.SIGTERM, signal.SIGKILL):
    for pgid in sys.argv[2:]:
        try:
            os.killpg(int(pgid), sig)
        except ProcessLookupError:
            pass
    time.sleep(5)
shutil.rmtree(sys.argv[1], ignore_errors=True)
"""


class SparkClusterError(RuntimeError):
    """A daemon did not come up; the message carries the tail of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def get_json(url: str, timeout: float = 30) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


@dataclass
class SparkCluster:
    """Ports are chosen on construction; nothing runs until `start()`."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="swan-spark-")))
    master_port: int = field(default_factory=free_port)
    master_ui_port: int = field(default_factory=free_port)
    worker_ui_port: int = field(default_factory=free_port)
    connect_port: int = field(default_factory=free_port)
    connect_ui_port: int = field(default_factory=free_port)
    startup_s: float = 0.0
    _groups: dict[str, int] = field(default_factory=dict)
    _watchdog: subprocess.Popen[bytes] | None = None

    @property
    def master_url(self) -> str:
        return f"spark://127.0.0.1:{self.master_port}"

    @property
    def master_ui(self) -> str:
        return f"http://127.0.0.1:{self.master_ui_port}"

    @property
    def connect_url(self) -> str:
        return f"sc://127.0.0.1:{self.connect_port}"

    @property
    def connect_ui(self) -> str:
        return f"http://127.0.0.1:{self.connect_ui_port}"

    @property
    def gpu_discovery_script(self) -> str:
        return str(GPU_SCRIPT)

    def profiles(self) -> dict[str, dict[str, Any]]:
        """A `SwanMLApp.spark_profiles` overlay pointing the built-in cluster profiles here."""
        gpu = {
            "executor_amount": 1,
            "task_amount": 1,
            "discovery_script": self.gpu_discovery_script,
            "rapids": False,
        }
        standalone = {
            "master": self.master_url,
            "master_ui": self.master_ui,
            "conf": {"spark.executor.memory": "512m"},
        }
        return {
            "standalone": {"description": "The test standalone cluster", **standalone},
            "standalone-gpu": {
                "description": "The test standalone cluster, one fake GPU per executor",
                **standalone,
                "gpu": gpu,
            },
            "connect": {
                "description": "The test Spark Connect server",
                "remote": self.connect_url,
                "ui": self.connect_ui,
                "conf": {},
            },
        }

    def env(self) -> dict[str, str]:
        """The environment of every daemon: private pid/log/work folders, loopback only."""
        env = dict(os.environ)
        conf_dir = self.root / "conf"
        conf_dir.mkdir(parents=True, exist_ok=True)
        env.update(
            SPARK_HOME=str(SPARK_HOME),
            SPARK_CONF_DIR=str(conf_dir),  # empty: no stray spark-defaults / spark-env
            SPARK_PID_DIR=str(self.root / "pid"),
            SPARK_LOG_DIR=str(self.root / "logs"),
            SPARK_WORKER_DIR=str(self.root / "work"),
            SPARK_LOCAL_DIRS=str(self.root / "local"),
            SPARK_IDENT_STRING=f"swan-test-{os.getpid()}-{self.master_port}",
            SPARK_LOCAL_IP="127.0.0.1",
            SPARK_DAEMON_MEMORY="256m",
            SPARK_MASTER_OPTS="-Dspark.master.rest.enabled=false",
            SPARK_WORKER_OPTS=(
                f"-Dspark.worker.resource.gpu.amount={len(GPUS)} "
                f"-Dspark.worker.resource.gpu.discoveryScript={self.gpu_discovery_script}"
            ),
            SWAN_FAKE_GPUS=",".join(GPUS),
        )
        for name in ("PYSPARK_SUBMIT_ARGS", "SPARK_CONF", "MASTER"):
            env.pop(name, None)
        return env

    def _daemon(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """spark-daemon.sh in a new process group; the daemonised JVM stays in that group."""
        proc = subprocess.Popen(
            [str(SPARK_HOME / "sbin" / args[0]), *args[1:]],
            env={**self.env(), **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._groups[name] = proc.pid
        return proc

    def start(self, timeout: float = 120) -> None:
        t0 = time.monotonic()
        try:
            self._start(t0 + timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - t0

    def _start(self, deadline: float) -> None:
        conf = {**APP_CONF, "spark.ui.port": str(self.connect_ui_port)}
        conf_args = [a for k, v in conf.items() for a in ("--conf", f"{k}={v}")]
        # All three at once: each spark-daemon.sh call sleeps ~2.5 s, the worker retries
        # registering until the master listens.
        procs = [
            self._daemon(
                "master",
                "spark-daemon.sh", "start", MASTER, "1", "--host", "127.0.0.1",
                "--port", str(self.master_port), "--webui-port", str(self.master_ui_port),
            ),
            self._daemon(
                "worker",
                "spark-daemon.sh", "start", WORKER, "1", "--host", "127.0.0.1",
                "--cores", "2", "--memory", "2g", "--webui-port", str(self.worker_ui_port),
                self.master_url,
            ),
            self._daemon(
                "connect",
                "start-connect-server.sh", "--master", "local[2]",
                "--conf", f"spark.connect.grpc.binding.port={self.connect_port}",
                "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
                *conf_args,
                # The Connect server's JVM is sized by SPARK_DAEMON_MEMORY, not the driver's.
                SPARK_DAEMON_MEMORY="512m",
            ),
        ]  # fmt: skip
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", WATCHDOG, str(self.root), *map(str, self._groups.values())],
            start_new_session=True,
        )
        for proc in procs:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        self._wait(("master", "worker"), deadline, self._worker_ready)
        self._wait(("connect",), deadline, self._connect_ready)
        # The first REST call of a fresh UI takes seconds: pay it here, not in a timed test.
        get_json(f"{self.connect_ui}/api/v1/applications", timeout=60)

    def _worker_ready(self) -> bool:
        try:
            state = get_json(f"{self.master_ui}/json/", timeout=5)
        except OSError:
            return False
        return any(
            w.get("state") == "ALIVE"
            and sorted(w.get("resources", {}).get("gpu", {}).get("addresses", [])) == GPUS
            for w in state.get("workers", [])
        )

    def _connect_ready(self) -> bool:
        return port_open(self.connect_port) and port_open(self.connect_ui_port)

    def _wait(self, names: tuple[str, ...], deadline: float, ready: Any) -> None:
        while not ready():
            dead = [n for n in names if not _group_alive(self._groups[n])]
            if dead or time.monotonic() > deadline:
                what = ", ".join(dead or names)
                raise SparkClusterError(f"Spark {what} did not come up:\n{self.log_tail()}")
            time.sleep(0.25)

    def log_tail(self, lines: int = 15) -> str:
        out = []
        for log in sorted((self.root / "logs").glob("*.out")):
            text = log.read_text(errors="replace").splitlines()
            errors = [x for x in text if " ERROR " in x or x.startswith(("Exception", "Caused"))]
            out.append(f"== {log.name}\n" + "\n".join(errors[:5] + ["..."] + text[-lines:]))
        return "\n".join(out)

    def stop(self, grace: float = 15, keep: bool = False) -> None:
        """Stop the daemons politely, then kill what is left of their process groups."""
        env = self.env()
        for cls in (CONNECT, WORKER, MASTER):
            subprocess.run(
                [str(SPARK_HOME / "sbin/spark-daemon.sh"), "stop", cls, "1"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        deadline = time.monotonic() + grace
        for pgid in self._groups.values():
            while _group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _group_alive(pgid):
                os.killpg(pgid, signal.SIGKILL)
        self._groups.clear()
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
