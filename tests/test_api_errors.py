"""Every bad input gets a 4xx with a clear message, creates nothing and loses nothing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

GOOD = {"cpus": 1, "memory_mb": 512}


@pytest.fixture
def good_nb(notebook: Any) -> str:
    return notebook("good.ipynb", "print(x)", params="x = 1")


async def assert_nothing_created(api: Any, tmp_path: Path) -> None:
    status, page = await api.call("GET", "jobs")
    assert status == 200
    assert page["total"] == 0 and page["jobs"] == []
    staging = tmp_path / "staging"
    assert not staging.exists() or not any(staging.iterdir())


async def expect_400(api: Any, tmp_path: Path, body: Any, *words: str, raw: bytes | None = None):
    status, data = await api.call("POST", "jobs", body, raw=raw)
    assert status == 400, data
    for w in words:
        assert w in data["message"], data["message"]
    await assert_nothing_created(api, tmp_path)


@pytest.mark.parametrize(
    "path, words",
    [
        ("../outside.ipynb", ["inside the server root"]),
        ("sub/../../outside.ipynb", ["inside the server root"]),
        ("/etc/passwd", ["not absolute"]),
        ("missing.ipynb", ["does not exist"]),
        ("data.txt", ["not a notebook"]),
        ("broken.ipynb", ["not valid notebook JSON"]),
        ("folder", ["not a file"]),
        ("", ["non-empty path"]),
        (42, ["non-empty path"]),
    ],
)
async def test_bad_notebook_paths(api, jp_root_dir, tmp_path, path, words):
    # Given files that are not submittable notebooks
    (jp_root_dir / "data.txt").write_text("hello")
    (jp_root_dir / "broken.ipynb").write_text("{not json")
    (jp_root_dir / "folder").mkdir()
    (tmp_path / "outside.ipynb").write_text("{}")
    # Then each is refused
    await expect_400(api, tmp_path, {"notebook": path}, *words)


async def test_absolute_path_inside_root_is_refused(api, jp_root_dir, tmp_path, good_nb):
    await expect_400(api, tmp_path, {"notebook": str(jp_root_dir / good_nb)}, "not absolute")


async def test_symlink_out_of_root_is_refused(api, jp_root_dir, tmp_path, good_nb):
    target = tmp_path / "secret.ipynb"
    target.write_text((jp_root_dir / good_nb).read_text())
    os.symlink(target, jp_root_dir / "link.ipynb")
    await expect_400(api, tmp_path, {"notebook": "link.ipynb"}, "outside the server root")


async def test_malformed_notebook_structure(api, jp_root_dir, tmp_path):
    (jp_root_dir / "weird.ipynb").write_text('{"cells": "nope", "nbformat": 4}')
    await expect_400(api, tmp_path, {"notebook": "weird.ipynb"}, "not a valid notebook")


@pytest.mark.parametrize(
    "resources, words",
    [
        ({"cpus": -1}, ["cpus must be at least 1"]),
        ({"cpus": 0}, ["cpus must be at least 1"]),
        ({"memory_mb": 0}, ["memory_mb must be at least 1"]),
        ({"memory_mb": -5}, ["memory_mb"]),
        ({"gpus": -1}, ["gpus must be at least 0"]),
        ({"cpus": 1.5}, ["cpus must be an integer"]),
        ({"cpus": "2"}, ["cpus must be an integer"]),
        ({"gpus": True}, ["gpus must be an integer"]),
        ({"gpus": 3}, ["gpus must be at most 2"]),
        ({"cpus": 17}, ["cpus must be at most 16"]),
        ({"memory_mb": 10**9}, ["memory_mb must be at most"]),
        ({"disk_mb": 0}, ["disk_mb"]),
        ({"max_runtime_s": 0}, ["max_runtime_s"]),
        ({"gpu_memory_mb": 1000}, ["need gpus >= 1"]),
        ({"gpus": 1, "gpu_capability": "high"}, ["gpu_capability"]),
        ({"tpus": 1}, ["unknown resource"]),
        ([1, 2], ["'resources' must be an object"]),
    ],
)
async def test_bad_resources(api, tmp_path, good_nb, resources, words):
    await expect_400(api, tmp_path, {"notebook": good_nb, "resources": resources}, *words)


@pytest.mark.parametrize(
    "body, words",
    [
        ({"backend": "slurm"}, ["unknown backend 'slurm'", "condor"]),
        ({"environment": "nope"}, ["unknown environment 'nope'", "default"]),
        ({"parameters": [1, 2]}, ["'parameters' must be an object"]),
        ({"parameters": "x=1"}, ["'parameters' must be an object"]),
        ({"parameters": {"a b": 1}}, ["not a valid Python identifier"]),
        ({"parameters": {"x = 1; import os; x": 1}}, ["not a valid Python identifier"]),
        ({"parameters": {"import": 1}}, ["not a valid Python identifier"]),
        ({"name": "two\nlines"}, ["one line"]),
        ({"name": 7}, ["'name' must be a string"]),
        ({"idempotency_key": ""}, ["idempotency_key"]),
        ({"colour": "blue"}, ["unknown field(s): colour"]),
        ({"inputs": ["../../etc/passwd"]}, ["inside the server root"]),
    ],
)
async def test_bad_fields(api, tmp_path, good_nb, body, words):
    await expect_400(api, tmp_path, {"notebook": good_nb, **body}, *words)


async def test_kernel_the_environment_cannot_run(api, tmp_path, notebook):
    nb = notebook("julia.ipynb", "println(1)", kernel="julia-1.10")
    await expect_400(
        api, tmp_path, {"notebook": nb}, "kernel 'julia-1.10'", "environment 'default'"
    )


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe", b"[1, 2]", b'"text"'])
async def test_body_not_a_json_object(api, tmp_path, raw):
    status, data = await api.call("POST", "jobs", raw=raw)
    assert status == 400
    assert "JSON" in data["message"]
    await assert_nothing_created(api, tmp_path)


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "jobs/nosuchjob"),
        ("DELETE", "jobs/nosuchjob"),
        ("POST", "jobs/nosuchjob/hold"),
        ("POST", "jobs/nosuchjob/release"),
        ("GET", "jobs/nosuchjob/logs"),
    ],
)
async def test_unknown_job_id(api, tmp_path, method, path):
    status, data = await api.call(method, path)
    assert status == 404
    assert "no job with id 'nosuchjob'" in data["message"]
    await assert_nothing_created(api, tmp_path)


@pytest.mark.parametrize(
    "query, words",
    [
        ({"limit": "0"}, ["limit"]),
        ({"limit": "many"}, ["limit"]),
        ({"state": "sleeping"}, ["unknown state"]),
        ({"backend": "slurm"}, ["unknown backend"]),
        ({"page_token": "abc"}, ["page_token"]),
    ],
)
async def test_bad_list_queries(api, query, words):
    status, data = await api.call("GET", "jobs", **query)
    assert status == 400
    for w in words:
        assert w in data["message"]


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "backends"),
        ("GET", "openapi.json"),
        ("GET", "jobs"),
        ("POST", "jobs"),
        ("GET", "jobs/x"),
        ("DELETE", "jobs/x"),
        ("POST", "jobs/x/hold"),
        ("POST", "jobs/x/release"),
        ("GET", "jobs/x/logs"),
    ],
)
async def test_every_route_needs_a_token(
    jp_serverapp, jp_base_url, jp_http_port, api, tmp_path, good_nb, method, path
):
    url = f"http://localhost:{jp_http_port}{jp_base_url}swan-ml-ext/{path}"
    body = b'{"notebook": "good.ipynb"}' if method == "POST" else None
    with pytest.raises(HTTPClientError) as e:
        await AsyncHTTPClient().fetch(url, method=method, body=body, raise_error=True)
    assert e.value.code == 403
    await assert_nothing_created(api, tmp_path)
    token = jp_serverapp.identity_provider.token
    assert token and token not in (e.value.response.body or b"").decode()


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
async def test_non_finite_parameters_are_refused(api, tmp_path, good_nb, value):
    raw = b'{"notebook": "good.ipynb", "parameters": {"x": ' + value + b"}}"
    status, data = await api.call("POST", "jobs", raw=raw)
    assert status == 400 and "NaN or Infinity" in data["message"]
    await assert_nothing_created(api, tmp_path)


# -- what a hostile or clumsy client sent (each was a 500 or accepted before) ----------------
@pytest.mark.parametrize(
    "raw, status, words",
    [
        (b'{"notebook": "' + b"a" * 300 + b'.ipynb"}', 400, ["the limit is 255"]),
        (b'{"notebook": "good.ipynb", "inputs": ["' + b"i" * 10000 + b'"]}', 400, ["limit"]),
        (b'{"notebook": "\\ud800.ipynb"}', 400, ["lone surrogate"]),
        (b'{"notebook": "good.ipynb", "idempotency_key": "\\ud800"}', 400, ["lone surrogate"]),
        (b'{"notebook": "good.ipynb", "parameters": {"s": "\\udfff"}}', 400, ["parameters.s"]),
        (b'{"notebook": "good.ipynb", "parameters": {"x": ' + b"[" * 990 + b"]" * 990 + b"}}",
         400, ["nested too deeply"]),
        (b"[" * 100_000 + b"]" * 100_000, 400, ["nested too deeply"]),
        (b'{"notebook": "good.ipynb", "parameters": {"x": ' + b"[" * 400 + b"]" * 400 + b"}}",
         400, ["nested too deeply"]),
        (b'{"notebook": "good.ipynb", "parameters": {"n": 1' + b"0" * 30 + b"}}", 400,
         ["64 bits"]),
        (b'{"notebook": "good.ipynb", "parameters": {"n": 1' + b"0" * 5000 + b"}}", 400,
         ["not JSON"]),
        (b'{"notebook": "good.ipynb", "parameters": {"x": "' + b"x" * 300_000 + b'"}}', 413,
         ["256 KB", "max_parameters_bytes"]),
        (b'{"notebook": "good.ipynb", "parameters": {"x": "' + b"x" * 30_000_000 + b'"}}', 413,
         ["28.6 MB", "the limit is 1 MB"]),
    ],
)  # fmt: skip
async def test_hostile_bodies(api, tmp_path, good_nb, raw, status, words):
    got, data = await api.call("POST", "jobs", raw=raw)
    assert got == status, data
    for w in words:
        assert w in data["message"], data["message"]
    await assert_nothing_created(api, tmp_path)


@pytest.mark.parametrize(
    "path, query, words",
    [
        ("jobs", {"page_token": "1" * 23}, ["page_token"]),
        ("jobs", {"page_token": "²"}, ["page_token"]),
        ("jobs", {"page_token": "٣"}, ["page_token"]),
        ("jobs", {"limit": "٣"}, ["'limit' must be an integer"]),
        ("jobs", {"limit": "9" * 40}, ["'limit' must be an integer"]),
        ("jobs/x/logs", {"tail": "100001"}, ["'tail' must be between 0 and 100000"]),
    ],
)
async def test_hostile_queries(api, path, query, words):
    status, data = await api.call("GET", path, **query)
    assert status == 400, data
    for w in words:
        assert w in data["message"]


async def test_idempotency_key_reused_with_another_body(api, tmp_path, good_nb):
    body = {"notebook": good_nb, "parameters": {"x": 1}, "idempotency_key": "key-1"}
    first = await api.submit(**body)
    status, same = await api.call("POST", "jobs", body)
    assert status == 200 and same["id"] == first["id"]
    status, data = await api.call("POST", "jobs", {**body, "parameters": {"x": 2}})
    assert status == 422 and "already used for a different request" in data["message"]
    status, page = await api.call("GET", "jobs")
    assert page["total"] == 1 and page["jobs"][0]["parameters"] == {"x": 1}
    await api.call("DELETE", f"jobs/{first['id']}")


@pytest.mark.parametrize(
    "body, words",
    [
        ({"backend": 0}, ["'backend' must be a string, got 0"]),
        ({"backend": False}, ["'backend' must be a string"]),
        ({"environment": []}, ["'environment' must be a string"]),
        ({"inputs": False}, ["'inputs' must be a list"]),
        ({"inputs": {}}, ["'inputs' must be a list"]),
        ({"idempotency_key": 5}, ["'idempotency_key' must be a string"]),
    ],
)
async def test_wrong_types_are_not_read_as_absent(api, tmp_path, good_nb, body, words):
    await expect_400(api, tmp_path, {"notebook": good_nb, **body}, *words)


async def test_null_means_default_and_integral_floats_are_integers(api, good_nb):
    nulls = dict.fromkeys(
        ("backend", "environment", "name", "parameters", "resources", "inputs"), None
    )
    job = await api.submit(notebook=good_nb, idempotency_key=None, **nulls)
    assert job["name"] == "good" and job["environment"] == "default" and job["inputs"] == []
    await api.call("DELETE", f"jobs/{job['id']}")
    job = await api.submit(notebook=good_nb, resources={"cpus": 1.0, "memory_mb": 256.0})
    assert job["resources"]["cpus"] == 1 and isinstance(job["resources"]["cpus"], int)
    await api.call("DELETE", f"jobs/{job['id']}")


@pytest.mark.parametrize("token", ["", " 1 ", "\x14"])
async def test_page_token_is_taken_as_sent(api, token):
    status, data = await api.call("GET", "jobs", page_token=token)
    assert status == 400 and "page_token" in data["message"]


@pytest.mark.parametrize(
    "method, path, allow",
    [("PUT", "backends", "GET"), ("PATCH", "jobs", "GET, POST"), ("PUT", "jobs/x", "GET, DELETE")],
)
async def test_405_says_which_methods_are_allowed(jp_fetch, swan_app, method, path, allow):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("swan-ml-ext", *path.split("/"), method=method, body=b"{}")
    assert e.value.code == 405
    assert e.value.response.headers["Allow"] == allow
