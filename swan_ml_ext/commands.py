"""The verbs shared by the `swan-ml` CLI and the `%swan` magics (one parser, one client)."""

from __future__ import annotations

import argparse
import html
import json
import keyword
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from .client import ClientError, SwanMLClient

FINAL = {"completed", "failed", "cancelled"}
STATE_COLOURS = {
    "pending": "#9e9e9e", "running": "#1976d2", "held": "#f57c00",
    "completed": "#388e3c", "failed": "#d32f2f", "cancelled": "#616161",
}  # fmt: skip

VERBS_HELP = """verbs:
  submit [NOTEBOOK] [options]   run a notebook on a backend (default: the current notebook)
  jobs [--state S] [--backend B] [--limit N]   list jobs, newest first
  status ID                     one job
  logs ID [--tail N] [--follow] stdout/stderr so far
  cancel ID | hold ID | release ID
  open ID                       link to the executed notebook
  backends                      backends, free GPUs, environments
"""


class UsageError(Exception):
    """A bad option or value: one line for the user."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # never sys.exit from inside a kernel
        raise UsageError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        if message:
            self._print_message(message, sys.stderr)
        raise ParserExit(status)


class ParserExit(Exception):
    def __init__(self, status: int):
        self.status = status


def parse_value(text: str) -> Any:
    """Typed -p values: ints, floats, bools, null, JSON lists/objects; else a string."""
    lowered = text.strip()
    if lowered in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[lowered]
    try:
        value = json.loads(text)
    except ValueError:
        return text
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        raise UsageError(f"value {text!r} is not a finite number") from None
    return value


def parse_param(item: str) -> tuple[str, Any]:
    if "=" not in item:
        raise UsageError(f"parameter {item!r} must look like name=value")
    key, _, value = item.partition("=")
    key = key.strip()
    if not key.isidentifier() or keyword.iskeyword(key):
        raise UsageError(f"parameter name {key!r} is not a valid Python identifier")
    return key, parse_value(value)


_MEM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def parse_memory(text: str) -> int:
    """'4GB', '4G', '512M', '2048' (MB) → MB."""
    m = _MEM.match(text)
    if not m:
        raise UsageError(f"memory {text!r} must look like 4GB, 512MB or 2048 (MB)")
    number, unit = float(m.group(1)), (m.group(2) or "m").lower()
    factor = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}[unit]
    mb = int(round(number * factor))
    if mb < 1:
        raise UsageError(f"memory {text!r} is less than 1 MB")
    return mb


def build_parser(prog: str, *, with_pool: bool = False) -> _Parser:
    """The verbs' parser; `with_pool` adds `pool` (the CLI only: it runs here, not on a server)."""
    p = _Parser(
        prog=prog,
        description="Run notebooks as batch jobs (HTCondor, Kubeflow, Spark) and follow them.",
        epilog=VERBS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_global_options(p)
    # The global options work after the verb too: each verb's parser has them with SUPPRESS
    # defaults, so an option given before the verb is not overwritten by the verb's default.
    parent = _Parser(add_help=False)
    _add_global_options(parent, default=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)

    def verb(name: str, help: str) -> _Parser:
        return sub.add_parser(name, help=help, parents=[parent])

    s = verb("submit", "run a notebook on a backend")
    s.add_argument(
        "notebook",
        nargs="?",
        help="path relative to the current folder, or absolute, inside the server root "
        "(default: the current notebook)",
    )
    s.add_argument("--backend", "-b", help="condor, kubeflow or spark")
    s.add_argument("--cpus", type=int)
    s.add_argument("--memory", help="e.g. 4GB, 512MB")
    s.add_argument("--gpus", type=int)
    s.add_argument("--gpu-memory", help="minimum GPU memory, e.g. 16GB")
    s.add_argument("--gpu-capability", type=float, help="minimum CUDA capability, e.g. 8.0")
    s.add_argument("--max-runtime", type=int, help="seconds")
    s.add_argument("--env", help="environment name")
    s.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="typed parameter (ints, floats, bools, JSON); repeatable",
    )
    s.add_argument(
        "--input",
        action="append",
        default=[],
        help="extra file to ship (a path like NOTEBOOK's); repeatable",
    )
    s.add_argument("--name")
    s.add_argument("--wait", action="store_true", help="follow the job until it ends")

    j = verb("jobs", "list jobs")
    j.add_argument("--state", action="append")
    j.add_argument("--backend")
    j.add_argument("--limit", type=int, default=25)
    for name in ("status", "cancel", "hold", "release", "open"):
        verb(name, f"{name} a job").add_argument("id")
    lg = verb("logs", "stdout/stderr so far")
    lg.add_argument("id")
    lg.add_argument("--tail", type=int)
    lg.add_argument("--follow", "-f", action="store_true")
    verb("backends", "backends, free resources, environments")
    if with_pool:
        pl = verb("pool", "the personal HTCondor pool (root): up, down, status")
        pl.add_argument("action", choices=["up", "down", "status", "build"])
    return p


def _add_global_options(p: argparse.ArgumentParser, **default: Any) -> None:
    p.add_argument("--url", help="Jupyter server URL (default: discovered)", **default)
    p.add_argument("--token", help="Jupyter server token (default: discovered)", **default)
    p.add_argument("--json", action="store_true", help="machine-readable output", **default)


def root_relative(path: str, root: str, what: str = "notebook", cwd: str | None = None) -> str:
    """The user's path (relative to `cwd`, default the current folder, or absolute) as a path
    relative to the server root `root`, symlinks resolved on both sides; UsageError outside."""
    full = os.path.join(cwd if cwd is not None else os.getcwd(), os.path.expanduser(path))
    real, real_root = os.path.realpath(full), os.path.realpath(root)
    try:
        inside = os.path.commonpath([real, real_root]) == real_root
    except ValueError:  # e.g. another drive
        inside = False
    if not inside:
        raise UsageError(f"{what} {path!r} is outside the server root {real_root}")
    return os.path.relpath(real, real_root).replace(os.sep, "/")


def to_server_paths(spec: dict[str, Any], client: SwanMLClient, *, notebook: bool = True) -> None:
    """Make a spec's user paths root-relative in place, as the API wants them: the one place
    the CLI and the magics turn NOTEBOOK (unless `notebook` is False: already root-relative)
    and every --input from the current folder into the server's paths."""
    if notebook and spec.get("notebook"):
        spec["notebook"] = root_relative(spec["notebook"], client.root_dir(), "notebook")
    if spec.get("inputs"):
        root = client.root_dir()
        spec["inputs"] = [root_relative(p, root, "input") for p in spec["inputs"]]


def spec_from_args(args: argparse.Namespace, notebook: str) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if args.cpus is not None:
        resources["cpus"] = args.cpus
    if args.memory is not None:
        resources["memory_mb"] = parse_memory(args.memory)
    if args.gpus is not None:
        resources["gpus"] = args.gpus
    if args.gpu_memory is not None:
        resources["gpu_memory_mb"] = parse_memory(args.gpu_memory)
    if args.gpu_capability is not None:
        resources["gpu_capability"] = args.gpu_capability
    if args.max_runtime is not None:
        resources["max_runtime_s"] = args.max_runtime
    spec: dict[str, Any] = {"notebook": notebook}
    params = dict(parse_param(item) for item in args.param)
    if params:
        spec["parameters"] = params
    if resources:
        spec["resources"] = resources
    for key, value in (("backend", args.backend), ("environment", args.env), ("name", args.name)):
        if value:
            spec[key] = value
    if args.input:
        spec["inputs"] = args.input
    return spec


def progress_line(job: dict[str, Any]) -> str:
    prog = job.get("progress") or {}
    cells = ""
    if prog.get("cells_total"):
        cells = f" cell {prog.get('cells_done', 0)}/{prog['cells_total']}"
    msg = f" — {job['message']}" if job.get("message") else ""
    return f"{job['id']} {job['name']}: {job['state']}{cells}{msg}"


def wait(
    client: SwanMLClient,
    job_id: str,
    on_change: Callable[[dict[str, Any]], None],
    interval: float = 1.0,
) -> dict[str, Any]:
    last = None
    while True:
        job = client.job(job_id)
        line = progress_line(job)
        if line != last:
            on_change(job)
            last = line
        if job["state"] in FINAL:
            return job
        time.sleep(interval)


def format_jobs(jobs: list[dict[str, Any]]) -> str:
    if not jobs:
        return "no jobs"
    rows = [("ID", "NAME", "BACKEND", "STATE", "PROGRESS", "CREATED", "MESSAGE")]
    for j in jobs:
        prog = j.get("progress") or {}
        cells = (
            f"{prog.get('cells_done', 0)}/{prog['cells_total']}" if prog.get("cells_total") else "-"
        )
        rows.append(
            (
                j["id"],
                j["name"][:30],
                j["backend"],
                j["state"],
                cells,
                j["created_at"][:19].replace("T", " "),
                (j.get("message") or "")[:60],
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows
    )


def format_job(job: dict[str, Any]) -> str:
    lines = [progress_line(job)]
    for key in ("notebook", "backend", "environment", "created_at", "started_at", "finished_at"):
        if job.get(key):
            lines.append(f"  {key}: {job[key]}")
    for key in ("parameters", "resources", "engine_ref"):
        if job.get(key):
            lines.append(f"  {key}: {json.dumps(job[key])}")
    if (job.get("outputs") or {}).get("notebook"):
        lines.append(f"  executed notebook: {job['outputs']['notebook']}")
    return "\n".join(lines)


def format_backends(data: dict[str, Any]) -> str:
    lines = []
    for b in data["backends"]:
        if b["available"]:
            r = b.get("resources", {})
            gpus = f", GPUs free {r['gpus_free']}/{r['gpus_total']}" if "gpus_total" in r else ""
            lines.append(f"{b['name']}: available{gpus}")
        else:
            lines.append(f"{b['name']}: unavailable — {b.get('reason', '')}")
    envs = ", ".join(e["name"] for e in data.get("environments", []))
    lines.append(f"environments: {envs}")
    return "\n".join(lines)


def follow_logs(client: SwanMLClient, job_id: str, out: TextIO, tail: int | None) -> None:
    """Print logs as they grow until the job ends (live tail while running, files after)."""
    shown = ""
    while True:
        data = client.logs(job_id, tail=tail)
        text = data["stdout"] + (data["stderr"] if not data["live"] else "")
        if text.startswith(shown):
            out.write(text[len(shown) :])
        else:  # the live tail window moved: print what is new at its end
            overlap = _overlap(shown, text)
            out.write(text[overlap:])
        out.flush()
        shown = text
        if data["state"] in FINAL and not data["live"]:
            return
        time.sleep(1.0)


def _overlap(old: str, new: str) -> int:
    for size in range(min(len(old), len(new)), 0, -1):
        if old.endswith(new[:size]):
            return size
    return 0


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


@dataclass
class Output:
    """What a verb produced: data for --json, text for terminals, HTML for notebooks."""

    data: Any
    text: str
    html: str | None = None


def run_verb(args: argparse.Namespace, client: SwanMLClient) -> Output:
    """The verbs that answer once (not submit, not logs --follow), for the CLI and magics."""
    verb = args.verb
    if verb == "jobs":
        data = client.jobs(state=args.state, backend=args.backend, limit=args.limit)
        return Output(data, format_jobs(data["jobs"]), jobs_html(data["jobs"], client))
    if verb == "status":
        job = client.job(args.id)
        return Output(job, format_job(job))
    if verb in ("cancel", "hold", "release"):
        job = getattr(client, verb)(args.id)
        return Output(job, progress_line(job))
    if verb == "open":
        job = client.job(args.id)
        nb = (job.get("outputs") or {}).get("notebook")
        if not nb:
            state = job["state"]
            why = "it has not finished" if state not in FINAL else "it has no executed notebook"
            raise ClientError(f"job {args.id} is {state}: {why}")
        url = client.open_url(nb)
        link = f'<a href="{html.escape(url)}" target="_blank">{html.escape(nb)}</a>'
        return Output({"notebook": nb, "url": url}, url, link)
    if verb == "logs":
        data = client.logs(args.id, tail=args.tail)
        return Output(data, data["stdout"] + data["stderr"])
    if verb == "backends":
        data = client.backends()
        return Output(data, format_backends(data))
    raise UsageError(f"unknown verb {verb!r}")
