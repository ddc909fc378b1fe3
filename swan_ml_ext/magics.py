"""`%swan` / `%%swan`: the job lifecycle from code cells (`%load_ext swan_ml_ext`).

The magics are thin REST clients (client.py): a job submitted here shows up in the Lab job
monitor and vice versa. User errors print one line, never a traceback.
"""

from __future__ import annotations

import html
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from .client import ClientError, SwanMLClient
from .commands import (
    ParserExit,
    UsageError,
    build_parser,
    follow_logs,
    format_backends,
    format_job,
    format_jobs,
    progress_line,
    spec_from_args,
    wait,
)

CELL_HELP = """
%%swan submit [options]  runs the cell's code as a one-cell notebook job. Nothing from the
live session travels with it: only the code of the cell (import and load what it needs).
"""

STATE_COLOURS = {
    "pending": "#9e9e9e", "running": "#1976d2", "held": "#f57c00",
    "completed": "#388e3c", "failed": "#d32f2f", "cancelled": "#616161",
}  # fmt: skip


def _bundle(text: str, html_text: str | None = None) -> dict[str, str]:
    data = {"text/plain": text}
    if html_text is not None:
        data["text/html"] = html_text
    return data


def jobs_html(jobs: list[dict[str, Any]], client: SwanMLClient) -> str:
    rows = []
    for j in jobs:
        prog = j.get("progress") or {}
        cells = (
            f"{prog.get('cells_done', 0)}/{prog['cells_total']}" if prog.get("cells_total") else ""
        )
        colour = STATE_COLOURS.get(j["state"], "#000")
        nb = (j.get("outputs") or {}).get("notebook")
        link = (
            f'<a href="{html.escape(client.open_url(nb))}" target="_blank">open</a>' if nb else ""
        )
        rows.append(
            "<tr>"
            f"<td><code>{html.escape(j['id'])}</code></td><td>{html.escape(j['name'])}</td>"
            f"<td>{html.escape(j['backend'])}</td>"
            f'<td><span style="color:{colour};font-weight:600">{html.escape(j["state"])}'
            f"</span></td><td>{cells}</td>"
            f"<td>{html.escape(j['created_at'][:19].replace('T', ' '))}</td>"
            f"<td>{html.escape(j.get('message') or '')}</td><td>{link}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("id", "name", "backend", "state", "cells", "created", "message", "")
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


@magics_class
class SwanMagics(Magics):
    def __init__(self, shell: Any):
        super().__init__(shell)
        self._last_run: float | None = None  # when the previous cell started
        self._this_run: float | None = None
        shell.events.register("pre_run_cell", self._pre_run_cell)

    def _pre_run_cell(self, *args: Any) -> None:
        self._last_run, self._this_run = self._this_run, time.time()

    @line_cell_magic
    def swan(self, line: str, cell: str | None = None) -> Any:
        """Run notebooks as batch jobs: %swan --help lists the verbs."""
        parser = build_parser("%swan" if cell is None else "%%swan")
        if cell is not None:
            parser.epilog = (parser.epilog or "") + CELL_HELP
        try:
            args = parser.parse_args(shlex.split(line))
            if args.verb is None:
                parser.print_help()
                return None
            if cell is not None and args.verb != "submit":
                raise UsageError("%%swan only supports 'submit' (the cell becomes the job)")
            client = SwanMLClient.connect(args.url, args.token)
            return self._run(args, client, cell)
        except ParserExit:
            return None
        except (UsageError, ClientError, ValueError) as e:
            print(f"swan: {getattr(e, 'message', None) or e}", file=sys.stderr)
            return None
        except KeyboardInterrupt:
            print("swan: stopped waiting (the job goes on; %swan status ID)", file=sys.stderr)
            return None

    # -- verbs ------------------------------------------------------------------------------
    def _run(self, args: Any, client: SwanMLClient, cell: str | None) -> Any:
        verb = args.verb
        if verb == "submit":
            return self._submit(args, client, cell)
        if verb == "jobs":
            data = client.jobs(state=args.state, backend=args.backend, limit=args.limit)
            if args.json:
                return data
            display(_bundle(format_jobs(data["jobs"]), jobs_html(data["jobs"], client)), raw=True)
        elif verb == "status":
            job = client.job(args.id)
            if args.json:
                return job
            print(format_job(job))
        elif verb in ("cancel", "hold", "release"):
            job = getattr(client, verb)(args.id)
            print(progress_line(job))
        elif verb == "open":
            job = client.job(args.id)
            nb = (job.get("outputs") or {}).get("notebook")
            if not nb:
                raise ClientError(f"job {args.id} is {job['state']}: no executed notebook yet")
            url = client.open_url(nb)
            display(_bundle(url, f'<a href="{html.escape(url)}" target="_blank">'
                                 f"{html.escape(nb)}</a>"), raw=True)  # fmt: skip
        elif verb == "logs":
            if args.follow:
                follow_logs(client, args.id, sys.stdout, args.tail)
            else:
                data = client.logs(args.id, tail=args.tail)
                print(data["stdout"] + data["stderr"], end="")
        elif verb == "backends":
            data = client.backends()
            if args.json:
                return data
            print(format_backends(data))
        return None

    def _submit(self, args: Any, client: SwanMLClient, cell: str | None) -> Any:
        spec = spec_from_args(args, "")  # options first: a bad one fails before anything else
        if cell is not None:
            if args.notebook:
                raise UsageError("%%swan submit takes no NOTEBOOK: the cell is the notebook")
            spec["notebook"] = self._cell_notebook(cell, args.name)
        else:
            spec["notebook"] = args.notebook or self._current_notebook()
        job = client.submit(spec)
        if not args.wait:
            print(f"submitted {progress_line(job)}")
            return job if args.json else None
        handle = display(_bundle(progress_line(job)), raw=True, display_id=True)

        def show(j: dict[str, Any]) -> None:
            if handle is not None:
                handle.update(_bundle(progress_line(j)), raw=True)
            else:
                print(progress_line(j))

        job = wait(client, job["id"], show)
        nb = (job.get("outputs") or {}).get("notebook")
        if nb:
            url = client.open_url(nb)
            display(_bundle(f"executed notebook: {url}",
                            f'executed notebook: <a href="{html.escape(url)}" '
                            f'target="_blank">{html.escape(nb)}</a>'), raw=True)  # fmt: skip
        return job if args.json else None

    # -- where am I -------------------------------------------------------------------------
    def _root(self) -> Path | None:
        root = os.environ.get("SWAN_ML_ROOT")
        return Path(root).resolve() if root else None

    def _current_notebook(self) -> str:
        session = os.environ.get("JPY_SESSION_NAME")
        if not session:
            raise UsageError(
                "no NOTEBOOK given and this kernel does not know its notebook "
                "(JPY_SESSION_NAME is not set): pass the path"
            )
        path = Path(session)
        root = self._root()
        if path.is_absolute():
            if root is None:
                raise UsageError("cannot tell the notebook's path under the server root: pass it")
            try:
                rel = path.resolve().relative_to(root)
            except ValueError:
                raise UsageError(f"{session} is outside the server root {root}") from None
            full = path
        else:
            rel = path
            full = (root / path) if root else None
        if full is not None and full.exists() and self._last_run is not None:
            saved = full.stat().st_mtime
            if saved < self._last_run:
                print(
                    f"swan: warning: {rel} was last saved at {time.strftime('%H:%M:%S', time.localtime(saved))},"  # noqa: E501
                    " before cells you ran since: the job runs the saved file (save first).",
                    file=sys.stderr,
                )
        return rel.as_posix()

    def _cell_notebook(self, code: str, name: str | None) -> str:
        root = self._root()
        if root is None:
            raise UsageError("cannot find the server root (SWAN_ML_ROOT): run this in Jupyter")
        folder = Path.cwd() / ".swan-ml-cells"
        folder.mkdir(exist_ok=True)
        nb = nbformat.v4.new_notebook()
        nb.cells.append(nbformat.v4.new_code_cell(code))
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}  # fmt: skip
        stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in (name or "cell"))[:40]
        path = folder / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid() % 1000:03d}.ipynb"
        nbformat.write(nb, str(path))
        try:
            return path.resolve().relative_to(root).as_posix()
        except ValueError:
            raise UsageError(
                f"the kernel's folder {Path.cwd()} is outside the server root"
            ) from None
