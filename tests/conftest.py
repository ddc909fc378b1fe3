"""Fixtures: a Jupyter server with swan_ml_ext on the real personal HTCondor pool."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from tornado.httpclient import HTTPClientError

from swan_ml_ext import pool
from swan_ml_ext.client import ClientError

from .server import ServerProcess
from .spark_cluster import SparkCluster

# Before anything imports htcondor2: talk to the personal pool.
os.environ["CONDOR_CONFIG"] = str(pool.client_config())
pytest_plugins = ("pytest_jupyter.jupyter_server",)

OPENAPI = yaml.safe_load(
    (Path(__file__).resolve().parent.parent / "swan_ml_ext" / "openapi.yaml").read_text()
)
_REGISTRY = Registry().with_resource(
    "urn:openapi", Resource.from_contents(OPENAPI, default_specification=DRAFT202012)
)
FINAL = {"completed", "failed", "cancelled"}


@pytest.fixture(scope="session")
def condor_pool() -> None:
    """The real personal pool (built once, cached; `up` is idempotent)."""
    pool.run("up")


@pytest.fixture(scope="session")
def spark_cluster() -> Iterator[SparkCluster]:
    """A real Spark standalone master + worker (2 fake GPUs) and a Connect server, started on
    first use and stopped at the end of the session (tests/spark_cluster.py)."""
    cluster = SparkCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def server_config(tmp_path: Path, **swan: Any) -> dict[str, Any]:
    """The test server's configuration; `swan` adds or overrides SwanMLApp traits."""
    return {
        "ServerApp": {
            "jpserver_extensions": {"swan_ml_ext": True},
            "allow_unauthenticated_access": False,
        },
        "SwanMLApp": {
            "db_path": str(tmp_path / "jobs.sqlite"),
            "staging_dir": str(tmp_path / "staging"),
            "poll_interval": 0.25,
            "max_gpus": 2,
            **swan,
        },
        "CondorBackend": {"condor_config": str(pool.client_config())},
    }


@pytest.fixture
def jp_server_config(tmp_path: Path, condor_pool: None) -> dict[str, Any]:
    return server_config(tmp_path)


def conforms(method: str, template: str, status: int, body: Any) -> None:
    """The response matches the OpenAPI document: declared status, schema-valid body."""
    op = OPENAPI["paths"][template][method.lower()]
    assert str(status) in op["responses"], f"{method} {template} -> {status} is not declared"
    resp = op["responses"][str(status)]
    if "$ref" in resp:
        resp = OPENAPI["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
    schema = resp["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = {"$ref": "urn:openapi" + schema["$ref"]}
    Draft202012Validator(schema, registry=_REGISTRY).validate(body)


async def poll(
    get: Callable[[], Awaitable[dict[str, Any]]],
    until: Callable[[dict[str, Any]], bool],
    timeout: float,
    interval: float,
) -> dict[str, Any]:
    """`get()` every `interval` seconds until `until` holds of its answer; that answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await get()
        if until(answer):
            return answer
        assert time.monotonic() < deadline, f"timed out waiting; last: {answer}"
        await asyncio.sleep(interval)


class Api:
    """jp_fetch with JSON in and out, status kept, OpenAPI conformance checked on every call."""

    def __init__(self, fetch: Callable[..., Awaitable[Any]]):
        self._fetch = fetch

    async def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None, **params: Any
    ) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"method": method}
        if body is not None or raw is not None:
            kwargs["body"] = raw if raw is not None else json.dumps(body)
        elif method == "POST":
            kwargs["body"] = b""
        if params:
            kwargs["params"] = params
        try:
            resp = await self._fetch("swan-ml-ext", *path.split("/"), **kwargs)
            status, data = resp.code, json.loads(resp.body)
        except HTTPClientError as e:
            status, data = e.code, json.loads(e.response.body)
        template = "/" + path
        if template not in OPENAPI["paths"]:
            template = "/" + "/".join(
                "{id}" if i == 1 and path.startswith(("jobs/", "sweeps/")) else part
                for i, part in enumerate(path.split("/"))
            )
        conforms(method, template, status, data)
        return status, data

    async def submit(self, **spec: Any) -> dict[str, Any]:
        status, job = await self.call("POST", "jobs", spec)
        assert status == 201, job
        return job

    async def job(self, job_id: str) -> dict[str, Any]:
        status, job = await self.call("GET", f"jobs/{job_id}")
        assert status == 200, job
        return job

    async def wait(
        self,
        job_id: str,
        until: Callable[[dict[str, Any]], bool] = lambda j: j["state"] in FINAL,
        timeout: float = 120,
    ) -> dict[str, Any]:
        return await poll(lambda: self.job(job_id), until, timeout, 0.25)


@pytest.fixture
def swan_app(jp_serverapp: Any, jp_asyncio_loop: Any) -> Any:
    """The extension, started as `jupyter server` starts it (pytest-jupyter does not)."""
    jp_asyncio_loop.run_until_complete(jp_serverapp.extension_manager.start_all_extensions())
    return next(iter(jp_serverapp.extension_manager.extension_apps["swan_ml_ext"]))


@pytest.fixture
def api(swan_app: Any, jp_fetch: Callable[..., Awaitable[Any]]) -> Api:
    return Api(jp_fetch)


def dying_server(tmp_path: Path, killer: str, **env: str) -> ServerProcess:
    """A server whose condor backend is `killer` (a class path under tests/, which kills the
    process in the middle of a submission), with `env` added to its environment."""
    repo = str(Path(__file__).resolve().parent.parent)
    return ServerProcess(
        tmp_path,
        f"--SwanMLApp.backend_classes=condor={killer}",
        env={**os.environ, **env, "PYTHONPATH": repo},
    )


def restarted_after(dying: ServerProcess, request: Callable[[], object]) -> ServerProcess:
    """`request()` kills `dying` (it must not answer); then the server is started again in
    the same folder with the plain backend, and returned started."""
    try:
        request()
        raise AssertionError("the server answered although it was killed")
    except ClientError:
        pass
    assert dying.proc is not None
    dying.proc.wait(10)
    server = ServerProcess(dying.tmp)
    server.start()
    return server


def live_processes(env_entry: str, program_suffix: bytes = b"") -> list[int]:
    """Live (not zombie) processes whose environment holds `env_entry` ("NAME=value"): all of
    one run, as what it starts inherits the variable; `program_suffix`, e.g. b"java": only
    those whose program ends so."""
    needle = env_entry.encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry.name}/environ").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[0]
            program = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if needle in env and state not in ("Z", "X") and program.endswith(program_suffix):
            found.append(int(entry.name))
    return found


def write_notebook(
    path: Path, *cells: str, params: str | None = None, kernel: str = "python3"
) -> Path:
    nb = nbformat.v4.new_notebook()
    if params is not None:
        cell = nbformat.v4.new_code_cell(params)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells.extend(nbformat.v4.new_code_cell(c) for c in cells)
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def notebook(jp_root_dir: Path) -> Callable[..., str]:
    """Write a notebook under the server root; returns its relative path."""

    def make(name: str, *cells: str, **kwargs: Any) -> str:
        write_notebook(jp_root_dir / name, *cells, **kwargs)
        return name

    return make


def read_output(root: Path, job: dict[str, Any]) -> nbformat.NotebookNode:
    return nbformat.read(str(root / job["outputs"]["notebook"]), as_version=4)


def outputs_text(nb: nbformat.NotebookNode) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") or json.dumps(o.get("data", {})))
    return "".join(out)


def condor_clusters(job_id: str, settled: Callable[[dict[int, int]], bool]) -> dict[int, int]:
    """ClusterId -> JobStatus of every cluster the schedd ever had for this job, once
    `settled` says so (a job that just left the queue reaches the history file a moment
    later), or whatever is there after 15 s."""
    import htcondor2

    schedd = htcondor2.Schedd(htcondor2.Collector().locateAll(htcondor2.DaemonType.Schedd)[0])
    constraint = f'SwanMLJobId == "{job_id}"'
    deadline = time.monotonic() + 15
    while True:
        ads = list(schedd.history(constraint, projection=["ClusterId", "JobStatus"], match=10))
        ads += list(schedd.query(constraint, projection=["ClusterId", "JobStatus"]))
        states = {int(a["ClusterId"]): int(a["JobStatus"]) for a in ads}
        if settled(states) or time.monotonic() > deadline:
            return states
        time.sleep(0.5)
