"""Jobs as supervised local processes: real processes, real signals, /proc; no mocks.

The "server restart" is a real server stand-in (a Python subprocess that starts the job) killed
with SIGKILL. One test runs the real runner (papermill + python3 kernel, ~5 s).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

import swan_ml_ext
from swan_ml_ext.backends.local_process import (
    LocalProcess,
    ProcessStatus,
    progress_file,
    read_progress,
)

RUNNER = Path(swan_ml_ext.__file__).resolve().parent / "runner.py"

# Prints, then waits for a file named `go` in its working directory, then exits with argv[1].
CHILD = (
    "import pathlib, sys, time\n"
    "print('started', flush=True)\n"
    "print('a warning', file=sys.stderr, flush=True)\n"
    "while not pathlib.Path('go').exists(): time.sleep(0.02)\n"
    "print('done', flush=True)\n"
    "sys.exit(int(sys.argv[1]))\n"
)


def wait_for(what: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture
def started() -> Iterator[list[LocalProcess]]:
    """Processes a test started: whatever a failing test leaves running is cancelled."""
    procs: list[LocalProcess] = []
    yield procs
    for proc in procs:
        proc.cancel(grace_s=0.5)


def start(started: list[LocalProcess], state: Path, argv: list[str], **kw: Any) -> LocalProcess:
    proc = LocalProcess.start(state, argv, **kw)
    started.append(proc)
    return proc


def read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def proc_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 on (state, ppid, pgrp, ...); None when there is none."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return None
    return raw[raw.rfind(b")") + 2 :].decode().split()


def gone(pid: int) -> bool:
    """Dead: no such process, or only a zombie waiting for its parent (init) to reap it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    fields = proc_fields(pid)
    return fields is None or fields[0] in ("Z", "X")


def exited(proc: LocalProcess) -> ProcessStatus | None:
    status = proc.status()
    return status if status.state == "exited" else None


def test_running_process_logs_then_its_exit_code_is_recorded(
    tmp_path: Path, started: list[LocalProcess]
) -> None:
    # Given
    state = tmp_path / "state"
    proc = start(started, state, [sys.executable, "-c", CHILD, "3"], cwd=tmp_path)

    # Then: it runs detached (its own session and group), its output is a live log
    assert proc.status() == ProcessStatus("running")
    fields = proc_fields(proc.pid)
    assert fields is not None and int(fields[2]) == int(fields[3]) == proc.pid == proc.pgid
    assert proc.pgid != os.getpgid(0)
    assert wait_for(lambda: proc.tail(10) == ("started\n", "a warning\n"))
    saved = json.loads((state / "state.json").read_text())
    assert saved["pid"] == proc.pid and saved["argv"] == [sys.executable, "-c", CHILD, "3"]
    assert saved["start_ticks"] == int(fields[19])

    # When: it exits with code 3
    (tmp_path / "go").touch()
    status = wait_for(lambda: exited(proc))

    # Then
    assert status.returncode == 3 and not status.cancelled
    record = json.loads((state / "exit.json").read_text())
    assert record["returncode"] == 3 and record["finished_at"] >= saved["started_at"]
    assert proc.tail(1) == ("done\n", "a warning\n")
    assert proc.tail(None)[0] == "started\ndone\n"
    assert wait_for(lambda: gone(proc.pid))  # the supervisor is over too (and reaped)
    assert proc.cancel() is False  # nothing left to cancel; the record stays as it was
    assert proc.status().returncode == 3 and not proc.status().cancelled


def test_cancel_stops_the_whole_process_group(tmp_path: Path, started: list[LocalProcess]) -> None:
    # Given: a shell that started a background child and waits for it
    proc = start(
        started,
        tmp_path / "state",
        ["sh", "-c", "sleep 1000 & echo $! > bg.pid; wait"],
        cwd=tmp_path,
    )
    background = wait_for(lambda: read_pid(tmp_path / "bg.pid"))
    assert not gone(background) and not gone(proc.child_pid or 0)
    assert int(proc_fields(background)[2]) == proc.pgid  # type: ignore[index]

    # When
    started = time.monotonic()
    assert proc.cancel(grace_s=5) is True

    # Then: SIGTERM sufficed (well within the grace), and every member is gone
    assert time.monotonic() - started < 4
    status = proc.status()
    assert status.state == "exited" and status.cancelled
    assert status.returncode == -signal.SIGTERM
    assert (tmp_path / "state" / "cancel.json").exists()
    assert gone(background) and gone(proc.child_pid or 0) and gone(proc.pid)


def test_cancel_kills_what_ignores_sigterm_after_the_grace(
    tmp_path: Path, started: list[LocalProcess]
) -> None:
    # Given: the shell and its sleep both ignore SIGTERM
    proc = start(
        started,
        tmp_path / "state",
        ["sh", "-c", "trap '' TERM; sleep 1000 & echo $! > bg.pid; echo ready; wait"],
        cwd=tmp_path,
    )
    wait_for(lambda: proc.tail(1)[0] == "ready\n")
    background = wait_for(lambda: read_pid(tmp_path / "bg.pid"))

    # When
    assert proc.cancel(grace_s=0.5) is True

    # Then: SIGKILL to the group, the supervisor included; cancel recorded the exit itself
    status = proc.status()
    assert status.state == "exited" and status.cancelled
    assert status.returncode == -signal.SIGKILL
    assert wait_for(lambda: gone(background) and gone(proc.pid) and gone(proc.child_pid or 0))


def test_what_the_command_leaves_behind_is_stopped_when_it_exits(
    tmp_path: Path, started: list[LocalProcess]
) -> None:
    proc = start(
        started,
        tmp_path / "state",
        ["sh", "-c", "sleep 1000 & echo $! > bg.pid; exit 0"],
        cwd=tmp_path,
    )
    status = wait_for(lambda: exited(proc))
    assert status.returncode == 0 and not status.cancelled
    assert gone(wait_for(lambda: read_pid(tmp_path / "bg.pid")))


def test_a_command_that_cannot_run_is_exited_127(
    tmp_path: Path, started: list[LocalProcess]
) -> None:
    proc = start(started, tmp_path / "state", [str(tmp_path / "no-such-cmd")], cwd=tmp_path)
    status = wait_for(lambda: exited(proc))
    assert status.returncode == 127 and "cannot run" in status.message
    assert "no-such-cmd" in proc.tail(5)[1]


SERVER = (
    "import sys, time\n"
    "from pathlib import Path\n"
    "from swan_ml_ext.backends.local_process import LocalProcess\n"
    "p = LocalProcess.start(Path(sys.argv[1]), sys.argv[3:], cwd=Path(sys.argv[2]))\n"
    "print(p.pid, flush=True)\n"
    "time.sleep(1000)\n"
)


def test_reattached_after_the_server_is_killed_and_its_exit_still_recorded(
    tmp_path: Path, started: list[LocalProcess]
) -> None:
    # Given: a server stand-in starts the job, then dies by SIGKILL (no cleanup at all)
    state = tmp_path / "state"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(state), str(tmp_path), sys.executable, "-c", CHILD]
        + ["5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        supervisor = int(server.stdout.readline())  # type: ignore[union-attr]
    finally:
        server.kill()
        server.wait()
    assert server.returncode == -signal.SIGKILL

    # When: the next server attaches to the state folder
    proc = LocalProcess.attach(state)

    # Then: the job survived its server, and is recognised as ours
    assert proc is not None and proc.pid == supervisor
    started.append(proc)
    assert proc.status() == ProcessStatus("running")
    assert int(proc_fields(proc.pid)[1]) != server.pid  # type: ignore[index]  # reparented
    assert wait_for(lambda: proc.tail(5)[0] == "started\n")

    # When: it finishes with no server of its own left
    (tmp_path / "go").touch()

    # Then: the supervisor recorded the exit status
    status = wait_for(lambda: exited(proc))
    assert status.returncode == 5 and not status.cancelled
    record = json.loads((state / "exit.json").read_text())
    assert record == {"returncode": 5, "finished_at": record["finished_at"], "cancelled": False}
    assert LocalProcess.attach(state).status() == status  # type: ignore[union-attr]


def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


@pytest.mark.parametrize("mismatch", ["start time", "boot id"])
def test_a_reused_pid_is_not_taken_for_ours(tmp_path: Path, mismatch: str) -> None:
    # Given: an unrelated live process (a group leader, like our supervisor) holds the pid
    # recorded in a state folder, with another start time (ours started earlier) or boot
    other = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        ticks = int(proc_fields(other.pid)[19])  # type: ignore[index]
        state = tmp_path / "state"
        state.mkdir()
        (state / "state.json").write_text(
            json.dumps(
                {
                    "pid": other.pid,
                    "pgid": other.pid,
                    "start_ticks": ticks - 1 if mismatch == "start time" else ticks,
                    "boot_id": _boot_id() if mismatch == "start time" else "another-boot",
                    "argv": ["whatever"],
                    "started_at": time.time() - 60,
                    "child_pid": None,
                    "child_start_ticks": None,
                }
            )
        )

        # When
        proc = LocalProcess.attach(state)

        # Then: not running (ours is gone, without an exit record), and never signalled
        assert proc is not None
        assert proc.status().state == "lost"
        assert proc.cancel(grace_s=0.2) is False
        assert other.poll() is None and not gone(other.pid)
        assert proc.status().state == "lost" and proc.status().cancelled
    finally:
        other.kill()
        other.wait()


def test_attach_without_a_state_folder_is_none(tmp_path: Path) -> None:
    assert LocalProcess.attach(tmp_path / "nothing") is None
    assert LocalProcess.attach(tmp_path) is None
    assert read_progress(tmp_path) is None


def test_runner_with_the_file_reporter_as_a_local_process(
    tmp_path: Path, started: list[LocalProcess]
) -> None:
    # Given: a notebook, and an htchirp that leaves a mark if anything imports it, while the
    # environment looks like a chirp-enabled HTCondor job (the chirp reporter would import it)
    nb = new_notebook(
        cells=[
            new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
            new_code_cell("print('cell says', x * 2)"),
            new_code_cell("import time; time.sleep(0.2); print('second cell')"),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    (tmp_path / "params.json").write_text(json.dumps({"x": 21}))
    fake = tmp_path / "fake-htchirp"
    fake.mkdir()
    marker = tmp_path / "htchirp-imported"
    (fake / "htchirp.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("_CONDOR_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(fake), env.get("PYTHONPATH")]))
    env["_CONDOR_CHIRP_CONFIG"] = str(tmp_path / ".chirp.config")
    state = tmp_path / "state"
    # the trap works: an import of htchirp in this environment leaves the mark
    subprocess.run([sys.executable, "-c", "import htchirp"], env=env, check=True)
    assert marker.exists()
    marker.unlink()

    # When
    proc = start(
        started,
        state,
        [sys.executable, str(RUNNER), "--notebook", "nb.ipynb", "--parameters", "params.json"]
        + ["--output", "output", "--workdir", "work", "--kernel", "python3"]
        + ["--reporter", "file", "--progress-file", str(progress_file(state))],
        cwd=tmp_path,
        env=env,
    )
    seen = []
    while (status := proc.status()).state == "running":
        progress = read_progress(state)
        if progress and (not seen or seen[-1] != progress["cells_done"]):
            seen.append(progress["cells_done"])
        time.sleep(0.02)

    # Then
    assert status.returncode == 0, proc.tail(30)
    progress = read_progress(state)
    assert progress is not None
    assert progress["cells_done"] == progress["cells_total"] == 4  # with papermill's injected
    assert progress["result"] == {"status": "completed", "message": ""}
    assert "cell says 42" in progress["log_tail"] and "second cell" in progress["log_tail"]
    assert seen == sorted(seen) and seen[-1] == 4  # it only ever grew
    assert "cell says 42" in proc.tail(50)[0]  # the live log is the runner's stdout
    assert not marker.exists(), "the file reporter imported htchirp"
    assert not list(state.glob(".*.tmp"))  # atomic writes left no temporary file
    assert json.loads((tmp_path / "output" / "result.json").read_text())["status"] == "completed"
