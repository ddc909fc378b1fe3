"""Notebooks through the REST API on the real personal HTCondor pool."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import htcondor2
import pytest

from swan_ml_ext.app import EVENT_SCHEMA_ID

from .conftest import outputs_text, read_output

SLOW = "import time\nfor i in range(600):\n    time.sleep(0.2)"


def schedd_ad(cluster: int) -> dict[str, Any]:
    schedd = htcondor2.Schedd(htcondor2.Collector().locateAll(htcondor2.DaemonType.Schedd)[0])
    ads = schedd.query(f"ClusterId == {cluster}") or list(
        schedd.history(f"ClusterId == {cluster}", projection=[], match=1)
    )
    assert ads, f"cluster {cluster} not found"
    return {k: str(ads[0].get(k)) for k in ads[0].keys()}


@pytest.fixture
def events(jp_serverapp: Any) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []

    async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        seen.append(dict(data))

    jp_serverapp.event_logger.add_listener(schema_id=EVENT_SCHEMA_ID, listener=listener)
    return seen


async def test_parameters_change_the_executed_notebook(
    api, notebook, jp_root_dir, jp_fetch, events
):
    # Given a parametrised notebook that also writes a file
    nb = notebook(
        "analysis/fit.ipynb",
        "print('x*2 =', x * 2)\nprint('label =', repr(label))",
        "open('result.txt', 'w').write(str(x + 1))",
        params="x = 1\nlabel = 'default'",
    )
    evil = 'he said "hi"\n$(touch /tmp/swan-pwned) `id` \'; rm -rf ~'
    # When it runs with typed parameters
    job = await api.submit(notebook=nb, parameters={"x": 21, "label": evil}, name='a "b" $(id)')
    assert job["state"] == "pending" and job["engine_ref"]["cluster_id"] >= 1
    job = await api.wait(job["id"])
    # Then the executed notebook shows them, and it came back into the workspace
    assert job["state"] == "completed", job
    assert job["progress"] == {
        "cells_done": job["progress"]["cells_total"],
        "cells_total": job["progress"]["cells_total"],
    }
    assert job["outputs"]["notebook"] == f"swan-ml-jobs/fit-{job['id']}/fit.ipynb"
    executed = read_output(jp_root_dir, job)
    text = outputs_text(executed)
    assert "x*2 = 42" in text
    assert f"label = {evil!r}" in text
    assert not os.path.exists("/tmp/swan-pwned")
    assert (jp_root_dir / f"swan-ml-jobs/fit-{job['id']}/result.txt").read_text() == "22"
    assert f"swan-ml-jobs/fit-{job['id']}/result.txt" in job["outputs"]["files"]
    # provenance recorded in the executed notebook
    prov = executed.metadata["swan_ml"]
    assert prov["parameters"] == {"x": 21, "label": evil}
    assert prov["environment"] == "default" and prov["execute_host"]
    # a job without GPUs says so (not HTCondor's "no device" value 10000)
    assert prov["assigned_gpus"] is None and "assigned_gpus" not in job["engine_ref"]
    assert prov["status"] == "completed" and prov["finished_at"] >= prov["started_at"]
    # the executed notebook opens through the contents API
    resp = await jp_fetch("api", "contents", *job["outputs"]["notebook"].split("/"))
    assert json.loads(resp.body)["type"] == "notebook"
    # no user text reached the submit description
    ad = schedd_ad(job["engine_ref"]["cluster_id"])
    assert not any(s in v for v in ad.values() for s in ("swan-pwned", "he said", "$(id)"))
    assert ad["SwanMLJobId"] == job["id"]
    # one event per state change, ending in completed
    mine = [e for e in events if e["id"] == job["id"]]
    assert mine[0]["previous_state"] is None and mine[0]["state"] == "pending"
    assert mine[-1]["state"] == "completed"
    assert mine[-1]["output_notebook"] == job["outputs"]["notebook"]
    # and a finished job cannot be held, released or cancelled
    for method, path in (("POST", "hold"), ("POST", "release"), ("DELETE", "")):
        status, data = await api.call(method, f"jobs/{job['id']}" + (f"/{path}" if path else ""))
        assert status == 409 and "already completed" in data["message"]
    assert (await api.job(job["id"]))["state"] == "completed"


async def test_gpu_job_sees_its_gpu(api, notebook, jp_root_dir):
    nb = notebook("gpu.ipynb", "import os\nprint('CVD=' + os.environ['CUDA_VISIBLE_DEVICES'])")
    job = await api.submit(notebook=nb, resources={"gpus": 1, "memory_mb": 512})
    job = await api.wait(job["id"])
    assert job["state"] == "completed", job
    text = outputs_text(read_output(jp_root_dir, job))
    assert "CVD=" in text and text.split("CVD=")[1].strip() != ""
    assert job["engine_ref"]["assigned_gpus"]
    assert read_output(jp_root_dir, job).metadata["swan_ml"]["assigned_gpus"]


async def test_gpu_constraint_nobody_meets_stays_pending_with_reason(api, notebook):
    nb = notebook("big.ipynb", "print(1)")
    job = await api.submit(
        notebook=nb, resources={"gpus": 1, "gpu_memory_mb": 80000, "memory_mb": 256}
    )
    job = await api.wait(job["id"], until=lambda j: j["message"].startswith("waiting"), timeout=60)
    assert job["state"] == "pending"
    assert job["message"].startswith("waiting: no GPU has 78.1 GB; the largest has 46.5 GB")
    ad = schedd_ad(job["engine_ref"]["cluster_id"])
    assert "GlobalMemoryMb >= 80000" in ad["RequireGPUs"]
    status, job = await api.call("DELETE", f"jobs/{job['id']}")
    assert status == 200 and job["state"] == "cancelled"


async def test_cancel_a_running_job(api, notebook):
    job = await api.submit(notebook=notebook("slow.ipynb", SLOW), resources={"memory_mb": 256})
    await api.wait(job["id"], until=lambda j: j["state"] == "running", timeout=90)
    status, cancelled = await api.call("DELETE", f"jobs/{job['id']}")
    assert status == 200 and cancelled["state"] == "cancelled"
    # the engine agrees, and the record stays
    ad = schedd_ad(job["engine_ref"]["cluster_id"])
    assert ad["JobStatus"] == "3"
    job = await api.wait(
        job["id"],
        until=lambda j: (
            "cancelled" in j["message"] or "removed" in j["message"] or "user" in j["message"]
        ),
    )
    assert job["state"] == "cancelled" and job["finished_at"]
    status, data = await api.call("DELETE", f"jobs/{job['id']}")
    assert status == 409


async def test_hold_and_release(api, notebook):
    job = await api.submit(notebook=notebook("hold.ipynb", SLOW), resources={"memory_mb": 256})
    status, held = await api.call("POST", f"jobs/{job['id']}/hold")
    assert status == 200 and held["state"] == "held"
    held = await api.wait(job["id"], until=lambda j: "held by the user" in j["message"])
    assert held["state"] == "held"
    assert schedd_ad(job["engine_ref"]["cluster_id"])["JobStatus"] == "5"
    status, data = await api.call("POST", f"jobs/{job['id']}/hold")
    assert status == 409 and "already held" in data["message"]
    status, released = await api.call("POST", f"jobs/{job['id']}/release")
    assert status == 200 and released["state"] == "pending"
    await api.wait(job["id"], until=lambda j: j["state"] == "running", timeout=90)
    status, data = await api.call("POST", f"jobs/{job['id']}/release")
    assert status == 409 and "not held" in data["message"]
    await api.call("DELETE", f"jobs/{job['id']}")


async def test_logs_and_progress_while_running(api, notebook):
    nb = notebook(
        "steps.ipynb",
        "import time\nprint('step one', flush=True)\ntime.sleep(4)",
        "print('step two', flush=True)\ntime.sleep(4)",
        "print('step three')",
    )
    job = await api.submit(notebook=nb, resources={"memory_mb": 256})
    # progress and the live log tail arrive while the job runs
    mid = await api.wait(
        job["id"],
        until=lambda j: j["state"] == "running" and j["progress"].get("cells_done", 0) >= 1,
        timeout=90,
    )
    assert mid["progress"]["cells_total"] == 3
    # the live tail (read by the monitor's one query) shows the first step, not the last
    while True:
        status, logs = await api.call("GET", f"jobs/{job['id']}/logs")
        assert status == 200 and logs["live"], logs
        if "step one" in logs["stdout"]:
            break
        await asyncio.sleep(0.2)
    assert "step three" not in logs["stdout"]
    done = await api.wait(job["id"])
    assert done["state"] == "completed"
    status, logs = await api.call("GET", f"jobs/{job['id']}/logs")
    assert not logs["live"]
    assert all(s in logs["stdout"] for s in ("step one", "step two", "step three"))
    status, tail = await api.call("GET", f"jobs/{job['id']}/logs", tail="1")
    assert tail["stdout"].count("\n") <= 1


async def test_idempotency_key_returns_the_same_job(api, notebook):
    nb = notebook("idem.ipynb", "print(1)")
    status1, first = await api.call("POST", "jobs", {"notebook": nb, "idempotency_key": "k-1"})
    status2, again = await api.call("POST", "jobs", {"notebook": nb, "idempotency_key": "k-1"})
    assert (status1, status2) == (201, 200)
    assert again["id"] == first["id"]
    status, page = await api.call("GET", "jobs")
    assert page["total"] == 1
    await api.wait(first["id"])


async def test_backends_report_free_gpus(api):
    status, data = await api.call("GET", "backends")
    assert status == 200
    condor = next(b for b in data["backends"] if b["name"] == "condor")
    assert condor["available"] is True
    # the personal pool's simulated mixed GPUs: one V100 and two A100s
    assert condor["resources"]["gpus_total"] == 3
    assert 0 <= condor["resources"]["gpus_free"] <= 3
    assert {t["name"]: t["total"] for t in condor["resources"]["gpu_types"]} == {
        "A100-SXM4-40GB": 2,
        "Tesla V100-PCIE-16GB": 1,
    }
    assert data["environments"][0]["name"] == "default"


async def test_maximum_runtime_stops_the_job_and_fails_it(api, notebook):
    job = await api.submit(
        notebook=notebook("long.ipynb", SLOW), resources={"memory_mb": 256, "max_runtime_s": 3}
    )
    ad = schedd_ad(job["engine_ref"]["cluster_id"])
    assert ad["SwanMLMaxRuntime"] == "3"
    job = await api.wait(job["id"], timeout=120)
    assert job["state"] == "failed"
    assert job["message"].startswith("exceeded the maximum runtime of 3 s")
    assert not job["outputs"].get("notebook")
