"""The Spark registry and poller against a real local Spark (pyspark in this test process)
and the in-process Jupyter server: the registry's refusals, jobs mapped to cells, one round
of Spark calls per pass however many clients read, events only on change, kill from the API,
batch jobs' sessions from engine_ref["spark"], sessions that end."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from swan_ml_ext.spark.registry import Registry, SparkUnavailable

from . import spark_ui_helpers
from .server import free_port
from .spark_ui_helpers import CELL, Slow, get_json, info, until

# The helpers' fixtures, under their names.
spark = spark_ui_helpers.spark
spark_mgr = spark_ui_helpers.spark_mgr
recorder = spark_ui_helpers.recorder
jp_server_config = spark_ui_helpers.jp_server_config


# -- registry ---------------------------------------------------------------------------------
def test_registry_refuses_hosts_that_are_not_loopback() -> None:
    # Given a registry with no extra hosts allowed
    reg = Registry()
    base = {"kind": "classic", "app_id": "app-1", "profile": "local"}
    # Then only loopback UIs are registered, and nothing is kept for a refused one
    for url in ("http://10.0.0.1:4040", "http://example.org:4040", "ftp://127.0.0.1:1", None):
        with pytest.raises(SparkUnavailable):
            reg.register({**base, "ui_url": url}, source="kernel", kernel_id="k1")
    assert reg.all() == []
    assert reg.register({**base, "ui_url": "http://[::1]:4041"}, source="kernel").ui_port == 4041
    # And a site that lists a host may use it
    allowed = Registry(["spark-driver.example.org"])
    s = allowed.register({**base, "ui_url": "http://spark-driver.example.org:4040"}, source="job")
    assert s.ui_host == "spark-driver.example.org"


def test_registry_same_app_is_one_session_and_ended_ones_are_bounded() -> None:
    changes: list[tuple[str, str]] = []
    reg = Registry(on_change=lambda s, c: changes.append((s.id, c)), keep_ended=3)
    data = {"kind": "classic", "app_id": "a", "ui_url": "http://127.0.0.1:4040"}
    first = reg.register(data, source="kernel", kernel_id="k")
    assert reg.register(data, source="kernel", kernel_id="k") is first
    # Another application of the same kernel ends the first session
    second = reg.register({**data, "app_id": "b"}, source="kernel", kernel_id="k")
    assert first.state == "ended" and second.active
    assert changes == [(first.id, "registered"), (first.id, "ended"), (second.id, "registered")]
    for i in range(10):
        s = reg.register({**data, "app_id": f"x{i}"}, source="kernel", kernel_id=f"k{i}")
        reg.end(s.id)
    assert len([s for s in reg.all() if not s.active]) == 3
    with pytest.raises(Exception, match="no Spark session"):
        reg.get("not-registered")


def test_registry_connect_session_is_its_ui_and_connect_id() -> None:
    # A Connect kernel may not know its application id: the poller fills it in from the UI
    reg = Registry()
    data = {"kind": "connect", "app_id": None, "ui_url": "http://127.0.0.1:4040"}
    first = reg.register({**data, "session_id": "c1"}, source="kernel", kernel_id="k")
    first.app_id = "app-filled-in"
    assert reg.register({**data, "session_id": "c1"}, source="kernel", kernel_id="k") is first
    second = reg.register({**data, "session_id": "c2"}, source="kernel", kernel_id="k")
    assert first.state == "ended" and second.active


# -- connecting through the manager (a stand-in kernel) ---------------------------------------
class FakeKernels:
    """A kernel manager with one kernel, whose code runs through a patched run_silent."""

    def __init__(self) -> None:
        self.kernel = type("K", (), {"execution_state": "idle"})()
        self.codes: list[str] = []

    def __contains__(self, kid: str) -> bool:
        return kid == "k-fake"

    def get_kernel(self, kid: str) -> Any:
        return self.kernel


@pytest.fixture
def fake_kernel(spark_mgr: Any, monkeypatch: pytest.MonkeyPatch) -> FakeKernels:
    from swan_ml_ext.spark import manager as manager_mod

    fake = FakeKernels()
    monkeypatch.setattr(spark_mgr, "kernel_manager", fake)
    monkeypatch.setattr(manager_mod.kernels, "kernel_of", lambda km, kid: fake.kernel)
    return fake


async def test_connect_timeout_registers_the_session_once_the_kernel_is_idle(
    spark_mgr: Any, fake_kernel: FakeKernels, monkeypatch: pytest.MonkeyPatch, recorder: int
) -> None:
    from swan_ml_ext.spark import kernels

    async def run_silent(kernel: Any, code: str, timeout: float) -> Any:
        fake_kernel.codes.append(code)
        if "connect(" in code:  # the kernel is still connecting when the server gives up
            raise kernels.KernelTimeout("the kernel did not answer within 1 s")
        return {"kind": "classic", "app_id": "late", "ui_url": f"http://127.0.0.1:{recorder}"}

    monkeypatch.setattr(kernels, "run_silent", run_silent)
    body = {"kernel_id": "k-fake", "profile": "local", "conf": {"spark.ui.port": "0"}}
    with pytest.raises(kernels.KernelTimeout):
        await spark_mgr.connect(body)
    # Then the session the kernel made is registered once the kernel answers
    await asyncio.gather(*spark_mgr._tasks)
    session = spark_mgr.registry.by_kernel("k-fake")
    assert session is not None and session.app_id == "late"
    assert fake_kernel.codes[-1] == "" and "k-fake" not in spark_mgr._busy


async def test_connect_refused_by_the_registry_stops_spark_in_the_kernel(
    spark_mgr: Any, fake_kernel: FakeKernels, monkeypatch: pytest.MonkeyPatch
) -> None:
    from swan_ml_ext.spark import kernels

    async def run_silent(kernel: Any, code: str, timeout: float) -> Any:
        fake_kernel.codes.append(code)
        return {"kind": "classic", "app_id": "far", "ui_url": "http://10.0.0.1:4040"}

    monkeypatch.setattr(kernels, "run_silent", run_silent)
    body = {"kernel_id": "k-fake", "profile": "local", "conf": {"spark.ui.port": "0"}}
    with pytest.raises(SparkUnavailable):
        await spark_mgr.connect(body)
    assert fake_kernel.codes[-1] == kernels.stop_code()
    assert spark_mgr.registry.by_kernel("k-fake") is None


async def test_a_failing_look_logs_and_ends_quietly(
    spark_mgr: Any, fake_kernel: FakeKernels, monkeypatch: pytest.MonkeyPatch
) -> None:
    from swan_ml_ext.spark import kernels

    async def run_silent(kernel: Any, code: str, timeout: float) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(kernels, "run_silent", run_silent)
    assert (await spark_mgr.connect({"kernel_id": "k-fake"}))[0] == 202
    tasks = list(spark_mgr._tasks)
    await asyncio.gather(*tasks)
    assert all(t.exception() is None for t in tasks) and "k-fake" not in spark_mgr._busy


# -- poller and REST --------------------------------------------------------------------------
async def test_poller_maps_jobs_to_cells_and_serves_from_cache(
    spark: Any, spark_mgr: Any, jp_fetch: Any, swan_app: Any
) -> None:
    events: list[dict[str, Any]] = []

    async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        events.append(data)

    swan_app.serverapp.event_logger.add_listener(
        schema_id="https://events.jupyter.org/swan_ml_ext/spark/v1", listener=listener
    )
    # Given the test's Spark registered in-process (never through a request)
    session = spark_mgr.registry.register(info(spark), source="kernel", kernel_id=None)
    await spark_mgr.poller.tick()
    # Then the finished job is listed with its cell
    data = await get_json(
        jp_fetch, f"spark/sessions/{session.id}/jobs", "/spark/sessions/{sid}/jobs"
    )
    done = [j for j in data["jobs"] if j["cell_id"] == CELL]
    assert done and done[0]["status"] == "SUCCEEDED" and done[0]["num_tasks"] == 2
    assert {"cell_id": CELL, "job_ids": [done[0]["job_id"]]} in data["cells"]
    execs = await get_json(
        jp_fetch, f"spark/sessions/{session.id}/executors", "/spark/sessions/{sid}/executors"
    )
    assert execs["executors"][0]["id"] == "driver" and execs["executors"][0]["total_cores"] == 2

    # When a slow job runs, a pass shows it running, with its active stage
    slow = Slow(spark, "cell-slow", 20)

    async def running() -> Any:
        await spark_mgr.poller.tick()
        return [j for j in session.jobs if j["status"] == "RUNNING"]

    job = (await until(running, what="a running job"))[0]
    assert job["cell_id"] == "cell-slow"
    stages = await get_json(
        jp_fetch, f"spark/sessions/{session.id}/stages", "/spark/sessions/{sid}/stages"
    )
    assert any(s["status"] == "ACTIVE" and s["num_tasks"] == 2 for s in stages["stages"])

    # And 20 clients reading at once make no Spark call: they read the cache
    before = session.spark_requests
    await asyncio.gather(
        *(
            jp_fetch("swan-ml-ext", "spark", "sessions", session.id, part)
            for part in ("jobs", "stages", "executors", "") * 5
        )
    )
    assert session.spark_requests == before
    # And a pass with no change emits no event (the job's 2 tasks sleep: nothing moves)
    await spark_mgr.poller.tick()
    n = len(events)
    for _ in range(3):
        await spark_mgr.poller.tick()
    await asyncio.sleep(0.1)
    assert len(events) == n, events[n:]

    # When the job is killed through the API (the UI's CSRF form), it fails
    resp = await jp_fetch(
        "swan-ml-ext", "spark", "sessions", session.id, "jobs", str(job["job_id"]), "kill",
        method="POST", body=b"",
    )  # fmt: skip
    assert resp.code == 202 and json.loads(resp.body) == {"killed": job["job_id"]}
    slow.thread.join(15)
    assert slow.error is not None and "killed" in str(slow.error).lower()

    async def failed() -> Any:
        await spark_mgr.poller.tick()
        return [j for j in session.jobs if j["job_id"] == job["job_id"] and j["status"] == "FAILED"]

    await until(failed, what="the killed job failed")
    # And the kill of a finished job, or of a job that is not this session's, is refused
    for job_id, code in ((job["job_id"], 409), (99999, 404)):
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch(
                "swan-ml-ext", "spark", "sessions", session.id, "jobs", str(job_id), "kill",
                method="POST", body=b"",
            )  # fmt: skip
        assert e.value.code == code
    assert {"session_id": session.id, "change": "registered", "jobs_running": 0} in events
    assert any(e["change"] == "jobs" and e["jobs_running"] == 1 for e in events)


async def test_spark_answers_and_lists_are_bounded(
    spark: Any, spark_mgr: Any, recorder: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from swan_ml_ext.spark import rest

    session = spark_mgr.registry.register(info(spark), source="kernel")
    every = await rest.jobs(session)
    monkeypatch.setattr(rest, "KEEP_JOBS", 1)
    assert [j["job_id"] for j in await rest.jobs(session)] == [every[0]["job_id"]]
    # An answer above the cap is refused, not held
    small = spark_mgr.registry.register(
        {"kind": "classic", "app_id": "rec", "ui_url": f"http://127.0.0.1:{recorder}"},
        source="kernel",
    )
    assert (await rest.fetch(small, "/jobs/", raw=True)).body == b"recorded"
    monkeypatch.setattr(rest, "MAX_BODY", 4)
    with pytest.raises(rest.SparkUIError, match="above"):
        await rest.fetch(small, "/jobs/", raw=True)


# -- batch jobs that publish engine_ref["spark"] ----------------------------------------------
async def test_jobs_with_a_spark_engine_ref_get_a_session(
    spark_mgr: Any, swan_app: Any, jp_fetch: Any, notebook: Any, recorder: int
) -> None:
    # Given two jobs of a backend (any: nothing here names one) that publish engine_ref["spark"]
    service = swan_app.service
    nb = notebook("nb.ipynb", "print(1)")
    ids = []
    for _ in range(2):
        resp = await jp_fetch(
            "swan-ml-ext",
            "jobs",
            method="POST",
            body=json.dumps({"notebook": nb, "backend": "fake"}),
        )
        job_id = json.loads(resp.body)["id"]
        job = service.store.get(job_id)
        job.engine_ref["spark"] = {
            "app_id": f"app-{job_id}",
            "ui_url": f"http://127.0.0.1:{recorder}",
        }
        service.store.update(job)  # as the monitor records a backend's engine_ref update
        ids.append(job_id)
    # When the poller scans the active jobs, each gets a job session
    await spark_mgr.poller.scan_jobs()
    by_job = {s.job_id: s for s in spark_mgr.registry.active() if s.source == "job"}
    assert set(by_job) == set(ids)
    assert by_job[ids[0]].app_id == f"app-{ids[0]}" and by_job[ids[0]].kernel_id is None
    await spark_mgr.poller.scan_jobs()  # again: the same sessions
    assert {s.id for s in spark_mgr.registry.active()} == {s.id for s in by_job.values()}
    # When a job session is deleted, its job is cancelled through the job service
    resp = await jp_fetch("swan-ml-ext", "spark", "sessions", by_job[ids[0]].id, method="DELETE")
    assert resp.code == 204
    assert service.store.get(ids[0]).state.value == "cancelled"
    assert by_job[ids[0]].state == "ended"
    # When the other job ends on its own, the next scan ends its session
    await service.cancel(ids[1])
    await spark_mgr.poller.scan_jobs()
    assert by_job[ids[1]].state == "ended" and spark_mgr.registry.active() == []


async def test_sessions_end_when_the_kernel_is_gone_or_the_ui_stops_answering(
    spark_mgr: Any, recorder: int
) -> None:
    from swan_ml_ext.spark.poller import MISSES_TO_END

    reg, poller = spark_mgr.registry, spark_mgr.poller
    # Every loopback spelling is accepted, another host is not
    for host in ("localhost", "[::1]"):
        s = reg.register(
            {"kind": "classic", "app_id": host, "ui_url": f"http://{host}:{recorder}"},
            source="kernel",
        )
        assert s.ui_port == recorder
        reg.end(s.id)
    with pytest.raises(SparkUnavailable, match="not a loopback host"):
        reg.register(
            {"kind": "classic", "app_id": "far", "ui_url": f"http://10.0.0.1:{recorder}"},
            source="kernel",
        )
    # A session of a kernel this server does not have (any more)
    gone = reg.register(
        {"kind": "classic", "app_id": "g", "ui_url": f"http://127.0.0.1:{recorder}"},
        source="kernel",
        kernel_id="no-such-kernel",
    )
    # A session whose UI port has nothing listening
    dead_port = free_port()
    dead = reg.register(
        {"kind": "classic", "app_id": "d", "ui_url": f"http://127.0.0.1:{dead_port}"},
        source="kernel",
    )
    await poller.tick()
    assert gone.state == "ended" and dead.active
    for _ in range(MISSES_TO_END - 1):
        await poller.tick()
    assert dead.state == "ended" and dead.spark_requests == MISSES_TO_END
