"""Shared bits of the Spark benchmarks: a real server (spark backend only), kernels of that
server driven through their connection files, Spark sessions in them (`local[2]`, small)."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.request
from typing import Any

from _common import ServerProcess, workdir
from jupyter_client import BlockingKernelClient

from swan_ml_ext.client import SwanMLClient

# Small and quiet: the machine is shared.
CONF = {
    "spark.driver.memory": "512m",
    "spark.sql.shuffle.partitions": "2",
    "spark.ui.showConsoleProgress": "false",
}
# ~10 s of Spark work on 2 cores, the same every run (JVM-side: no Python workers).
WORKLOAD = (
    "spark.range(0, {rows}, numPartitions=8)"
    ".selectExpr('sum(sqrt(id) * sin(id) + cos(id))').collect()"
)


class SparkServer:
    """A jupyter server with swan_ml_ext, its kernels reachable from here."""

    def __init__(self, name: str, *args: str):
        self.tmp = workdir(name)
        self.runtime = self.tmp / "runtime"
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(self.runtime)}
        env = {k: v for k, v in env.items() if not k.startswith("SWAN_ML_")}
        self.server = ServerProcess(self.tmp, "--SwanMLApp.backends=spark", *args, env=env)
        # POST spark/sessions waits for Spark to start in the kernel (seconds, more when busy)
        self.client = SwanMLClient(self.server.client.server, timeout=180)
        self.kernels: list[BlockingKernelClient] = []

    def __enter__(self) -> SparkServer:
        self.server.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        for kc in self.kernels:
            kc.stop_channels()
        self.server.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """A request to the server's own /api (kernels)."""
        req = urllib.request.Request(
            self.client.server.url + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"token {self.client.server.token}"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"null")

    def kernel(self) -> tuple[str, BlockingKernelClient]:
        """A new kernel of the server and a client on its connection file."""
        kid = self.api("POST", "api/kernels", {"name": "python3"})["id"]
        path = self.runtime / f"kernel-{kid}.json"
        deadline = time.monotonic() + 60
        while not path.exists():
            assert time.monotonic() < deadline, f"no connection file {path}"
            time.sleep(0.1)
        kc = BlockingKernelClient(connection_file=str(path))
        kc.load_connection_file()
        kc.start_channels()
        kc.wait_for_ready(timeout=60)
        self.kernels.append(kc)
        return kid, kc

    def connect_registered(self) -> tuple[str, BlockingKernelClient, dict[str, Any]]:
        """A kernel whose Spark session the server started and watches (POST spark/sessions)."""
        kid, kc = self.kernel()
        session = self.client.request(
            "POST", "spark/sessions", {"kernel_id": kid, "profile": "local", "conf": CONF}
        )
        return kid, kc, session

    def connect_unwatched(self) -> BlockingKernelClient:
        """A kernel with the same Spark session that the server knows nothing about."""
        _, kc = self.kernel()
        run(
            kc,
            "from swan_ml_ext.spark import kernel as _k, profiles as _p\n"
            f"_k.connect(_p.resolve(_p.load_profiles({{}}), 'local', {CONF!r}).to_spec())",
        )
        return kc


def run(kc: BlockingKernelClient, code: str, timeout: float = 300) -> str:
    """Execute code in the kernel; its stdout (an error raises)."""
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(msg["content"]["traceback"]))

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook, store_history=False)
    if reply["content"]["status"] != "ok":
        raise RuntimeError("".join(out)[-3000:])
    return "".join(out)


def timed(kc: BlockingKernelClient, code: str) -> float:
    """Seconds the code took inside the kernel."""
    text = run(kc, f"import time as _t\n_t0 = _t.perf_counter()\n{code}\n"
               "print('elapsed', _t.perf_counter() - _t0)")  # fmt: skip
    return float(text.rsplit("elapsed", 1)[1].split()[0])


def rows_for(kc: BlockingKernelClient, seconds: float) -> int:
    """The WORKLOAD size that takes about `seconds` here (the JVM warms up as it goes)."""
    rows = 20_000_000
    for _ in range(3):
        took = timed(kc, WORKLOAD.format(rows=rows))
        rows = int(rows * seconds / max(took, 0.05))
    return rows
