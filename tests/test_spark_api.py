"""The Spark REST API end to end: a real `jupyter server`, a real kernel started through its
/api/kernels, real pyspark. Connecting from the API, cells (with JupyterLab's cellId) whose
jobs show grouped by cell, stages and executors, kill, stop; the refusals that start nothing;
a kernel that connected itself; Spark Connect against the test cluster. One server and one
kernel per module (Spark starts once)."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

from .conftest import conforms
from .server import ServerProcess

SMALL = {"spark.driver.memory": "512m", "spark.ui.port": "0", "spark.sql.shuffle.partitions": "2"}
# Connect: no Python worker on the server's side; each of 2 tasks sleeps 60 s in the JVM.
CONNECT_SLOW_CELL = (
    "from pyspark.sql import functions as F\n"
    "spark.range(0, 2, 1, 2).select(F.reflect(F.lit('java.lang.Thread'), F.lit('sleep'),"
    " F.lit(60000).cast('long'))).collect()"
)
SLOW_CELL = "sc.parallelize(range(2), 2).map(lambda x: __import__('time').sleep(60) or x).count()"


class Http:
    def __init__(self, srv: ServerProcess):
        self.base = f"http://127.0.0.1:{srv.port}/"

    def call(self, method: str, path: str, body: Any = None, template: str | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        if data is None and method == "POST":
            data = b""
        req = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Authorization": "token test-token", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=180) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        payload = json.loads(raw) if raw and raw[:1] in (b"{", b"[") else raw
        if template is not None and status != 204:
            conforms(method, template, status, payload)
        return status, payload

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        template = "/" + "/".join(
            "{sid}" if i == 2 else "{job_id}" if i == 4 else part
            for i, part in enumerate(path.split("/"))
        )
        return self.call(method, "swan-ml-ext/" + path, body, template)


class Kernel:
    """A kernel of the server, driven over its websocket like JupyterLab does."""

    def __init__(self, srv: ServerProcess, http: Http):
        status, data = http.call("POST", "api/kernels", {"name": "python3"})
        assert status == 201, data
        self.id, self.http = data["id"], http
        self.url = f"ws://127.0.0.1:{srv.port}/api/kernels/{self.id}/channels?token=test-token"
        self.session = uuid.uuid4().hex

    def send(self, code: str, cell_id: str = "", **content: Any) -> tuple[Any, str]:
        ws = websocket.create_connection(self.url, timeout=180)
        msg_id = uuid.uuid4().hex
        ws.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                        "session": self.session, "version": "5.3", "date": "",
                    },
                    "parent_header": {},
                    "metadata": {"cellId": cell_id} if cell_id else {},
                    "content": {
                        "code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True,
                        **content,
                    },
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )  # fmt: skip
        return ws, msg_id

    def run(self, code: str, cell_id: str = "", **content: Any) -> dict[str, Any]:
        """Execute and wait for the reply's content."""
        ws, msg_id = self.send(code, cell_id, **content)
        try:
            while True:
                msg = json.loads(ws.recv())
                if msg.get("channel") == "shell" and msg["parent_header"].get("msg_id") == msg_id:
                    return msg["content"]
        finally:
            ws.close()

    def eval(self, expr: str) -> str:
        reply = self.run("", user_expressions={"x": expr})
        return reply["user_expressions"]["x"]["data"]["text/plain"]

    def state(self) -> str:
        return self.http.call("GET", f"api/kernels/{self.id}")[1]["execution_state"]


def wait_for(check: Callable[[], Any], timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("spark-api"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def http(srv: ServerProcess) -> Http:
    return Http(srv)


@pytest.fixture(scope="module")
def kernel(srv: ServerProcess, http: Http) -> Iterator[Kernel]:
    k = Kernel(srv, http)
    try:
        assert k.run("pass")["status"] == "ok"
        wait_for(lambda: k.state() == "idle", 60, "the kernel")
        yield k
    finally:
        http.call("DELETE", f"api/kernels/{k.id}")  # its Spark (driver JVM) goes with it


def sessions(http: Http) -> list[dict[str, Any]]:
    status, data = http.api("GET", "spark/sessions")
    assert status == 200
    return data["sessions"]


def test_profiles(http: Http) -> None:
    status, data = http.api("GET", "spark/profiles")
    assert status == 200 and data["default"] == "local"
    names = {p["name"]: p for p in data["profiles"]}
    assert {"local", "local-gpu", "standalone", "connect"} <= set(names)
    assert names["connect"]["kind"] == "connect" and names["local"]["kind"] == "classic"


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"profile": "nope"}, 400, "unknown Spark profile 'nope'"),
        ({"profile": "local", "conf": {"foo.bar": "1"}}, 400, "foo.bar"),
        ({"profile": "local", "conf": ["spark.executor.cores"]}, 400, "spark.executor.cores"),
        (
            {"profile": "local", "conf": {"spark.task.resource.gpu.amount": "1"}},
            400,
            "local",
        ),
        ({"profile": "local-gpu", "conf": {"spark.task.resource.gpu.amount": "2"}}, 400, "gpu"),
        ({"profile": "local", "kernel_id": "no-such-kernel"}, 404, "no kernel"),
        ({"profile": "local", "conf": 5}, 400, "conf"),
        ({"profile": "local", "master": "spark://evil:7077"}, 400, "master"),
    ],
)
def test_refusals_start_nothing(
    http: Http, kernel: Kernel, body: dict[str, Any], status: int, words: str
) -> None:
    got, data = http.api("POST", "spark/sessions", {"kernel_id": kernel.id, **body})
    assert got == status, data
    assert words.lower() in data["message"].lower(), data
    # Nothing registered, nothing started in the kernel
    assert sessions(http) == [] or all(s["state"] == "ended" for s in sessions(http))
    assert kernel.eval("'spark' in globals()") == "False"


def test_busy_kernel_is_409_and_kernel_errors_are_422(http: Http, kernel: Kernel) -> None:
    # A kernel running a cell is not interrupted by a connect
    ws, _ = kernel.send("import time; time.sleep(4)")
    try:
        wait_for(lambda: kernel.state() == "busy", 10, "the busy kernel")
        status, data = http.api(
            "POST", "spark/sessions", {"kernel_id": kernel.id, "profile": "local", "conf": SMALL}
        )
        assert status == 409 and "busy" in data["message"], data
    finally:
        ws.close()
    wait_for(lambda: kernel.state() == "idle", 20, "the kernel")
    # Spark refusing to start in the kernel (a well-formed conf the profile checks let through,
    # but the driver's JVM cannot start with a 1 MiB heap): 422 with the kernel's error,
    # nothing registered. Deterministic only before the kernel's first JVM: this module's
    # first connect.
    bad = {**SMALL, "spark.driver.memory": "1m"}
    status, data = http.api(
        "POST", "spark/sessions", {"kernel_id": kernel.id, "profile": "local", "conf": bad}
    )
    assert status == 422, data
    assert re.match(r"^\w+(Error|Exception)\b.*: ", data["message"]), data
    assert [s for s in sessions(http) if s["state"] == "active"] == []
    assert kernel.eval("'spark' in globals()") == "False"


def test_unknown_sessions_are_404(http: Http) -> None:
    for method, path in (
        ("GET", "spark/sessions/nope"),
        ("GET", "spark/sessions/nope/jobs"),
        ("DELETE", "spark/sessions/nope"),
        ("POST", "spark/sessions/nope/jobs/1/kill"),
    ):
        assert http.api(method, path)[0] == 404


def test_connect_run_cells_kill_and_stop(http: Http, kernel: Kernel) -> None:
    # When the API connects the kernel to the local profile
    status, session = http.api(
        "POST", "spark/sessions", {"kernel_id": kernel.id, "profile": "local", "conf": SMALL}
    )
    assert status == 201, session
    sid = session["id"]
    assert session["kernel_id"] == kernel.id and session["state"] == "active"
    assert session["ui_path"] == f"swan-ml-ext/spark/ui/{sid}/jobs/"
    assert kernel.eval("type(spark).__name__") == "'SparkSession'"
    # Connecting it again is refused while it has a session
    assert (
        http.api("POST", "spark/sessions", {"kernel_id": kernel.id, "profile": "local"})[0] == 409
    )

    # When a cell (with its JupyterLab cell id) runs a job
    reply = kernel.run("sc.parallelize(range(10), 2).sum()", cell_id="cell-sum")
    assert reply["status"] == "ok"

    def job_of(cell: str, state: str) -> Any:
        jobs = http.api("GET", f"spark/sessions/{sid}/jobs")[1]
        found = [j for j in jobs["jobs"] if j["cell_id"] == cell and j["status"] == state]
        return found and (found[0], jobs["cells"])

    # Then it shows within a few seconds, grouped by its cell
    job, cells = wait_for(lambda: job_of("cell-sum", "SUCCEEDED"), 5, "the cell's job")
    assert {"cell_id": "cell-sum", "job_ids": [job["job_id"]]} in cells
    executors = http.api("GET", f"spark/sessions/{sid}/executors")[1]["executors"]
    assert executors[0]["id"] == "driver" and executors[0]["total_cores"] == 2

    # When a slow cell runs, its job runs with an active stage, then the API kills it
    ws, _ = kernel.send(SLOW_CELL, cell_id="cell-slow")
    try:
        slow, _ = wait_for(lambda: job_of("cell-slow", "RUNNING"), 10, "the slow job")
        stages = http.api("GET", f"spark/sessions/{sid}/stages")[1]["stages"]
        assert [s for s in stages if s["status"] == "ACTIVE" and s["num_tasks"] == 2]
        assert http.api("GET", f"spark/sessions/{sid}")[1]["summary"]["jobs_running"] == 1
        status, data = http.api("POST", f"spark/sessions/{sid}/jobs/{slow['job_id']}/kill")
        assert (status, data) == (202, {"killed": slow["job_id"]})
        wait_for(lambda: job_of("cell-slow", "FAILED"), 10, "the killed job")
    finally:
        ws.close()
    wait_for(lambda: kernel.state() == "idle", 20, "the kernel after the kill")
    # A job of no session of this kernel, or a finished one, cannot be killed
    assert http.api("POST", f"spark/sessions/{sid}/jobs/{slow['job_id']}/kill")[0] == 409
    assert http.api("POST", f"spark/sessions/{sid}/jobs/424242/kill")[0] == 404

    # The UI route serves the session's UI
    status, page = http.call("GET", f"swan-ml-ext/spark/ui/{sid}/jobs/")
    assert status == 200 and b"Spark Jobs" in page

    # When it is deleted, Spark stops in the kernel and the session ends
    assert http.api("DELETE", f"spark/sessions/{sid}")[0] == 204
    assert http.api("GET", f"spark/sessions/{sid}")[1]["state"] == "ended"
    assert kernel.eval("'spark' in globals()") == "False"
    assert http.call("GET", f"swan-ml-ext/spark/ui/{sid}/jobs/")[0] == 404


def test_delete_while_a_job_runs_stops_it(http: Http, kernel: Kernel) -> None:
    # Given a session whose kernel is busy with a long Spark job (when Stop is most pressed)
    status, session = http.api(
        "POST", "spark/sessions", {"kernel_id": kernel.id, "profile": "local", "conf": SMALL}
    )
    assert status == 201, session
    sid = session["id"]
    ws, msg_id = kernel.send(SLOW_CELL, cell_id="cell-stop")
    try:

        def running() -> Any:
            jobs = http.api("GET", f"spark/sessions/{sid}/jobs")[1]["jobs"]
            return [j for j in jobs if j["cell_id"] == "cell-stop" and j["status"] == "RUNNING"]

        wait_for(running, 20, "the long job")
        assert kernel.state() == "busy"
        # When the session is deleted, it answers 204 long before the job would end (60 s)
        started = time.monotonic()
        assert http.api("DELETE", f"spark/sessions/{sid}")[0] == 204
        assert time.monotonic() - started < 45
        # Then the cell's job was cancelled (the cell failed), and Spark is gone from the kernel
        while True:
            msg = json.loads(ws.recv())
            if msg.get("channel") == "shell" and msg["parent_header"].get("msg_id") == msg_id:
                break
        assert msg["content"]["status"] == "error", msg["content"]
        assert "cancel" in json.dumps(msg["content"]).lower(), msg["content"]
    finally:
        ws.close()
    assert http.api("GET", f"spark/sessions/{sid}")[1]["state"] == "ended"
    wait_for(lambda: kernel.state() == "idle", 20, "the kernel")
    assert kernel.eval("'spark' in globals()") == "False"

    # A cell busy outside Spark: no job to kill, so the kernel is interrupted, then Spark stops
    status, session = http.api(
        "POST", "spark/sessions", {"kernel_id": kernel.id, "profile": "local", "conf": SMALL}
    )
    assert status == 201, session
    ws, msg_id = kernel.send("import time; time.sleep(120)", cell_id="cell-sleep")
    try:
        wait_for(lambda: kernel.state() == "busy", 10, "the busy kernel")
        assert http.api("DELETE", f"spark/sessions/{session['id']}")[0] == 204
        while True:
            msg = json.loads(ws.recv())
            if msg.get("channel") == "shell" and msg["parent_header"].get("msg_id") == msg_id:
                break
        assert msg["content"]["ename"] == "KeyboardInterrupt", msg["content"]
    finally:
        ws.close()
    assert kernel.eval("'spark' in globals()") == "False"


def test_a_kernel_that_connected_itself_is_registered(http: Http, kernel: Kernel) -> None:
    # Given a kernel that connected itself (as the %swan spark magic does)
    from swan_ml_ext.spark import profiles

    spec = profiles.resolve(profiles.load_profiles({}), "local", SMALL).to_spec()
    code = f"import swan_ml_ext.spark.kernel as k; k.connect({json.dumps(spec)!r})"
    assert kernel.run(code)["status"] == "ok"
    before = {s["id"] for s in sessions(http)}
    # When the API is told only the kernel, it answers at once and asks the kernel
    status, data = http.api("POST", "spark/sessions", {"kernel_id": kernel.id})
    assert (status, data) == (202, {"kernel_id": kernel.id, "status": "pending"})
    new = wait_for(
        lambda: [s for s in sessions(http) if s["id"] not in before and s["state"] == "active"],
        30,
        "the self-connected session",
    )
    assert new[0]["kernel_id"] == kernel.id and new[0]["app_id"].startswith("local-")
    # Asking again registers nothing new
    assert http.api("POST", "spark/sessions", {"kernel_id": kernel.id})[0] == 202
    time.sleep(1.5)
    assert len([s for s in sessions(http) if s["state"] == "active"]) == 1
    assert http.api("DELETE", f"spark/sessions/{new[0]['id']}")[0] == 204


# -- Spark Connect against the test cluster -------------------------------------------------------
@pytest.fixture(scope="module")
def connect_srv(tmp_path_factory: pytest.TempPathFactory, spark_cluster: Any) -> Iterator[Http]:
    tmp: Path = tmp_path_factory.mktemp("spark-connect")
    config = tmp / "swan_config.py"
    config.write_text(f"c.SwanMLApp.spark_profiles = {spark_cluster.profiles()!r}\n")
    server = ServerProcess(tmp, f"--config={config}")
    try:
        server.start()
        yield Http(server)
    finally:
        server.stop()


def test_connect_session_jobs_and_kill(connect_srv: Http, tmp_path: Path) -> None:
    http = connect_srv
    srv_port = int(http.base.rsplit(":", 1)[1].strip("/"))
    kernel = Kernel(type("S", (), {"port": srv_port})(), http)  # type: ignore[arg-type]
    try:
        assert kernel.run("pass")["status"] == "ok"
        status, session = http.api(
            "POST", "spark/sessions", {"kernel_id": kernel.id, "profile": "connect"}
        )
        assert status == 201, session
        assert session["kind"] == "connect"
        sid = session["id"]
        ws, _ = kernel.send(
            CONNECT_SLOW_CELL,
            cell_id="cell-connect",
        )
        try:

            def running() -> Any:
                jobs = http.api("GET", f"spark/sessions/{sid}/jobs")[1]["jobs"]
                return [
                    j for j in jobs if j["cell_id"] == "cell-connect" and j["status"] == "RUNNING"
                ]

            job = wait_for(running, 60, "the Connect job")[0]
            status, data = http.api("POST", f"spark/sessions/{sid}/jobs/{job['job_id']}/kill")
            assert status == 202, data

            def failed() -> Any:
                jobs = http.api("GET", f"spark/sessions/{sid}/jobs")[1]["jobs"]
                return [j for j in jobs if j["job_id"] == job["job_id"] and j["status"] == "FAILED"]

            wait_for(failed, 15, "the killed Connect job")
        finally:
            ws.close()
        wait_for(lambda: kernel.state() == "idle", 30, "the kernel after the kill")
        assert http.api("DELETE", f"spark/sessions/{sid}")[0] == 204
    finally:
        http.call("DELETE", f"api/kernels/{kernel.id}")
