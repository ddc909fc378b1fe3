"""The spark batch backend through REST with real pyspark (a local[N] driver, Java 17): what it
publishes, what it refuses before anything exists, `spark` in the executed notebook, the
Spark application in engine_ref while the job runs, and no JVM left after a run or a cancel.
The lifecycle (outputs, failing cell, cancel, restart mid-run) is in test_contract.py."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import live_processes, outputs_text, read_output, server_config
from .server import free_port

# A local master on one thread and a small driver: the machine is shared.
RESOURCES = {"profile": "local", "cpus": 1, "memory_mb": 512}


@pytest.fixture
def jp_server_config(tmp_path: Path) -> dict[str, Any]:
    gpu = {"executor_amount": 1, "task_amount": 1}
    nobody = free_port()  # no Spark master answers there
    return server_config(
        tmp_path,
        backends=["spark"],
        spark_profiles={
            "gpu-on-local": {"master": "local[2]", "gpu": gpu},
            "no-jvm": {"master": "local[1]", "env": {"JAVA_HOME": "/nonexistent-java"}},
            "gone-master": {
                "master": f"spark://127.0.0.1:{nobody}",
                "master_ui": f"http://127.0.0.1:{nobody}",
            },
        },
    )


def driver_processes(info_file: Path, java_only: bool = False) -> list[int]:
    """Live processes of one driver (runner, kernel, JVM): all inherit SWAN_SPARK_INFO_FILE."""
    return live_processes(f"SWAN_SPARK_INFO_FILE={info_file}", b"java" if java_only else b"")


def wait_gone(info_file: Path, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while driver_processes(info_file):
        assert time.monotonic() < deadline, driver_processes(info_file)
        time.sleep(0.1)


async def test_listed_with_the_profiles_as_a_resource(api):
    status, data = await api.call("GET", "backends")
    assert status == 200
    (spark,) = [b for b in data["backends"] if b["name"] == "spark"]
    assert spark["available"] and spark["title"] == "Spark"
    assert spark["capabilities"]["live_logs"] and spark["capabilities"]["progress"]
    props = spark["resource_schema"]["properties"]
    assert list(props) == ["profile", "cpus", "memory_mb", "max_runtime_s"]
    # classic profiles only (a batch job runs its own driver), the site's among them
    assert props["profile"]["default"] == "local"
    assert {"local", "standalone", "gpu-on-local"} <= set(props["profile"]["enum"])
    assert "connect" not in props["profile"]["enum"]
    assert {"key": "app_id", "label": "Spark application"} in spark["engine_ref_labels"]


async def test_preview_shows_the_driver_and_its_setup_cell(api, notebook, tmp_path):
    nb = notebook("nb.ipynb", "print(1)")
    body = {"notebook": nb, "backend": "spark", "resources": {"profile": "local", "cpus": 1}}
    status, shown = await api.call("POST", "jobs/preview", body)
    assert status == 200 and shown["format"] == "spark-driver", shown
    assert "runner.py --notebook" in shown["text"] and "--setup-cell" in shown["text"]
    assert "_swan_spark_connect(" in shown["text"] and "'master': 'local[1]'" in shown["text"]
    assert str(tmp_path / "staging") in shown["text"]  # the paths as a submission stages them
    assert not (tmp_path / "spark-local").exists()


async def test_refusals_create_nothing(api, notebook, tmp_path):
    nb = notebook("nb.ipynb", "print(spark.range(3).count())")
    enum = (
        "resources.profile must be one of gone-master, gpu-on-local, local, local-gpu, no-jvm, "
        "standalone, standalone-gpu, got "
    )
    refused = {
        "nope": [enum + "'nope'"],  # not a profile (the schema's enum: classic ones only)
        "connect": [enum + "'connect'"],  # a Spark Connect profile: no driver of its own
        "gpu-on-local": ["task gpu amounts on plain local[2] would make every job wait forever"],
        "gone-master": [  # the standalone master is down
            "the Spark master's web UI at http://127.0.0.1:",
            "does not answer (",
            "): is the standalone master of spark://127.0.0.1:",
        ],
    }
    for profile, said in refused.items():
        body = {"notebook": nb, "backend": "spark", "resources": {"profile": profile}}
        status, err = await api.call("POST", "jobs", body)
        assert status == 400, (profile, err)
        assert all(words in err["message"] for words in said), (profile, err)
        status, _ = await api.call("POST", "jobs/preview", body)
        assert status == 400
    status, jobs = await api.call("GET", "jobs")
    assert jobs["total"] == 0
    for folder in ("staging", "spark-local"):
        assert not (tmp_path / folder).exists() or not list((tmp_path / folder).iterdir())


def test_a_connect_profile_is_refused_for_a_batch_job():
    """Defence behind the schema's enum (classic profiles only): resolve() itself refuses."""
    from swan_ml_ext.backends.spark.backend import SparkBackend
    from swan_ml_ext.jobs.model import InvalidRequest

    backend = SparkBackend()
    with pytest.raises(InvalidRequest) as e:
        backend.resolve({"profile": "connect"})
    assert e.value.message == (
        "Spark profile 'connect' is a Spark Connect profile: a batch job runs its own driver, "
        "use one of local, local-gpu, standalone, standalone-gpu"
    )
    with pytest.raises(InvalidRequest) as e:
        backend.resolve({"profile": "nope"})
    assert e.value.message.startswith("unknown Spark profile 'nope'; known profiles: connect")
    # what the backend adds itself passes the checks a request's conf gets
    conf = backend.resolve({"profile": "local", "cpus": 2, "memory_mb": 600}, "job x").conf
    assert (conf["spark.driver.cores"], conf["spark.driver.memory"]) == ("2", "600m")
    assert conf["spark.app.name"] == "job x"


async def job_session(
    api: Any, job_id: str, until: Any = lambda s: True, timeout: float = 20
) -> dict[str, Any]:
    """The Spark panel's session of a batch job (GET spark/sessions), once `until` holds."""
    deadline = time.monotonic() + timeout
    while True:
        status, data = await api.call("GET", "spark/sessions")
        assert status == 200, data
        found = [s for s in data["sessions"] if s["job_id"] == job_id and until(s)]
        if found:
            assert found[0]["source"] == "job"
            return found[0]
        assert time.monotonic() < deadline, data
        await asyncio.sleep(0.25)


async def test_spark_in_the_notebook_and_its_application_while_running(
    api, notebook, jp_root_dir, tmp_path
):
    nb = notebook(
        "count.ipynb",
        "memory = sc.getConf().get('spark.driver.memory')\n"
        "print('count', spark.range(10).count(), sc.master, memory)",
        "import time\ntime.sleep(6)\nprint('input says', open('data.txt').read())",
    )
    (jp_root_dir / "data.txt").write_text("hello")
    job = await api.submit(notebook=nb, backend="spark", resources=RESOURCES, inputs=["data.txt"])
    assert job["engine_ref"]["profile"] == "local"
    running = await api.wait(job["id"], lambda j: "spark" in j["engine_ref"] or j["finished_at"])
    assert running["state"] == "running", running
    app = running["engine_ref"]["spark"]
    assert app["app_id"].startswith("local-") and running["engine_ref"]["app_id"] == app["app_id"]
    assert app["ui_url"].startswith("http://127.0.0.1:")
    info_file = tmp_path / "spark-local" / job["id"] / "process" / "spark.json"
    assert driver_processes(info_file, java_only=True), "the driver's JVM runs"
    # the Spark panel follows it: a session of the job, with the driver's application
    session = await job_session(api, job["id"])
    assert session["app_id"] == app["app_id"] and session["state"] == "active", session

    done = await api.wait(job["id"])
    assert done["state"] == "completed", done
    executed = read_output(jp_root_dir, done)
    # `spark` was there: on local[1] (cpus: 1) with 512 MB of driver memory
    assert "count 10 local[1] 512m" in outputs_text(executed)
    assert "input says hello" in outputs_text(executed)  # the inputs are in its folder
    setup = executed.cells[0]
    assert "swan-ml-setup" in setup.metadata["tags"] and "'profile': 'local'" in setup.source
    assert done["progress"] == {"cells_done": 2, "cells_total": 2}  # the setup cell not counted
    wait_gone(info_file)  # the kernel's end took the JVM with it
    ended = await job_session(api, job["id"], lambda s: s["state"] == "ended")
    assert ended["id"] == session["id"]
    # what stays of the run is its record
    assert sorted(p.name for p in info_file.parent.iterdir()) == [
        "exit.json",
        "spark.json",
        "state.json",
    ]


async def test_cancel_leaves_no_jvm(api, notebook, tmp_path):
    nb = notebook(
        "slow.ipynb",
        "spark.range(5).count()",
        "import time\nfor i in range(600):\n    print('tick', i, flush=True)\n    time.sleep(0.2)",
    )
    job = await api.submit(notebook=nb, backend="spark", resources=RESOURCES)
    running = await api.wait(
        job["id"], lambda j: j["progress"].get("cells_done") == 1 or j["finished_at"]
    )
    assert running["state"] == "running", running
    assert "spark" in running["engine_ref"]
    deadline = time.monotonic() + 30
    while True:  # the live tail: the runner's progress file
        status, logs = await api.call("GET", f"jobs/{job['id']}/logs")
        if "tick" in logs["stdout"]:
            break
        assert time.monotonic() < deadline, logs
        await asyncio.sleep(0.3)
    assert logs["live"] is True
    info_file = tmp_path / "spark-local" / job["id"] / "process" / "spark.json"
    assert driver_processes(info_file, java_only=True)
    status, cancelled = await api.call("DELETE", f"jobs/{job['id']}")
    assert status == 200 and cancelled["state"] == "cancelled"
    wait_gone(info_file, timeout=1)  # the runner killed the kernel's group before it ended
    assert not (tmp_path / "spark-local" / job["id"] / "work").exists()


async def test_a_session_that_cannot_start_fails_the_job_at_the_setup_cell(
    api, notebook, jp_root_dir
):
    nb = notebook("nb.ipynb", "print('never')")
    job = await api.submit(notebook=nb, backend="spark", resources={"profile": "no-jvm"})
    done = await api.wait(job["id"])
    assert done["state"] == "failed", outputs_text(read_output(jp_root_dir, done))
    assert done["message"].startswith("the setup cell"), done
    assert "spark" not in done["engine_ref"]


class TestStandalone:
    """On the test standalone cluster (a worker with two fake GPUs): the executors run there."""

    @pytest.fixture
    def jp_server_config(self, tmp_path: Path, spark_cluster: Any) -> dict[str, Any]:
        profiles = spark_cluster.profiles()
        too_many = {**profiles["standalone-gpu"]["gpu"], "executor_amount": 3}
        profiles["three-gpus"] = {**profiles["standalone-gpu"], "gpu": too_many}
        return server_config(tmp_path, backends=["spark"], spark_profiles=profiles)

    async def test_gpu_tasks_run_on_the_cluster_and_no_worker_fit_is_refused(
        self, api, notebook, jp_root_dir, tmp_path, spark_cluster
    ):
        nb = notebook(
            "gpus.ipynb",
            "from pyspark import TaskContext\n"
            "def gpu(_):\n    return TaskContext.get().resources()['gpu'].addresses[0]\n"
            "print('gpus', sorted(set(sc.parallelize(range(4), 4).map(gpu).collect())))",
        )
        body = {"notebook": nb, "backend": "spark", "resources": {"profile": "three-gpus"}}
        status, err = await api.call("POST", "jobs", body)
        assert status == 400 and "no ALIVE worker" in err["message"], err
        assert not (tmp_path / "spark-local").exists()

        resources = {"profile": "standalone-gpu", "memory_mb": 512}
        job = await api.submit(notebook=nb, backend="spark", resources=resources)
        done = await api.wait(job["id"], timeout=180)
        assert done["state"] == "completed", done
        assert done["engine_ref"]["spark"]["master"] == spark_cluster.master_url
        assert done["engine_ref"]["app_id"].startswith("app-")  # a standalone application
        printed = outputs_text(read_output(jp_root_dir, done))
        assert "gpus ['0']" in printed or "gpus ['0', '1']" in printed or "gpus ['1']" in printed
