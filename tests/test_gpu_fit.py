"""GPU fit on the real personal pool with its simulated mixed GPUs (one Tesla V100-PCIE-16GB,
two A100-SXM4-40GB on one partitionable slot): GET backends per model, POST jobs/check before
submitting, the pending message after, the GPU model in require_gpus, and bad inputs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import htcondor2
import pytest
from tornado.httpclient import HTTPClientError

from .conftest import outputs_text, read_output, server_config

V100, A100 = "Tesla V100-PCIE-16GB", "A100-SXM4-40GB"
SLOW = "import time\nfor i in range(900):\n    time.sleep(0.2)"


@pytest.fixture
def jp_server_config(tmp_path: Path, condor_pool: None) -> dict[str, Any]:
    return server_config(tmp_path, max_gpus=8)


def _schedd() -> Any:
    return htcondor2.Schedd(htcondor2.Collector().locateAll(htcondor2.DaemonType.Schedd)[0])


@pytest.fixture
def clusters(tmp_path: Path) -> Iterator[list[int]]:
    """Cluster ids of the jobs a test starts: removed from the schedd whatever happens, with
    any other job this test's server submitted (its staging folder is under tmp_path)."""
    ids: list[int] = []
    try:
        yield ids
    finally:
        schedd = _schedd()
        ads = schedd.query("SwanML =?= true", projection=["ClusterId", "SUBMIT_Iwd"])
        ids += [int(a["ClusterId"]) for a in ads if str(tmp_path) in str(a.get("SUBMIT_Iwd"))]
        if ids:
            constraint = " || ".join(f"ClusterId == {c}" for c in sorted(set(ids)))
            schedd.act(htcondor2.JobAction.Remove, constraint, reason="test over")


async def submit(api: Any, clusters: list[int], **spec: Any) -> dict[str, Any]:
    job = await api.submit(**spec)
    clusters.append(int(job["engine_ref"]["cluster_id"]))
    return job


def device_ids(name: str) -> set[str]:
    """The pool's device ids of one model, from the collector's own ads."""
    ads = htcondor2.Collector().query(htcondor2.AdTypes.Startd)
    return {
        value["Id"]
        for ad in ads
        if ad.get("SlotType") != "Dynamic"
        for key, value in ((k, ad.get(k)) for k in ad.keys())
        if key.startswith("GPUs_") and hasattr(value, "get") and value.get("DeviceName") == name
    }


async def test_backends_list_gpus_per_model(api):
    status, data = await api.call("GET", "backends")
    condor = next(b for b in data["backends"] if b["name"] == "condor")
    res = condor["resources"]
    types = {t["name"]: t for t in res["gpu_types"]}
    assert set(types) == {V100, A100}
    assert types[A100]["total"] == 2 and types[V100]["total"] == 1
    assert types[A100]["capability"] == 8.0 and types[V100]["capability"] == 7.0
    assert types[A100]["memory_mb"] > types[V100]["memory_mb"] > 16000
    assert res["gpus_total"] == 3 and 0 <= res["gpus_free"] <= 3
    model = condor["resource_schema"]["properties"]["gpu_model"]
    assert model["x-options-from"] == "gpu_types" and model["maxLength"] == 100


@pytest.mark.parametrize(
    "resources, words",
    [
        ({"gpus": 4}, "no machine has 4 GPUs; the largest has 3"),
        ({"gpus": 1, "gpu_memory_mb": 81920},
         f"no GPU has 80 GB; the largest has 46.5 GB ({A100})"),
        ({"gpus": 1, "gpu_capability": 9.0},
         f"no GPU has compute capability 9.0; the highest is 8.0 ({A100})"),
        ({"gpus": 1, "gpu_model": "H100"}, f"no GPU model 'H100'; the pool has {A100}, {V100}"),
    ],
)  # fmt: skip
async def test_explained_before_and_after_submitting(api, notebook, clusters, resources, words):
    nb = notebook("never.ipynb", "print(1)")
    body = {"notebook": nb, "resources": {**resources, "memory_mb": 256}}
    status, answer = await api.call("POST", "jobs/check", body)
    assert status == 200, answer
    assert answer["feasible"] is False
    assert answer["reasons"] == [words] and answer["message"] == words
    assert answer["matching"] == {"slots": 0, "gpus": 0, "gpus_free": 0}
    assert answer["warnings"] == []
    # nothing created by the check
    assert (await api.call("GET", "jobs"))[1]["total"] == 0
    # submitted anyway: the server does not refuse, the pending job says why it waits
    job = await submit(api, clusters, **body)
    job = await api.wait(job["id"], lambda j: j["message"].startswith("waiting"), 90)
    assert job["state"] == "pending"
    assert job["message"].startswith(f"waiting: {words} — cancel and resubmit with ")


async def test_fits_and_gpu_model_picks_the_v100(api, notebook, clusters, jp_root_dir):
    nb = notebook(
        "v100.ipynb", "import os\nprint('CVD=' + os.environ['CUDA_VISIBLE_DEVICES'] + '.')"
    )
    body = {"notebook": nb, "resources": {"gpus": 1, "gpu_model": V100, "memory_mb": 256}}
    status, answer = await api.call("POST", "jobs/check", body)
    assert status == 200 and answer["feasible"] is True, answer
    assert answer["matching"]["slots"] == 1 and answer["matching"]["gpus"] == 1
    # free now, or (another test's job on it) busy
    assert answer["message"] == "1 GPU matches (1 free now)" or answer["message"].startswith(
        f"matches, but every matching GPU is busy now (1 {V100})"
    )
    job = await submit(api, clusters, **body)
    job = await api.wait(job["id"], timeout=240)
    assert job["state"] == "completed", job
    (v100,) = device_ids(V100)
    assert job["engine_ref"]["assigned_gpus"] == v100
    text = outputs_text(read_output(jp_root_dir, job))
    visible = text.split("CVD=")[1].split(".")[0]
    assert visible in (v100, v100.removeprefix("GPU-")), text


async def test_busy_pool_says_how_many_matching_gpus_are_busy(api, notebook, clusters):
    nb = notebook("slow.ipynb", SLOW)
    a100 = {"gpus": 1, "gpu_model": A100, "memory_mb": 256}
    fillers = [await submit(api, clusters, notebook=nb, resources=a100) for _ in range(2)]
    for job in fillers:
        await api.wait(job["id"], until=lambda j: j["state"] == "running", timeout=240)
    body = {"notebook": nb, "resources": a100}
    busy = f"matches, but every matching GPU is busy now (2 {A100}): it will wait"
    deadline = time.monotonic() + 60
    while True:  # the collector hears of the claims, the server's cached ads expire
        status, answer = await api.call("POST", "jobs/check", body)
        assert status == 200 and answer["feasible"] is True, answer
        if answer["message"] == busy:
            break
        assert time.monotonic() < deadline, answer
        await asyncio.sleep(0.5)
    assert answer["matching"] == {"slots": 1, "gpus": 2, "gpus_free": 0}
    job = await submit(api, clusters, **body)
    job = await api.wait(job["id"], lambda j: j["message"].startswith("waiting"), 90)
    assert job["state"] == "pending"
    assert job["message"].startswith(f"waiting: 2 matching GPUs busy ({A100})"), job
    for j in [*fillers, job]:
        status, _ = await api.call("DELETE", f"jobs/{j['id']}")
        assert status == 200


async def test_check_warns_about_parameters_and_fits_without_gpus(api, notebook):
    nb = notebook("params.ipynb", "print(lr)", params="lr = 0.1")
    body = {"notebook": nb, "parameters": {"lr": 0.2, "lr2": 1}, "resources": {"cpus": 1}}
    status, answer = await api.call("POST", "jobs/check", body)
    assert status == 200 and answer["feasible"] is True
    assert answer["warnings"] == ["parameter 'lr2' is not in the notebook's parameters cell"]
    assert answer["matching"]["gpus"] == 0
    status, answer = await api.call(
        "POST", "jobs/check", {"notebook": nb, "resources": {"cpus": 16}}
    )
    assert answer["reasons"] == ["no machine has 16 CPUs; the largest has 8"]


BAD_MODELS = [
    ({"gpus": 1, "gpu_model": 'A100" || true || "'}, "gpu_model must be a GPU model name"),
    ({"gpus": 1, "gpu_model": "A100\\"}, "gpu_model must be a GPU model name"),
    ({"gpus": 1, "gpu_model": "A100\nrequest_gpus = 0"}, "gpu_model must be a GPU model name"),
    ({"gpus": 1, "gpu_model": "A100\n"}, "gpu_model must be a GPU model name"),
    ({"gpus": 1, "gpu_model": ""}, "gpu_model must be a GPU model name"),
    ({"gpus": 1, "gpu_model": "A" * 101}, "gpu_model must be at most 100 characters"),
    ({"gpus": 1, "gpu_model": 7}, "gpu_model must be a string"),
    ({"gpu_model": A100}, "need gpus >= 1"),
    ({"gpus": 0, "gpu_model": A100}, "need gpus >= 1"),
]


@pytest.mark.parametrize("resources, words", BAD_MODELS)
async def test_bad_gpu_models_are_400_and_create_nothing(
    api, notebook, jp_root_dir, tmp_path, resources, words
):
    nb = notebook("bad.ipynb", "print(1)")
    body = {"notebook": nb, "resources": resources}
    answers = {}
    for path in ("jobs/check", "jobs", "jobs/preview"):
        status, data = await api.call("POST", path, body)
        assert status == 400, (path, data)
        assert words in data["message"], (path, data)
        answers[path] = data["message"]
    assert len(set(answers.values())) == 1, answers  # the same 400 for all three
    assert (await api.call("GET", "jobs"))[1]["total"] == 0
    staging = tmp_path / "staging"
    assert not staging.exists() or not any(staging.iterdir())
    ads = _schedd().query("SwanML =?= true", projection=["Iwd", "SUBMIT_Iwd"])
    assert not [a for a in ads if str(tmp_path) in str(a.get("SUBMIT_Iwd", a.get("Iwd")))]


@pytest.mark.parametrize(
    "body",
    [
        {"notebook": "missing.ipynb"},
        {"notebook": "ok.ipynb", "color": "blue"},
        {"notebook": "ok.ipynb", "resources": {"gpus": 99}},
        {"notebook": "ok.ipynb", "resources": {"gpu_memory_mb": 1000}},
        [],
    ],
)
async def test_check_refuses_what_submit_refuses_the_same_way(api, notebook, body):
    notebook("ok.ipynb", "print(1)")
    status, checked = await api.call("POST", "jobs/check", body)
    status2, submitted = await api.call("POST", "jobs", body)
    assert status == status2 == 400
    assert checked["message"] == submitted["message"]
    assert (await api.call("GET", "jobs"))[1]["total"] == 0


async def test_check_is_not_taken_for_a_job_id(api, jp_fetch):
    """jobs/check has its own route (before jobs/{id}): GET is 405, not 'no job check'."""
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("swan-ml-ext", "jobs", "check", method="GET")
    assert e.value.code == 405
    status, data = await api.call("DELETE", "jobs/checks")
    assert status == 404 and "no job with id 'checks'" in data["message"]
