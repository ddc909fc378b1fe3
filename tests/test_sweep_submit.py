"""Sweeps without the pool: the batch submit description (pure), the store (sweep rows, the
migration of an old store, the bounded tracking of what was written), SweepService on in-memory
backends (one that batches, one that submits point by point), HTCondor's removal of many procs
against a stand-in schedd, and `swan-ml sweep` against a recording client. Seconds in all."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import threading
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
from swan_ml_ext.client import Server, SwanMLClient
from swan_ml_ext.commands import NotFeasible, build_parser
from swan_ml_ext.jobs.model import (
    COLLECT_FILE,
    BackendUnavailable,
    Conflict,
    InvalidRequest,
    Job,
    JobState,
    NotFound,
    Sweep,
    TooLarge,
    Unprocessable,
)
from swan_ml_ext.jobs.monitor import Monitor
from swan_ml_ext.jobs.service import JobService
from swan_ml_ext.jobs.spec import Environment, Limits, human_bytes
from swan_ml_ext.jobs.store import JobStore, SweepVersions
from swan_ml_ext.jobs.sweeps import SweepService
from swan_ml_ext.sweep_commands import cli_sweep

from .conftest import write_notebook
from .fake_backend import FakeBackend


# -- the batch submit description (pure) ---------------------------------------------------
def _job(i: int, **kw: Any) -> Job:
    return Job(
        id=f"{i:012x}",
        name="train (lr=1)",
        backend="condor",
        state=JobState.PENDING,
        notebook="ana/train.ipynb",
        parameters={"lr": i, "label": '$(evil) "q"'},
        resources={"cpus": 2, "memory_mb": 1024, "gpus": 1, "gpu_memory_mb": 8000},
        environment="default",
        sweep_id="abcdef012345",
        point=i,
        **kw,
    )


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
    files = ("notebook.ipynb", "params.json", COLLECT_FILE)
    assert inputs == [f"$({BATCH_DIR})/{n}" for n in files] + [str(RUNNER)]
    assert desc["+SwanMLJobId"] == f'"$({BATCH_JOB_ID})"'
    assert desc["batch_name"] == "swan-ml-sweep-abcdef012345"
    assert items == [
        {BATCH_DIR: str(s), BATCH_JOB_ID: j.id} for j, s in zip(jobs, staged, strict=True)
    ]
    # the rest is the single job's description (resources, GPU constraints, our attributes)
    per_proc = {"initialdir", "executable", "transfer_input_files", "+SwanMLJobId", "batch_name"}
    same = set(single) - per_proc
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
    old = Job(
        id="0123456789ab",
        name="n",
        backend="condor",
        state=JobState.COMPLETED,
        notebook="a.ipynb",
        parameters={},
        resources={},
        environment="default",
    )
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
        "fake": CollectingBackend(),
        "batch": BatchBackend(),
        "failing": FailingThird(),
    }
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
    return {
        "notebook": NB,
        "sweep": {"lr": [0.1, 0.2, 0.3], "seed": [1, 2]},
        "collect": ["loss"],
    } | kw


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
    assert sweep["columns"] == [
        *("point", "lr", "seed", "state", "loss"),
        *("job_id", "notebook", "message"),
    ]
    points = [(r["lr"], r["seed"]) for r in sweep["rows"]]
    assert points == [(0.1, 1), (0.1, 2), (0.2, 1), (0.2, 2), (0.3, 1), (0.3, 2)]
    jobs = [sweeps.store.get(r["job_id"]) for r in sweep["rows"]]
    assert [j.to_json()["sweep"] for j in jobs] == [
        {"id": sweep["id"], "point": i} for i in range(6)
    ]
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
    assert sweep["counts"] == {
        **{"total": 6, "pending": 0, "running": 0, "held": 0},
        **{"completed": 5, "failed": 1, "cancelled": 0},
    }
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
    # cancelling again (nothing active): the sweep as it is, nothing asked of the engine
    assert await sweeps.cancel(sweep["id"]) == cancelled
    assert len(batch.cancel_calls) == 1
    # the cancelled points can be run again
    again = await sweeps.resubmit(sweep["id"])
    assert again["state"] in ("pending", "running") and again["counts"]["pending"] == 5


async def test_a_resubmission_the_engine_refuses_leaves_the_sweep_cancelled(sweeps):
    # Given a cancelled sweep with a failed point (cancelled: that is its state)
    sweep, _ = await sweeps.submit(body())
    await finish_all(sweeps, lambda j: JobState.FAILED if j.point == 0 else JobState.RUNNING)
    cancelled = await sweeps.cancel(sweep["id"])
    assert cancelled["state"] == "cancelled"
    # When resubmitting its points fails at the engine
    sweeps.jobs.backends["batch"].fail_batch = "schedd down"
    with pytest.raises(BackendUnavailable):
        await sweeps.resubmit(sweep["id"])
    # Then the sweep is as it was: cancelled (not "failed"), no new job, nothing staged
    assert sweeps.store.get_sweep(sweep["id"]).cancelled is True
    assert await sweeps.get(sweep["id"]) == cancelled
    assert sweeps.store.list(limit=100)[1] == 6


async def test_without_batch_submission_each_point_is_one_submission(sweeps):
    points = [{"lr": 1, "seed": 2}, {"lr": 3, "seed": 4}]
    sweep, _ = await sweeps.submit(body(backend="fake", sweep=points))
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
    with pytest.raises(Unprocessable) as e:
        await sweeps.submit(body(idempotency_key="k1", name="other"))
    assert f"(sweep {first['id']})" in e.value.message
    with pytest.raises(NotFound):
        await sweeps.get("nope")


async def test_a_parameter_or_variable_named_like_a_column_gets_its_kind(sweeps):
    sweep, _ = await sweeps.submit(body(sweep={"state": [1], "seed": [2]}, collect=["message"]))
    assert sweep["columns"] == [
        *("point", "state (parameter)", "seed", "state", "message (collected)"),
        *("job_id", "notebook", "message"),
    ]
    assert sweep["rows"][0]["state (parameter)"] == 1 and sweep["rows"][0]["state"] == "pending"


def test_the_table_as_text_and_html_escapes_and_cuts():
    from swan_ml_ext.sweep_commands import progress_line, table_html, table_text

    counts = {"total": 2, "pending": 0, "running": 1, "held": 0, "completed": 0}
    sweep = {
        "id": "ab12",
        "state": "running",
        "counts": {**counts, "failed": 1, "cancelled": 0},
        "columns": ["point", "lr", "state", "loss", "message"],
        "rows": [
            {"point": 0, "lr": 0.1, "state": "failed", "loss": None, "message": "<b>x</b>" * 20},
            {"point": 1, "lr": 0.2, "state": "running", "loss": [1, 2], "message": ""},
        ],
    }
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


async def test_all_points_parameters_together_are_bounded(sweeps, tmp_path):
    # Given a fixed value of 60 KB (under the 256 KB a point may carry) and a limit of 1 MB on
    # all points together
    sweeps.max_total_bytes = 1024**2
    blob = {"blob": "x" * 60_000}
    grid = {"lr": [0.1, 0.2, 0.3, 0.4], "seed": [1, 2, 3, 4, 5]}  # 20 points
    # When the sweep is posted
    with pytest.raises(TooLarge) as e:
        await sweeps.submit(body(sweep=grid, parameters=blob))
    # Then it is a 413 with the total (each point's parameters as its job stores them) and
    # the limit; nothing is created
    each = [{**blob, "lr": lr, "seed": seed} for lr in grid["lr"] for seed in grid["seed"]]
    total = sum(len(json.dumps(p)) for p in each)
    assert total > 1024**2
    assert f"{human_bytes(total)} as JSON in all (20 points" in e.value.message
    assert "the limit is 1 MB (SwanMLApp.max_sweep_parameters_bytes)" in e.value.message
    nothing_created(sweeps, tmp_path)
    # and under the limit it is a sweep
    sweeps.max_total_bytes = total
    sweep, created = await sweeps.submit(body(sweep=grid, parameters=blob))
    assert created and sweep["counts"]["total"] == 20


async def test_each_point_gets_the_inputs_as_a_job_does(sweeps, tmp_path, root):
    (root / "ana" / "data").mkdir()
    (root / "ana" / "data" / "events.csv").write_text("e\n1\n")
    sweep, _ = await sweeps.submit(body(inputs=["ana/data"]))
    for row in sweep["rows"]:
        staged = tmp_path / "staging" / row["job_id"] / "inputs" / "data" / "events.csv"
        assert staged.read_text() == "e\n1\n", row
    # an input that is not there is the same 400 as for a job, nothing created
    with pytest.raises(InvalidRequest) as e:
        await sweeps.submit(body(inputs=["ana/nope.csv"]))
    assert "nope.csv" in e.value.message


def test_records_written_by_a_newer_version_are_read(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    sweep = Sweep(
        id="abcdef012345",
        name="n",
        notebook=NB,
        backend="batch",
        environment="default",
        keys=["lr"],
        points=[{"lr": 1}],
        collect=[],
        request={"notebook": NB},
    )
    store.insert_sweep(sweep, [_job(0)])
    # a field this version does not know, in both records
    for table, key in (("jobs", _job(0).id), ("sweeps", "abcdef012345")):
        (data,) = store._db.execute(f"SELECT data FROM {table} WHERE id = ?", (key,)).fetchone()
        new = json.dumps({**json.loads(data), "from_the_future": {"x": 1}})
        store._db.execute(f"UPDATE {table} SET data = ? WHERE id = ?", (new, key))
    assert store.get(_job(0).id).point == 0
    assert store.get_sweep("abcdef012345").points == [{"lr": 1}]
    assert [j.id for j in store.sweep_jobs("abcdef012345")] == [_job(0).id]


async def test_tables_are_built_off_the_event_loop_and_kept_ones_answered_inline(
    sweeps, monkeypatch
):
    from swan_ml_ext.jobs import sweeps as module

    here = threading.get_ident()
    built: list[int] = []
    describe, to_csv = sweeps.describe, module.to_csv

    def recorded(fn: Any) -> Any:
        def run(*args: Any) -> Any:
            built.append(threading.get_ident())
            return fn(*args)

        return run

    monkeypatch.setattr(sweeps, "describe", recorded(describe))
    monkeypatch.setattr(module, "to_csv", recorded(to_csv))
    sweep, _ = await sweeps.submit(body())
    assert len(built) == 1 and built[0] != here  # the answer to POST, built in a thread
    # kept: answered with nothing built
    await sweeps.get_json(sweep["id"])
    assert len(built) == 1
    # a point written: built again, in a thread; its CSV too, once
    await finish_all(sweeps, lambda j: JobState.RUNNING)
    await sweeps.get_json(sweep["id"])
    await sweeps.get_csv(sweep["id"])
    await sweeps.get_csv(sweep["id"])
    assert len(built) == 3 and here not in built
    # a page of sweeps is read in a thread too
    monkeypatch.setattr(sweeps, "_summary", recorded(sweeps._summary))
    await sweeps.list_page(limit=10, page_token=None)
    assert len(built) == 4 and here not in built


async def test_what_the_store_tracks_of_sweeps_is_bounded_and_a_forgotten_one_read_whole(
    sweeps,
):
    store = sweeps.store
    store._versions = SweepVersions(keep=2)
    first, _ = await sweeps.submit(body())
    ids = [r["job_id"] for r in first["rows"]]
    # a point of the first sweep written, then two other sweeps: the first one forgotten
    job = store.get(ids[1])
    job.message = "one"
    store.update(job)
    for lr in (1, 2):
        await sweeps.submit(body(sweep={"lr": [lr]}))
    assert len(store._versions) == 2
    # another point of it written (tracked again, from then on)
    job = store.get(ids[4])
    job.message = "two"
    store.update(job)
    # Then its answer has both (it was read whole, not from what was tracked since)
    rows = (await sweeps.get(first["id"]))["rows"]
    assert [r["message"] for r in rows] == [
        "submitted",
        "one",
        *["submitted"] * 2,
        "two",
        "submitted",
    ]
    assert len(store._versions) == 2


def test_versions_of_forgotten_sweeps_never_match_what_was_kept():
    v = SweepVersions(keep=1)
    v.bump("a", 0)
    kept = v.version("a")
    assert v.changes("a", kept) == [] and v.changes("a", kept - 1) == [0]
    v.bump("b")  # a forgotten
    assert v.version("a") != kept and v.changes("a", kept) is None
    untracked = v.version("a")
    v.bump("a", 3)
    v.bump("b")  # a forgotten again, after a write built on `untracked` does not have
    assert v.version("a") != untracked
    v.bump("b", reset=True)  # jobs of b deleted: what was built before is built again
    assert v.changes("b", v.version("b") - 1) is None and v.changes("b", v.version("b")) == []


def test_condor_removes_many_procs_with_one_wait_for_those_still_spooling(monkeypatch):
    from swan_ml_ext.backends.condor import SPOOLING_INPUT, CondorBackend

    class Schedd:
        """Removes what it is asked to, except procs whose input still spools (for two
        passes) and one it never lets go of (when `stubborn`)."""

        def __init__(self, stubborn: str = ""):
            self.acts: list[str] = []
            self.spooling = {_job(1).id, _job(2).id}
            self.stubborn = stubborn

        def act(self, action: Any, constraint: str, reason: str = "") -> dict[str, int]:
            self.acts.append(constraint)
            if len(self.acts) > 2:
                self.spooling.clear()
            return {"TotalSuccess": 1}

        def query(self, constraint: str, projection: list[str]) -> list[dict[str, Any]]:
            held = [(i, SPOOLING_INPUT) for i in sorted(self.spooling)]
            held += [(self.stubborn, 0)] if self.stubborn else []
            ads = [{"SwanMLJobId": i, "HoldReasonCode": c} for i, c in held]
            return [ad for ad in ads if f'"{ad["SwanMLJobId"]}"' in constraint]

    backend = CondorBackend()
    jobs = [_job(i, engine_ref={"cluster_id": 7, "proc_id": i}) for i in range(4)]
    schedd = Schedd()
    monkeypatch.setattr(backend, "_schedd", lambda: schedd)
    backend.cancel_many(jobs)
    # one removal of all, then the two that spooled, together, until they were removed
    assert len(schedd.acts) == 3
    assert all(f'"{j.id}"' in schedd.acts[0] for j in jobs)
    again = [sorted(j.id for j in jobs if f'"{j.id}"' in c) for c in schedd.acts[1:]]
    assert again == [[_job(1).id, _job(2).id]] * 2
    # a proc the schedd keeps without spooling: refused after a second removal
    schedd = Schedd(stubborn=_job(3).id)
    monkeypatch.setattr(backend, "_schedd", lambda: schedd)
    with pytest.raises(Conflict) as e:
        backend.cancel_many(jobs)
    assert _job(3).id in e.value.message and len(schedd.acts) == 2


# -- swan-ml sweep: checked and sent as submit sends a job ------------------------------------
class SweepRecorder(SwanMLClient):
    """Our REST client with canned answers: jobs/check proposes `detected` (and says whether
    a machine could run the job); the bodies of jobs/check and POST sweeps are kept."""

    def __init__(self, root: Path, detected: list[dict[str, Any]], feasible: bool = True):
        super().__init__(Server("http://test.invalid/", "t"))
        self._root = str(root)
        self.detected, self.feasible = detected, feasible
        self.calls: list[tuple[str, str, Any]] = []

    def request(self, method, path, body=None, query=None):  # type: ignore[override]
        self.calls.append((method, path, json.loads(json.dumps(body))))
        if path == "jobs/check":
            message = "" if self.feasible else "no machine has 4 GPUs; the largest has 3"
            return {
                "feasible": self.feasible,
                "message": message,
                "reasons": [message],
                "matching": None,
                "warnings": [],
                "detected_inputs": self.detected,
            }
        if path == "backends":
            caps = {"inputs": True}
            return {"backends": [{"name": "b", "capabilities": caps}], "default_backend": "b"}
        if path == "sweeps":
            engine = {"batch": True, "submissions": 1}
            return {
                "id": "s1",
                "notebook": body["notebook"],
                "counts": {"total": 2},
                "engine": engine,
                "warnings": [],
            }
        raise AssertionError(f"unexpected request {method} {path}")


EVENTS = {
    "path": "ana/data/events.csv",
    "kind": "file",
    "bytes": 9,
    "files": 1,
    "in_place": False,
    "cell": 1,
}


def sweep_line(client: SweepRecorder, *argv: str) -> tuple[int, str]:
    args = build_parser("swan-ml").parse_args(
        ["sweep", "ana/train.ipynb", "-p", "lr=1,2", "--collect", "loss", *argv]
    )
    out = io.StringIO()
    return cli_sweep(args, client, out), out.getvalue()


def test_a_sweep_is_checked_and_sends_what_the_notebook_reads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = SweepRecorder(tmp_path, [EVENTS])
    code, said = sweep_line(client)
    assert code == 0
    # the job part checked (no sweep fields), the detected file added, then the sweep posted
    assert [c[:2] for c in client.calls] == [
        ("POST", "jobs/check"),
        ("GET", "backends"),
        ("POST", "sweeps"),
    ]
    assert client.calls[0][2] == {"notebook": "ana/train.ipynb"}
    assert client.calls[2][2] == {
        "notebook": "ana/train.ipynb",
        "inputs": ["ana/data/events.csv"],
        "sweep": {"lr": [1, 2]},
        "collect": ["loss"],
    }
    assert said.splitlines()[0] == "sending 1 input (9 bytes): ana/data/events.csv"
    # --no-detect: only the --input paths
    client = SweepRecorder(tmp_path, [EVENTS])
    (tmp_path / "cfg.yaml").write_text("a: 1\n")
    sweep_line(client, "--no-detect", "--input", "cfg.yaml")
    assert client.calls[-1][2]["inputs"] == ["cfg.yaml"]


def test_a_sweep_no_machine_could_run_is_refused_unless_forced(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = SweepRecorder(tmp_path, [], feasible=False)
    with pytest.raises(NotFeasible) as e:
        sweep_line(client, "--gpus", "4")
    assert "no machine has 4 GPUs; the largest has 3 (--force submits it anyway)" in str(e.value)
    assert ("POST", "sweeps") not in [c[:2] for c in client.calls]
    code, _ = sweep_line(client, "--gpus", "4", "--force")
    assert code == 0 and client.calls[-1][:2] == ("POST", "sweeps")
