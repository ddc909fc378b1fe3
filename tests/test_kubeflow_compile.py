"""A notebook job -> a KFP v2 pipeline, with the real kfp compiler (no server, no run): its
inputs, outputs, task settings from resources, base image from the environment, what the
backend accepts. kfp.local runs are in test_kubeflow_embedded.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from swan_ml_ext.backends.kubeflow import KubeflowBackend
from swan_ml_ext.backends.kubeflow.engine import pipeline_arguments
from swan_ml_ext.jobs.model import InvalidRequest, Job, JobState
from swan_ml_ext.jobs.spec import Environment, Limits, parse_resources

from .conftest import write_notebook

ENV = Environment(name="default")


def make_job(job_id: str = "abc123def456", **resources: Any) -> Job:
    return Job(
        id=job_id,
        name="nb",
        backend="kubeflow",
        state=JobState.PENDING,
        notebook="folder/nb.ipynb",
        parameters={"n": 21, "word": "python3-word"},
        resources=resources,
        environment="default",
    )


def compiled(backend: KubeflowBackend, job: Job, env: Environment = ENV) -> dict[str, Any]:
    return yaml.safe_load(backend.pipeline_yaml(job, env))


def executor(spec: dict[str, Any]) -> dict[str, Any]:
    (only,) = spec["deploymentSpec"]["executors"].values()
    return only["container"]


@pytest.fixture
def backend(tmp_path: Path) -> KubeflowBackend:
    return KubeflowBackend(local_pipeline_root=str(tmp_path / "kfp-local"))


def test_inputs_are_exactly_the_pipeline_arguments(backend, tmp_path):
    write_notebook(tmp_path / "notebook.ipynb", "print(1)")
    job = make_job()
    spec = compiled(backend, job)
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert set(inputs) == set(pipeline_arguments(job, tmp_path))
    assert all(p["parameterType"] == "STRING" for p in inputs.values())
    (component,) = spec["components"].values()
    assert set(component["outputDefinitions"]["artifacts"]) == {"notebook", "files", "result"}
    assert spec["pipelineInfo"]["name"] == f"swan-ml-{job.id}"
    (task,) = spec["root"]["dag"]["tasks"].values()
    assert not task["cachingOptions"].get("enableCache")  # a notebook run is never skipped


def test_the_arguments_carry_the_notebook_base64_and_the_parameters_as_json(tmp_path):
    import base64
    import json

    write_notebook(tmp_path / "notebook.ipynb", "print(1)")
    args = pipeline_arguments(make_job(), tmp_path)
    assert base64.b64decode(args["notebook_b64"]) == (tmp_path / "notebook.ipynb").read_bytes()
    assert json.loads(args["parameters_json"]) == {"n": 21, "word": "python3-word"}
    assert isinstance(json.loads(args["parameters_json"])["n"], int)


def test_resources_become_task_settings(backend):
    c = executor(compiled(backend, make_job(cpus=2, memory_mb=3000, gpus=2)))
    r = c["resources"]
    assert (r["resourceCpuRequest"], r["resourceCpuLimit"]) == ("2", "2")
    assert (r["resourceMemoryRequest"], r["resourceMemoryLimit"]) == ("3000Mi", "3000Mi")
    # GPUs without a type: the site's first accelerator type
    assert r["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert r["accelerator"]["resourceCount"] == "2"


def test_an_accelerator_type_and_no_gpus(tmp_path):
    site = KubeflowBackend(
        local_pipeline_root=str(tmp_path), accelerator_types=["nvidia.com/gpu", "amd.com/gpu"]
    )
    r = executor(compiled(site, make_job(gpus=1, accelerator_type="amd.com/gpu")))["resources"]
    assert r["accelerator"] == {
        "count": "1",
        "resourceCount": "1",
        "resourceType": "amd.com/gpu",
        "type": "amd.com/gpu",
    }
    assert "accelerator" not in executor(compiled(site, make_job(cpus=1)))["resources"]


def test_the_environment_chooses_the_base_image(tmp_path):
    site = KubeflowBackend(
        local_pipeline_root=str(tmp_path),
        images={"lcg": "registry.example.org/swan/lcg:106"},
        default_image="python:3.12-slim",
    )
    lcg = executor(compiled(site, make_job(), Environment(name="lcg")))
    assert lcg["image"] == "registry.example.org/swan/lcg:106"
    assert {"name": "SWAN_ML_ENVIRONMENT", "value": "lcg"} in lcg["env"]
    assert executor(compiled(site, make_job()))["image"] == "python:3.12-slim"


def test_embedded_installs_nothing_remote_installs_the_runtime(tmp_path):
    embedded = KubeflowBackend(local_pipeline_root=str(tmp_path))
    command = " ".join(executor(compiled(embedded, make_job()))["command"][:3])
    assert "pip" not in command
    remote = KubeflowBackend(host="https://kfp.example.org", packages_to_install=["papermill"])
    command = " ".join(executor(compiled(remote, make_job()))["command"][:3])
    assert "pip install" in command and "papermill" in command and "kfp==" in command


def test_the_runner_ships_inside_the_component_and_compiling_is_deterministic(backend):
    job = make_job(cpus=1)
    text = backend.pipeline_yaml(job, ENV)
    assert "__KFP_EMBEDDED_ARCHIVE_B64" in text and "swan_ml_runner" in text
    assert backend.pipeline_yaml(job, ENV) == text
    assert backend.preview(job, Path("/nonexistent"), ENV) == {
        "format": "kfp-pipeline-yaml",
        "text": text,
    }


def test_resource_schema_and_rules(backend):
    schema = backend.resource_schema(Limits(max_gpus=2))
    props = schema["properties"]
    assert list(props) == ["cpus", "memory_mb", "gpus", "accelerator_type", "max_runtime_s"]
    assert props["gpus"]["maximum"] == 2
    assert props["accelerator_type"]["enum"] == ["nvidia.com/gpu", None]
    assert parse_resources({"gpus": 1}, schema) == {"cpus": 1, "memory_mb": 2048, "gpus": 1}
    with pytest.raises(InvalidRequest, match="must be one of"):
        parse_resources({"gpus": 1, "accelerator_type": "NVIDIA_TESLA_K80"}, schema)
    with pytest.raises(InvalidRequest, match="accelerator_type needs resources.gpus >= 1"):
        backend.check_resources({"accelerator_type": "nvidia.com/gpu", "gpus": 0})
    backend.check_resources({"accelerator_type": "nvidia.com/gpu", "gpus": 1})


def test_a_site_without_accelerators_offers_no_gpus(tmp_path):
    site = KubeflowBackend(local_pipeline_root=str(tmp_path), accelerator_types=[])
    props = site.resource_schema(Limits(max_gpus=2))["properties"]
    assert props["gpus"]["maximum"] == 0 and props["accelerator_type"]["enum"] == [None]


def test_without_kfp_the_backend_is_unavailable_with_the_pip_command(backend, monkeypatch):
    monkeypatch.setitem(sys.modules, "kfp", None)  # as if kfp were not installed
    st = backend.status()
    assert not st.available
    assert "pip install 'swan_ml_ext[kubeflow]'" in st.reason


def test_embedded_by_default_remote_with_a_host(backend):
    assert backend.mode == "embedded" and backend.status().resources["mode"] == "embedded"
    assert KubeflowBackend(host="https://kfp.example.org").mode == "remote"


def test_the_pipeline_root_is_beside_the_staging_dir(tmp_path):
    from swan_ml_ext.app import SwanMLApp

    app = SwanMLApp(staging_dir=str(tmp_path / "data" / "staging"))
    assert KubeflowBackend(parent=app).local_root() == str(tmp_path / "data" / "kfp-local")


def test_concurrent_compilations_do_not_collide():
    """kfp's builder state is process-wide: submissions and previews compile in threads."""
    from concurrent.futures import ThreadPoolExecutor

    from swan_ml_ext.backends.kubeflow.compile import PipelineSettings, compile_pipeline

    with ThreadPoolExecutor(8) as pool:
        texts = list(
            pool.map(lambda i: compile_pipeline(PipelineSettings(name=f"p{i % 2}")), range(16))
        )
    assert len(set(texts)) == 2


def test_remote_mode_offers_no_live_logs_nor_progress():
    from swan_ml_ext.backends.kubeflow.backend import KubeflowBackend

    assert KubeflowBackend().capabilities["live_logs"] is True
    remote = KubeflowBackend(host="https://kfp.example.org")
    assert remote.capabilities["live_logs"] is False and remote.capabilities["progress"] is False
    assert remote.capabilities["cancel"] is True
