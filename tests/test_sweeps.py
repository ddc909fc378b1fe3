"""Parameter sweeps through the REST API on the real personal HTCondor pool (one cluster, one
proc per point), a restart in the middle of one, and a kfp.local sweep; the API's refusals and
the CSV on the fake backend (no pool). Sweeps stay small: the machine is shared."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import htcondor2
import nbformat
import pytest

from .conftest import (
    FINAL,
    Api,
    dying_server,
    poll,
    restarted_after,
    server_config,
    write_notebook,
)
from .server import ServerProcess

COMPUTE = (
    "val_loss = round(lr * 10 + seed, 6)\n"
    "accuracy = seed / 10\n"
    "if seed == 99:\n"
    "    raise ValueError(f'bad seed {seed}')"
)
PARAMS = "lr = 0.1\nseed = 0"
SMALL = {"memory_mb": 256, "cpus": 1}


def schedd() -> Any:
    return htcondor2.Schedd(htcondor2.Collector().locateAll(htcondor2.DaemonType.Schedd)[0])


def procs(constraint: str) -> list[dict[str, Any]]:
    """Every proc the schedd has or had that matches (queue and history)."""
    s = schedd()
    proj = ["ClusterId", "ProcId", "JobStatus", "SwanMLJobId"]
    ads = list(s.query(constraint, projection=proj))
    ads += list(s.history(constraint, projection=proj, match=1000))
    seen = {}
    for ad in ads:  # a proc that just left the queue may be in both
        seen[(int(ad["ClusterId"]), int(ad["ProcId"]))] = {k: ad.get(k) for k in proj}
    return list(seen.values())


class Sweeps(Api):
    """conftest's Api (every answer checked against the OpenAPI document) and sweeps."""

    async def create(self, **body: Any) -> dict[str, Any]:
        status, sweep = await self.call("POST", "sweeps", {"resources": SMALL, **body})
        assert status == 201, sweep
        return sweep

    async def sweep(self, sweep_id: str) -> dict[str, Any]:
        status, sweep = await self.call("GET", f"sweeps/{sweep_id}")
        assert status == 200, sweep
        return sweep

    async def wait_sweep(
        self,
        sweep_id: str,
        until: Callable[[dict[str, Any]], bool] = lambda s: s["state"] in FINAL,
        timeout: float = 240,
    ) -> dict[str, Any]:
        return await poll(lambda: self.sweep(sweep_id), until, timeout, 0.5)


@pytest.fixture
def sweeps(swan_app: Any, jp_fetch: Callable[..., Awaitable[Any]]) -> Sweeps:
    return Sweeps(jp_fetch)


async def test_a_grid_with_collect_is_one_cluster_and_the_table_has_each_value(
    sweeps, notebook, jp_root_dir, jp_fetch
):
    nb = notebook("ana/train.ipynb", COMPUTE, params=PARAMS)
    # When a 3x2 grid is submitted with collect
    sweep = await sweeps.create(
        notebook=nb,
        sweep={"lr": [0.01, 0.02, 0.05], "seed": [1, 2]},
        collect=["val_loss", "accuracy"],
        name="lr scan",
    )
    assert sweep["engine"] == {"submissions": 1, "batch": True}
    ids = [r["job_id"] for r in sweep["rows"]]
    # Then the schedd got ONE cluster with 6 procs, one per point
    _, job0 = await sweeps.call("GET", f"jobs/{ids[0]}")
    cluster = job0["engine_ref"]["cluster_id"]
    found = procs(f"ClusterId == {cluster}")
    assert sorted(p["ProcId"] for p in found) == list(range(6))
    assert sorted(p["SwanMLJobId"] for p in found) == sorted(ids)
    # and once they ran, 6 completed jobs and the right value per point
    sweep = await sweeps.wait_sweep(sweep["id"])
    assert sweep["state"] == "completed", sweep
    assert sweep["counts"]["completed"] == 6 and sweep["finished_at"]
    assert sweep["columns"] == [
        *("point", "lr", "seed", "state", "val_loss", "accuracy"),
        *("job_id", "notebook", "message"),
    ]
    for row in sweep["rows"]:
        assert row["state"] == "completed", row
        assert row["val_loss"] == pytest.approx(row["lr"] * 10 + row["seed"])
        assert row["accuracy"] == pytest.approx(row["seed"] / 10)
        executed = nbformat.read(str(jp_root_dir / row["notebook"]), as_version=4)
        assert executed.metadata["swan_ml"]["parameters"] == {"lr": row["lr"], "seed": row["seed"]}
    # each point is an ordinary job of the sweep, its values with it
    status, page = await sweeps.call("GET", "jobs", limit=50)
    mine = [j for j in page["jobs"] if j["sweep"] and j["sweep"]["id"] == sweep["id"]]
    assert sorted(j["sweep"]["point"] for j in mine) == list(range(6))
    _, job = await sweeps.call("GET", f"jobs/{ids[5]}")
    assert job["collected"]["val_loss"] == pytest.approx(0.05 * 10 + 2)
    assert job["engine_ref"]["proc_id"] == 5 and job["engine_ref"]["cluster_id"] == cluster
    # the table as CSV
    resp = await jp_fetch("swan-ml-ext", "sweeps", sweep["id"], params={"format": "csv"})
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert f'filename="lr-scan-{sweep["id"]}.csv"' in resp.headers["Content-Disposition"]
    lines = resp.body.decode().splitlines()
    assert lines[0] == "point,lr,seed,state,val_loss,accuracy,job_id,notebook,message"
    assert len(lines) == 7 and lines[1].startswith("0,0.01,1,completed,1.1,0.1,")
    # the list of sweeps, and the backend's one engine submission
    status, listed = await sweeps.call("GET", "sweeps")
    assert [s["id"] for s in listed["sweeps"]] == [sweep["id"]]
    _, backends = await sweeps.call("GET", "backends")
    (condor,) = [b for b in backends["backends"] if b["name"] == "condor"]
    assert condor["capabilities"]["batch_submit"] is True
    assert condor["stats"]["submissions"] == 1


async def test_a_failing_point_fails_alone_and_is_resubmitted_after_a_fix(
    sweeps, notebook, jp_root_dir
):
    nb = notebook("fit.ipynb", COMPUTE, params=PARAMS)
    sweep = await sweeps.create(
        notebook=nb,
        sweep=[{"lr": 0.1, "seed": 1}, {"lr": 0.2, "seed": 99}, {"lr": 0.3, "seed": 3}],
        collect=["val_loss"],
    )
    sweep = await sweeps.wait_sweep(sweep["id"])
    # one point raising: its row failed with its error, the others completed
    assert sweep["state"] == "failed", sweep
    assert [r["state"] for r in sweep["rows"]] == ["completed", "failed", "completed"]
    failed = sweep["rows"][1]
    assert "ValueError" in failed["message"] and "bad seed 99" in failed["message"]
    assert failed["val_loss"] is None
    assert [r["val_loss"] for r in sweep["rows"][::2]] == [pytest.approx(2.0), pytest.approx(6.0)]
    # When the notebook is fixed and the failed points resubmitted
    write_notebook(jp_root_dir / nb, COMPUTE.replace("seed == 99", "seed == -1"), params=PARAMS)
    status, again = await sweeps.call("POST", f"sweeps/{sweep['id']}/resubmit")
    assert status == 200, again
    assert again["engine"]["submissions"] == 2
    assert again["rows"][1]["job_id"] != failed["job_id"]
    assert [r["job_id"] for r in again["rows"][::2]] == [r["job_id"] for r in sweep["rows"][::2]]
    done = await sweeps.wait_sweep(sweep["id"])
    assert done["state"] == "completed" and done["rows"][1]["val_loss"] == pytest.approx(101.0)
    # nothing failed any more
    status, error = await sweeps.call("POST", f"sweeps/{sweep['id']}/resubmit")
    assert status == 409 and "no failed" in error["message"]


async def test_cancel_one_point_then_the_sweep(sweeps, notebook):
    nb = notebook("slow.ipynb", "import time\ntime.sleep(600)", params="n = 0")
    sweep = await sweeps.create(notebook=nb, sweep={"n": [1, 2, 3]})
    ids = [r["job_id"] for r in sweep["rows"]]
    _, job0 = await sweeps.call("GET", f"jobs/{ids[0]}")
    cluster = job0["engine_ref"]["cluster_id"]
    # cancelling one point removes its proc only, not its siblings
    status, job = await sweeps.call("DELETE", f"jobs/{ids[0]}")
    assert status == 200 and job["state"] == "cancelled"
    left = {p["ProcId"]: p["JobStatus"] for p in procs(f"ClusterId == {cluster}")}
    assert left[0] == 3 and left[1] != 3 and left[2] != 3, left
    # cancelling the sweep removes the rest
    status, cancelled = await sweeps.call("DELETE", f"sweeps/{sweep['id']}")
    assert status == 200 and cancelled["state"] == "cancelled", cancelled
    assert [r["state"] for r in cancelled["rows"]] == ["cancelled"] * 3
    deadline = time.monotonic() + 30
    while {p["JobStatus"] for p in procs(f"ClusterId == {cluster}")} != {3}:
        assert time.monotonic() < deadline, procs(f"ClusterId == {cluster}")
        await asyncio.sleep(0.5)
    # cancelling it again is answered with the sweep as it is (idempotent)
    status, again = await sweeps.call("DELETE", f"sweeps/{sweep['id']}")
    assert status == 200 and again["state"] == "cancelled" and again["rows"] == cancelled["rows"]


BAD = [
    ({"sweep": {}}, "'sweep'"),
    ({"sweep": {"lr": []}}, "sweep.lr"),
    ({"sweep": {"lr": [1, 1]}}, "sweep.lr[1]"),
    ({"sweep": [{"lr": 1}, {"seed": 1}]}, "sweep[1]"),
    ({"sweep": {"lr": list(range(40)), "seed": list(range(30))}}, "1,200 points"),
    ({"collect": ["val-loss"]}, "collect[0]"),
    ({"collect": [1]}, "collect[0]"),
    ({"sweep": {"lr": [1e999]}}, "not a finite number"),  # NaN / Infinity are not JSON
    ({"parameters": {"lr": 1}}, "'lr'"),
    ({"resources": {"gpus": 9}}, "resources.gpus"),
    ({"notebook": "../x.ipynb"}, "'notebook'"),
    ({"sweep": None}, "'sweep'"),
]


@pytest.mark.parametrize("change, field", BAD)
async def test_each_bad_input_is_a_400_naming_the_field_and_nothing_is_created(
    sweeps, notebook, jp_serverapp, change, field
):
    nb = notebook("bad.ipynb", COMPUTE, params=PARAMS)
    body = {"notebook": nb, "sweep": {"lr": [0.1, 0.2]}, "collect": ["val_loss"], **change}
    status, error = await sweeps.call("POST", "sweeps", raw=json.dumps(body).encode())
    assert status == 400, error
    assert field in error["message"], error
    # nothing created: no sweep, no job, nothing staged, nothing in the schedd
    _, listed = await sweeps.call("GET", "sweeps")
    _, jobs = await sweeps.call("GET", "jobs")
    assert listed["total"] == 0 and jobs["total"] == 0
    app = next(iter(jp_serverapp.extension_manager.extension_apps["swan_ml_ext"]))
    staging = Path(app.staging_dir)
    assert not staging.exists() or not list(staging.iterdir())
    _, backends = await sweeps.call("GET", "backends")
    (condor,) = [b for b in backends["backends"] if b["name"] == "condor"]
    assert condor["stats"]["submissions"] == 0  # nothing reached the schedd


class TestTheApiOnTheFakeBackend:
    """The API's answers that need no engine: refusals, 404s, the CSV, an idempotent cancel
    (the fake backend keeps its points pending; no pool)."""

    @pytest.fixture
    def jp_server_config(self, tmp_path: Path) -> dict[str, Any]:
        return server_config(
            tmp_path, backends=["fake"], backend_classes={"fake": "tests.fake_backend:FakeBackend"}
        )

    async def test_bad_query_arguments_are_400s(self, sweeps, notebook):
        for params in ({"page_token": "abc"}, {"page_token": "²"}, {"limit": "0"}):
            status, error = await sweeps.call("GET", "sweeps", **params)
            assert status == 400, (params, error)
        sweep = await sweeps.create(
            notebook=notebook("a.ipynb", "y = x", params="x = 0"),
            sweep={"x": [1, 2]},
            resources=None,
        )
        status, error = await sweeps.call("GET", f"sweeps/{sweep['id']}", format="xml")
        assert status == 400 and "'format' must be json or csv" in error["message"], error

    async def test_an_unknown_sweep_is_a_404_for_every_verb(self, sweeps):
        for method, path in (
            ("GET", "sweeps/nope"),
            ("DELETE", "sweeps/nope"),
            ("POST", "sweeps/nope/resubmit"),
        ):
            status, error = await sweeps.call(method, path)
            assert status == 404 and "no sweep with id 'nope'" in error["message"], (path, error)

    async def test_the_table_as_csv_and_an_idempotent_cancel(self, sweeps, notebook, jp_fetch):
        nb = notebook("ana/scan.ipynb", "y = x", params="x = 0")
        sweep = await sweeps.create(
            notebook=nb, sweep={"x": [1, -2]}, name="my scan!", resources=None
        )
        resp = await jp_fetch("swan-ml-ext", "sweeps", sweep["id"], params={"format": "csv"})
        assert resp.code == 200 and resp.headers["Content-Type"] == "text/csv; charset=utf-8"
        disposition = resp.headers["Content-Disposition"]
        assert disposition == f'attachment; filename="my-scan-{sweep["id"]}.csv"'
        lines = resp.body.decode().splitlines()
        assert lines[0] == "point,x,state,job_id,notebook,message"
        assert [line.split(",")[:3] for line in lines[1:]] == [
            ["0", "1", "pending"],
            ["1", "-2", "pending"],
        ]
        # cancelling twice: the second answers the sweep as it is
        status, cancelled = await sweeps.call("DELETE", f"sweeps/{sweep['id']}")
        assert status == 200 and cancelled["state"] == "cancelled", cancelled
        status, again = await sweeps.call("DELETE", f"sweeps/{sweep['id']}")
        assert status == 200 and again == cancelled


def test_sigkill_mid_sweep_every_point_ends_once(tmp_path: Path, condor_pool: None) -> None:
    """The server dies twice: right after the schedd accepted a batch (before the points'
    engine references were stored), then again while the points run. Every point ends, each
    exactly once: the batch's procs that lost their record are removed and submitted again."""
    dying = dying_server(tmp_path, "tests.kill_sweep_backend.KillAfterBatchBackend")
    write_notebook(
        dying.root / "nap.ipynb", "import time\ntime.sleep(6)\nout = n * 2", params="n = 0"
    )
    dying.start()
    body = {
        "notebook": "nap.ipynb",
        "sweep": {"n": [1, 2, 3]},
        "collect": ["out"],
        "resources": SMALL,
        "idempotency_key": "nap",
    }
    # When it is started again (plain backend)
    server = restarted_after(dying, lambda: dying.client.request("POST", "sweeps", body))
    try:
        (listed,) = server.client.request("GET", "sweeps")["sweeps"]
        sweep_id = listed["id"]
        ids = [r["job_id"] for r in server.client.request("GET", f"sweeps/{sweep_id}")["rows"]]
        # wait until a point runs, then kill it again
        deadline = time.monotonic() + 120
        while not any(server.client.job(i)["state"] == "running" for i in ids):
            assert time.monotonic() < deadline, [server.client.job(i) for i in ids]
            time.sleep(0.5)
        server.kill()
        server = ServerProcess(tmp_path)
        server.start()
        jobs = server.wait_all(ids)
        assert [j["state"] for j in jobs] == ["completed"] * 3, jobs
        sweep = server.client.request("GET", f"sweeps/{sweep_id}")
        assert sweep["state"] == "completed" and [r["out"] for r in sweep["rows"]] == [2, 4, 6]
        # each point ran exactly once: one completed proc per point, any other removed
        deadline = time.monotonic() + 20
        while True:
            members = ", ".join(json.dumps(i) for i in ids)
            found = procs(f"member(SwanMLJobId, {{{members}}})")
            done = [p for p in found if p["JobStatus"] == 4]
            if len(done) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert sorted(p["SwanMLJobId"] for p in done) == sorted(ids), found
        assert {p["JobStatus"] for p in found} <= {3, 4}, found
        # a retried POST with its key returns the sweep
        assert server.client.request("POST", "sweeps", body)["id"] == sweep_id
    finally:
        server.stop()


@pytest.fixture
def kfp_config(tmp_path: Path) -> dict[str, Any]:
    return server_config(tmp_path, backends=["kubeflow"])


class TestKubeflow:
    @pytest.fixture
    def jp_server_config(self, kfp_config: dict[str, Any]) -> dict[str, Any]:
        return kfp_config

    async def test_a_kfp_local_sweep_is_one_run_per_point(self, sweeps, notebook):
        nb = notebook("kf.ipynb", COMPUTE, params=PARAMS)
        sweep = await sweeps.create(
            notebook=nb,
            backend="kubeflow",
            sweep={"seed": [1, 2, 3]},
            parameters={"lr": 0.5},
            collect=["val_loss"],
            resources={"cpus": 1, "memory_mb": 512},
        )
        # no batch submission for kfp.local (no ParallelFor there): one run per point
        assert sweep["engine"] == {"submissions": 3, "batch": False}
        sweep = await sweeps.wait_sweep(sweep["id"], timeout=300)
        assert sweep["state"] == "completed", sweep
        assert [r["val_loss"] for r in sweep["rows"]] == [6.0, 7.0, 8.0]
        runs = set()
        for row in sweep["rows"]:
            _, job = await sweeps.call("GET", f"jobs/{row['job_id']}")
            runs.add(job["engine_ref"]["run_id"])
        assert len(runs) == 3


def test_the_cli_and_the_magic_run_a_sweep_and_show_its_table(
    tmp_path: Path, condor_pool: None
) -> None:
    from .test_magics_cli import Kernel, cli, kernel_env

    server = ServerProcess(tmp_path)
    # the notebook reads a data file beside it: the verbs send it with every point (detected)
    reads = "events = open('data/events.csv').read().split()"
    write_notebook(server.root / "ana" / "train.ipynb", reads, COMPUTE, params=PARAMS)
    (server.root / "ana" / "data").mkdir()
    (server.root / "ana" / "data" / "events.csv").write_text("e\n1\n2\n")
    server.start()
    try:
        # swan-ml sweep ... --wait --json: the sweep with its table; exit 0 when all completed
        grid = ["-p", "lr=0.1,0.2", "-p", "seed=range(1,3)", "--collect", "val_loss"]
        r = cli(server, "--json", "sweep", "ana/train.ipynb", *grid, "--memory", "256MB", "--wait")
        assert r.returncode == 0, r.stderr
        assert "sending 1 input (6 bytes): ana/data/events.csv" in r.stderr
        sweep = json.loads(r.stdout)
        assert sweep["state"] == "completed" and sweep["counts"]["total"] == 4
        table = [(row["lr"], row["seed"], row["val_loss"]) for row in sweep["rows"]]
        assert table == [(0.1, 1, 2.0), (0.1, 2, 3.0), (0.2, 1, 3.0), (0.2, 2, 4.0)]
        # a bad -p is one line, exit 2, nothing sent
        r = cli(server, "sweep", "ana/train.ipynb", "-p", "seed=range(0)")
        assert r.returncode == 2 and "is empty" in r.stderr, r.stderr
        assert server.client.request("GET", "sweeps")["total"] == 1
        # %swan sweep in the notebook's own kernel: the table, as a DataFrame (pandas here)
        kernel = Kernel(
            kernel_env(server, server.root / "ana" / "train.ipynb"), server.root / "ana"
        )
        try:
            out = kernel.run(
                "df = %swan sweep -p seed=5,6 -p lr=0.3 --collect val_loss,accuracy"
                " --memory 256MB --wait\n"
                "print(type(df).__name__, df['val_loss'].tolist(), df['state'].tolist())"
            )
            assert out["error"] is None, out
            assert "DataFrame [8.0, 9.0] ['completed', 'completed']" in out["stdout"], out
            out = kernel.run("%swan sweep -p seed=")
            assert "swan:" in out["stderr"] and out["error"] is None, out
        finally:
            kernel.stop()
    finally:
        server.stop()
