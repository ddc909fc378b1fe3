"""The notebook's data travels with it: folder inputs, their limits, links out of the root,
shared filesystems, and a failure that says which workspace file was not sent. The layout
and explanation helpers are checked directly; the rest against the real personal pool."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from traitlets import TraitError

from swan_ml_ext.app import SwanMLApp
from swan_ml_ext.jobs.inputs import plan_inputs
from swan_ml_ext.jobs.missing import explain_missing
from swan_ml_ext.jobs.model import InvalidRequest

from .conftest import read_output, server_config

READ_EVENTS = (
    "import pandas as pd\n"
    "df = pd.read_csv('data/events.csv')\n"
    "print('rows', len(df), 'sum', int(df['e'].sum()))"
)


def put(root: Path, *paths: str, text: str = "e\n1\n2\n") -> None:
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_text(text)


# -- where inputs land ------------------------------------------------------------------------
def test_folders_keep_their_layout_relative_to_the_notebook(tmp_path: Path) -> None:
    put(tmp_path, "ana/data/events.csv", "ana/data/sub/more.csv", "common/lumi.csv", "cfg.yaml")
    put(tmp_path, "ana/data/.ipynb_checkpoints/events-checkpoint.csv")
    plan = plan_inputs(
        tmp_path, "ana/read.ipynb", ["ana/data", "common", "cfg.yaml", "ana/data/events.csv"], 100
    )
    assert sorted(dest for _, dest in plan.files) == [
        "cfg.yaml",  # from outside the notebook's folder: by its name
        "common/lumi.csv",
        "data/events.csv",  # once, though named twice
        "data/sub/more.csv",
    ]
    assert (plan.count, plan.bytes, plan.truncated) == (4, 24, False)


def test_two_inputs_arriving_at_one_place_are_refused(tmp_path: Path) -> None:
    put(tmp_path, "a/x.csv", "b/x.csv", "nb/n.ipynb")
    with pytest.raises(InvalidRequest, match="would both arrive as 'x.csv'"):
        plan_inputs(tmp_path, "nb/n.ipynb", ["a/x.csv", "b/x.csv"], 100)


def test_a_folder_holding_the_notebook_is_refused(tmp_path: Path) -> None:
    put(tmp_path, "ana/sub/n.ipynb", "ana/x.csv")
    for folder in ("ana", "."):
        with pytest.raises(InvalidRequest, match="holds the notebook's own folder"):
            plan_inputs(tmp_path, "ana/sub/n.ipynb", [folder], 100)


def test_links_inside_the_root_are_followed_and_loops_end(tmp_path: Path) -> None:
    put(tmp_path, "ana/data/x.csv", "shared/calib.json")
    (tmp_path / "ana/data/calib").symlink_to(tmp_path / "shared")
    (tmp_path / "ana/data/loop").symlink_to(tmp_path / "ana/data")
    (tmp_path / "ana/data/dangling").symlink_to(tmp_path / "nowhere")
    plan = plan_inputs(tmp_path, "ana/n.ipynb", ["ana/data"], 100)
    assert sorted(d for _, d in plan.files) == ["data/calib/calib.json", "data/x.csv"]


def test_the_walk_stops_after_the_file_limit(tmp_path: Path) -> None:
    put(tmp_path, *(f"d/f{i}.txt" for i in range(10)))
    plan = plan_inputs(tmp_path, "n.ipynb", ["d"], 4)
    assert (plan.count, plan.truncated) == (4, True)


# -- what a failure lacked --------------------------------------------------------------------
def failed(message: str, ename: str = "FileNotFoundError", evalue: str = "") -> dict[str, Any]:
    return {"status": "failed", "message": message, "ename": ename, "evalue": evalue}


def test_a_missing_file_that_exists_in_the_workspace_is_named(tmp_path: Path) -> None:
    put(tmp_path, "ana/data/events.csv", "ana/cfg.yaml")
    evalue = "[Errno 2] No such file or directory: 'data/events.csv'"
    result = failed(f"cell 2 [1] raised FileNotFoundError: {evalue}", evalue=evalue)
    missing = explain_missing(tmp_path, "ana/read.ipynb", [], result)
    assert missing is not None
    assert missing.message == (
        "cell 2: 'data/events.csv' exists in your workspace but was not sent with the job"
        " — add it (or 'data/') to the inputs"
    )
    assert missing.suggested_inputs == ["ana/data/events.csv"]
    # a file next to the notebook: no folder to offer
    result = failed("cell 3 raised OSError: cannot open 'cfg.yaml'", ename="OSError")
    missing = explain_missing(tmp_path, "ana/read.ipynb", ["ana/data"], result)
    assert missing is not None and missing.message == (
        "cell 3: 'cfg.yaml' exists in your workspace but was not sent with the job"
        " — add it to the inputs"
    )
    # an unquoted path (ROOT's style) counts too; a backend without inputs says so
    result = failed("cell 1 raised OSError: Failed to open file data/events.csv", "OSError")
    missing = explain_missing(tmp_path, "ana/read.ipynb", [], result, takes_inputs=False)
    assert missing is not None and "this backend sends no input files" in missing.message


def test_a_file_sent_elsewhere_says_where_it_arrived(tmp_path: Path) -> None:
    put(tmp_path, "common/lumi.csv", "ana/read.ipynb")
    evalue = "[Errno 2] No such file or directory: '../common/lumi.csv'"
    result = failed(f"cell 4 raised FileNotFoundError: {evalue}", evalue=evalue)
    missing = explain_missing(tmp_path, "ana/read.ipynb", ["common"], result)
    assert missing is not None
    assert "was sent with the job but arrives as 'common/lumi.csv'" in missing.message
    assert missing.suggested_inputs == []


@pytest.mark.parametrize(
    "result",
    [
        failed("cell 2 raised FileNotFoundError: 'data/none.csv'"),  # not in the workspace
        failed("cell 2 raised FileNotFoundError: '/etc/passwd'"),  # absolute
        failed("cell 2 raised FileNotFoundError: '../../x'"),  # outside the root
        failed("cell 2 raised KeyError: 'data/events.csv'", ename="KeyError"),  # not a file error
        {"status": "completed", "message": ""},
        {},
    ],
)
def test_other_failures_are_left_as_they_are(tmp_path: Path, result: dict[str, Any]) -> None:
    put(tmp_path, "ana/data/events.csv", "x")
    assert explain_missing(tmp_path, "ana/read.ipynb", [], result) is None
    # and a file that was sent where the notebook looked is no explanation either
    sent = failed("cell 2 raised FileNotFoundError: 'data/events.csv'")
    assert explain_missing(tmp_path, "ana/read.ipynb", ["ana/data"], sent) is None


@pytest.mark.parametrize("prefixes", ["/eos", ["eos"], ["/"], ["//"], [3]])
def test_shared_prefixes_must_be_absolute_folders(prefixes: Any) -> None:
    env = {"kernels": ["python3"], "shared_prefixes": prefixes}
    with pytest.raises((TraitError, ValueError), match="'shared_prefixes' must be a list"):
        SwanMLApp(environments={"lcg": env})


# -- against the real pool --------------------------------------------------------------------
@pytest.fixture
def jp_server_config(tmp_path: Path, condor_pool: None) -> dict[str, Any]:
    return server_config(
        tmp_path,
        environments={
            "default": {
                "python": "/opt/worker/bin/python",
                "kernels": ["python3"],
                "shared_prefixes": ["/eos", "/cvmfs/"],
            }
        },
        max_inputs_files=20,
        max_inputs_bytes=4096,
    )


@pytest.fixture
def ana(jp_root_dir: Path, notebook: Any) -> str:
    """ana/read.ipynb, which reads data/events.csv next to it."""
    put(jp_root_dir, "ana/data/events.csv", text="e\n1\n2\n39\n")
    return notebook("ana/read.ipynb", READ_EVENTS)


async def test_a_folder_input_travels_and_the_job_completes(api, jp_root_dir, ana) -> None:
    # When the notebook is submitted with its data folder
    job = await api.submit(notebook=ana, inputs=["ana/data"], resources={"memory_mb": 256})
    assert job["inputs"] == ["ana/data"]
    done = await api.wait(job["id"])
    # Then it read the file where it was next to the notebook
    assert done["state"] == "completed", done
    text = json.dumps(read_output(jp_root_dir, done).cells[0].outputs)
    assert "rows 3 sum 42" in text
    # and the unchanged input did not come back as an output file
    assert not any("events.csv" in f for f in done["outputs"]["files"]), done["outputs"]
    assert "suggested_inputs" not in done["outputs"]


async def test_without_its_data_the_failure_says_what_to_add(api, ana) -> None:
    job = await api.submit(notebook=ana, resources={"memory_mb": 256})
    done = await api.wait(job["id"])
    assert done["state"] == "failed"
    assert done["message"] == (
        "cell 1: 'data/events.csv' exists in your workspace but was not sent with the job"
        " — add it (or 'data/') to the inputs"
    )
    assert done["outputs"]["suggested_inputs"] == ["ana/data/events.csv"]


async def assert_nothing_created(api: Any, tmp_path: Path) -> None:
    status, page = await api.call("GET", "jobs")
    assert status == 200 and page["total"] == 0, page
    staging = tmp_path / "staging"
    assert not staging.exists() or not any(staging.iterdir()), list(staging.iterdir())


async def refused(api: Any, tmp_path: Path, body: dict[str, Any], *words: str) -> str:
    """POST jobs and jobs/preview both answer 400 with these words; nothing is created."""
    status, answer = await api.call("POST", "jobs", body)
    assert status == 400, answer
    for w in words:
        assert w in answer["message"], (w, answer["message"])
    assert await api.call("POST", "jobs/preview", body) == (status, answer)
    await assert_nothing_created(api, tmp_path)
    return answer["message"]


async def test_over_the_limits_the_answer_says_size_limit_and_where_data_belongs(
    api, jp_root_dir, tmp_path, ana
) -> None:
    put(jp_root_dir, "ana/big/blob.bin", text="x" * 5000)
    msg = await refused(
        api, tmp_path, {"notebook": ana, "inputs": ["ana/big", "ana/data"]}, "4.9 KB", "4 KB"
    )
    assert "shared filesystem" in msg and "/eos, /cvmfs" in msg, msg
    put(jp_root_dir, *(f"ana/many/f{i}.txt" for i in range(25)), text="1")
    await refused(
        api, tmp_path, {"notebook": ana, "inputs": ["ana/many"]}, "more than 20 files", "20 files"
    )


async def test_a_link_out_of_the_root_is_refused(api, jp_root_dir, tmp_path, ana) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    (jp_root_dir / "ana" / "data" / "link").symlink_to(secret)
    await refused(
        api, tmp_path, {"notebook": ana, "inputs": ["ana/data"]}, "'ana/data/link'", "outside"
    )
    # (a link given as the input itself is refused as before)
    (jp_root_dir / "ana" / "direct").symlink_to(secret)
    await refused(api, tmp_path, {"notebook": ana, "inputs": ["ana/direct"]}, "outside")


async def test_shared_paths_are_never_inputs(api, tmp_path, ana) -> None:
    await refused(
        api,
        tmp_path,
        {"notebook": ana, "inputs": ["/eos/user/j/jdoe/big.root"]},
        "shared filesystem /eos",
        "reads it in place",
    )
    status, backends = await api.call("GET", "backends")
    env = next(e for e in backends["environments"] if e["name"] == "default")
    assert env["shared_prefixes"] == ["/eos", "/cvmfs"]
    assert backends["limits"]["max_inputs_files"] == 20


async def test_a_folder_input_in_the_preview(api, tmp_path, ana) -> None:
    status, answer = await api.call(
        "POST", "jobs/preview", {"notebook": ana, "inputs": ["ana/data"]}
    )
    assert status == 200 and answer["inputs"] == ["ana/data"]
    assert "/inputs" in answer["text"]
    await assert_nothing_created(api, tmp_path)
