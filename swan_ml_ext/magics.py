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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import display

from .check_commands import check_dry_run, check_job, dry_run, submit_checked
from .client import ClientError, SwanMLClient
from .commands import ParserExit, build_parser, run_verb
from .options_commands import UsageError
from .spark.magics import SPARK_HELP, spark_magic
from .spec_commands import root_relative, spec_from_args, submit_spec, to_server_paths
from .sweep_commands import magic_sweep
from .view_commands import Output, follow_logs, progress_line, wait

CELL_HELP = """
%%swan submit [options]  runs the cell's code as a one-cell notebook job. Nothing from the
live session travels with it: only the code of the cell (import and load what it needs).
%%swan check [options]   could any machine run it, and if not why (nothing is submitted).
"""


def _bundle(text: str, html_text: str | None = None) -> dict[str, str]:
    data = {"text/plain": text}
    if html_text is not None:
        data["text/html"] = html_text
    return data


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
        else:
            parser.epilog = (parser.epilog or "") + SPARK_HELP
        try:
            words = shlex.split(line)
            if cell is None and words[:1] == ["spark"]:  # this kernel's Spark: spark/magics.py
                return spark_magic(self.shell, words[1:])
            args = parser.parse_args(words)
            if args.verb is None:
                parser.print_help()
                return None
            if cell is not None and args.verb not in ("submit", "check"):
                raise UsageError(
                    "%%swan only supports 'submit' and 'check' (the cell becomes the job)"
                )
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
        if args.verb == "submit":
            return self._submit(args, client, cell)
        if args.verb == "check":
            return self._check(args, client, cell)
        if args.verb == "sweep":
            return magic_sweep(args, client, lambda: self._current_notebook(client), display)
        if args.verb == "logs" and args.follow:
            follow_logs(client, args.id, sys.stdout, args.tail)
            return None
        out = run_verb(args, client)
        if args.json:
            return out.data
        if out.html is not None:
            display(_bundle(out.text, out.html), raw=True)
        else:
            print(out.text, end="" if args.verb == "logs" else "\n")
        return None

    def _spec(self, args: Any, client: SwanMLClient, cell: str | None) -> dict[str, Any]:
        """The job of a submit/check line: NOTEBOOK, else the cell (written as a notebook),
        else the kernel's own notebook; paths made the server's."""
        spec = spec_from_args(args, "")  # options first: a bad one fails before anything else
        if cell is not None and args.notebook:
            raise UsageError(f"%%swan {args.verb} takes no NOTEBOOK: the cell is the notebook")
        check_dry_run(args)
        spec = submit_spec(args, "", client)  # resources checked against the backend's schema
        if args.notebook:  # relative to the kernel's folder, like --input
            spec["notebook"] = args.notebook
            to_server_paths(spec, client)
        else:
            to_server_paths(spec, client, notebook=False)
            if cell is not None:
                spec["notebook"] = self._cell_notebook(cell, args.name, client)
            else:
                spec["notebook"] = self._current_notebook(client)
        return spec

    def _check(self, args: Any, client: SwanMLClient, cell: str | None) -> Any:
        spec = self._spec(args, client, cell)
        return self._answer(args, spec, client, cell, lambda: check_job(spec, client))

    def _answer(
        self,
        args: Any,
        spec: dict[str, Any],
        client: SwanMLClient,
        cell: str | None,
        ask: Callable[[], Output],
    ) -> Any:
        """A check or a preview: `ask()`'s data with --json, else its text printed; the cell's
        notebook, written only for the question, removed whatever the answer."""
        try:
            out = ask()
        finally:
            self._drop_cell_notebook(spec, client, cell)
        if args.json:
            return out.data
        print(out.text)
        return None

    def _submit(self, args: Any, client: SwanMLClient, cell: str | None) -> Any:
        spec = self._spec(args, client, cell)
        if args.dry_run:
            return self._answer(args, spec, client, cell, lambda: dry_run(args, spec, client))
        try:
            job = submit_checked(args, spec, client)
        except UsageError:  # refused: the cell's notebook is not needed
            self._drop_cell_notebook(spec, client, cell)
            raise
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
            link = f'<a href="{html.escape(url)}" target="_blank">{html.escape(nb)}</a>'
            display(_bundle(f"executed notebook: {url}", f"executed notebook: {link}"), raw=True)
        return job if args.json else None

    # -- where am I -------------------------------------------------------------------------
    def _current_notebook(self, client: SwanMLClient) -> str:
        session = os.environ.get("JPY_SESSION_NAME")
        if not session:
            raise UsageError(
                "no NOTEBOOK given and this kernel does not know its notebook "
                "(JPY_SESSION_NAME is not set): pass the path"
            )
        root = client.root_dir()
        if os.path.isabs(session):  # jupyter_server 2: the notebook's full path
            rel = root_relative(session, root, "this kernel's notebook")
        else:  # older servers: the path under the root
            rel = Path(session).as_posix()
        full = Path(root) / rel
        if full.exists() and self._last_run is not None:
            saved = full.stat().st_mtime
            if saved < self._last_run:
                print(
                    f"swan: warning: {rel} was last saved at {time.strftime('%H:%M:%S', time.localtime(saved))},"  # noqa: E501
                    " before cells you ran since: the job runs the saved file (save first).",
                    file=sys.stderr,
                )
        return rel

    def _drop_cell_notebook(
        self, spec: dict[str, Any], client: SwanMLClient, cell: str | None
    ) -> None:
        """For a cell job (`cell` given): remove the notebook written for it, and its
        .swan-ml-cells folder when nothing else is in it."""
        if cell is None:
            return
        path = Path(client.root_dir()) / spec["notebook"]
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()  # .swan-ml-cells, when nothing else is in it
        except OSError:
            pass

    def _cell_notebook(self, code: str, name: str | None, client: SwanMLClient) -> str:
        root = client.root_dir()
        root_relative(os.getcwd(), root, "the kernel's folder")  # inside, or a UsageError
        folder = Path.cwd() / ".swan-ml-cells"
        folder.mkdir(exist_ok=True)
        nb = nbformat.v4.new_notebook()
        nb.cells.append(nbformat.v4.new_code_cell(code))
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in (name or "cell"))[:40]
        path = folder / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid() % 1000:03d}.ipynb"
        nbformat.write(nb, str(path))
        return root_relative(str(path), root, "the cell's notebook")
