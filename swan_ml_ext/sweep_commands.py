"""`swan-ml sweep` and `%swan sweep`: a notebook over a grid of parameters, from a terminal or
a cell; with --wait, the results table (HTML in Lab, text elsewhere; a pandas DataFrame from the
magic when pandas is importable). A thin REST client like the other verbs (POST and GET
swan-ml-ext/sweeps); the grid syntax is jobs/sweep.py's. Submitted as `submit` submits a job
(check_commands.submit_checked): the job part checked first (POST jobs/check: a sweep no
machine could run is refused unless --force) and the files the notebook reads sent with it
unless --no-detect.


    %swan sweep train.ipynb -p lr=0.01,0.02,0.05 -p seed=range(3) --collect val_loss --wait
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from .check_commands import submit_checked
from .client import SwanMLClient
from .jobs.model import SwanMLError
from .jobs.sweep import grid_from_options, parse_collect
from .options_commands import UsageError, parse_value
from .spec_commands import job_options, submit_spec, to_server_paths
from .view_commands import STATE_COLOURS, poll

POLL_S = 1.0
CELL_CHARS = 40  # a text table's cell is cut to this
# Values one -p may list here (a range included); the server's own limit on points
# (SwanMLApp.max_sweep_points) is checked by the server.
CLIENT_MAX_VALUES = 100_000
SWEEP_FIELDS = ("sweep", "collect")  # what POST sweeps takes beyond a job's body


def add_sweep_verb(parser: argparse.ArgumentParser) -> None:
    """The options of `sweep`: a job's (NOTEBOOK, resources, --env, --name, --input), -p as a
    grid, --collect, --wait, and submit's --force and --no-detect."""
    job_options(
        parser,
        param_help="NAME=V1,V2,... or NAME=range(a[,b[,c]]): the values of one swept parameter"
        " (typed like submit's -p; a single value: the same for every point); repeatable: the"
        " points are every combination",
    )
    parser.add_argument(
        "--collect",
        action="append",
        default=[],
        metavar="NAME[,NAME...]",
        help="notebook variable each point brings back into the table; repeatable",
    )
    parser.add_argument(
        "--wait", action="store_true", help="follow the sweep until every point ended"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="submit even when no machine of the pool could ever run a point (see check)",
    )
    parser.add_argument(
        "--no-detect",
        action="store_true",
        help="send only the --input paths, not the files and folders the notebook's code reads"
        " (found by the server in its code cells; see check)",
    )


def sweep_spec(args: argparse.Namespace, notebook: str, client: SwanMLClient) -> dict[str, Any]:
    """The POST sweeps body of a `sweep` line (malformed options fail before any request)."""
    if not args.param:
        raise UsageError("sweep needs at least one -p NAME=V1,V2,... (the swept parameters)")
    try:
        grid = grid_from_options(args.param, parse_value, max_points=CLIENT_MAX_VALUES)
        collect = parse_collect([n.strip() for item in args.collect for n in item.split(",")])
    except SwanMLError as e:
        raise UsageError(e.message) from None
    job_args = argparse.Namespace(**{**vars(args), "param": []})
    spec = submit_spec(job_args, notebook, client)
    spec["sweep"] = grid
    if collect:
        spec["collect"] = collect
    return spec


def post_sweep(
    args: argparse.Namespace,
    spec: dict[str, Any],
    client: SwanMLClient,
    out: TextIO | None = None,
) -> dict[str, Any]:
    """POST sweeps with the body of a `sweep` line (paths already the server's), as `submit`
    posts a job: its job part checked first (a sweep no point of which could ever run is
    refused unless --force), the inputs the notebook reads added unless --no-detect, what is
    sent said on `out` (check_commands.submit_checked); then the sweep."""
    job = {k: v for k, v in spec.items() if k not in SWEEP_FIELDS}
    extra = {k: spec[k] for k in SWEEP_FIELDS if k in spec}

    def send(body: dict[str, Any]) -> dict[str, Any]:
        return client.request("POST", "sweeps", {**body, **extra})

    return submit_checked(args, job, client, out, send=send)


def submitted_line(sweep: dict[str, Any]) -> str:
    engine = sweep["engine"]
    how = (
        "one batch submission"
        if engine["batch"]
        else f"{engine['submissions']} submissions, one per point"
    )
    return f"sweep {sweep['id']}: {sweep['counts']['total']} points of {sweep['notebook']} ({how})"


def progress_line(sweep: dict[str, Any]) -> str:
    c = sweep["counts"]
    done = c["completed"] + c["failed"] + c["cancelled"]
    extra = [f"{c[s]} {s}" for s in ("failed", "cancelled", "running", "held") if c[s]]
    return f"sweep {sweep['id']} {sweep['state']}: {done}/{c['total']} done" + (
        f" ({', '.join(extra)})" if extra else ""
    )


def wait_sweep(
    client: SwanMLClient, sweep_id: str, show: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Poll GET sweeps/{id} until every point ended; `show` gets each change."""
    return poll(lambda: client.request("GET", f"sweeps/{sweep_id}"), progress_line, show, POLL_S)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def table_text(sweep: dict[str, Any]) -> str:
    """The results table as fixed-width text (long cells cut; the CSV has them whole)."""
    columns = sweep["columns"]
    cells = [[_cell(row.get(c)) for c in columns] for row in sweep["rows"]]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def table_html(sweep: dict[str, Any]) -> str:
    """The results table as HTML (every value escaped; the state coloured)."""
    columns = sweep["columns"]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in sweep["rows"]:
        tds = []
        for c in columns:
            text = html.escape(_cell(row.get(c)))
            if c == "state" and row.get(c) in STATE_COLOURS:
                text = f'<span style="color:{STATE_COLOURS[row[c]]}">{text}</span>'
            tds.append(f"<td>{text}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    caption = html.escape(progress_line(sweep))
    return (
        f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def dataframe(sweep: dict[str, Any]) -> Any:
    """The table as a pandas DataFrame indexed by point, or None without pandas."""
    try:
        import pandas as pd
    except ImportError:
        return None
    return pd.DataFrame(sweep["rows"], columns=sweep["columns"]).set_index("point")


def cli_sweep(args: argparse.Namespace, client: SwanMLClient, out: TextIO) -> int:
    """`swan-ml sweep`: 0 when submitted (or, with --wait, when every point completed)."""
    if not args.notebook:
        raise UsageError("sweep needs a NOTEBOOK path (relative to the current folder)")
    spec = sweep_spec(args, args.notebook, client)
    to_server_paths(spec, client)
    sweep = post_sweep(args, spec, client, sys.stderr if args.json else out)
    if not args.json:
        print(f"submitted {submitted_line(sweep)}", file=out)
        for warning in sweep.get("warnings") or []:
            print(f"warning: {warning}", file=out)
    if not args.wait:
        if args.json:
            print(json.dumps(sweep, indent=1), file=out)
        return 0
    sweep = wait_sweep(
        client,
        sweep["id"],
        lambda s: None if args.json else print(progress_line(s), file=out, flush=True),
    )
    print(json.dumps(sweep, indent=1) if args.json else table_text(sweep), file=out)
    return 0 if sweep["state"] == "completed" else 1


def magic_sweep(
    args: argparse.Namespace,
    client: SwanMLClient,
    current_notebook: Callable[[], str],
    display: Callable[..., Any],
) -> Any:
    """`%swan sweep`: NOTEBOOK (relative to the kernel's folder), else this kernel's own.
    With --wait the last value is the table (a DataFrame when pandas is importable: Lab
    renders it as HTML; without pandas our own HTML/text table is displayed)."""
    spec = sweep_spec(args, args.notebook or "", client)
    if args.notebook:
        to_server_paths(spec, client)
    else:
        to_server_paths(spec, client, notebook=False)
        spec["notebook"] = current_notebook()
    sweep = post_sweep(args, spec, client)
    for warning in sweep.get("warnings") or []:
        print(f"swan: warning: {warning}")
    if not args.wait:
        print(f"submitted {submitted_line(sweep)}")
        return sweep if args.json else None
    handle = display(_bundle(progress_line(sweep)), raw=True, display_id=True)

    def show(s: dict[str, Any]) -> None:
        if handle is not None:
            handle.update(_bundle(progress_line(s)), raw=True)
        else:
            print(progress_line(s))

    sweep = wait_sweep(client, sweep["id"], show)
    if args.json:
        return sweep
    frame = dataframe(sweep)
    if frame is not None:
        return frame
    display(_bundle(table_text(sweep), table_html(sweep)), raw=True)
    return None


def _bundle(text: str, html_text: str | None = None) -> dict[str, str]:
    data = {"text/plain": text}
    if html_text is not None:
        data["text/html"] = html_text
    return data
