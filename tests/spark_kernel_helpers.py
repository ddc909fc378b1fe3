"""A real ipykernel for the Spark tests: cells sent as JupyterLab sends them (a `cellId` in
the execute request's metadata), output collected, and Spark's REST API read from here."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jupyter_client.manager import start_new_kernel

# Small and quiet on a shared machine: a random UI port, little memory.
SMALL = {
    "spark.ui.port": "0",
    "spark.driver.memory": "512m",
    "spark.executor.memory": "512m",
    "spark.sql.shuffle.partitions": "2",
}


class Kernel:
    """A kernel of our own (`cwd`), or one a server started (`client`: attached to it)."""

    def __init__(self, cwd: Path | None = None, client: Any = None, **env: str):
        if client is not None:
            self.km, self.kc = None, client
            return
        full = dict(os.environ)
        full.setdefault("SWAN_ML_URL", "http://127.0.0.1:9/")  # no server: nothing discovered
        full.update(env)
        self.km, self.kc = start_new_kernel(kernel_name="python3", env=full, cwd=str(cwd))

    def send(self, code: str, cell_id: str | None = None) -> str:
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        }
        metadata = {"cellId": cell_id} if cell_id else {}
        msg = self.kc.session.msg("execute_request", content, metadata=metadata)
        self.kc.shell_channel.send(msg)
        return msg["header"]["msg_id"]

    def collect(self, msg_id: str, timeout: float = 180) -> dict[str, Any]:
        out: dict[str, Any] = {"stdout": "", "stderr": "", "text": "", "error": None}
        deadline = time.monotonic() + timeout
        while True:
            msg = self.kc.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out[content["name"]] += content["text"]
            elif kind in ("display_data", "execute_result"):
                out["text"] += content["data"].get("text/plain", "") + "\n"
            elif kind == "error":
                out["error"] = content
            elif kind == "status" and content["execution_state"] == "idle":
                return out

    def run(self, code: str, cell_id: str | None = None, timeout: float = 180) -> dict[str, Any]:
        return self.collect(self.send(code, cell_id), timeout)

    def ok(self, code: str, cell_id: str | None = None, timeout: float = 180) -> dict[str, Any]:
        out = self.run(code, cell_id, timeout)
        assert out["error"] is None, "\n".join(out["error"]["traceback"])
        return out

    def value(self, expr: str) -> Any:
        out = self.ok(f"import json as _j; print(_j.dumps({expr}))")
        return json.loads(out["stdout"].strip().splitlines()[-1])

    def stop(self) -> None:
        try:
            self.run("from swan_ml_ext.spark import kernel as _k; _k.stop()", timeout=60)
        finally:
            self.kc.stop_channels()
            if self.km is not None:
                self.km.shutdown_kernel(now=True)


def connect_code(profiles: dict[str, Any], name: str, extra: dict[str, str] | None = None) -> str:
    """Kernel code that connects `name` of the site `profiles` (+ SMALL) and prints info()."""
    conf = {**SMALL, **(extra or {})}
    return (
        "from swan_ml_ext.spark import kernel as sk, profiles as sp\n"
        f"_spec = sp.resolve(sp.load_profiles({profiles!r}), {name!r}, {conf!r}).to_spec()\n"
        "import json; print(json.dumps(sk.connect(_spec)))"
    )


def rest(ui_url: str, path: str) -> Any:
    with urllib.request.urlopen(f"{ui_url}/api/v1/{path}", timeout=30) as resp:
        return json.loads(resp.read())


def jobs(info: dict[str, Any]) -> list[dict[str, Any]]:
    return rest(info["ui_url"], f"applications/{info['app_id']}/jobs")


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)
