"""The check behind bench/gpu_device_check.sh (run it through the script: it skips where
there is no GPU and prepares the interpreter). Exit 0: mapped (or skipped), 1: wrong, 2: the
environment cannot run it."""

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
from pathlib import Path

TOKEN = "gpu-device-check"
KERNEL_BYTES = 2 * 1024**3  # allocated in the kernel itself
CHILD_BYTES = 1 * 1024**3  # allocated by a child process of the kernel

ALLOC = {
    "torch": "import torch\n_x = torch.empty({n}, dtype=torch.uint8, device='cuda')\n"
    "torch.cuda.synchronize()",
    "cupy": "import cupy\n_x = cupy.empty({n}, dtype=cupy.uint8)\ncupy.cuda.Device().synchronize()",
    "numba": "import numpy as np\nfrom numba import cuda\n"
    "_x = cuda.device_array({n}, dtype=np.uint8)\ncuda.synchronize()",
}


def gib(n: object) -> str:
    return f"{n / 1024**3:.2f} GiB" if isinstance(n, int) else str(n)


def library() -> str | None:
    for name in ALLOC:
        if importlib.util.find_spec(name) is not None:
            return name
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port: int, method: str, path: str, body: object = None) -> object:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def main() -> int:
    lib = library()
    if lib is None:
        print("skipped: a GPU is here but no library to allocate with (torch, cupy, numba)")
        return 0
    for need in ("jupyter_server", "ipykernel", "swan_ml_ext"):
        if importlib.util.find_spec(need) is None:
            print(f"error: {need} is not importable by {sys.executable} (see the script's header)")
            return 2
    tmp = Path(tempfile.mkdtemp(prefix="swan-gpu-check-"))
    root = tmp / "root"
    root.mkdir()
    port = free_port()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), SWAN_ML_DB=str(tmp / "db"))
    log = open(tmp / "server.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", f"--ServerApp.root_dir={root}",
         f"--port={port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
         f"--IdentityProvider.token={TOKEN}", "--no-browser", "--allow-root",
         "--ServerApp.jpserver_extensions=swan_ml_ext=True",
         "--SwanMLApp.backends=fake",
         "--SwanMLApp.backend_classes=fake=tests.fake_backend:FakeBackend",
         f"--SwanMLApp.staging_dir={tmp / 'staging'}"],
        stdout=log, stderr=log, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        return check(port, root, tmp, lib, server)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def check(port: int, root: Path, tmp: Path, lib: str, server: subprocess.Popen) -> int:
    from jupyter_client import BlockingKernelClient

    deadline = time.monotonic() + 60
    while True:
        try:
            call(port, "GET", "swan-ml-ext/gpu")
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                print((tmp / "server.log").read_text()[-3000:])
                print("error: the server did not start")
                return 2
            time.sleep(0.3)
    (root / "gpu-check.ipynb").write_text(
        json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    session = call(port, "POST", "api/sessions", {"path": "gpu-check.ipynb", "type": "notebook",
                   "name": "gpu-check.ipynb", "kernel": {"name": "python3"}})  # fmt: skip
    kid = session["kernel"]["id"]
    kc = BlockingKernelClient(connection_file=str(tmp / "runtime" / f"kernel-{kid}.json"))
    kc.load_connection_file()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    child = ALLOC[lib].format(n=CHILD_BYTES) + "\nimport time\ntime.sleep(600)"
    code = (
        ALLOC[lib].format(n=KERNEL_BYTES)
        + "\nimport os, subprocess, sys\n"
        + f"_child = subprocess.Popen([sys.executable, '-c', {child!r}])\n"
        + "print(os.getpid(), _child.pid)"
    )
    pids: list[int] = []
    reply = kc.execute_interactive(code, timeout=120, output_hook=lambda m: _out(m, pids))
    if reply["content"]["status"] != "ok":
        print(f"error: the kernel could not allocate with {lib}: {reply['content']}")
        return 2
    kernel_pid, child_pid = pids[:2] if len(pids) >= 2 else (None, None)
    print(f"kernel {kid} pid {kernel_pid} allocated {gib(KERNEL_BYTES)} with {lib};"
          f" its child pid {child_pid} allocates {gib(CHILD_BYTES)}")  # fmt: skip
    data: dict = {}
    mine: dict | None = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the child needs a moment to start and allocate
        data = call(port, "GET", "swan-ml-ext/gpu")  # type: ignore[assignment]
        mine = next((k for k in data.get("kernels", []) if k["kernel_id"] == kid), None)
        if mine and child_pid in mine["pids"] and kernel_pid in mine["pids"]:
            break
        time.sleep(1)
    print(f"driver {data.get('driver_version')}; available {data.get('available')}")
    for d in data.get("devices", []):
        print(f"GPU {d['index']} {d['name']}: {gib(d['memory_used_bytes'])} of"
              f" {gib(d['memory_total_bytes'])}, util {d['utilization_percent']}%,"
              f" {d['temperature_c']} C, MIG {d['mig']},"
              f" {len(d['mig_instances'])} MIG instances")  # fmt: skip
        for p in d["processes"]:
            print(f"  process {p['pid']}: {gib(p['memory_used_bytes'])}, kernel {p['kernel_id']}")
    print("kernels:", json.dumps(data.get("kernels"), indent=1))
    t = time.perf_counter()
    for _ in range(100):
        call(port, "GET", "swan-ml-ext/gpu")
    print(f"GET gpu, 100 sequential requests: {(time.perf_counter() - t) * 10:.2f} ms each")
    kc.execute_interactive("_child.kill(); _ = _child.wait()", timeout=30)
    kc.stop_channels()
    if not mine:
        print(f"FAILED: GET gpu does not name kernel {kid} (pids seen by NVML above; a pid"
              " namespace of its own would explain it)")  # fmt: skip
        return 1
    ok = (
        mine["notebook"] == "gpu-check.ipynb"
        and {kernel_pid, child_pid} <= set(mine["pids"])
        and (mine["memory_used_bytes"] or 0) >= KERNEL_BYTES + CHILD_BYTES
        and mine["peak_memory_bytes"] >= mine["memory_used_bytes"]
    )
    print(("OK" if ok else "FAILED") + f": kernel {kid} ({mine['notebook']}) uses"
          f" {gib(mine['memory_used_bytes'])} (peak {gib(mine['peak_memory_bytes'])})"
          f" in pids {mine['pids']}")  # fmt: skip
    return 0 if ok else 1


def _out(msg: dict, pids: list[int]) -> None:
    if msg["msg_type"] == "stream":
        text = msg["content"]["text"]
        print(text, end="")
        pids.extend(int(w) for w in text.split() if w.isdigit())


if __name__ == "__main__":
    sys.exit(main())
