"""%swan magics in a real kernel and the swan-ml CLI, against a live server and the real pool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel

from .conftest import write_notebook
from .server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, condor_pool: None):
    srv = ServerProcess(tmp_path_factory.mktemp("magics"))
    write_notebook(
        srv.root / "sweep.ipynb",
        "print('n*2 =', n * 2, type(n).__name__, flag, type(rate).__name__, repr(label))",
        params="n = 1\nflag = False\nrate = 0.1\nlabel = 'a'",
    )
    write_notebook(srv.root / "slow.ipynb", "import time\ntime.sleep(120)")
    srv.start()
    yield srv
    srv.stop()


class Kernel:
    """A real ipykernel started like a Jupyter server starts it (same env variables)."""

    def __init__(self, env: dict[str, str], cwd: Path):
        self.km, self.kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(cwd))
        self.run("%load_ext swan_ml_ext")

    def run(self, code: str, timeout: float = 180) -> dict[str, Any]:
        msg_id = self.kc.execute(code)
        out: dict[str, Any] = {"stdout": "", "stderr": "", "html": "", "text": "", "error": None}
        while True:
            msg = self.kc.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out[content["name"]] += content["text"]
            elif kind in ("display_data", "update_display_data", "execute_result"):
                out["html"] += content["data"].get("text/html", "")
                out["text"] += content["data"].get("text/plain", "") + "\n"
            elif kind == "error":
                out["error"] = content
            elif kind == "status" and content["execution_state"] == "idle":
                return out

    def stop(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


def kernel_env(server: ServerProcess, session: Path | None = None, **extra: str) -> dict:
    env = dict(os.environ)
    env.update(
        SWAN_ML_URL=f"http://127.0.0.1:{server.port}/",
        SWAN_ML_TOKEN=server.client.server.token,
        SWAN_ML_ROOT=str(server.root),
    )
    if session is not None:
        env["JPY_SESSION_NAME"] = str(session)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def kernel(server: ServerProcess):
    k = Kernel(kernel_env(server, server.root / "sweep.ipynb"), server.root)
    yield k
    k.stop()


def test_submit_current_notebook_with_typed_parameters_and_wait(kernel, server):
    out = kernel.run("%swan submit -p n=21 -p flag=true -p rate=2.5 -p label='\"x y\"' --wait")
    assert out["error"] is None and out["stderr"] == "", out
    assert "completed" in out["text"] and "executed notebook" in out["text"]
    assert "swan-ml-jobs/sweep-" in out["html"]
    # the same job model: the REST API sees the job with typed parameters
    job = server.client.jobs(limit=1)["jobs"][0]
    assert job["notebook"] == "sweep.ipynb" and job["state"] == "completed"
    assert job["parameters"] == {"n": 21, "flag": True, "rate": 2.5, "label": "x y"}
    executed = json.loads((server.root / job["outputs"]["notebook"]).read_text())
    text = "".join(
        "".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", [])
    )
    assert "n*2 = 42 int True float 'x y'" in text


def test_jobs_status_logs_open(kernel, server):
    job = server.client.jobs(limit=1)["jobs"][0]
    out = kernel.run("%swan jobs")
    assert "<table>" in out["html"] and job["id"] in out["html"]
    assert job["id"] in out["text"]  # plain text for non-HTML frontends
    out = kernel.run(f"%swan status {job['id']}")
    assert f"{job['id']} " in out["stdout"] and "completed" in out["stdout"]
    out = kernel.run(f"%swan logs {job['id']}")
    assert "n*2 = 42" in out["stdout"]
    out = kernel.run(f"%swan open {job['id']}")
    assert "/lab/tree/swan-ml-jobs/sweep-" in out["text"]


def test_cancel_hold_release_from_the_kernel(kernel, server):
    out = kernel.run("%swan submit slow.ipynb --memory 256MB --name 'slow one'")
    assert "submitted" in out["stdout"], out
    job_id = out["stdout"].split()[1]
    assert server.client.job(job_id)["resources"]["memory_mb"] == 256
    assert "held" in kernel.run(f"%swan hold {job_id}")["stdout"]
    assert "pending" in kernel.run(f"%swan release {job_id}")["stdout"]
    assert "cancelled" in kernel.run(f"%swan cancel {job_id}")["stdout"]
    assert server.client.job(job_id)["state"] == "cancelled"


def test_cell_magic_runs_the_cell_as_a_job(kernel, server):
    out = kernel.run(
        "%%swan submit --wait --name cellrun\nimport math\nprint('pi', round(math.pi, 3))"
    )
    assert out["error"] is None and "completed" in out["text"], out
    job = server.client.jobs(limit=1)["jobs"][0]
    assert job["name"] == "cellrun" and job["notebook"].startswith(".swan-ml-cells/cellrun-")
    logs = server.client.logs(job["id"])
    assert "pi 3.142" in logs["stdout"]


@pytest.mark.parametrize(
    "line, words",
    [
        ("%swan status nosuchjob", ["no job with id 'nosuchjob'"]),
        ("%swan cancel nosuchjob", ["no job with id 'nosuchjob'"]),
        ("%swan submit --cpus many", ["invalid int value"]),
        ("%swan frobnicate", ["invalid choice"]),
        ("%swan submit -p 'bad name=1'", ["not a valid Python identifier"]),
        ("%swan submit --memory lots", ["memory 'lots'"]),
        ("%swan submit missing.ipynb", ["does not exist"]),
        ("%swan submit sweep.ipynb --gpus 9", ["gpus must be at most"]),
        # no machine could ever run it: refused (jobs/check) unless --force
        (
            "%swan submit --gpus 1 --gpu-capability 9",
            ["not submitted: no GPU has compute capability 9.0; the highest is 8.0", "--force"],
        ),
        ("%swan submit --gpus 1 --gpu-model 'A100\"'", ["resource gpu_model must be like"]),
        ("%swan check --gpu-model A100-SXM4-40GB", ["need gpus >= 1"]),
        ("%%swan jobs\nprint(1)", ["only supports 'submit'"]),
    ],
)
def test_user_errors_print_one_line(kernel, server, line, words):
    os.utime(server.root / "sweep.ipynb")  # saved: no staleness warning
    before = server.client.jobs()["total"]
    out = kernel.run(line)
    assert out["error"] is None, out["error"]
    assert "Traceback" not in out["stderr"] + out["stdout"]
    lines = [ln for ln in out["stderr"].splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(("swan:", "%swan", "%%swan")), out
    for w in words:
        assert w in lines[0]
    assert server.client.jobs()["total"] == before


def test_check_magic_says_whether_any_machine_could_run_it(kernel, server):
    os.utime(server.root / "sweep.ipynb")  # saved: no staleness warning
    before = server.client.jobs()["total"]
    out = kernel.run("%swan check --gpus 1 --gpu-capability 9")
    assert out["error"] is None and out["stderr"] == "", out
    assert out["stdout"].splitlines() == [
        "no machine could ever run it:",
        "  no GPU has compute capability 9.0; the highest is 8.0 (A100-SXM4-40GB)",
    ]
    out = kernel.run("r = %swan check --gpus 1 --gpu-model A100-SXM4-40GB -p m=2 --json\nprint(r)")
    assert out["error"] is None, out
    assert "'feasible': True" in out["stdout"] and "parameter 'm' is not" in out["stdout"]
    # %%swan check: the cell's notebook, removed afterwards
    cells = server.root / ".swan-ml-cells"
    existing = set(cells.iterdir()) if cells.exists() else set()
    out = kernel.run("%%swan check --cpus 16\nprint(1)")
    assert "no machine has 16 CPUs; the largest has 8" in out["stdout"], out
    assert (set(cells.iterdir()) if cells.exists() else set()) == existing
    assert server.client.jobs()["total"] == before


def test_warns_when_the_saved_notebook_is_older_than_the_last_run(kernel, server):
    nb = server.root / "sweep.ipynb"
    old = time.time() - 3600
    os.utime(nb, (old, old))
    kernel.run("x = 1")
    out = kernel.run("%swan submit --memory 256MB")
    assert "warning: sweep.ipynb was last saved" in out["stderr"]
    assert "submitted" in out["stdout"]
    os.utime(nb)
    kernel.run("y = 2")
    # saved after that cell ran: an explicit time.time(), as os.utime(nb) alone stamps the
    # file system's coarse clock, which can lag a few ms behind the kernel's time.time()
    now = time.time()
    os.utime(nb, (now, now))
    out = kernel.run("%swan submit --memory 256MB")
    assert "warning" not in out["stderr"] and "submitted" in out["stdout"]


def test_dry_run_magics_print_the_preview_and_submit_nothing(kernel, server):
    os.utime(server.root / "sweep.ipynb")  # saved: no staleness warning
    before = server.client.jobs()["total"]
    # the current notebook, as the HTCondor submit description and its wrapper
    out = kernel.run("%swan submit --dry-run --gpus 1 --memory 1GB -p n=3")
    assert out["error"] is None and out["stderr"] == "", out
    lines = out["stdout"].splitlines()
    assert {"request_gpus = 1", "request_memory = 1024M", "queue"} <= set(lines), lines
    assert any(ln.startswith("executable = ") for ln in lines)
    assert "#!/bin/sh" in lines and not any(ln.startswith("submitted") for ln in lines)
    # --json: the whole answer, as the cell's value
    out = kernel.run("r = %swan submit sweep.ipynb --dry-run --json\nprint(r['resources'])")
    assert out["error"] is None and "'memory_mb': 2048" in out["stdout"], out
    # %%swan: the cell's notebook is previewed, then removed (nothing stays behind)
    cells = server.root / ".swan-ml-cells"
    existing = set(cells.iterdir()) if cells.exists() else set()
    out = kernel.run("%%swan submit --dry-run --name peek\nprint('hi')")
    assert out["error"] is None and "request_cpus = 1" in out["stdout"], out
    assert (set(cells.iterdir()) if cells.exists() else set()) == existing
    # refused the same way as a submission
    out = kernel.run("%swan submit --dry-run missing.ipynb")
    assert out["stderr"].startswith("swan: ") and "does not exist" in out["stderr"], out
    out = kernel.run("%swan submit --dry-run --wait")
    assert "--dry-run submits nothing" in out["stderr"], out
    assert server.client.jobs()["total"] == before


def test_server_not_found_is_one_line(server):
    k = Kernel(kernel_env(server, SWAN_ML_URL="http://127.0.0.1:9/"), server.root)
    try:
        out = k.run("%swan jobs")
        assert out["error"] is None
        assert out["stderr"].strip().startswith("swan: cannot reach the Jupyter server")
        assert len(out["stderr"].strip().splitlines()) == 1
    finally:
        k.stop()


def test_help_documents_every_verb(kernel):
    out = kernel.run("%swan --help")
    for verb in ("submit", "jobs", "status", "logs", "cancel", "hold", "release", "open",
                 "backends"):  # fmt: skip
        assert verb in out["stdout"]


def cli(server: ServerProcess, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI run from the server root (paths are relative to the shell's folder)."""
    return subprocess.run(
        [sys.executable, "-m", "swan_ml_ext.cli", "--url", f"http://127.0.0.1:{server.port}/",
         "--token", server.client.server.token, *args],
        capture_output=True, text=True, timeout=180, cwd=cwd or server.root,
    )  # fmt: skip


def test_cli_submit_wait_json(server):
    r = cli(server, "--json", "submit", "sweep.ipynb", "-p", "n=4", "--wait")
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)
    assert job["state"] == "completed" and job["parameters"] == {"n": 4}
    r = cli(server, "--json", "jobs", "--limit", "3")
    assert r.returncode == 0 and json.loads(r.stdout)["jobs"][0]["id"] == job["id"]
    r = cli(server, "logs", job["id"])
    assert "n*2 = 8" in r.stdout
    r = cli(server, "--json", "backends")
    assert json.loads(r.stdout)["backends"][0]["name"] == "condor"


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["status", "nosuchjob"], 1, "no job with id"),
        (["submit", "sweep.ipynb", "--memory", "lots"], 2, "memory 'lots'"),
        (["submit", "sweep.ipynb", "--backend", "slurm"], 1, "unknown backend 'slurm'"),
        (["nosuchverb"], 2, "invalid choice"),
        (["submit"], 2, "needs a NOTEBOOK"),
    ],
)
def test_cli_errors(server, args, code, words):
    r = cli(server, *args)
    assert r.returncode == code
    assert words in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_dry_run_prints_the_preview_and_submits_nothing(server):
    before = server.client.jobs()["total"]
    r = cli(server, "submit", "sweep.ipynb", "--dry-run", "--cpus", "2", "--memory", "512MB")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("# HTCondor submit description")
    assert {"request_cpus = 2", "request_memory = 512M", "queue"} <= set(lines), lines
    assert any(ln.startswith("executable = ") and ln.endswith("/swan_job.sh") for ln in lines)
    r = cli(server, "--json", "submit", "sweep.ipynb", "--dry-run", "-p", "n=5")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["format"] == "htcondor-submit" and data["parameters"] == {"n": 5}
    assert data["resources"]["memory_mb"] == 2048  # the backend's default, filled in
    r = cli(server, "submit", "sweep.ipynb", "--dry-run", "--backend", "slurm")
    assert r.returncode == 1 and "unknown backend 'slurm'" in r.stderr
    assert server.client.jobs()["total"] == before


def test_cli_check_and_submit_refuses_a_job_no_machine_could_run(server):
    before = server.client.jobs()["total"]
    r = cli(server, "check", "sweep.ipynb", "--gpus", "1", "--gpu-capability", "9")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "no machine could ever run it:",
        "  no GPU has compute capability 9.0; the highest is 8.0 (A100-SXM4-40GB)",
    ]
    r = cli(server, "--json", "check", "sweep.ipynb", "--gpus", "1", "-p", "m=1",
            "--gpu-model", "Tesla V100-PCIE-16GB")  # fmt: skip
    data = json.loads(r.stdout)
    assert data["feasible"] is True and data["matching"]["gpus"] == 1, data
    assert data["warnings"] == ["parameter 'm' is not in the notebook's parameters cell"]
    r = cli(server, "submit", "sweep.ipynb", "--gpus", "1", "--gpu-capability", "9")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("swan-ml: not submitted: no GPU has compute capability 9.0")
    assert "--force" in r.stderr
    assert server.client.jobs()["total"] == before
    r = cli(server, "check")
    assert r.returncode == 2 and "needs a NOTEBOOK" in r.stderr
    # --force: queued anyway; it waits saying why
    r = cli(server, "--json", "submit", "sweep.ipynb", "--gpus", "1", "--gpu-capability", "9",
            "--memory", "256MB", "--force")  # fmt: skip
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)
    try:
        deadline = time.monotonic() + 60
        while not server.client.job(job["id"])["message"].startswith("waiting: no GPU has"):
            assert time.monotonic() < deadline, server.client.job(job["id"])
            time.sleep(0.3)
    finally:
        server.client.cancel(job["id"])


def test_cli_backends_lists_gpus_per_model(server):
    r = cli(server, "backends")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    a100 = next(ln for ln in lines if ln.strip().startswith("A100-SXM4-40GB:"))
    assert a100.strip().endswith(" of 2 free, 46.5 GB, cc 8.0"), a100
    v100 = next(ln for ln in lines if ln.strip().startswith("Tesla V100-PCIE-16GB:"))
    assert v100.strip().endswith(" of 1 free, 23.7 GB, cc 7.0"), v100


def test_cli_global_options_after_the_verb(server):
    """`swan-ml jobs --json` as the README shows it; --url/--token after the verb too."""
    r = subprocess.run(
        [sys.executable, "-m", "swan_ml_ext.cli", "jobs", "--limit", "2", "--json",
         "--url", f"http://127.0.0.1:{server.port}/", "--token", server.client.server.token],
        capture_output=True, text=True, timeout=60, cwd=server.root,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "jobs" in json.loads(r.stdout)
    r = cli(server, "backends", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["backends"][0]["name"] == "condor"


def test_cli_resources_follow_the_backends_schema(server):
    """--resource KEY=VALUE typed by the default backend's schema; an unknown key is a usage
    error naming the known ones, sent nowhere; `backends` lists the fields and capabilities;
    `status` shows the engine reference through the backend's labels."""
    data = server.client.backends()
    backend = next(b for b in data["backends"] if b["name"] == data["default_backend"])
    known = list(backend["resource_schema"]["properties"])
    r = cli(server, "--json", "submit", "sweep.ipynb", "--resource", "cpus=1",
            "--resource", "memory_mb=256")  # fmt: skip
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)
    assert server.client.job(job["id"])["resources"]["cpus"] == 1
    assert server.client.job(job["id"])["resources"]["memory_mb"] == 256
    before = server.client.jobs()["total"]
    r = cli(server, "submit", "sweep.ipynb", "--resource", "nope=1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == (
        f"swan-ml: unknown resource 'nope'; backend {backend['name']!r} resources: "
        + ", ".join(known)
    )
    r = cli(server, "submit", "sweep.ipynb", "--resource", "memory_mb=lots")
    assert r.returncode == 2 and "memory_mb 'lots'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert server.client.jobs()["total"] == before
    r = cli(server, "backends")
    assert r.returncode == 0, r.stderr
    on = [c for c, v in backend["capabilities"].items() if v]
    assert f"  capabilities: {', '.join(on)}" in r.stdout.splitlines()
    for key in known:
        assert any(ln.split()[:1] == [key] for ln in r.stdout.splitlines()), key
    done = server.wait_all([job["id"]])[0]
    assert done["state"] == "completed", done
    r = cli(server, "status", job["id"])
    assert r.returncode == 0, r.stderr
    ref = done["engine_ref"]
    shown = [f"{i['label']} {ref[i['key']]}" for i in backend["engine_ref_labels"]
             if ref.get(i["key"]) not in (None, "", [])]  # fmt: skip
    assert shown, ref
    engine = next(ln for ln in r.stdout.splitlines() if ln.startswith("  engine: "))
    assert engine.startswith(f"  engine: {shown[0]}")
    unlabelled = set(ref) - {i["key"] for i in backend["engine_ref_labels"]}
    assert all(f"{k}" not in engine for k in unlabelled)
    assert "  actions: none" in r.stdout.splitlines()


@pytest.fixture(scope="module")
def subfolder(server: ServerProcess) -> Path:
    """root/mag/{driver,target}.ipynb, mag/data.csv; and a notebook outside the root."""
    mag = server.root / "mag"
    mag.mkdir(exist_ok=True)
    write_notebook(mag / "driver.ipynb", "print('driver')")
    write_notebook(mag / "target.ipynb", "print('data:', open('data.csv').read())")
    (mag / "data.csv").write_text("1,2,3")
    write_notebook(server.root.parent / "outside.ipynb", "print('outside')")
    return mag


def test_paths_are_relative_to_the_kernel_and_shell_folder(server, subfolder):
    """A notebook in mag/ submits its sibling by relative name; the CLI from mag/ too; a path
    outside the root is refused client-side (one line naming the root; CLI exit 2, usage)."""
    root = str(server.root.resolve())
    k = Kernel(kernel_env(server, subfolder / "driver.ipynb"), subfolder)
    try:
        before = server.client.jobs()["total"]
        out = k.run("%swan submit target.ipynb --input data.csv --memory 256MB --wait")
        assert out["error"] is None and "completed" in out["text"], out
        job = server.client.jobs(limit=1)["jobs"][0]
        assert (job["notebook"], job["inputs"]) == ("mag/target.ipynb", ["mag/data.csv"])
        assert "data: 1,2,3" in server.client.logs(job["id"])["stdout"]
        # `..` inside the root, and an absolute path inside it, are fine; the current
        # notebook (no NOTEBOOK) is still found from JPY_SESSION_NAME
        for line, notebook in [
            ("%swan submit ../sweep.ipynb --memory 256MB", "sweep.ipynb"),
            (f"%swan submit {subfolder / 'target.ipynb'} --memory 256MB", "mag/target.ipynb"),
            ("%swan submit --memory 256MB", "mag/driver.ipynb"),
        ]:
            out = k.run(line)
            assert "submitted" in out["stdout"], (line, out)
            assert server.client.jobs(limit=1)["jobs"][0]["notebook"] == notebook
        for line in ("%swan submit ../../outside.ipynb", "%swan submit target.ipynb --input /etc"):
            total = server.client.jobs()["total"]
            out = k.run(line)
            lines = [ln for ln in out["stderr"].splitlines() if ln.strip()]
            assert len(lines) == 1 and lines[0].startswith("swan: "), out
            assert f"outside the server root {root}" in lines[0]
            assert server.client.jobs()["total"] == total
        assert server.client.jobs()["total"] == before + 4
    finally:
        k.stop()
    for job in server.client.jobs(limit=3)["jobs"]:
        if job["state"] not in ("completed", "failed", "cancelled"):
            server.client.cancel(job["id"])

    r = cli(server, "submit", "target.ipynb", "--input", "data.csv", "--wait", "--json",
            cwd=subfolder)  # fmt: skip
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)
    assert (job["notebook"], job["inputs"], job["state"]) == (
        "mag/target.ipynb", ["mag/data.csv"], "completed",
    )  # fmt: skip
    r = cli(server, "submit", "../../outside.ipynb", cwd=subfolder)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == (
        f"swan-ml: notebook '../../outside.ipynb' is outside the server root {root}"
    )
    r = cli(server, "submit", str(server.root.parent / "outside.ipynb"))
    assert r.returncode == 2 and f"outside the server root {root}" in r.stderr


def test_cli_help_lists_verbs_and_pool(server):
    r = cli(server, "--help")
    assert r.returncode == 0
    for verb in ("submit", "jobs", "status", "logs", "cancel", "hold", "release", "open",
                 "backends", "pool"):  # fmt: skip
        assert verb in r.stdout


def test_cli_finds_the_server_through_the_runtime_dir(tmp_path, condor_pool):
    """No --url/--token: the CLI reads the running server's jpserver-*.json."""
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    env.pop("SWAN_ML_URL", None)
    srv = ServerProcess(tmp_path, env=env)
    write_notebook(srv.root / "one.ipynb", "print('found you')")
    srv.start()
    try:
        r = subprocess.run(
            [sys.executable, "-m", "swan_ml_ext.cli", "--json", "submit", "one.ipynb", "--wait"],
            capture_output=True, text=True, timeout=180, env=env, cwd=srv.root,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        job = json.loads(r.stdout)
        assert job["state"] == "completed"
        r = subprocess.run(
            [sys.executable, "-m", "swan_ml_ext.cli", "logs", job["id"], "--follow"],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert r.returncode == 0 and "found you" in r.stdout
    finally:
        srv.stop()
    # with no server left, one clear line and a failure code
    r = subprocess.run(
        [sys.executable, "-m", "swan_ml_ext.cli", "jobs"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert r.returncode == 1 and "no Jupyter server with swan-ml-ext found" in r.stderr
