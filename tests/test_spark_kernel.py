"""Spark in a real kernel: `%swan spark` connect/status/stop, each cell's jobs tagged with the
cell (job group on classic, tag on Connect), Interrupt kernel cancels the cell's Spark job,
one session per kernel, stop undoes everything; Connect and GPUs on the test cluster."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from .spark_kernel_helpers import SMALL, Kernel, connect_code, jobs, rest, wait_for

SLOW_JOB = "sc.parallelize(range(2), 2).map(lambda x: __import__('time').sleep(120) or x).collect()"
CONF = " ".join(f"--conf {k}={v}" for k, v in SMALL.items())


def answers_outside(port: int) -> bool:
    """Whether `port` answers on this machine's outward address (not 127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: picks the outward interface
        address = probe.getsockname()[0]
    if address.startswith("127."):
        pytest.skip("no address besides loopback here")
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((address, port)) == 0


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory):
    """One kernel connected with `%swan spark connect local` (no server reachable), with a
    custom exception handler of its own installed before."""
    folder = tmp_path_factory.mktemp("spark-kernel")
    info_file = folder / "info.json"
    k = Kernel(folder, SWAN_SPARK_INFO_FILE=str(info_file))
    try:
        k.ok("%load_ext swan_ml_ext")
        k.ok(
            "def _mine(self, etype, value, tb, tb_offset=None):\n"
            "    print('mine:', etype.__name__)\n"
            "get_ipython().set_custom_exc((ValueError,), _mine)"
        )
        out = k.ok(f"%swan spark connect local {CONF}", timeout=240)
        info = k.value("__import__('swan_ml_ext.spark.kernel', fromlist=['x']).info()")
        yield k, info, out, info_file
    finally:
        k.stop()


def test_magic_connects_and_reports(local: Any):
    k, info, out, info_file = local
    # Then the session is up, described, and its info written for whoever asked
    assert "Spark connected: profile 'local' (local[2])" in out["stdout"]
    assert info["kind"] == "classic" and info["profile"] == "local"
    assert info["app_id"].startswith("local-") and info["ui_url"].startswith("http://127.0.0.1:")
    assert f"Spark UI (this machine): {info['ui_url']}/jobs/" in out["stdout"]
    assert "warning" in out["stderr"]  # no server here: built-ins, not registered
    assert json.loads(info_file.read_text()) == info
    assert not answers_outside(int(info["ui_url"].rsplit(":", 1)[1]))  # loopback only
    assert k.value("[type(spark).__name__, type(sc).__name__]") == ["SparkSession", "SparkContext"]
    status = k.ok("%swan spark status")["stdout"]
    assert "profile 'local' (classic), master local[2]" in status and info["app_id"] in status


def test_each_cell_tags_its_jobs(local: Any):
    k, info, _, _ = local
    # When a cell runs a job, sent as JupyterLab sends it (its id in the metadata)
    k.ok("\n# count things\nspark.range(1000).count()", cell_id="cell-aaa")
    k.ok("sc.parallelize(range(10), 2).sum()", cell_id="cell-bbb")
    k.ok("sc.parallelize(range(10), 2).sum()")  # no cell id (a plain client)
    # Then its Spark jobs carry the cell's job group and first line
    found = {j["jobGroup"]: j for j in jobs(info)}
    assert found["swan-cell-cell-aaa"]["description"] == "# count things"
    assert found["swan-cell-cell-bbb"]["status"] == "SUCCEEDED"
    assert any(g.startswith("swan-run-") for g in found)


def test_interrupt_cancels_the_cells_spark_job(local: Any):
    k, info, _, _ = local
    # Given a long Spark job running in a cell
    msg_id = k.send(SLOW_JOB, cell_id="cell-slow")

    def running() -> list[dict[str, Any]]:
        return [
            j for j in jobs(info) if j["jobGroup"] == "swan-cell-cell-slow"
            and j["status"] == "RUNNING"
        ]  # fmt: skip

    job = wait_for("the slow job", running)[0]
    # When the user interrupts the kernel
    t0 = time.monotonic()
    k.km.interrupt_kernel()
    out = k.collect(msg_id, timeout=60)
    # Then the cell shows the KeyboardInterrupt as usual (the interrupt may land inside a
    # Py4J call: then a Py4JNetworkError raised while handling it) and the job is cancelled
    assert out["error"] is not None, out
    assert any("KeyboardInterrupt" in line for line in out["error"]["traceback"]), out
    assert out["error"]["ename"] in ("KeyboardInterrupt", "Py4JNetworkError"), out
    assert "this cell's Spark jobs were cancelled" in out["stderr"]

    def failed() -> bool:
        return next(j for j in jobs(info) if j["jobId"] == job["jobId"])["status"] == "FAILED"

    wait_for("the job to be cancelled", failed, timeout=10)
    assert time.monotonic() - t0 < 10
    # And the kernel and Spark carry on
    assert k.value("spark.range(5).count()") == 5


def test_an_interrupt_surfacing_as_a_py4j_error_still_cancels(local: Any):
    k, info, _, _ = local
    # Given a job of this cell's group running (from a thread: the main thread raises)
    code = (
        "import threading, time\n"
        "from py4j.protocol import Py4JNetworkError\n"
        "_g = __import__('swan_ml_ext.spark.kernel', fromlist=['x'])._active.group\n"
        "def _bg():\n"
        "    sc.setJobGroup(_g, 'bg', interruptOnCancel=True)\n"
        "    sc.parallelize(range(2), 2).map(lambda x: time.sleep(120) or x).collect()\n"
        "threading.Thread(target=_bg, daemon=True).start()\n"
        "while not [j for j in sc.statusTracker().getActiveJobsIds()]: time.sleep(0.2)\n"
        "try:\n"
        "    raise KeyboardInterrupt\n"
        "except KeyboardInterrupt:\n"
        "    raise Py4JNetworkError('Answer from Java side is empty')\n"
    )
    # When the cell ends with Py4J's error raised while handling the interrupt
    out = k.run(code, cell_id="cell-py4j")
    # Then it is shown, and the cell's job is cancelled
    assert out["error"]["ename"] == "Py4JNetworkError"
    assert "this cell's Spark jobs were cancelled" in out["stderr"]

    def cancelled() -> bool:
        mine = [j for j in jobs(info) if j["jobGroup"] == "swan-cell-cell-py4j"]
        return bool(mine) and all(j["status"] == "FAILED" for j in mine)

    wait_for("the job to be cancelled", cancelled, timeout=10)


def test_previous_custom_handler_still_called(local: Any):
    k, _, _, _ = local
    out = k.run("raise ValueError('x')")
    assert "mine: ValueError" in out["stdout"]


def test_one_session_per_kernel(local: Any):
    k, info, _, _ = local
    # The same profile again: the running session
    again = k.ok(connect_code({}, "local"))["stdout"]
    assert json.loads(again.strip().splitlines()[-1])["app_id"] == info["app_id"]
    # Another profile: refused with one line, the session untouched
    out = k.ok("%swan spark connect standalone")
    # (the refusal is one line of its own; Py4J may log a line of its own after it: CI saw one)
    assert (
        "swan: this kernel is already connected to Spark with profile 'local': stop it first "
        "(%swan spark stop)"
    ) in [line.strip() for line in out["stderr"].splitlines()], out["stderr"]
    assert k.value("spark.range(3).count()") == 3


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("%swan spark connect nope", "unknown Spark profile 'nope'; known profiles: connect"),
        ("%swan spark connect local --conf spark.task.resource.gpu.amount=1", "wait forever"),
        ("%swan spark connect local --conf spark.executor.memory=lots", "size like 512m"),
        ("%swan spark connect local --conf nope=1", "not a Spark key"),
        ("%swan spark frobnicate", "invalid choice"),
    ],
)
def test_magic_refusals_are_one_line(local: Any, line: str, words: str):
    k, _, _, _ = local
    out = k.ok(line)
    refusal = [ln for ln in out["stderr"].splitlines() if not ln.startswith("swan: warning")]
    assert len(refusal) == 1 and refusal[0].startswith("swan: ") and words in refusal[0]


def test_stop_undoes_everything(local: Any):
    k, info, _, _ = local
    # When
    out = k.ok("%swan spark stop")
    # Then
    assert f"Spark stopped (profile 'local', app {info['app_id']})" in out["stdout"]
    assert k.value("[n for n in ('spark', 'sc') if n in globals()]") == []
    assert k.value("[e.__name__ for e in get_ipython().custom_exceptions]") == ["ValueError"]
    assert k.value("__import__('swan_ml_ext.spark.kernel', fromlist=['x']).info()") is None
    assert "not connected" in k.ok("%swan spark status")["stdout"]
    assert "mine: ValueError" in k.run("raise ValueError('x')")["stdout"]
    events = k.value("len(get_ipython().events.callbacks['pre_run_cell'])")
    assert events == 1  # the %swan magics' own hook only
    with pytest.raises(OSError):
        rest(info["ui_url"], "applications")


def test_reconnect_after_stop_and_a_session_the_user_stopped(local: Any):
    k, info, _, _ = local
    # Given the same kernel connected again after a stop
    out = k.ok(f"%swan spark connect local {CONF}", timeout=240)
    assert "Spark connected" in out["stdout"] and info["app_id"] not in out["stdout"]
    assert k.value("spark.range(7).count()") == 7
    # When the user stops Spark themselves
    k.ok("spark.stop()")
    # Then the next cells run untagged without complaint, and the session is forgotten
    out = k.ok("1 + 1")
    assert out["stderr"] == ""
    assert "not connected" in k.ok("%swan spark status")["stdout"]
    assert k.value("[n for n in ('spark', 'sc') if n in globals()]") == []


def test_stop_restores_the_environment_connect_set(monkeypatch: pytest.MonkeyPatch):
    """Without a JVM: connect() sets the profile's env (and PYSPARK_PYTHON on a local
    master), stop() puts back what was there; a failed start puts it back at once."""
    import os
    import sys
    from types import SimpleNamespace

    from swan_ml_ext.spark import kernel as sk

    class FakeSpark:
        def __init__(self) -> None:
            self.sparkContext = SimpleNamespace(
                _jsc=object(), applicationId="app-1", appName="a", master="local[1]",
                uiWebUrl=None,
            )  # fmt: skip

        def stop(self) -> None:
            self.sparkContext._jsc = None

    monkeypatch.setattr(sk, "_active", None)
    monkeypatch.delenv("SWAN_SPARK_INFO_FILE", raising=False)
    monkeypatch.delenv("PYSPARK_PYTHON", raising=False)
    monkeypatch.delenv("SWAN_T_NEW", raising=False)
    monkeypatch.setenv("SWAN_T_OLD", "before")
    monkeypatch.setenv("SWAN_T_MINE", "before")
    spec = {"profile": "p", "kind": "classic", "master": "local[1]", "conf": {},
            "env": {"SWAN_T_NEW": "n", "SWAN_T_OLD": "o", "SWAN_T_MINE": "o"}}  # fmt: skip
    before = dict(os.environ)
    monkeypatch.setattr(sk, "_create", lambda spec: FakeSpark())
    sk.connect(spec, shell=None)
    assert os.environ["SWAN_T_NEW"] == "n" and os.environ["SWAN_T_OLD"] == "o"
    assert os.environ["PYSPARK_PYTHON"] == sys.executable
    os.environ["SWAN_T_MINE"] = "changed since"  # the user's own: left alone
    assert sk.stop()
    assert dict(os.environ) == {**before, "SWAN_T_MINE": "changed since"}
    # a session the user stopped themselves: forgotten, and its env restored, too
    sk.connect(spec, shell=None)
    sk.session().stop()
    assert sk.session() is None and os.environ.get("SWAN_T_NEW") is None

    def fails(spec: Any) -> Any:
        raise RuntimeError("no JVM")

    monkeypatch.setattr(sk, "_create", fails)
    with pytest.raises(RuntimeError):
        sk.connect(spec, shell=None)
    assert "SWAN_T_NEW" not in os.environ and "PYSPARK_PYTHON" not in os.environ
    assert os.environ["SWAN_T_OLD"] == "before"


# --- the test cluster (tests/spark_cluster.py): Spark Connect, GPUs on standalone ----------


def test_connect_server_cells_tag_jobs(spark_cluster: Any, tmp_path: Path):
    k = Kernel(tmp_path)
    try:
        out = k.ok(connect_code(spark_cluster.profiles(), "connect", {}), timeout=120)
        info = json.loads(out["stdout"].strip().splitlines()[-1])
        assert info["kind"] == "connect" and info["ui_url"] == spark_cluster.connect_ui
        assert info["session_id"] and info["app_id"] and isinstance(info["user_id"], str)
        assert k.value("'sc' in globals()") is False
        k.ok("spark.range(100).count()", cell_id="cell-ccc")
        suffix = f"User_{info['user_id']}_Session_{info['session_id']}_Tag_swan-cell-cell-ccc"
        tagged = [
            j for j in rest(info["ui_url"], f"applications/{info['app_id']}/jobs")
            if any(t.endswith(suffix) for t in j.get("jobTags", []))
        ]  # fmt: skip
        assert tagged and all(j["status"] == "SUCCEEDED" for j in tagged)
        assert k.value("__import__('swan_ml_ext.spark.kernel', fromlist=['x']).stop()") is True
        assert k.value("'spark' in globals()") is False
    finally:
        k.stop()


def test_gpu_preset_on_standalone_gives_tasks_gpus(spark_cluster: Any, tmp_path: Path):
    k = Kernel(tmp_path)
    try:
        out = k.ok(connect_code(spark_cluster.profiles(), "standalone-gpu"), timeout=180)
        info = json.loads(out["stdout"].strip().splitlines()[-1])
        assert info["master"] == spark_cluster.master_url
        got = k.value(
            "sc.parallelize(range(4), 4).map(lambda _: __import__('pyspark').TaskContext.get()"
            ".resources()['gpu'].addresses).collect()"
        )
        assert len(got) == 4 and all(len(a) == 1 and a[0] in ("0", "1") for a in got)
    finally:
        k.stop()


def test_connect_interrupt_stops_the_cells_operation(spark_cluster: Any, tmp_path: Path):
    k = Kernel(tmp_path)
    try:
        out = k.ok(connect_code(spark_cluster.profiles(), "connect", {}), timeout=120)
        info = json.loads(out["stdout"].strip().splitlines()[-1])
        tag = f"User_{info['user_id']}_Session_{info['session_id']}_Tag_swan-cell-cell-slow"
        # Given a long query running in a cell
        msg_id = k.send(
            "from pyspark.sql.functions import udf\n"
            "slow = udf(lambda x: __import__('time').sleep(300) or x, 'long')\n"
            "spark.range(2).repartition(2).select(slow('id')).collect()",
            cell_id="cell-slow",
        )

        def ours(status: str) -> list[dict[str, Any]]:
            found = rest(info["ui_url"], f"applications/{info['app_id']}/jobs")
            return [
                j for j in found
                if j["status"] == status and any(t.endswith(tag) for t in j.get("jobTags", []))
            ]  # fmt: skip

        job = wait_for("the slow Connect job", lambda: ours("RUNNING"))[0]
        # When the user interrupts the kernel
        k.km.interrupt_kernel()
        out = k.collect(msg_id, timeout=60)
        # Then the cell ends with the interrupt and the server's job is cancelled
        assert out["error"] is not None
        # (a UDF's task ends when Spark kills its Python worker: seconds on a loaded machine,
        # far less than the 300 s the job would otherwise run)
        failed = wait_for("the job to fail", lambda: ours("FAILED"), timeout=90)
        assert job["jobId"] in [j["jobId"] for j in failed]
        assert k.value("spark.range(4).count()") == 4
    finally:
        k.stop()
