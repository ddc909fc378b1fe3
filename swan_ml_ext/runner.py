"""Runs one notebook on the worker (batch node, pod or driver). No server imports.

    python runner.py --notebook notebook.ipynb --parameters params.json --output output \
        [--inputs inputs [--move-inputs]] [--kernel python3] [--job-id ID] [--environment NAME] \
        [--setup-cell setup.py] [--collect names.json]

Executes with papermill (typed parameters injected after the `parameters`-tagged cell by
papermill's own translators), writes `output/notebook.ipynb` even when a cell fails, files the
notebook created under `output/files/`, and `output/result.json`. While it runs it reports
progress (cells done/total) and the tail of stdout/stderr through the reporter the backend
chose: `--reporter chirp` (the default) sets job-ad attributes through HTCondor chirp when the
job has an IO proxy and is silent elsewhere; `--reporter file --progress-file PATH` rewrites a
JSON file atomically (local processes). `--setup-cell FILE`: FILE's code runs first, as a cell
tagged SETUP_TAG (kept in the output, not counted in the progress; e.g. Spark's session). On
SIGTERM the kernels' process groups are killed (with a Spark JVM) before the runner exits.
The inputs are copied into the working folder (`--workdir`), or moved with `--move-inputs` where
`--inputs` is a throwaway copy (HTCondor's sandbox; never our staging folder): either way they
keep their modification times, so the unchanged ones do not come back as created files.
`--collect FILE` (a JSON list of variable names): once every cell ran, those variables are read
from the same kernel (one silent request, not a cell: the notebook is not changed) into
result.json's `collected` ({name: value}) and `collect_notes` ({name: why} for a missing name or
a value kept as its repr; see _swan_ml_collect); a run that failed has neither.
Exit status: 0 completed, 1 a cell failed, 2 the run could not start.
"""

from __future__ import annotations

import argparse
import ast
import base64
import contextlib
import errno
import inspect
import json
import os
import shutil
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

TAIL_BYTES = 2000  # one chirp command is limited to 5,120 bytes; base64 grows by 4/3
SETUP_TAG = "swan-ml-setup"  # the cell --setup-cell adds
# Reading the --collect variables (a __repr__ may hang): then the kernel is interrupted.
COLLECT_TIMEOUT_S = int(os.environ.get("SWAN_ML_COLLECT_TIMEOUT_S", "60"))
# What the executed notebook's metadata.swan_ml keeps of result.json (+ `collected`, if any)
PROVENANCE = ("job_id", "environment", "execute_host", "assigned_gpus", "parameters",
              "started_at", "finished_at", "status", "message", "python")  # fmt: skip


class Reporter:
    """Where progress, a log tail and the result go. This base keeps the tail, reports nothing;
    subclasses send it somewhere. Reporting is best effort: the run is what matters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tail = bytearray()

    def add_output(self, data: bytes) -> None:
        with self._lock:
            self._tail += data
            del self._tail[:-TAIL_BYTES]

    def tail_text(self) -> str:
        with self._lock:
            return bytes(self._tail).decode("utf-8", "replace")

    def progress(self, done: int, total: int) -> None:
        """Called with 0/N before the first cell, then after each code cell."""

    def flush_tail(self) -> None:
        """Publish the log tail kept so far (every few seconds, and after each cell)."""

    def finish(self, result: dict[str, Any]) -> None:
        """Publish the outcome ({"status", "message"}) and the last tail."""

    def close(self) -> None:
        pass


class ChirpReporter(Reporter):
    """Pushes progress and a log tail to the job ad (HTCondor chirp); no-op without an IO
    proxy. htchirp is imported only here, and only when the job has a proxy."""

    def __init__(self) -> None:
        super().__init__()
        self._chirp: Any = None
        self._sent: dict[str, str] = {}
        if os.environ.get("_CONDOR_CHIRP_CONFIG") or Path(".chirp.config").exists():
            try:
                from htchirp import HTChirp

                self._chirp = HTChirp()
                self._chirp.connect()
            except Exception as e:  # reporting is best effort, the run is what matters
                print(f"[swan-ml] progress reporting disabled: {e}", file=sys.stderr)
                self._chirp = None

    def set(self, attr: str, value: str) -> None:
        """value is a Python string, sent as a ClassAd string via base64 (no quoting issues)."""
        if self._chirp is None or self._sent.get(attr) == value:
            return
        encoded = base64.b64encode(value.encode()).decode()
        try:
            with self._lock:
                self._chirp.set_job_attr(attr, f'"{encoded}"')
            self._sent[attr] = value
        except Exception as e:
            print(f"[swan-ml] chirp {attr} failed: {e}", file=sys.stderr)

    def progress(self, done: int, total: int) -> None:
        self.set("SwanMLProgress", f"{done}/{total}")

    def flush_tail(self) -> None:
        self.set("SwanMLLogTail", self.tail_text())

    def finish(self, result: dict[str, Any]) -> None:
        self.set("SwanMLResult", json.dumps(result))
        self.flush_tail()

    def close(self) -> None:
        if self._chirp is not None:
            try:
                self._chirp.disconnect()
            except Exception as e:
                print(f"[swan-ml] chirp disconnect: {e}", file=sys.stderr)


class FileReporter(Reporter):
    """Rewrites one JSON file, {"cells_done", "cells_total", "log_tail", "result"}, atomically
    (temporary file + os.replace) on each change: a reader never sees half of it."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = Path(path)
        self._state: dict[str, Any] = {
            "cells_done": 0,
            "cells_total": None,
            "log_tail": "",
            "result": None,
        }
        self._written: str | None = None
        self._write_lock = threading.Lock()  # the tail pusher and the cells both write

    def _update(self, **changes: Any) -> None:
        with self._write_lock:
            self._state.update(changes)
            text = json.dumps(self._state)
            if text == self._written:
                return
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_text(text)
                os.replace(tmp, self.path)
                self._written = text
            except OSError as e:
                print(f"[swan-ml] progress file {self.path}: {e}", file=sys.stderr)

    def progress(self, done: int, total: int) -> None:
        self._update(cells_done=done, cells_total=total)

    def flush_tail(self) -> None:
        self._update(log_tail=self.tail_text())

    def finish(self, result: dict[str, Any]) -> None:
        self._update(result=result, log_tail=self.tail_text())


def make_reporter(kind: str, progress_file: str | None) -> Reporter:
    """The reporter the backend asked for on the command line (see the module doc)."""
    if kind == "file":
        if not progress_file:
            raise ValueError("--reporter file needs --progress-file")
        return FileReporter(progress_file)
    return ChirpReporter()


class Tee:
    """A text stream that writes through and keeps a tail for the reporter."""

    def __init__(self, stream: Any, reporter: Reporter) -> None:
        self.stream = stream
        self.reporter = reporter

    def write(self, s: str) -> int:
        self.stream.write(s)
        self.stream.flush()
        self.reporter.add_output(s.encode("utf-8", "replace"))
        return len(s)

    def flush(self) -> None:
        self.stream.flush()


def place_inputs(inputs: Path, work: Path, move: bool = False) -> None:
    """The inputs' files into the working folder, their layout and modification times kept
    (what _files_snapshot compares): copied, or with `move` renamed (no second copy of the
    data; `inputs` is left empty), copying only across filesystems."""
    if not move:
        shutil.copytree(inputs, work, dirs_exist_ok=True)
        return
    for entry in os.scandir(inputs):
        target = work / entry.name
        if entry.is_dir(follow_symlinks=False) and target.is_dir():
            place_inputs(Path(entry.path), target, move=True)  # merge into what is there
            continue
        try:
            os.rename(entry.path, target)
        except OSError as e:
            if e.errno != errno.EXDEV:
                raise
            if entry.is_dir(follow_symlinks=False):
                shutil.copytree(entry.path, target, symlinks=True)
                shutil.rmtree(entry.path)
            else:
                shutil.copy2(entry.path, target, follow_symlinks=False)
                os.unlink(entry.path)


def _files_snapshot(root: Path) -> dict[str, float]:
    return {
        p.relative_to(root).as_posix(): p.stat().st_mtime for p in root.rglob("*") if p.is_file()
    }


def _assigned_gpus() -> str | None:
    """The GPUs this job was given, None for none. HTCondor writes 10000 into
    _CONDOR_AssignedGPUs / CUDA_VISIBLE_DEVICES as its "no device" value."""
    for var in ("_CONDOR_AssignedGPUs", "CUDA_VISIBLE_DEVICES"):
        value = real_gpus(os.environ.get(var, ""))
        if value:
            return value
    return None


def real_gpus(value: str) -> str:
    """A GPU id list without HTCondor's and CUDA's "no device" values ('10000', '-1')."""
    ids = [g.strip() for g in value.split(",")]
    return ",".join(g for g in ids if g and g not in ("10000", "-1", "none"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebook", required=True)
    ap.add_argument("--parameters", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--inputs", default=None)
    ap.add_argument(
        "--move-inputs",
        action="store_true",
        help="move the inputs into the working folder instead of copying them (--inputs is a"
        " throwaway copy, e.g. HTCondor's sandbox)",
    )
    ap.add_argument("--kernel", default=None)
    ap.add_argument("--job-id", default="")
    ap.add_argument("--environment", default="")
    ap.add_argument("--workdir", default="work")
    ap.add_argument("--reporter", choices=("chirp", "file"), default="chirp")
    ap.add_argument("--progress-file", default=None, help="where --reporter file writes")
    ap.add_argument("--setup-cell", default=None, help="code run before the notebook's cells")
    ap.add_argument("--collect", default=None, help="JSON list of variable names to bring back")
    args = ap.parse_args(argv)
    if args.reporter == "file" and not args.progress_file:
        ap.error("--reporter file needs --progress-file")
    collect = json.loads(Path(args.collect).read_text()) if args.collect else []
    if not isinstance(collect, list) or not all(
        isinstance(n, str) and n.isidentifier() for n in collect
    ):
        ap.error("--collect needs a JSON list of variable names")

    started = time.time()
    out = Path(args.output)
    (out / "files").mkdir(parents=True, exist_ok=True)
    work = Path(args.workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.inputs and Path(args.inputs).is_dir():
        place_inputs(Path(args.inputs), work, move=args.move_inputs)
    before = _files_snapshot(work)
    params = json.loads(Path(args.parameters).read_text())
    reporter = make_reporter(args.reporter, args.progress_file)
    result: dict[str, Any] = {
        "job_id": args.job_id,
        "environment": args.environment,
        "execute_host": socket.gethostname(),
        "assigned_gpus": _assigned_gpus(),
        "python": sys.executable,
        "parameters": params,
        "started_at": started,
    }
    executed = out / "notebook.ipynb"
    status = run_notebook(args, params, work, executed, reporter, result, collect)
    result["finished_at"] = time.time()
    result["status"] = status
    _add_provenance(executed, result)
    for rel, mtime in _files_snapshot(work).items():
        if before.get(rel) != mtime:
            dest = out / "files" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(work / rel, dest)
    (out / "result.json").write_text(json.dumps(result, indent=1, default=str))
    reporter.finish({k: result.get(k) for k in ("status", "message")})
    reporter.close()
    return {"completed": 0, "failed": 1}.get(status, 2)


def run_notebook(
    args: argparse.Namespace,
    params: dict[str, Any],
    work: Path,
    executed: Path,
    reporter: Reporter,
    result: dict[str, Any],
    collect: list[str] | None = None,
) -> str:
    try:
        import nbformat
        import papermill as pm
        from papermill.clientwrap import PapermillNotebookClient
        from papermill.engines import NBClientEngine, papermill_engines
        from papermill.exceptions import PapermillExecutionError
        from papermill.log import logger
    except ImportError as e:
        result["message"] = f"the environment cannot run notebooks: {e}"
        print(result["message"], file=sys.stderr)
        return "error"

    try:
        source = nbformat.read(args.notebook, as_version=4)
    except Exception as e:
        result["message"] = f"the notebook cannot be read: {e}"
        print(result["message"], file=sys.stderr)
        return "error"
    original_ids = [c.get("id") for c in source.cells]
    if args.setup_cell:
        setup = nbformat.v4.new_code_cell(Path(args.setup_cell).read_text())
        setup.metadata["tags"] = [SETUP_TAG]
        source.cells.insert(0, setup)

    collected: dict[str, Any] = {}

    class Client(PapermillNotebookClient):
        def papermill_execute_cells(self) -> None:
            super().papermill_execute_cells()
            if collect and not self.nb.metadata.get("papermill", {}).get("exception"):
                collected.update(_collect(self, collect))

    class ProgressEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(
            cls, nb_man: Any, kernel_name: str, start_timeout: int = 60, **kwargs: Any
        ) -> Any:
            total = sum(1 for c in nb_man.nb.cells if _counted(c))
            done = 0
            reporter.progress(0, total)
            complete = nb_man.cell_complete

            def cell_complete(cell: Any, cell_index: Any = None, **kw: Any) -> Any:
                nonlocal done
                r = complete(cell, cell_index=cell_index, **kw)
                if _counted(cell):
                    done += 1
                    reporter.flush_tail()  # before progress: a reader of n/N sees its output
                    reporter.progress(done, total)
                return r

            nb_man.cell_complete = cell_complete
            # NBClientEngine's own body, with our client (it builds papermill's by name)
            kwargs.pop("input_path", None)
            return Client(
                nb_man, kernel_name=kernel_name, startup_timeout=start_timeout, log=logger, **kwargs
            ).execute()

    papermill_engines.register("swan-ml", ProgressEngine)
    kernel_manager_class, sockets = _ipc_kernel_manager()
    on_term = _stop_kernels_on_term(kernel_manager_class, sockets)
    stop = threading.Event()

    def tail_pusher() -> None:
        while not stop.wait(2.0):
            reporter.flush_tail()

    pusher = threading.Thread(target=tail_pusher, daemon=True)
    pusher.start()
    stdout, stderr = Tee(sys.stdout, reporter), Tee(sys.stderr, reporter)
    try:
        pm.execute_notebook(
            source,
            str(executed),
            parameters=params,
            kernel_name=args.kernel,
            cwd=str(work),
            engine_name="swan-ml",
            progress_bar=False,
            stdout_file=stdout,
            stderr_file=stderr,
            # ipykernel sometimes ignores a graceful shutdown and costs ~2.5 s; outputs are
            # saved by then, so stop it at once.
            shutdown_kernel="immediate",
            kernel_manager_class=kernel_manager_class,
        )
        result["message"] = ""
        result.update(collected)
        return "completed"
    except PapermillExecutionError as e:
        result["message"] = _cell_message(e, executed, original_ids)
        result["ename"], result["evalue"] = e.ename, e.evalue
        print(result["message"], file=sys.stderr)
        return "failed"
    except Exception as e:
        result["message"] = f"the notebook could not run: {type(e).__name__}: {e}"
        print(result["message"], file=sys.stderr)
        return "failed" if executed.exists() else "error"
    finally:
        stop.set()
        shutil.rmtree(sockets, ignore_errors=True)
        if on_term:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _counted(cell: Any) -> bool:
    """A code cell of the notebook (the progress counts these; not the setup cell)."""
    return cell.cell_type == "code" and SETUP_TAG not in cell.get("metadata", {}).get("tags", [])


def _collect(client: Any, names: list[str]) -> dict[str, Any]:
    """The --collect variables, read from the kernel that ran the notebook with one silent
    execute request (no cell, no execution count, no history): result.json's `collected` and
    `collect_notes`. A kernel that does not answer in COLLECT_TIMEOUT_S is interrupted."""
    client.timeout, client.interrupt_on_timeout = COLLECT_TIMEOUT_S, True
    client.shell_timeout_interval = min(client.shell_timeout_interval, COLLECT_TIMEOUT_S)
    why = f"the kernel did not answer in {COLLECT_TIMEOUT_S} s"
    try:
        expr = {"c": f"_swan_ml_collect({names!r}, globals())"}
        code = inspect.getsource(_swan_ml_collect)
        msg_id = client.kc.execute(code, silent=True, store_history=False, user_expressions=expr)
        reply = client.wait_for_reply(msg_id)
        if reply is not None:
            answer = reply["content"].get("user_expressions", {}).get("c", reply["content"])
            if answer.get("status") == "ok":
                data = json.loads(ast.literal_eval(answer["data"]["text/plain"]))
                return {"collected": data["values"], "collect_notes": data["notes"]}
            why = f"{answer.get('ename')}: {answer.get('evalue')}"
    except Exception as e:  # the notebook ran: say why nothing came back, do not fail the run
        why = f"{type(e).__name__}: {e}"
    print(f"[swan-ml] --collect: {why}", file=sys.stderr)
    return {"collected": dict.fromkeys(names), "collect_notes": dict.fromkeys(names, why)}


def _swan_ml_collect(names: list, ns: dict, items: int = 100, size: int = 4096) -> str:
    """Runs in the kernel (its source is sent there: it uses nothing of this module). The named
    variables as JSON {"values": {name: value}, "notes": {name: why}}: JSON scalars (64-bit
    integers, finite floats) and lists of at most `items` JSON values, numpy/torch scalars and
    short 1-d arrays too, when at most `size` bytes as JSON, are kept; anything else becomes its
    repr cut to 200 characters, and a name the notebook did not define null (both noted)."""
    import json

    values, notes = {}, {}
    for name in names:
        if name not in ns:
            values[name], notes[name] = None, "not defined when the notebook ended"
            continue
        v, text = ns[name], None
        try:
            if getattr(v, "shape", None) == () or getattr(v, "ndim", 0) == 1 and len(v) <= items:
                v = v.tolist()  # numpy / torch scalars and short 1-d arrays
            short = isinstance(v, (list, tuple)) and len(v) <= items
            scalar = isinstance(v, (bool, float, str, type(None)))
            if short or scalar or isinstance(v, int) and -(2**63) <= v < 2**63:
                text = json.dumps(v, allow_nan=False)
        except Exception:  # a user's object may raise anything here: its repr is kept instead
            text = None
        if text is not None and len(text) <= size:
            values[name] = json.loads(text)
            continue
        try:
            r = repr(v)
        except Exception as e:
            r = f"<its repr failed: {type(e).__name__}>"
        values[name] = r[:200]
        cut = ", cut to 200 characters" if len(r) > 200 else ""
        notes[name] = f"kept as its repr ({type(v).__name__}){cut}"
    return json.dumps({"values": values, "notes": notes})


def _ipc_kernel_manager() -> tuple[Any, str]:
    """Kernels talk over Unix sockets in a private folder, not TCP: on a shared batch node no
    other process can reach them (and ipykernel has nothing to warn about)."""
    import tempfile

    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    folder = tempfile.mkdtemp(prefix="swan-ml-kernel-")

    class IPCKernelManager(AsyncKernelManager):
        started: list[Any] = []  # for _stop_kernels_on_term

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.started.append(self)

        @default("transport")
        def _default_transport(self) -> str:
            return "ipc"

        @default("ip")
        def _default_ip(self) -> str:
            return os.path.join(folder, "kernel")

    return IPCKernelManager, folder


def _stop_kernels_on_term(manager_class: Any, sockets: str) -> bool:
    """On SIGTERM kill the kernels' process groups (a kernel has a session of its own: a signal
    to the runner's group reaches neither it nor what it started, e.g. a Spark JVM), then exit.
    Only where SIGTERM is not handled yet (a caller's handler stays). True: installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False

    def stop(signum: int, frame: Any) -> None:
        for km in manager_class.started:
            with contextlib.suppress(OSError, TypeError, AttributeError):
                os.killpg(km.provisioner.pgid, signal.SIGKILL)
        shutil.rmtree(sockets, ignore_errors=True)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    return True


def _cell_message(e: Any, executed: Path, original_ids: list[Any]) -> str:
    """Name the failing cell as the user sees it in the original notebook (1-based)."""
    where = None
    try:
        import nbformat

        for cell in nbformat.read(str(executed), as_version=4).cells:
            errored = any(o.get("output_type") == "error" for o in cell.get("outputs", []))
            if errored and cell.get("id") in original_ids:
                where = f"cell {original_ids.index(cell.get('id')) + 1}"
            elif errored and SETUP_TAG in cell.get("metadata", {}).get("tags", []):
                where = "the setup cell"
    except Exception as err:  # the message must not depend on this nicety
        print(f"[swan-ml] could not map the failing cell: {err}", file=sys.stderr)
    where = where or f"cell index {e.cell_index}"
    count = f" [{e.exec_count}]" if e.exec_count else ""
    return f"{where}{count} raised {e.ename}: {e.evalue}"


def _add_provenance(executed: Path, result: dict[str, Any]) -> None:
    if not executed.exists():
        return
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    keys = [*PROVENANCE, *(["collected"] if "collected" in result else [])]
    nb.metadata["swan_ml"] = {k: result.get(k) for k in keys}
    nbformat.write(nb, str(executed))


if __name__ == "__main__":
    sys.exit(main())
