"""The service and the monitor on the FakeBackend: pool-free, a few seconds in all."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from swan_ml_ext.jobs.model import (
    Conflict,
    InvalidRequest,
    Job,
    JobState,
    TooLarge,
    Unprocessable,
)
from swan_ml_ext.jobs.monitor import Monitor
from swan_ml_ext.jobs.service import JobService
from swan_ml_ext.jobs.spec import Environment, Limits
from swan_ml_ext.jobs.store import JobStore

from .conftest import write_notebook
from .fake_backend import FakeBackend


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    write_notebook(r / "sub" / "nb.ipynb", "print(x)", params="x = 1")
    return r


def make_service(tmp_path: Path, root: Path, backend: FakeBackend | None = None) -> JobService:
    return JobService(
        store=JobStore(tmp_path / "jobs.sqlite"),
        backends={"fake": backend or FakeBackend()},
        environments={"default": Environment("default")},
        limits=Limits(),
        root_dir=root,
        staging_root=tmp_path / "staging",
        output_dir="swan-ml-jobs",
        default_backend="fake",
        default_environment="default",
    )


@pytest.fixture
def service(tmp_path: Path, root: Path) -> JobService:
    return make_service(tmp_path, root)


def fake(service: JobService) -> FakeBackend:
    return service.backends["fake"]  # type: ignore[return-value]


async def run_to_completion(service: JobService, job_id: str) -> Job:
    monitor = Monitor(service, interval=0.01)
    fake(service).set_state(job_id, JobState.COMPLETED)
    await monitor.tick()
    return await service.get(job_id)


def staging(tmp_path: Path) -> list[str]:
    d = tmp_path / "staging"
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


async def test_outputs_are_moved_and_staging_removed(service, tmp_path, root):
    job, created = await service.submit({"notebook": "sub/nb.ipynb"})
    assert created and staging(tmp_path) == [job.id]
    job = await run_to_completion(service, job.id)
    assert job.state == JobState.COMPLETED
    folder = root / job.outputs["folder"]
    assert (folder / "nb.ipynb").is_file() and (folder / "result.txt").read_text() == "42"
    # published once: no second copy left in the data dir
    assert staging(tmp_path) == []
    # logs of the finished job come from the published files, read from the end
    logs = await service.logs(job.id, 3)
    assert logs["stdout"] == "line 997\nline 998\nline 999\n" and not logs["live"]


async def test_staging_is_kept_when_outputs_could_not_be_fetched(service, tmp_path):
    job, _ = await service.submit({"notebook": "sub/nb.ipynb"})
    fake(service).set_state(job.id, JobState.COMPLETED)
    fake(service).fetch = lambda job, staged: (_ for _ in ()).throw(OSError("disk gone"))
    await Monitor(service, interval=0.01).tick()
    job = await service.get(job.id)
    assert "outputs could not be fetched: disk gone" in job.message
    assert staging(tmp_path) == [job.id]


async def test_cancelled_job_leaves_no_staging(service, tmp_path):
    job, _ = await service.submit({"notebook": "sub/nb.ipynb"})
    job = await service.cancel(job.id)
    assert job.state == JobState.CANCELLED and staging(tmp_path) == []


async def test_interrupted_submission_is_submitted_again_once(tmp_path, root):
    # Given a job stored but never submitted (the server died in between)
    backend = FakeBackend()
    first = make_service(tmp_path, root, backend)
    job, _ = first._prepare({"notebook": "sub/nb.ipynb", "idempotency_key": "k1"}, "")
    first.store.close()
    # When a new server starts
    service = make_service(tmp_path, root, backend)
    assert service.interrupted(service.store.active()) != []
    monitor = Monitor(service, interval=0.01)
    await monitor.tick()
    # Then it was submitted again from its snapshot, exactly once
    again = await service.get(job.id)
    assert again.engine_ref == {"fake_id": 1}
    await monitor.tick()
    await monitor.tick()
    assert len(backend.runs_of(job.id)) == 1
    # and the retried POST with its key returns it, and it completes
    same, created = await service.submit({"notebook": "sub/nb.ipynb", "idempotency_key": "k1"})
    assert same.id == job.id and not created
    assert (await run_to_completion(service, job.id)).state == JobState.COMPLETED


async def test_interrupted_submission_without_snapshot_fails_with_reason(tmp_path, root):
    first = make_service(tmp_path, root)
    job, _ = first._prepare({"notebook": "sub/nb.ipynb"}, "")
    shutil.rmtree(tmp_path / "staging" / job.id)
    service = make_service(tmp_path, root, FakeBackend())
    await Monitor(service, interval=0.01).tick()
    job = await service.get(job.id)
    assert job.state == JobState.FAILED and "snapshot is gone" in job.message
    assert fake(service).engine == {}


async def test_interrupted_submission_can_be_cancelled_any_time(tmp_path, root):
    first = make_service(tmp_path, root)
    job, _ = first._prepare({"notebook": "sub/nb.ipynb"}, "")
    first.submitting.clear()  # as after a restart
    # (the engine is down: the monitor cannot resubmit it)
    backend = FakeBackend()
    backend.down = "engine away"
    service = make_service(tmp_path, root, backend)
    await Monitor(service, interval=0.01).tick()
    assert (await service.get(job.id)).state == JobState.PENDING
    backend.down = ""
    job = await service.cancel(job.id)
    assert job.state == JobState.CANCELLED
    await Monitor(service, interval=0.01).tick()
    assert backend.engine == {}  # never submitted after the cancel


async def test_a_job_being_submitted_is_not_resubmitted_nor_cancelled(service):
    job, _ = service._prepare({"notebook": "sub/nb.ipynb"}, "")
    assert service.interrupted(service.store.active()) == []
    await Monitor(service, interval=0.01).tick()
    assert fake(service).engine == {}
    with pytest.raises(Conflict, match="being submitted"):
        await service.cancel(job.id)


async def test_idempotency_key_with_another_body_is_refused(service, tmp_path):
    body = {"notebook": "sub/nb.ipynb", "parameters": {"x": 1}, "idempotency_key": "abc"}
    job, created = await service.submit(body)
    # same key, same body (any key order): the same job
    same, again = await service.submit(dict(reversed(list(body.items()))))
    assert created and not again and same.id == job.id
    # same key, another body: 422, nothing created
    with pytest.raises(Unprocessable, match="already used for a different request"):
        await service.submit({**body, "parameters": {"x": 2}})
    assert service.store.list()[1] == 1 and staging(tmp_path) == [job.id]


@pytest.mark.parametrize(
    "body, error, words",
    [
        ({"notebook": "sub/\ud800.ipynb"}, InvalidRequest, "lone surrogate"),
        ({"notebook": "sub/nb.ipynb", "idempotency_key": "\udfff"}, InvalidRequest, "surrogate"),
        ({"notebook": "sub/nb.ipynb", "parameters": {"s": "a\ud800b"}}, InvalidRequest,
         "parameters.s is not valid Unicode"),
        ({"notebook": "sub/nb.ipynb", "parameters": {"d": json.loads("[" * 400 + "]" * 400)}},
         InvalidRequest, "nested too deeply"),
        ({"notebook": "sub/nb.ipynb", "parameters": {"n": 2**64}}, InvalidRequest, "64 bits"),
        ({"notebook": "a" * 256 + ".ipynb"}, InvalidRequest, "the limit is 255"),
        ({"notebook": "a/" * 2100 + "x.ipynb"}, InvalidRequest, "the limit is 4096"),
        ({"notebook": "sub/nb.ipynb", "inputs": ["x" * 10000]}, InvalidRequest, "limit"),
        ({"notebook": "sub/nb.ipynb", "parameters": {"big": "x" * 300_000}}, TooLarge,
         "the limit is 256 KB"),
    ],
)  # fmt: skip
async def test_hostile_bodies_are_refused_and_create_nothing(service, tmp_path, body, error, words):
    with pytest.raises(error, match=words):
        await service.submit(body)
    assert service.store.list()[1] == 0 and staging(tmp_path) == []


async def test_parameters_at_the_nesting_limit_are_accepted(service):
    deep: Any = 1
    for _ in range(30):  # body (1) + parameters (2) + 30 levels = 32
        deep = [deep]
    job, created = await service.submit({"notebook": "sub/nb.ipynb", "parameters": {"d": deep}})
    assert created and job.parameters == {"d": deep}
    # and the Python literal the runner injects for it compiles
    compile(f"d = {deep!r}", "<parameters>", "exec")


async def test_list_pages_stay_bounded(service):
    big = {"blob": "x" * 100_000}
    job, _ = await service.submit({"notebook": "sub/nb.ipynb", "parameters": big})
    page = json.loads(await service.list_json(backend=None, states=None, limit=25, page_token=None))
    listed = page["jobs"][0]
    assert listed["parameters"] == {} and listed["truncated"] == ["parameters"]
    assert len(json.dumps(page)) < 10_000
    # the job itself has them whole
    assert json.loads(await service.get_json(job.id))["parameters"] == big


@pytest.mark.parametrize("token", ["1" * 23, "²", "٣", "-1", "1e3", " 1"])
async def test_bad_page_tokens(service, token):
    with pytest.raises(InvalidRequest, match="page_token"):
        await service.list_json(backend=None, states=None, limit=25, page_token=token)


async def test_a_stuck_backend_poll_does_not_stop_cancel(service):
    # (the monitor takes the state lock per backend; cancel waits at most one poll)
    job, _ = await service.submit({"notebook": "sub/nb.ipynb"})
    assert (await service.cancel(job.id)).state == JobState.CANCELLED


async def test_a_submission_ending_during_a_monitor_pass_is_not_resubmitted(service):
    # The monitor read the job while it was being submitted...
    job, _ = service._prepare({"notebook": "sub/nb.ipynb"}, "")
    stale = service.store.active()
    # ...then the submission ended (engine reference stored, no longer submitting)
    job.engine_ref = fake(service).submit(job, service.staging_root / job.id, None)
    service.store.update(job)
    service.submitting.discard(job.id)
    for j in service.interrupted(stale):
        await service.recover(j)
    assert len(fake(service).runs_of(job.id)) == 1
