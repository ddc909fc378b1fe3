"""POST jobs/preview: the submit body, the same checks, what would go to the engine, nothing
created. Against a real server with the HTCondor backend (its preview needs no pool round
trip) and the fake backend, which has no preview of its own."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from .conftest import conforms, server_config

PREVIEW_ID = "xxxxxxxxxxxx"


@pytest.fixture
def jp_server_config(tmp_path: Path, condor_pool: None) -> dict[str, Any]:
    return server_config(
        tmp_path,
        backends=["condor", "fake"],
        backend_classes={"fake": "tests.fake_backend:FakeBackend"},
    )


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the server's temporary folders go during the test (its preview scratch)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def good_nb(notebook: Any) -> str:
    return notebook("good.ipynb", "print(x, label)", params="x = 1\nlabel = 'a'")


async def preview(
    jp_fetch: Any, body: Any = None, raw: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    """POST jobs/preview, its answer checked against the OpenAPI document."""
    payload = raw if raw is not None else json.dumps(body).encode()
    try:
        resp = await jp_fetch("swan-ml-ext", "jobs", "preview", method="POST", body=payload)
        status, data = resp.code, json.loads(resp.body)
    except HTTPClientError as e:
        status, data = e.code, json.loads(e.response.body)
    conforms("POST", "/jobs/preview", status, data)
    return status, data


async def assert_nothing_created(api: Any, tmp_path: Path, scratch: Path) -> None:
    status, page = await api.call("GET", "jobs")
    assert status == 200 and page["total"] == 0 and page["jobs"] == [], page
    staging = tmp_path / "staging"
    assert not staging.exists() or not any(staging.iterdir()), list(staging.iterdir())
    assert not any(scratch.iterdir()), list(scratch.iterdir())  # the scratch folder is gone


def lines_of(text: str) -> list[str]:
    return text.splitlines()


async def test_condor_preview_is_the_submit_description_and_the_wrapper(
    api, jp_fetch, jp_root_dir, jp_serverapp, swan_app, tmp_path, scratch, notebook
):
    # Given a notebook in a folder, an input file beside it, parameters and every resource
    nb = notebook("work/train.ipynb", "print(x)", params="x = 1")
    (jp_root_dir / "work" / "data.csv").write_text("1,2,3")
    body = {
        "notebook": nb,
        "parameters": {"x": 7, "label": "run 7"},
        "resources": {
            "cpus": 2,
            "memory_mb": 3000,
            "gpus": 1,
            "gpu_memory_mb": 8000,
            "gpu_capability": 7.5,
            "max_runtime_s": 600,
        },
        "inputs": ["work/data.csv"],
        "name": "nightly",
    }
    # When it is previewed
    status, data = await preview(jp_fetch, body)
    # Then the answer is the HTCondor submit description, as a submit file
    assert status == 200, data
    assert data["backend"] == "condor" and data["format"] == "htcondor-submit"
    staged = Path(swan_app.service.staging_root) / PREVIEW_ID
    lines = lines_of(data["text"])
    for line in [
        "universe = vanilla",
        f"executable = {staged}/swan_job.sh",
        f"initialdir = {staged}",
        "should_transfer_files = YES",
        "request_cpus = 2",
        "request_memory = 3000M",
        "request_disk = 4096M",
        "request_gpus = 1",
        "require_gpus = GlobalMemoryMb >= 8000 && Capability >= 7.5",
        "+SwanMLMaxRuntime = 600",
        f"batch_name = swan-ml-{PREVIEW_ID}",
        f'+SwanMLJobId = "{PREVIEW_ID}"',
        "queue",
    ]:
        assert line in lines, (line, data["text"])
    transfer = next(ln for ln in lines if ln.startswith("transfer_input_files = "))
    assert f"{staged}/notebook.ipynb" in transfer and f"{staged}/inputs" in transfer
    assert transfer.endswith("/runner.py")
    # and the wrapper the job runs, after it
    wrapper = data["text"][data["text"].index("#!/bin/sh") :]
    assert "mkdir -p output" in wrapper
    assert f"--kernel python3 --job-id {PREVIEW_ID} --environment default" in wrapper
    assert wrapper.splitlines()[-1].startswith("exec ")
    # with the validated request beside it (defaults filled in)
    assert data["resources"] == {**body["resources"], "disk_mb": 4096}
    assert (data["notebook"], data["inputs"], data["name"]) == (nb, ["work/data.csv"], "nightly")
    assert data["parameters"] == {"x": 7, "label": "run 7"}
    assert (data["environment"], data["kernel_name"], data["existing_job"]) == (
        "default", "python3", None,
    )  # fmt: skip
    # No secret travels: not the server's token, not a scratch path
    token = jp_serverapp.identity_provider.token
    assert token and token not in json.dumps(data)
    assert str(scratch) not in data["text"] and "swan-ml-preview" not in data["text"]
    # And nothing was submitted, stored, staged or left behind
    await assert_nothing_created(api, tmp_path, scratch)


async def test_defaults_map_to_requests_and_no_gpu_lines(api, jp_fetch, good_nb, tmp_path, scratch):
    status, data = await preview(jp_fetch, {"notebook": good_nb})
    assert status == 200, data
    assert data["resources"] == {"cpus": 1, "memory_mb": 2048, "disk_mb": 4096, "gpus": 0}
    keys = {ln.split(" = ")[0] for ln in lines_of(data["text"]) if " = " in ln}
    assert {"request_cpus", "request_memory", "request_disk", "executable"} <= keys
    assert not keys & {"request_gpus", "require_gpus", "periodic_remove", "+SwanMLMaxRuntime"}
    assert "request_cpus = 1" in data["text"] and "request_memory = 2048M" in data["text"]
    # no inputs: none listed
    transfer = next(ln for ln in lines_of(data["text"]) if ln.startswith("transfer_input_files"))
    assert "/inputs" not in transfer
    # a GPU without constraints: request_gpus only
    status, data = await preview(jp_fetch, {"notebook": good_nb, "resources": {"gpus": 2}})
    assert status == 200 and "request_gpus = 2" in lines_of(data["text"])
    assert "require_gpus" not in data["text"]
    await assert_nothing_created(api, tmp_path, scratch)


async def test_the_same_body_gives_the_same_answer(api, jp_fetch, good_nb, tmp_path, scratch):
    body = {"notebook": good_nb, "parameters": {"x": 3}, "resources": {"cpus": 3}}
    first = await preview(jp_fetch, body)
    second = await preview(jp_fetch, dict(reversed(list(body.items()))))
    assert first == second and first[0] == 200
    await assert_nothing_created(api, tmp_path, scratch)


async def test_a_backend_without_a_preview_shows_the_validated_job(
    api, jp_fetch, good_nb, tmp_path, scratch
):
    status, data = await preview(
        jp_fetch, {"notebook": good_nb, "backend": "fake", "parameters": {"x": 2}}
    )
    assert status == 200, data
    assert data["backend"] == "fake" and data["format"] == "text"
    assert data["text"].startswith("# The Fake engine (tests) backend does not describe")
    shown = json.loads(data["text"].split("\n", 2)[2])
    assert shown["parameters"] == {"x": 2} and shown["resources"] == data["resources"]
    await assert_nothing_created(api, tmp_path, scratch)


def _bad_bodies(nb: str) -> list[tuple[Any, bytes | None]]:
    """(body, raw bytes) pairs POST jobs refuses, one of each kind of mistake."""
    bodies: list[Any] = [
        {"notebook": "../outside.ipynb"},
        {"notebook": "/etc/passwd"},
        {"notebook": "missing.ipynb"},
        {"notebook": "data.txt"},
        {"notebook": "broken.ipynb"},
        {"notebook": "folder"},
        {"notebook": ""},
        {"notebook": 42},
        {"notebook": "julia.ipynb"},
        {"notebook": "a" * 300 + ".ipynb"},
        {"notebook": "x\ud800.ipynb"},
        {},
        [],
        "text",
        None,
        {"notebook": nb, "resources": {"cpus": 0}},
        {"notebook": nb, "resources": {"cpus": 1.5}},
        {"notebook": nb, "resources": {"gpus": 3}},
        {"notebook": nb, "resources": {"memory_mb": 10**9}},
        {"notebook": nb, "resources": {"gpu_memory_mb": 1000}},
        {"notebook": nb, "resources": {"tpus": 1}},
        {"notebook": nb, "resources": [1]},
        {"notebook": nb, "backend": "slurm"},
        {"notebook": nb, "backend": 3},
        {"notebook": nb, "backend": "fake", "resources": {"gpus": 1}},
        {"notebook": nb, "environment": "nope"},
        {"notebook": nb, "parameters": [1]},
        {"notebook": nb, "parameters": {"a b": 1}},
        {"notebook": nb, "parameters": {"import": 1}},
        {"notebook": nb, "parameters": {"x": 2**70}},
        {"notebook": nb, "parameters": {"x": "y" * 300_000}},
        {"notebook": nb, "parameters": {"x": json.loads("[" * 40 + "]" * 40)}},
        {"notebook": nb, "name": "two\nlines"},
        {"notebook": nb, "idempotency_key": ""},
        {"notebook": nb, "colour": "blue"},
        {"notebook": nb, "inputs": ["../../etc/passwd"]},
        {"notebook": nb, "inputs": "data.txt"},
    ]
    pairs: list[tuple[Any, bytes | None]] = [(b, None) for b in bodies]
    pairs += [
        (None, b"{not json"),
        (None, b"\xff\xfe"),
        (None, b""),
        (None, json.dumps({"notebook": nb, "name": "x" * (1024 * 1024)}).encode()),
    ]
    return pairs


async def test_bad_inputs_are_the_same_4xx_as_submit_and_create_nothing(
    api, jp_fetch, jp_root_dir, notebook, good_nb, tmp_path, scratch
):
    # Given files that are not submittable notebooks, and a notebook of another kernel
    (jp_root_dir / "data.txt").write_text("hello")
    (jp_root_dir / "broken.ipynb").write_text("{not json")
    (jp_root_dir / "folder").mkdir()
    notebook("julia.ipynb", "1", kernel="julia-1.10")
    seen = set()
    for body, raw in _bad_bodies(good_nb):
        # When the same body is submitted and previewed
        sent = raw if raw is not None else json.dumps(body).encode()
        status, submitted = await api.call("POST", "jobs", raw=sent)
        answer = await preview(jp_fetch, raw=sent)
        # Then both refuse it the same way
        assert 400 <= status < 500, (body, raw, submitted)
        assert answer == (status, submitted), (body, raw)
        seen.add(status)
    assert seen == {400, 413}
    # and nothing was created by either
    await assert_nothing_created(api, tmp_path, scratch)


async def test_idempotency_key_reused_with_another_body_is_the_same_422(
    api, jp_fetch, good_nb, tmp_path, scratch
):
    # Given a job submitted with a key (to the fake engine: nothing runs)
    body = {"notebook": good_nb, "backend": "fake", "idempotency_key": "k-1"}
    job = await api.submit(**body)
    # When the same key comes with another body, submit and preview refuse it alike
    other = {**body, "parameters": {"x": 5}}
    status, submitted = await api.call("POST", "jobs", other)
    assert status == 422
    assert await preview(jp_fetch, other) == (422, submitted)
    # With the same body, the preview names the job submit would return
    status, data = await preview(jp_fetch, body)
    assert status == 200 and data["existing_job"] == job["id"]
    status, page = await api.call("GET", "jobs")
    assert page["total"] == 1
    assert not any(scratch.iterdir())


async def test_preview_takes_post_only(jp_fetch, swan_app):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("swan-ml-ext", "jobs", "preview", method="GET")
    assert info.value.code == 405
    assert info.value.response.headers["Allow"] == "POST"
