"""Jobs that run as local processes (the Kubeflow embedded runner, the Spark driver).

One job = one state folder:

    state.json     pid, pgid and kernel start time of the supervisor (+ the command), written by
                   the supervisor before start() returns
    stdout.txt     the command's output (the live log), stderr.txt likewise
    exit.json      {"returncode", "finished_at", "cancelled"}: written when the command is over
    cancel.json    written by cancel() before it signals
    progress.json  what the runner reports with `--reporter file` (read_progress)

The command does not run as the server's child: a tiny supervisor (this file, run as a script
with the stdlib only) starts it in a new session, so the pair survives the server, and the
supervisor, not the server, waits for it and records its exit status. A restarted server
finds the job again with attach(); the supervisor's pid counts as ours only while its kernel
start time (/proc/<pid>/stat field 22) and the boot id still match, so a reused pid is never
taken for the job, nor signalled. cancel() signals the whole process group. Linux only (/proc).

Every call blocks briefly (files, /proc); the service calls them in a worker thread.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE, EXIT, CANCEL = "state.json", "exit.json", "cancel.json"
STDOUT, STDERR, PROGRESS = "stdout.txt", "stderr.txt", "progress.json"
LEFTOVER_GRACE_S = 2.0  # what the command left in its group gets this long after SIGTERM
_READY_TIMEOUT_S = 30.0


class LocalProcessError(RuntimeError):
    """The supervisor could not be started."""


@dataclass(frozen=True)
class ProcessStatus:
    """state: "running", "exited" (returncode set; negative: killed by that signal) or "lost"
    (gone without an exit record: the supervisor itself was killed, or the machine rebooted)."""

    state: str
    returncode: int | None = None
    cancelled: bool = False
    finished_at: float | None = None
    message: str = ""


# --- /proc --------------------------------------------------------------------------------


def _proc_stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat from field 3 (state) on; None if there is no such process. The command
    name (field 2) may hold spaces and parentheses, so split after its last ')'."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rfind(b")") + 2 :].decode().split()


def _start_ticks(fields: list[str]) -> int:
    return int(fields[19])  # field 22, starttime, in clock ticks since boot


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _alive(pid: int | None, start_ticks: int | None) -> bool:
    """Is `pid` alive (not a zombie) and the very process that started at start_ticks?"""
    fields = _proc_stat(pid) if pid else None
    if fields is None or fields[0] in ("Z", "X", "x"):
        return False
    return _start_ticks(fields) == start_ticks


def _group_members(pgid: int) -> list[int]:
    """Live processes of process group pgid. Only meaningful while a process known to be
    ours is one of them: a group's id is not reused while any member lives."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _proc_stat(int(entry.name))
        if fields is not None and fields[0] not in ("Z", "X", "x") and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


# --- files ----------------------------------------------------------------------------------


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_progress(state_dir: Path) -> dict[str, Any] | None:
    """What the runner last wrote with `--reporter file --progress-file STATE_DIR/progress.json`:
    {"cells_done", "cells_total", "log_tail", "result"}; None before its first write."""
    return _read_json(Path(state_dir) / PROGRESS)


def progress_file(state_dir: Path) -> Path:
    """The path to give the runner as --progress-file."""
    return Path(state_dir) / PROGRESS


# --- the server side ------------------------------------------------------------------------


class LocalProcess:
    """A command running detached under a supervisor, known by its state folder."""

    def __init__(self, state_dir: Path, state: dict[str, Any]) -> None:
        self.state_dir = Path(state_dir)
        self.pid: int = state["pid"]
        self.pgid: int = state["pgid"]
        self.start_ticks: int = state["start_ticks"]
        self.boot_id: str = state.get("boot_id", "")
        self.child_pid: int | None = state.get("child_pid")
        self.child_start_ticks: int | None = state.get("child_start_ticks")
        self.argv: list[str] = state.get("argv", [])
        self.started_at: float = state.get("started_at", 0.0)

    @classmethod
    def start(
        cls,
        state_dir: Path,
        argv: list[str],
        cwd: Path,
        env: dict[str, str] | None = None,
    ) -> LocalProcess:
        """Start argv in cwd (env: the whole environment; None inherits the server's) in a new
        session under a supervisor; returns once the command is started and state.json
        written. A command that cannot be executed is exited(127), its reason in stderr.txt."""
        state_dir = Path(state_dir).resolve()
        state_dir.mkdir(parents=True, exist_ok=True)
        if (state_dir / STATE).exists():
            raise LocalProcessError(f"{state_dir} already holds a process")
        ready_r, ready_w = os.pipe()
        try:
            with (
                open(state_dir / STDOUT, "ab") as out,
                open(state_dir / STDERR, "ab") as err,
            ):
                proc = subprocess.Popen(
                    [sys.executable, "-I", str(Path(__file__).resolve()), "--supervise"]
                    + [str(state_dir), str(ready_w), "--", *argv],
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    pass_fds=(ready_w,),
                )
        finally:
            os.close(ready_w)
        # The server reaps its supervisors (no zombies); after a restart, init does.
        threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
        with os.fdopen(ready_r, "rb") as ready:
            readable, _, _ = select.select([ready], [], [], _READY_TIMEOUT_S)
            said = ready.read() if readable else b""
        state = _read_json(state_dir / STATE)
        if said != b"ready" or state is None:
            raise LocalProcessError(
                f"the supervisor did not start (exit {proc.poll()}): "
                + (state_dir / STDERR).read_text(errors="replace")[-2000:]
            )
        return cls(state_dir, state)

    @classmethod
    def attach(cls, state_dir: Path) -> LocalProcess | None:
        """The process of a state folder, e.g. after a server restart; None when the folder
        holds none. Whether it still runs (and is really ours) is status()'s answer."""
        state = _read_json(Path(state_dir) / STATE)
        if state is None:
            return None
        return cls(state_dir, state)

    def _supervisor_alive(self) -> bool:
        return self.boot_id == _boot_id() and _alive(self.pid, self.start_ticks)

    def _group_held(self) -> bool:
        """Is the supervisor or the command itself alive? Then the group id is still ours (a
        reused pid, with another start time, never counts) and the group may be signalled."""
        return self._supervisor_alive() or (
            self.boot_id == _boot_id() and _alive(self.child_pid, self.child_start_ticks)
        )

    def status(self) -> ProcessStatus:
        """running while the supervisor or the command lives; then exited from exit.json, or
        lost without it (the supervisor was killed, or the machine rebooted)."""
        done = self._exit_record()
        if done is None and self._group_held():
            return ProcessStatus("running")
        done = done or self._exit_record()  # it may have finished between the two looks
        if done is not None:
            return done
        return ProcessStatus(
            "lost",
            cancelled=(self.state_dir / CANCEL).exists(),
            message="the process ended without recording its exit status",
        )

    def _exit_record(self) -> ProcessStatus | None:
        data = _read_json(self.state_dir / EXIT)
        if data is None:
            return None
        return ProcessStatus(
            "exited",
            returncode=data.get("returncode"),
            cancelled=bool(data.get("cancelled")),
            finished_at=data.get("finished_at"),
            message=data.get("message", ""),
        )

    def cancel(self, grace_s: float = 5.0) -> bool:
        """SIGTERM to the whole process group, SIGKILL to what is left after grace_s; records
        the cancellation (cancel.json, and exit.json's "cancelled"). Returns whether anything
        was signalled; a finished process is left as it is."""
        if self._exit_record() is not None:
            return False
        _write_json(self.state_dir / CANCEL, {"requested_at": time.time()})
        supervised = self._supervisor_alive()
        if not self._group_held():
            return False
        _killpg(self.pgid, signal.SIGTERM)
        # The supervisor writes exit.json once the command and its group are gone.
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self._group_held():
            time.sleep(0.05)
        if self._group_held():
            _killpg(self.pgid, signal.SIGKILL)
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline and self._group_held():
                time.sleep(0.02)
        if supervised and self._exit_record() is None:
            _write_json(
                self.state_dir / EXIT,
                {
                    "returncode": -signal.SIGKILL,
                    "finished_at": time.time(),
                    "cancelled": True,
                    "message": "killed after the grace period",
                },
            )
        return True

    def tail(self, lines: int | None = 100) -> tuple[str, str]:
        """The last `lines` lines of (stdout, stderr), read from the end of the files."""
        from ..jobs.files import read_tail

        return (
            read_tail(self.state_dir / STDOUT, lines),
            read_tail(self.state_dir / STDERR, lines),
        )


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# --- the supervisor (run as a script: stdlib only) -------------------------------------------


def _supervise(state_dir: Path, ready_fd: int, argv: list[str]) -> int:
    """Start argv, write state.json, say "ready", wait; stop what the command left in the
    group; write exit.json. Signals to the group (cancel) reach the command; the supervisor
    outlives them (a Python handler, unlike SIG_IGN, is not inherited by the command)."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)
    me = _proc_stat(os.getpid())
    assert me is not None
    state: dict[str, Any] = {
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
        "start_ticks": _start_ticks(me),
        "boot_id": _boot_id(),
        "argv": argv,
        "cwd": os.getcwd(),
        "started_at": time.time(),
        "child_pid": None,
    }
    try:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    except OSError as e:
        print(f"[swan-ml] cannot run {argv[0]!r}: {e}", file=sys.stderr, flush=True)
        _write_json(state_dir / STATE, state)
        _write_json(
            state_dir / EXIT,
            {"returncode": 127, "finished_at": time.time(), "message": f"cannot run: {e}"},
        )
        os.write(ready_fd, b"ready")
        return 127
    child_stat = _proc_stat(child.pid)  # not reaped before wait(): it is there
    state["child_pid"] = child.pid
    state["child_start_ticks"] = _start_ticks(child_stat) if child_stat else None
    _write_json(state_dir / STATE, state)
    os.write(ready_fd, b"ready")
    os.close(ready_fd)
    returncode = child.wait()
    _stop_leftovers(state["pgid"])
    _write_json(
        state_dir / EXIT,
        {
            "returncode": returncode,
            "finished_at": time.time(),
            "cancelled": (state_dir / CANCEL).exists(),
        },
    )
    return 0


def _stop_leftovers(pgid: int) -> None:
    """The job is over when its command is: what it left in the group (a background process,
    a kernel) gets SIGTERM, then SIGKILL. The supervisor, the group's leader, holds the group id
    meanwhile, and its own handler ignores the SIGTERM."""
    others = [p for p in _group_members(pgid) if p != os.getpid()]
    if not others:
        return
    _killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    while others and time.monotonic() < deadline:
        time.sleep(0.05)
        others = [p for p in _group_members(pgid) if p != os.getpid()]
    for pid in others:
        _signal(pid, signal.SIGKILL)


if __name__ == "__main__" and sys.argv[1:2] == ["--supervise"]:
    _dir, _fd, _sep, *_argv = sys.argv[2:]
    sys.exit(_supervise(Path(_dir), int(_fd), _argv))
