"""The kubeflow backend's embedded mode end to end through REST: the real kfp compiler and real
kfp.local runs (SubprocessRunner, use_venv=False) in supervised local processes, no mocks.
The lifecycle (restart mid-run included) is in test_contract.py."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tornado.httpclient import HTTPClientError

from .conftest import conforms, live_processes, outputs_text, read_output, server_config

SLOW_TICKS = (
    "import time\nfor i in range(600):\n    print('tick', i, flush=True)\n    time.sleep(0.2)"
)


@pytest.fixture
def jp_server_config(tmp_path: Path) -> dict[str, Any]:
    # kubeflow alone: these tests need no HTCondor pool
    return server_config(tmp_path, backends=["kubeflow"])


@pytest.fixture
def local_root(tmp_path: Path) -> Path:
    """The embedded engine's pipeline root: 'kfp-local' beside the staging dir."""
    return tmp_path / "kfp-local"


def run_processes(progress_file: Path) -> list[int]:
    """Live processes of one run: everything it starts (kfp.local, the component, the kernel)
    inherits SWAN_ML_PROGRESS_FILE."""
    return live_processes(f"SWAN_ML_PROGRESS_FILE={progress_file}")


def temp_folders() -> set[Path]:
    tmp = Path(tempfile.gettempdir())
    return set(tmp.glob("swan-ml-kfp-*")) | set(tmp.glob("swan-ml-kernel-*"))


async def test_the_backend_is_listed_with_its_resources(api):
    status, data = await api.call("GET", "backends")
    assert status == 200
    (kf,) = [b for b in data["backends"] if b["name"] == "kubeflow"]
    assert kf["available"] and kf["title"] == "Kubeflow Pipelines"
    assert kf["resources"]["mode"] == "embedded"
    caps = kf["capabilities"]
    assert caps["cancel"] and caps["live_logs"] and caps["progress"]
    assert not caps["hold"] and not caps["release"]
    props = kf["resource_schema"]["properties"]
    assert list(props) == ["cpus", "memory_mb", "gpus", "accelerator_type", "max_runtime_s"]
    assert props["accelerator_type"]["enum"] == ["nvidia.com/gpu", None]


async def test_typed_parameters_change_the_output_and_python3_survives(
    api, notebook, jp_root_dir, local_root
):
    nb = notebook(
        "typed.ipynb",
        "print('n is', n, type(n).__name__, '|', word, '|', ratio, '|', flags)",
        "open(f'out-{n}.txt', 'w').write(str(n * n))",
        params="n = 0\nword = 'x'\nratio = 0.5\nflags = {}",
    )
    a = await api.submit(
        notebook=nb,
        backend="kubeflow",
        parameters={"n": 21, "word": "python3-word", "ratio": 0.25, "flags": {"k": 3}},
    )
    b = await api.submit(notebook=nb, backend="kubeflow", parameters={"n": 3, "word": "plain"})
    assert a["engine_ref"]["mode"] == "embedded"
    a, b = await api.wait(a["id"]), await api.wait(b["id"])
    assert (a["state"], b["state"]) == ("completed", "completed"), (a, b)

    root = jp_root_dir
    text_a = outputs_text(read_output(root, a))
    # ints stay ints, and 'python3' in a value is not rewritten by kfp.local
    assert "n is 21 int | python3-word | 0.25 | {'k': 3}" in text_a
    assert "n is 3 int | plain | 0.5 | {}" in outputs_text(read_output(root, b))
    folder = a["outputs"]["folder"]
    assert (root / folder / "out-21.txt").read_text() == "441"
    assert (root / b["outputs"]["folder"] / "out-3.txt").read_text() == "9"
    # the kernelspec of the executed notebook is untouched
    assert read_output(root, a).metadata["kernelspec"]["name"] == "python3"
    assert read_output(root, a).metadata["swan_ml"]["parameters"]["word"] == "python3-word"
    # the compiled pipeline is kept with the job, among its outputs
    assert f"{folder}/kfp-pipeline.yaml" in a["outputs"]["files"]
    spec = yaml.safe_load((root / folder / "kfp-pipeline.yaml").read_text())
    assert spec["pipelineInfo"]["name"] == f"swan-ml-{a['id']}"
    # the engine reference names the kfp.local run; progress reached the end
    assert a["engine_ref"]["run_id"].startswith(f"swan-ml-{a['id']}-")
    # (4 code cells: the parameters cell, the one papermill injects, the two of the notebook)
    assert a["progress"]["cells_done"] == a["progress"]["cells_total"] == 4
    status, logs = await api.call("GET", f"jobs/{a['id']}/logs")
    assert status == 200 and "n is 21" in logs["stdout"]
    # kfp.local's record of the run stays; its artifacts moved to the workspace
    (run,) = (local_root / a["id"] / "runs").iterdir()
    assert (run / "run-notebook" / "executor_output.json").exists()
    assert not (run / "run-notebook" / "notebook").exists()
    assert not (local_root / a["id"] / "process").exists()


async def test_failing_cell_fails_with_the_partial_notebook(api, notebook, jp_root_dir):
    nb = notebook("bad.ipynb", "print('before')", "1 / 0", "print('never')")
    job = await api.wait((await api.submit(notebook=nb, backend="kubeflow"))["id"])
    assert job["state"] == "failed", job
    assert "cell 2" in job["message"] and "ZeroDivisionError" in job["message"]
    executed = read_output(jp_root_dir, job)
    printed = outputs_text(executed)
    assert "before" in printed and "never" not in printed
    assert executed.metadata["swan_ml"]["status"] == "failed"
    stdout = (jp_root_dir / job["outputs"]["folder"] / "stdout.txt").read_text()
    assert "ZeroDivisionError" in stdout  # kfp.local's log, with the task's failure


async def test_cancel_stops_the_whole_run_after_live_progress_and_logs(api, notebook, local_root):
    nb = notebook("slow.ipynb", "print('first cell', flush=True)", SLOW_TICKS)
    temp_before = temp_folders()
    job = await api.submit(notebook=nb, backend="kubeflow")
    running = await api.wait(
        job["id"], lambda j: j["state"] == "running" and j["progress"].get("cells_done") == 1
    )
    assert running["progress"]["cells_total"] == 2
    deadline = time.monotonic() + 30
    while True:  # the live tail comes from the runner's progress file
        status, logs = await api.call("GET", f"jobs/{job['id']}/logs")
        if "tick" in logs["stdout"]:
            break
        assert time.monotonic() < deadline, logs
        await asyncio.sleep(0.3)
    assert logs["live"] is True
    progress = local_root / job["id"] / "process" / "progress.json"
    assert run_processes(progress), "the run's processes are visible before the cancel"

    status, cancelled = await api.call("DELETE", f"jobs/{job['id']}")
    assert status == 200 and cancelled["state"] == "cancelled"
    deadline = time.monotonic() + 10  # the kernel notices its parent is gone within ~1 s
    while run_processes(progress):
        assert time.monotonic() < deadline, run_processes(progress)
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    # the run ended cleanly: its temporary folders (work dir, kernel sockets) are gone
    assert not temp_folders() - temp_before
    again = await api.job(job["id"])
    assert again["state"] == "cancelled"
    assert not list((local_root / job["id"]).glob("runs/*/run-notebook/executor_output.json"))
    status, _ = await api.call("DELETE", f"jobs/{job['id']}")
    assert status == 409


async def test_max_runtime_stops_and_fails_the_run(api, notebook):
    nb = notebook("forever.ipynb", SLOW_TICKS)
    job = await api.submit(notebook=nb, backend="kubeflow", resources={"max_runtime_s": 2})
    job = await api.wait(job["id"], timeout=60)
    assert job["state"] == "failed"
    assert "maximum runtime of 2 s" in job["message"]


@pytest.mark.parametrize(
    "extra, words",
    [
        ({"resources": {"accelerator_type": "nvidia.com/gpu"}}, ["accelerator_type", "gpus"]),
        ({"resources": {"gpus": 1, "accelerator_type": "tpu"}}, ["accelerator_type", "one of"]),
        ({"resources": {"disk_mb": 10}}, ["unknown resource", "disk_mb"]),
        ({"inputs": ["data.txt"]}, ["input files"]),
    ],
)
async def test_what_the_backend_cannot_take_is_a_400(api, notebook, jp_root_dir, extra, words):
    (jp_root_dir / "data.txt").write_text("1")
    nb = notebook("ok.ipynb", "print(1)")
    status, data = await api.call("POST", "jobs", {"notebook": nb, "backend": "kubeflow", **extra})
    assert status == 400, data
    for w in words:
        assert w in data["message"]
    status, listed = await api.call("GET", "jobs")
    assert listed["total"] == 0


async def preview(jp_fetch, body: dict[str, Any]) -> tuple[int, Any]:
    """POST jobs/preview, its answer checked against the OpenAPI document."""
    try:
        resp = await jp_fetch(
            "swan-ml-ext", "jobs", "preview", method="POST", body=json.dumps(body)
        )
        status, data = resp.code, json.loads(resp.body)
    except HTTPClientError as e:
        status, data = e.code, json.loads(e.response.body)
    conforms("POST", "/jobs/preview", status, data)
    return status, data


async def test_preview_is_the_pipeline_yaml_and_submits_nothing(
    api, jp_fetch, notebook, local_root
):
    nb = notebook("p.ipynb", "print(1)", params="n = 0")
    body = {
        "notebook": nb,
        "backend": "kubeflow",
        "parameters": {"n": 5},
        "resources": {"cpus": 2, "memory_mb": 1024, "gpus": 1},
    }
    status, shown = await preview(jp_fetch, body)
    assert status == 200, shown
    assert shown["format"] == "kfp-pipeline-yaml"
    spec = yaml.safe_load(shown["text"])
    (executor,) = spec["deploymentSpec"]["executors"].values()
    res = executor["container"]["resources"]
    assert res["resourceCpuLimit"] == "2" and res["resourceMemoryLimit"] == "1024Mi"
    assert res["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert res["accelerator"]["resourceCount"] == "1"
    assert (await preview(jp_fetch, body))[1]["text"] == shown["text"]  # deterministic
    assert (await api.call("GET", "jobs"))[1]["total"] == 0
    assert not local_root.exists() or not any(local_root.iterdir())


def test_local_run_refuses_a_pipeline_that_would_install_packages(tmp_path):
    # A pipeline compiled for a remote KFP pip-installs its runtime: kfp.local with
    # use_venv=False would install into the calling interpreter, so it is never run here.
    import subprocess
    import sys

    from swan_ml_ext.backends.kubeflow import KubeflowBackend
    from swan_ml_ext.backends.kubeflow.embedded import LOCAL_RUN

    from .test_kubeflow_compile import ENV, make_job

    remote = KubeflowBackend(host="https://kfp.example.org")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(remote.pipeline_yaml(make_job(), ENV))
    (tmp_path / "args.json").write_text("{}")
    argv = [sys.executable, str(LOCAL_RUN), "--pipeline", str(pipeline)]
    argv += ["--arguments", str(tmp_path / "args.json"), "--pipeline-root", str(tmp_path / "r")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "refused" in done.stderr
    assert not (tmp_path / "r").exists()
