"""Sweeps without the pool: the batch submit description (pure), the store (sweep rows, the
migration of an old store) and SweepService on in-memory backends (one that batches, one that
submits point by point). Seconds in all."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any, ClassVar

import pytest

from swan_ml_ext.backends.base import Backend
from swan_ml_ext.backends.condor_submit import (
    BATCH_DIR,
    BATCH_JOB_ID,
    RUNNER,
    WRAPPER,
    batch_submit_description,
    submit_description,
    write_wrapper,
)
from swan_ml_ext.jobs.model import (
    COLLECT_FILE,
    BackendUnavailable,
    Conflict,
    InvalidRequest,
    Job,
    JobState,
    NotFound,
    Unprocessable,
)
from swan_ml_ext.jobs.monitor import Monitor
from swan_ml_ext.jobs.service import JobService
from swan_ml_ext.jobs.spec import Environment, Limits
from swan_ml_ext.jobs.store import JobStore
from swan_ml_ext.jobs.sweeps import SweepService

from .conftest import write_notebook
from .fake_backend import FakeBackend


# -- the batch submit description (pure) ---------------------------------------------------
def _job(i: int, **kw: Any) -> Job:
    return Job(
        id=f"{i:012x}", name="train (lr=1)", backend="condor", state=JobState.PENDING,
        notebook="ana/train.ipynb", parameters={"lr": i, "label": "$(evil) \"q\""},
        resources={"cpus": 2, "memory_mb": 1024, "gpus": 1, "gpu_memory_mb": 8000},
        environment="default", sweep_id="abcdef012345", point=i, **kw,
    )  # fmt: skip


def test_one_description_for_all_points_each_proc_its_folder_and_id(tmp_path):
    jobs = [_job(i, collect=["val_loss"]) for i in range(3)]
    staged = [tmp_path / j.id for j in jobs]
    for folder in staged:
        folder.mkdir()
    desc, items = batch_submit_description(jobs, staged)
    single = submit_description(jobs[0], staged[0])
    # per proc: its folder (initial dir, executable, inputs) and its SwanMLJobId
    assert desc["initialdir"] == f"$({BATCH_DIR})"
    assert desc["executable"] == f"$({BATCH_DIR})/{WRAPPER}"
    inputs = desc["transfer_input_files"].split(",")
    assert inputs == [f"$({BATCH_DIR})/{n}" for n in ("notebook.ipynb", "params.json",
                                                      COLLECT_FILE)] + [str(RUNNER)]  # fmt: skip
    assert desc["+SwanMLJobId"] == f'"$({BATCH_JOB_ID})"'
    assert desc["batch_name"] == "swan-ml-sweep-abcdef012345"
    assert items == [
        {BATCH_DIR: str(s), BATCH_JOB_ID: j.id} for j, s in zip(jobs, staged, strict=True)
    ]
    # the rest is the single job's description (resources, GPU constraints, our attributes)
    same = set(single) - {"initialdir", "executable", "transfer_input_files", "+SwanMLJobId",
                          "batch_name"}  # fmt: skip
    assert {k: desc[k] for k in same} == {k: single[k] for k in same}
    assert desc["request_gpus"] == "1" and "GlobalMemoryMb >= 8000" in desc["require_gpus"]
    # no user text: the parameters travel in each folder's params.json
    text = json.dumps([desc, items])
    assert "evil" not in text and "train" not in text and str(tmp_path) not in json.dumps(desc)


def test_a_point_brings_its_collect_file_and_the_runner_reads_it(tmp_path):
    job = _job(0, collect=["val_loss", "acc"])
    write_wrapper(job, tmp_path, Environment("default", python="/opt/worker/bin/python"))
    assert "--collect collect.json" in (tmp_path / WRAPPER).read_text()
    plain = _job(1)
    write_wrapper(plain, tmp_path, Environment("default"))
    assert "--collect" not in (tmp_path / WRAPPER).read_text()
    assert COLLECT_FILE not in submit_description(plain, tmp_path)["transfer_input_files"]


def test_a_batch_needs_a_folder_per_job(tmp_path):
    with pytest.raises(ValueError):
        batch_submit_description([_job(0)], [])
    with pytest.raises(ValueError):
        batch_submit_description([], [])


# -- the store ----------------------------------------------------------------------------
OLD_SCHEMA = """
CREATE TABLE jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    backend TEXT NOT NULL, state TEXT NOT NULL, idempotency_key TEXT UNIQUE,
    data TEXT NOT NULL, public TEXT NOT NULL, summary TEXT NOT NULL);
CREATE INDEX jobs_state ON jobs (state, seq);
"""


def test_a_store_from_before_sweeps_is_migrated(tmp_path):
    # Given a store written before sweeps existed, holding a job of that time
    path = tmp_path / "old.sqlite"
    old = Job(id="0123456789ab", name="n", backend="condor", state=JobState.COMPLETED,
              notebook="a.ipynb", parameters={}, resources={}, environment="default")  # fmt: skip
    record = old.to_record()
    for key in ("sweep_id", "point", "collect", "collected", "collect_notes"):
        del record[key]
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.execute(
        "INSERT INTO jobs (id, backend, state, data, public, summary) VALUES (?, ?, ?, ?, ?, ?)",
        (old.id, "condor", "completed", json.dumps(record), "{}", "{}"),
    )
    db.commit()
    db.close()
    # When it is opened
    store = JobStore(path)
    # Then the job reads as a plain job, and sweeps can be stored beside it
    job = store.get(old.id)
    assert job is not None and job.sweep_id is None and job.to_json()["sweep"] is None
    indexes = {r[1] for r in store._db.execute("PRAGMA index_list(jobs)")}
    assert "jobs_sweep" in indexes
    assert store.list_sweeps() == ([], 0)


# -- the service on in-memory backends -------------------------------------------------------
NB = "ana/train.ipynb"


class CollectingBackend(FakeBackend):
    """FakeBackend whose runs bring back `collect` values computed from their parameters, as
    the runner would: loss = lr * 10 + seed; a point with seed == 99 raises."""

    def fetch(self, job: Job, staged: Path) -> None:
        super().fetch(job, staged)
        params = json.loads((staged / "params.json").read_text())
        collect = json.loads((staged / COLLECT_FILE).read_text())
        result = json.loads((staged / "output" / "result.json").read_text())
        if result["status"] == "completed":
            values = {"loss": params["lr"] * 10 + params["seed"], "tag": f"s{params['seed']}"}
            result["collected"] = {n: values.get(n) for n in collect}
            result["collect_notes"] = {n: "not defined" for n in collect if n not in values}
        else:
            result["message"] = "cell 2: ValueError: seed 99"
        (staged / "output" / "result.json").write_text(json.dumps(result))


class BatchBackend(CollectingBackend):
    """Submits a batch as one engine submission (what condor does with one cluster)."""

    name: ClassVar[str] = "batch"
    capabilities: ClassVar[dict[str, bool]] = {**FakeBackend.capabilities, "batch_submit": True}

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.batches: list[list[str]] = []
        self.cancel_calls: list[list[str]] = []
        self.fail_batch = ""

    def submit_many(self, jobs, staged, environment):
        if self.fail_batch:
            raise BackendUnavailable(self.fail_batch)
        self.batches.append([j.id for j in jobs])
        self.submissions += 1
        return [self.submit(j, s, environment) for j, s in zip(jobs, staged, strict=True)]

    def cancel_many(self, jobs):
        self.cancel_calls.append([j.id for j in jobs])
        for job in jobs:
            self.cancel(job)


class FailingThird(CollectingBackend):
    """Point by point; the third submission fails (the engine went away)."""

    name: ClassVar[str] = "failing"

    def submit(self, job, staged, environment):
        if len(self.engine) == 2:
            raise BackendUnavailable("the engine went away")
        return super().submit(job, staged, environment)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    write_notebook(r / NB, "loss = lr * 10 + seed", params="lr = 0.1\nseed = 0")
    return r


@pytest.fixture
def sweeps(tmp_path: Path, root: Path) -> SweepService:
    backends: dict[str, Backend] = {
        "fake": CollectingBackend(), "batch": BatchBackend(), "failing": FailingThird()
    }  # fmt: skip
    jobs = JobService(
        store=JobStore(tmp_path / "jobs.sqlite"),
        backends=backends,
        environments={"default": Environment("default")},
        limits=Limits(),
        root_dir=root,
        staging_root=tmp_path / "staging",
        output_dir="swan-ml-jobs",
        default_backend="batch",
        default_environment="default",
    )
    return SweepService(jobs, max_points=20)


def body(**kw: Any) -> dict[str, Any]:
    return {"notebook": NB, "sweep": {"lr": [0.1, 0.2, 0.3], "seed": [1, 2]},
            "collect": ["loss"], **kw}  # fmt: skip


def nothing_created(sweeps: SweepService, tmp_path: Path) -> None:
    store = sweeps.store
    assert store.list_sweeps() == ([], 0)
    assert store.list(limit=100)[1] == 0
    staging = tmp_path / "staging"
    assert not staging.exists() or not list(staging.iterdir())
    for backend in sweeps.jobs.backends.values():
        assert backend.engine == {}  # type: ignore[attr-defined]


async def finish_all(sweeps: SweepService, state_of: Any) -> None:
    """Every point's run ends as state_of(job) says; one monitor pass records it all."""
    service = sweeps.jobs
    for backend in service.backends.values():
        for e in backend.engine.values():  # type: ignore[attr-defined]
            job = service.store.get(e["job"])
            if e["state"] != JobState.CANCELLED:
                e["state"] = state_of(job)
    await Monitor(service, interval=0.01).tick()


async def test_a_grid_is_one_batch_of_point_jobs_and_the_table_holds_each_value(
    sweeps, tmp_path, root
):
    # When a 3x2 grid with collect is submitted to a backend that batches
    sweep, created = await sweeps.submit(body(name="lr scan"))
    # Then one engine submission holds the 6 points, each an ordinary job of the sweep
    batch = sweeps.jobs.backends["batch"]
    assert created and len(batch.batches) == 1 and len(batch.batches[0]) == 6
    assert sweep["engine"] == {"submissions": 1, "batch": True}
    assert sweep["state"] == "pending" and sweep["counts"]["pending"] == 6
    assert sweep["parameters"] == ["lr", "seed"] and sweep["collect"] == ["loss"]
    assert sweep["columns"] == ["point", "lr", "seed", "state", "loss", "job_id", "notebook",
                                "message"]  # fmt: skip
    assert [(r["lr"], r["seed"]) for r in sweep["rows"]] == [
        (0.1, 1), (0.1, 2), (0.2, 1), (0.2, 2), (0.3, 1), (0.3, 2)
    ]  # fmt: skip
    jobs = [sweeps.store.get(r["job_id"]) for r in sweep["rows"]]
    assert [j.to_json()["sweep"] for j in jobs] == [{"id": sweep["id"], "point": i}
                                                   for i in range(6)]  # fmt: skip
    assert jobs[3].parameters == {"lr": 0.2, "seed": 2}
    assert jobs[3].name == "lr scan (lr=0.2, seed=2)"
    # each point its own snapshot: the notebook shared (a hard link), its own parameters
    folders = [tmp_path / "staging" / j.id for j in jobs]
    assert os.path.samefile(folders[0] / "notebook.ipynb", folders[5] / "notebook.ipynb")
    assert [json.loads((f / "params.json").read_text()) for f in folders] == [
        j.parameters for j in jobs
    ]
    assert json.loads((folders[4] / COLLECT_FILE).read_text()) == ["loss"]
    # When the points run, one of them failing
    await finish_all(sweeps, lambda j: JobState.FAILED if j.point == 4 else JobState.COMPLETED)
    sweep = await sweeps.get(sweep["id"])
    # Then the table holds each point's value, the failed one its error
    assert sweep["state"] == "failed" and sweep["finished_at"]
    assert sweep["counts"] == {"total": 6, "pending": 0, "running": 0, "held": 0,
                               "completed": 5, "failed": 1, "cancelled": 0}  # fmt: skip
    for row in sweep["rows"]:
        if row["point"] == 4:
            assert row["state"] == "failed" and row["loss"] is None
            assert row["message"] == "cell 2: ValueError: seed 99"
        else:
            assert row["state"] == "completed"
            assert row["loss"] == pytest.approx(row["lr"] * 10 + row["seed"])
            assert row["notebook"] == f"swan-ml-jobs/train-{row['job_id']}/train.ipynb"
            assert (root / row["notebook"]).is_file()
    job = sweeps.store.get(sweep["rows"][0]["job_id"])
    assert job.to_json()["collected"] == {"loss": pytest.approx(2.0)}
    # and as CSV: the same columns and rows
    text, filename = await sweeps.get_csv(sweep["id"])
    lines = text.splitlines()
    assert lines[0] == "point,lr,seed,state,loss,job_id,notebook,message"
    assert lines[1].startswith("0,0.1,1,completed,2.0,") and len(lines) == 7
    assert filename == f"lr-scan-{sweep['id']}.csv"
    # and in the list of sweeps
    page = await sweeps.list_page(limit=10, page_token=None)
    assert page["total"] == 1 and page["sweeps"][0]["counts"]["failed"] == 1
    assert "rows" not in page["sweeps"][0] and page["sweeps"][0]["state"] == "failed"


async def test_resubmitting_runs_only_the_failed_points_again(sweeps, tmp_path, root):
    sweep, _ = await sweeps.submit(body())
    await finish_all(sweeps, lambda j: JobState.FAILED if j.point in (1, 4) else JobState.COMPLETED)
    before = await sweeps.get(sweep["id"])
    # When the user fixes the notebook and resubmits the failed points
    write_notebook(root / NB, "loss = lr * 10 + seed  # fixed", params="lr = 0.1\nseed = 0")
    again = await sweeps.resubmit(sweep["id"])
    # Then two new jobs of the same sweep, in one more batch; the others' rows are kept
    batch = sweeps.jobs.backends["batch"]
    assert len(batch.batches) == 2 and len(batch.batches[1]) == 2
    assert again["engine"]["submissions"] == 2 and again["state"] == "running"
    new = {r["point"]: r["job_id"] for r in again["rows"]}
    old = {r["point"]: r["job_id"] for r in before["rows"]}
    assert {p for p in new if new[p] != old[p]} == {1, 4}
    staged = tmp_path / "staging" / new[1] / "notebook.ipynb"
    assert "# fixed" in staged.read_text()  # the notebook as it is now
    assert sweeps.store.get(new[1]).to_json()["sweep"] == {"id": sweep["id"], "point": 1}
    await finish_all(sweeps, lambda j: JobState.COMPLETED)
    done = await sweeps.get(sweep["id"])
    assert done["state"] == "completed" and done["counts"]["completed"] == 6
    assert done["counts"]["total"] == 6  # the old attempts are not counted
    # nothing failed any more: 409
    with pytest.raises(Conflict):
        await sweeps.resubmit(sweep["id"])


async def test_cancelling_a_sweep_cancels_its_active_points_at_once(sweeps):
    sweep, _ = await sweeps.submit(body())
    await finish_all(sweeps, lambda j: JobState.COMPLETED if j.point == 0 else JobState.RUNNING)
    cancelled = await sweeps.cancel(sweep["id"])
    batch = sweeps.jobs.backends["batch"]
    assert len(batch.cancel_calls) == 1 and len(batch.cancel_calls[0]) == 5
    assert cancelled["state"] == "cancelled"
    assert [r["state"] for r in cancelled["rows"]] == ["completed"] + ["cancelled"] * 5
    with pytest.raises(Conflict):
        await sweeps.cancel(sweep["id"])
    # the cancelled points can be run again
    again = await sweeps.resubmit(sweep["id"])
    assert again["state"] in ("pending", "running") and again["counts"]["pending"] == 5


async def test_without_batch_submission_each_point_is_one_submission(sweeps):
    sweep, _ = await sweeps.submit(body(backend="fake", sweep=[{"lr": 1, "seed": 2},
                                                               {"lr": 3, "seed": 4}]))  # fmt: skip
    assert sweep["engine"] == {"submissions": 2, "batch": False}
    assert len(sweeps.jobs.backends["fake"].engine) == 2
    await finish_all(sweeps, lambda j: JobState.COMPLETED)
    sweep = await sweeps.get(sweep["id"])
    assert [r["loss"] for r in sweep["rows"]] == [12, 34]


async def test_a_failed_submission_leaves_nothing(sweeps, tmp_path):
    # point by point: the third fails, the two submitted are cancelled, nothing stays
    with pytest.raises(BackendUnavailable):
        await sweeps.submit(body(backend="failing"))
    failing = sweeps.jobs.backends["failing"]
    assert [e["state"] for e in failing.engine.values()] == [JobState.CANCELLED] * 2
    failing.engine.clear()
    # a batch refused by its engine
    sweeps.jobs.backends["batch"].fail_batch = "schedd down"
    with pytest.raises(BackendUnavailable):
        await sweeps.submit(body())
    nothing_created(sweeps, tmp_path)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"sweep": {}}, "sweep"),
        ({"sweep": {"lr": []}}, "sweep.lr"),
        ({"sweep": []}, "sweep"),
        ({"sweep": [{"lr": 1}, {"seed": 2}]}, "sweep[1]"),
        ({"sweep": {"lr": [1, 1]}}, "sweep.lr[1]"),
        ({"sweep": {"lr": list(range(5)), "seed": list(range(5))}}, "25 points"),
        ({"sweep": {"lr": [float("nan")]}}, "NaN"),
        ({"sweep": None}, "'sweep'"),
        ({"sweep": "lr=1"}, "'sweep'"),
        ({"collect": ["val loss"]}, "collect[0]"),
        ({"collect": "loss"}, "'collect'"),
        ({"collect": ["if"]}, "collect[0]"),
        ({"parameters": {"lr": 1}}, "'lr'"),
        ({"notebook": "nope.ipynb"}, "'notebook'"),
        ({"resources": {"cpus": 0}}, "resources.cpus"),
        ({"idempotency_key": 5}, "idempotency_key"),
        ({"spread": True}, "spread"),
    ],
)
async def test_each_bad_input_is_a_400_naming_the_field_and_nothing_is_created(
    sweeps, tmp_path, change, field
):
    with pytest.raises(InvalidRequest) as e:
        await sweeps.submit({**body(), **change})
    assert field in e.value.message
    nothing_created(sweeps, tmp_path)


async def test_parameters_the_notebook_does_not_declare_are_warnings(sweeps):
    sweep, _ = await sweeps.submit(body(sweep={"lr2": [1, 2]}, parameters={"seed": 1}))
    assert sweep["warnings"] == ["parameter 'lr2' is not in the notebook's parameters cell"]


async def test_an_idempotent_retry_returns_the_sweep(sweeps):
    first, created = await sweeps.submit(body(idempotency_key="k1"))
    again, created_again = await sweeps.submit(body(idempotency_key="k1"))
    assert created and not created_again and again["id"] == first["id"]
    assert len(sweeps.jobs.backends["batch"].batches) == 1
    with pytest.raises(Unprocessable):
        await sweeps.submit(body(idempotency_key="k1", name="other"))
    with pytest.raises(NotFound):
        await sweeps.get("nope")


async def test_a_parameter_or_variable_named_like_a_column_gets_its_kind(sweeps):
    sweep, _ = await sweeps.submit(body(sweep={"state": [1], "seed": [2]}, collect=["message"]))
    assert sweep["columns"] == ["point", "state (parameter)", "seed", "state",
                                "message (collected)", "job_id", "notebook", "message"]  # fmt: skip
    assert sweep["rows"][0]["state (parameter)"] == 1 and sweep["rows"][0]["state"] == "pending"


def test_the_table_as_text_and_html_escapes_and_cuts():
    from swan_ml_ext.sweep_commands import progress_line, table_html, table_text

    sweep = {
        "id": "ab12", "state": "running",
        "counts": {"total": 2, "pending": 0, "running": 1, "held": 0, "completed": 0,
                   "failed": 1, "cancelled": 0},
        "columns": ["point", "lr", "state", "loss", "message"],
        "rows": [
            {"point": 0, "lr": 0.1, "state": "failed", "loss": None, "message": "<b>x</b>" * 20},
            {"point": 1, "lr": 0.2, "state": "running", "loss": [1, 2], "message": ""},
        ],
    }  # fmt: skip
    assert progress_line(sweep) == "sweep ab12 running: 1/2 done (1 failed, 1 running)"
    text = table_text(sweep).splitlines()
    assert text[0].split() == ["point", "lr", "state", "loss", "message"]
    assert text[2].split()[:4] == ["1", "0.2", "running", "[1,"] and "…" in text[1]
    page = table_html(sweep)
    assert "<b>" not in page and "&lt;b&gt;" in page and "#d32f2f" in page


def test_large_collected_values_stay_off_list_pages():
    job = _job(0, collect=["h"], collected={"h": "x" * 5000})
    assert job.to_summary()["collected"] == {} and "collected" in job.to_summary()["truncated"]
    assert job.to_json()["collected"] == {"h": "x" * 5000}
    assert "truncated" not in _job(1, collected={"h": 1}).to_summary()
