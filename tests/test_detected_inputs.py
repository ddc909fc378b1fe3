"""The files a notebook reads, detected and sent with it (issue 13, items 2 and 4): POST
jobs/check and jobs/preview propose them (pool-free, on the fake backend), `swan-ml submit` /
`%swan submit` send them unless --no-detect and say what is sent (the verbs against a recording
client; then once for real on the pool), the runner moves the HTCondor sandbox's inputs
instead of copying them again, and a backend that sends no inputs says so."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from swan_ml_ext import cli, runner
from swan_ml_ext.backends.base import Backend
from swan_ml_ext.check_commands import dry_run, format_check, submit_checked
from swan_ml_ext.client import ClientError, Server, SwanMLClient
from swan_ml_ext.commands import build_parser
from swan_ml_ext.input_commands import detected_lines
from swan_ml_ext.view_commands import format_job

from .conftest import server_config, write_notebook
from .fake_backend import FakeBackend
from .server import ServerProcess

READS = [
    "import glob\nimport pandas as pd\ndf = pd.read_csv('data/events.csv')",
    "cfg = open('cfg.yaml').read()\nruns = glob.glob('runs/*.root')",
    "import uproot\nlumi = uproot.open('/eos/user/j/jdoe/lumi.root')\ndf.to_csv('out.csv')",
    # never proposed: the jobs' own outputs, a path outside the root, an f-string
    "old = open('swan-ml-jobs/read-0/x.txt').read()\nsecret = open('../../secret.txt')\n"
    "name = f'data/{df}.csv'",
]


class NoInputsBackend(FakeBackend):
    """An engine that sends no input files (as kubeflow)."""

    name: ClassVar[str] = "noinputs"
    capabilities: ClassVar[dict[str, bool]] = {**FakeBackend.capabilities, "inputs": False}


def put(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


def tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


# -- POST jobs/check and jobs/preview ---------------------------------------------------------
@pytest.fixture
def jp_server_config(tmp_path: Path) -> dict[str, Any]:
    return server_config(
        tmp_path,
        backends=["fake", "noinputs"],
        default_backend="fake",
        backend_classes={
            "fake": "tests.fake_backend:FakeBackend",
            "noinputs": "tests.test_detected_inputs:NoInputsBackend",
        },
        environments={"default": {"kernels": ["python3"], "shared_prefixes": ["/eos"]}},
    )


@pytest.fixture
def ana(jp_root_dir: Path, notebook: Any) -> str:
    """ana/read.ipynb next to the data it reads; a file it only writes; an old job's output."""
    put(jp_root_dir, "ana/data/events.csv", "e\n1\n2\n39\n")  # 9 bytes
    put(jp_root_dir, "ana/cfg.yaml", "lr: 1\n")  # 6 bytes
    put(jp_root_dir, "ana/runs/a.root", "x" * 100)
    put(jp_root_dir, "ana/runs/sub/b.root", "y" * 50)
    put(jp_root_dir, "ana/out.csv", "written, not read")
    put(jp_root_dir, "swan-ml-jobs/read-0/x.txt", "an earlier job's output")
    return notebook("ana/read.ipynb", *READS)


EXPECTED = [
    {"path": "ana/data/events.csv", "kind": "file", "bytes": 9, "files": 1, "in_place": False,
     "cell": 1},
    {"path": "ana/cfg.yaml", "kind": "file", "bytes": 6, "files": 1, "in_place": False, "cell": 2},
    {"path": "ana/runs", "kind": "folder", "bytes": 150, "files": 2, "in_place": False, "cell": 2},
    {"path": "/eos/user/j/jdoe/lumi.root", "kind": "file", "bytes": 0, "files": 0,
     "in_place": True, "cell": 3},
]  # fmt: skip


async def test_check_and_preview_propose_what_the_notebook_reads(
    api, jp_root_dir, tmp_path, ana
) -> None:
    before = tree(jp_root_dir)
    # When the job is checked and previewed (no inputs given)
    status, checked = await api.call("POST", "jobs/check", {"notebook": ana})
    assert status == 200, checked
    # Then both propose the files and folders its code reads, with their sizes, the shared
    # one as read in place (the answers conform to the OpenAPI document: api.call checks it)
    assert checked["detected_inputs"] == EXPECTED
    assert checked["warnings"] == []
    status, shown = await api.call("POST", "jobs/preview", {"notebook": ana})
    assert status == 200 and shown["detected_inputs"] == EXPECTED
    assert shown["inputs"] == []  # proposed, not sent
    # The body's own inputs do not change what is detected
    body = {"notebook": ana, "inputs": ["ana/data"]}
    status, checked = await api.call("POST", "jobs/check", body)
    assert status == 200 and checked["detected_inputs"] == EXPECTED
    # And nothing was created: no job, no staging, no file in the workspace
    status, page = await api.call("GET", "jobs")
    assert status == 200 and page["total"] == 0
    staging = tmp_path / "staging"
    assert not staging.exists() or not any(staging.iterdir())
    assert tree(jp_root_dir) == before


async def test_a_backend_without_inputs_says_so_and_still_lists_them(api, ana) -> None:
    status, backends = await api.call("GET", "backends")
    caps = {b["name"]: b["capabilities"] for b in backends["backends"]}
    assert caps["fake"]["inputs"] is True and caps["noinputs"]["inputs"] is False
    status, checked = await api.call("POST", "jobs/check", {"notebook": ana, "backend": "noinputs"})
    assert status == 200 and checked["detected_inputs"] == EXPECTED
    assert checked["warnings"] == [
        "the notebook reads ana/data/events.csv, ana/cfg.yaml, ana/runs, but the noinputs backend"
        " sends no input files: read them from a shared filesystem, or use a backend that sends"
        " inputs"
    ]


async def test_a_folder_that_cannot_be_sent_says_why(api, jp_root_dir, tmp_path, ana) -> None:
    (tmp_path / "elsewhere.txt").write_text("not in the root")
    (jp_root_dir / "ana" / "runs" / "link.root").symlink_to(tmp_path / "elsewhere.txt")
    status, checked = await api.call("POST", "jobs/check", {"notebook": ana})
    assert status == 200
    runs = next(d for d in checked["detected_inputs"] if d["path"] == "ana/runs")
    assert "'ana/runs/link.root' is a link leading outside the server root" in runs["problem"]


def test_which_backends_send_inputs() -> None:
    from swan_ml_ext.backends.condor import CondorBackend
    from swan_ml_ext.backends.kubeflow.backend import KubeflowBackend
    from swan_ml_ext.backends.spark.backend import SparkBackend

    assert Backend.capabilities["inputs"] is True
    assert CondorBackend.capabilities["inputs"] is True
    assert SparkBackend.capabilities["inputs"] is True  # its driver runs from our staging
    assert KubeflowBackend.capabilities["inputs"] is False


# -- the runner: inputs moved out of a throwaway sandbox ----------------------------------------
def test_moved_inputs_keep_their_times_and_unchanged_ones_stay_unchanged(tmp_path: Path) -> None:
    inputs, work = tmp_path / "inputs", tmp_path / "work"
    put(inputs, "data/events.csv", "e\n1\n")
    put(inputs, "data/deep/more.csv", "m\n")
    put(inputs, "cfg.yaml", "a: 1\n")
    put(work, "data/already.txt", "in the working folder before")
    os.utime(inputs / "cfg.yaml", (1_000_000, 1_000_000))
    inode = (inputs / "data" / "events.csv").stat().st_ino
    runner.place_inputs(inputs, work, move=True)
    # moved (the same file, not a copy), merged into what was there, times kept
    assert (work / "data" / "events.csv").stat().st_ino == inode
    assert (work / "cfg.yaml").stat().st_mtime == 1_000_000
    assert tree(work) == ["cfg.yaml", "data", "data/already.txt", "data/deep",
                          "data/deep/more.csv", "data/events.csv"]  # fmt: skip
    assert not any(p.is_file() for p in inputs.rglob("*"))
    # what the runner compares: only what the notebook changes differs afterwards
    before = runner._files_snapshot(work)
    (work / "data" / "events.csv").write_text("changed")
    os.utime(work / "data" / "events.csv", (2_000_000, 2_000_000))
    after = runner._files_snapshot(work)
    assert [k for k in after if before.get(k) != after[k]] == ["data/events.csv"]
    # a copy (local backends: --inputs is our staging folder) leaves the inputs in place
    staged, work2 = tmp_path / "staged", tmp_path / "work2"
    put(staged, "data/x.csv", "x")
    runner.place_inputs(staged, work2)
    assert (staged / "data" / "x.csv").exists() and (work2 / "data" / "x.csv").exists()


def test_only_the_condor_wrapper_moves_inputs(tmp_path: Path) -> None:
    from swan_ml_ext.backends.condor_submit import write_wrapper
    from swan_ml_ext.backends.spark.driver import runner_argv
    from swan_ml_ext.jobs.model import Job, JobState
    from swan_ml_ext.jobs.spec import Environment

    job = Job(id="abc", name="n", backend="condor", state=JobState.PENDING,
              notebook="n.ipynb", parameters={}, resources={}, environment="default")  # fmt: skip
    write_wrapper(job, tmp_path, Environment("default"))
    assert "--inputs inputs --move-inputs " in (tmp_path / "swan_job.sh").read_text()
    (tmp_path / "inputs").mkdir()
    argv = runner_argv(job, tmp_path, tmp_path / "job", tmp_path / "state")
    assert "--inputs" in argv and "--move-inputs" not in argv


# -- the verbs: what submit sends and says ----------------------------------------------------
def answer(*detected: dict[str, Any], feasible: bool = True) -> dict[str, Any]:
    return {"feasible": feasible, "message": "", "reasons": [], "matching": None,
            "warnings": [], "detected_inputs": list(detected)}  # fmt: skip


def item(path: str, kind: str = "file", size: int = 0, **kw: Any) -> dict[str, Any]:
    files = 0 if kw.get("in_place") else (1 if kind == "file" else 3)
    return {"path": path, "kind": kind, "bytes": size, "files": files, "in_place": False,
            "cell": 1, **kw}  # fmt: skip


class Recorder(SwanMLClient):
    """Our REST client with canned answers: jobs/check and jobs/preview propose `detected`;
    every request and the bodies of POST jobs / jobs/preview are kept."""

    def __init__(self, root: Path, detected: list[dict[str, Any]], inputs_cap: bool = True):
        super().__init__(Server("http://test.invalid/", "t"))
        self._root = str(root)
        self.detected, self.inputs_cap = detected, inputs_cap
        self.calls: list[tuple[str, str]] = []
        self.sent: list[Any] = []
        self.refuse: ClientError | None = None

    def request(self, method, path, body=None, query=None):  # type: ignore[override]
        self.calls.append((method, path))
        if path == "jobs/check":
            return answer(*self.detected)
        if path == "backends":
            caps = {"cancel": True, "inputs": self.inputs_cap}
            return {"backends": [{"name": "b", "capabilities": caps}], "default_backend": "b"}
        if path in ("jobs", "jobs/preview"):
            self.sent.append(json.loads(json.dumps(body)))
            if self.refuse is not None:
                raise self.refuse
            if path == "jobs/preview":
                return {"text": "queue\n", "existing_job": None, "detected_inputs": self.detected}
            return {
                "id": "new1",
                "name": "read",
                "state": "pending",
                "inputs": body.get("inputs", []),
            }
        raise AssertionError(f"unexpected request {method} {path}")


DETECTED = [
    item("ana/data", "folder", 1_258_291),
    item("ana/cfg.yaml", size=120),
    item("/eos/user/j/lumi.root", in_place=True),
    item("ana/bad", "folder", problem="'ana/bad/x' is a link leading outside the server root"),
]


def submit_line(client: Recorder, *argv: str) -> tuple[Any, str]:
    args = build_parser("swan-ml").parse_args(["submit", "ana/read.ipynb", *argv])
    spec: dict[str, Any] = {"notebook": "ana/read.ipynb"}
    if args.input:
        spec["inputs"] = list(args.input)
    out = io.StringIO()
    return submit_checked(args, spec, client, out), out.getvalue()


def test_submit_sends_the_detected_inputs_and_says_what(tmp_path: Path) -> None:
    client = Recorder(tmp_path, DETECTED)
    job, said = submit_line(client)
    # Then the sendable ones travel (not the shared one, not the one that cannot be sent)
    assert client.sent == [{"notebook": "ana/read.ipynb", "inputs": ["ana/data", "ana/cfg.yaml"]}]
    assert job["inputs"] == ["ana/data", "ana/cfg.yaml"]
    assert said.splitlines() == [
        "read in place: /eos/user/j/lumi.root (a shared filesystem; not sent)",
        "not sent: ana/bad: 'ana/bad/x' is a link leading outside the server root",
        "sending 2 inputs (1.2 MB): ana/data/, ana/cfg.yaml",
    ]
    assert client.calls == [("POST", "jobs/check"), ("GET", "backends"), ("POST", "jobs")]


def test_own_inputs_are_added_to_and_sized_here(tmp_path: Path) -> None:
    put(tmp_path, "common/lumi.csv", "x" * 2048)
    put(tmp_path, "ana/data/.ipynb_checkpoints/old.csv", "y" * 10_000)
    client = Recorder(tmp_path, DETECTED)
    # a detected one the --input paths already send is not added again
    _, said = submit_line(client, "--input", "common/lumi.csv", "--input", "ana/data")
    assert client.sent[-1]["inputs"] == ["common/lumi.csv", "ana/data", "ana/cfg.yaml"]
    assert said.splitlines()[-1] == (
        "sending 3 inputs (2.1 KB): common/lumi.csv, ana/data/, ana/cfg.yaml"
    )


def test_no_detect_sends_only_the_given_inputs(tmp_path: Path) -> None:
    client = Recorder(tmp_path, DETECTED)
    _, said = submit_line(client, "--no-detect")
    assert client.sent == [{"notebook": "ana/read.ipynb"}] and said == ""
    put(tmp_path, "cfg.yaml", "abc")
    _, said = submit_line(client, "--no-detect", "--input", "cfg.yaml", "--force")
    assert client.sent[-1]["inputs"] == ["cfg.yaml"]
    assert said == "sending 1 input (3 bytes): cfg.yaml\n"
    assert ("GET", "backends") not in client.calls  # nothing detected to send: no question


def test_a_backend_that_sends_no_inputs_gets_none_added(tmp_path: Path) -> None:
    client = Recorder(tmp_path, DETECTED, inputs_cap=False)
    _, said = submit_line(client)
    assert client.sent == [{"notebook": "ana/read.ipynb"}]
    assert "sending" not in said


def test_a_refused_submission_says_the_inputs_were_detected(tmp_path: Path) -> None:
    client = Recorder(tmp_path, DETECTED)
    client.refuse = ClientError("the inputs hold 1.5 GB in 1,200 files; the limit is 1 GB", 400)
    with pytest.raises(ClientError) as info:
        submit_line(client)
    assert info.value.status == 400 and info.value.message == (
        "the inputs hold 1.5 GB in 1,200 files; the limit is 1 GB (sent because the notebook"
        " reads them: ana/data, ana/cfg.yaml; --no-detect leaves them out)"
    )


def test_dry_run_previews_what_submit_would_send(tmp_path: Path) -> None:
    client = Recorder(tmp_path, DETECTED)
    args = build_parser("swan-ml").parse_args(["submit", "ana/read.ipynb", "--dry-run"])
    out = io.StringIO()
    shown = dry_run(args, {"notebook": "ana/read.ipynb"}, client, out)
    assert shown.text == "queue"
    assert [body.get("inputs") for body in client.sent] == [None, ["ana/data", "ana/cfg.yaml"]]
    assert out.getvalue().splitlines()[-1] == "sending 2 inputs (1.2 MB): ana/data/, ana/cfg.yaml"


def test_check_and_status_show_inputs() -> None:
    text = format_check(answer(*DETECTED))
    assert text.splitlines() == [
        "fits",
        "the notebook reads (submit sends these unless --no-detect):",
        "  ana/data/: 3 files, 1.2 MB (cell 1)",
        "  ana/cfg.yaml: 120 bytes (cell 1)",
        "  /eos/user/j/lumi.root: read in place (cell 1)",
        "  ana/bad/: 3 files, 0 bytes (cell 1) — not sent: 'ana/bad/x' is a link leading"
        " outside the server root",
    ]
    assert detected_lines([]) == [] and detected_lines(None) == []
    job = {"id": "j1", "name": "read", "state": "failed", "message": "cell 1: …",
           "notebook": "ana/read.ipynb", "inputs": ["ana/data", "cfg.yaml"],
           "outputs": {"suggested_inputs": ["ana/data/events.csv"]}}  # fmt: skip
    lines = format_job(job).splitlines()
    assert "  inputs: ana/data, cfg.yaml" in lines
    assert "  suggested inputs: ana/data/events.csv (the job failed without them)" in lines


def test_cli_json_keeps_stdout_for_the_job(tmp_path: Path, capsys) -> None:
    client = Recorder(tmp_path, DETECTED)
    put(tmp_path, "ana/read.ipynb", "{}")
    argv = ["--json", "submit", str(tmp_path / "ana" / "read.ipynb"), "--force"]
    assert cli.run(build_parser("swan-ml").parse_args(argv), client) == cli.EXIT_OK
    captured = capsys.readouterr()
    assert json.loads(captured.out)["inputs"] == ["ana/data", "ana/cfg.yaml"]
    assert "sending 2 inputs (1.2 MB): ana/data/, ana/cfg.yaml" in captured.err


# -- for real: the CLI and the magic on the pool ---------------------------------------------
READ_EVENTS = (
    "import pandas as pd\n"
    "df = pd.read_csv('data/events.csv')\n"
    "print('rows', len(df), 'sum', int(df['e'].sum()))"
)


@pytest.fixture(scope="module")
def pool_server(tmp_path_factory: pytest.TempPathFactory, condor_pool: None):
    srv = ServerProcess(tmp_path_factory.mktemp("detected"))
    put(srv.root, "ana/data/events.csv", "e\n1\n2\n39\n")
    write_notebook(srv.root / "ana" / "read.ipynb", READ_EVENTS)
    srv.start()
    yield srv
    srv.stop()


def swan_ml(server: ServerProcess, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "swan_ml_ext.cli", "--url", f"http://127.0.0.1:{server.port}/",
         "--token", server.client.server.token, *args],
        capture_output=True, text=True, timeout=180, cwd=cwd,
    )  # fmt: skip


def test_cli_sends_what_the_notebook_reads_and_status_lists_it(pool_server) -> None:
    root = pool_server.root
    # From the notebook's folder: the detected file goes with the job, which completes
    r = swan_ml(
        pool_server, "submit", "read.ipynb", "--memory", "256MB", "--wait", cwd=root / "ana"
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "sending 1 input (9 bytes): ana/data/events.csv", lines
    job = pool_server.client.jobs(limit=1)["jobs"][0]
    assert job["state"] == "completed" and job["inputs"] == ["ana/data/events.csv"]
    assert "rows 3 sum 42" in pool_server.client.logs(job["id"])["stdout"]
    r = swan_ml(pool_server, "status", job["id"], cwd=root)
    assert "  inputs: ana/data/events.csv" in r.stdout.splitlines()
    # --no-detect: only what is named travels; without its data the job fails saying so,
    # and its view lists what to add
    r = swan_ml(pool_server, "submit", "ana/read.ipynb", "--memory", "256MB", "--no-detect",
                "--wait", cwd=root)  # fmt: skip
    assert r.returncode == 1 and "sending" not in r.stdout
    failed = pool_server.client.jobs(limit=1)["jobs"][0]
    assert failed["inputs"] == [] and "was not sent with the job" in failed["message"]
    r = swan_ml(pool_server, "status", failed["id"], cwd=root)
    assert "  suggested inputs: ana/data/events.csv (the job failed without them)" in r.stdout
    # --input names a folder, relative to the shell's folder
    r = swan_ml(pool_server, "--json", "submit", "read.ipynb", "--input", "data", "--no-detect",
                "--memory", "256MB", "--wait", cwd=root / "ana")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["inputs"] == ["ana/data"]
    assert "sending 1 input (9 bytes): ana/data/" in r.stderr


def test_the_magic_sends_what_the_current_notebook_reads(pool_server) -> None:
    from .test_magics_cli import Kernel, kernel_env

    root = pool_server.root
    k = Kernel(kernel_env(pool_server, root / "ana" / "read.ipynb"), root / "ana")
    try:
        out = k.run("%swan check")
        assert "  ana/data/events.csv: 9 bytes (cell 1)" in out["stdout"], out
        out = k.run("%swan submit --memory 256MB")
        assert out["error"] is None, out
        lines = out["stdout"].splitlines()
        assert lines[0] == "sending 1 input (9 bytes): ana/data/events.csv", out
        assert lines[1].startswith("submitted ")
        job_id = lines[1].split()[1]
        deadline = time.monotonic() + 120
        while pool_server.client.job(job_id)["state"] not in ("completed", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert pool_server.client.job(job_id)["state"] == "completed"
        out = k.run(f"%swan status {job_id}")
        assert "  inputs: ana/data/events.csv" in out["stdout"]
    finally:
        k.stop()
