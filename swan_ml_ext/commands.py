"""The verbs shared by the `swan-ml` CLI and the `%swan` magics (one parser, one client): the
parser, and the verbs that answer once. What the verbs do lives by concern, in modules that
never import this one: options_commands (typed values, resources against the backend's
schema), spec_commands (a job's line → its spec, the user's paths → the server's),
check_commands (check, --dry-run, submit checked first), input_commands (what travels with
a job), view_commands (how answers are shown; following a job) and sweep_commands."""

from __future__ import annotations

import argparse
import html
import sys
from typing import Any

from .check_commands import NotFeasible, check_job
from .client import ClientError, SwanMLClient
from .options_commands import UsageError, find_backend, parse_value
from .spec_commands import job_options, root_relative, submit_spec, to_server_paths
from .sweep_commands import add_sweep_verb
from .view_commands import (
    FINAL,
    Output,
    format_backends,
    format_job,
    format_jobs,
    jobs_html,
    progress_line,
)

# Names callers outside this package's verbs import from here (spark/magics.py, older tests).
__all__ = [
    "NotFeasible",
    "Output",
    "ParserExit",
    "UsageError",
    "build_parser",
    "parse_value",
    "root_relative",
    "run_verb",
    "to_server_paths",
]

VERBS_HELP = """verbs:
  submit [NOTEBOOK] [options]   run a notebook on a backend (default: the current notebook);
                                --dry-run shows what would go to the engine, submits nothing;
                                a job no machine could ever run is refused unless --force;
                                the files its code reads are sent too, unless --no-detect
  check [NOTEBOOK] [options]    could any machine run it (submit's options), and if not why
  sweep [NOTEBOOK] -p NAME=V1,V2 [-p NAME=range(3)] [--collect VAR] [--wait]
                                the notebook over every combination; --wait: the results table
  jobs [--state S] [--backend B] [--limit N]   list jobs, newest first
  status ID                     one job
  logs ID [--tail N] [--follow] stdout/stderr so far
  cancel ID | hold ID | release ID
  open ID                       link to the executed notebook
  backends                      backends: resources they take, capabilities, free GPUs
  gpu                           this session's GPUs and which kernels use them
"""

ACTIONS = ("cancel", "hold", "release")


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


def build_parser(prog: str, *, with_pool: bool = False) -> _Parser:
    """The verbs' parser; `with_pool` adds `pool` (the CLI only: it runs here, not on a server)."""
    p = _Parser(
        prog=prog,
        description="Run notebooks as batch jobs on the server's backends and follow them.",
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
    job_options(s)
    s.add_argument("--wait", action="store_true", help="follow the job until it ends")
    s.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would be handed to the engine (e.g. the HTCondor submit description),"
        " checked like a submission; submit nothing",
    )
    s.add_argument(
        "--force",
        action="store_true",
        help="submit even when no machine of the pool could ever run the job (see check)",
    )
    s.add_argument(
        "--no-detect",
        action="store_true",
        help="send only the --input paths, not the files and folders the notebook's code reads"
        " (found by the server in its code cells; see check)",
    )
    job_options(verb("check", "could any machine ever run this job, and if not why"))
    add_sweep_verb(verb("sweep", "run a notebook over a grid of parameters"))

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
    verb("backends", "backends: resources they take, capabilities, free GPUs")
    verb("gpu", "this session's GPUs (NVML) and which kernels use them")
    if with_pool:
        pl = verb("pool", "the personal test pool on this machine (root): up, down, status")
        pl.add_argument("action", choices=["up", "down", "status", "build"])
    return p


def _add_global_options(p: argparse.ArgumentParser, **default: Any) -> None:
    p.add_argument("--url", help="Jupyter server URL (default: discovered)", **default)
    p.add_argument("--token", help="Jupyter server token (default: discovered)", **default)
    p.add_argument("--json", action="store_true", help="machine-readable output", **default)


def check_capability(job: dict[str, Any], backend: dict[str, Any] | None, verb: str) -> None:
    """ClientError when the job's backend says it cannot `verb` jobs; a backend the server no
    longer lists, or one that publishes no capabilities, is left to the server."""
    if backend is None or not isinstance(backend.get("capabilities"), dict):
        return
    if not backend["capabilities"].get(verb):
        name = backend.get("title") or backend.get("name")
        raise ClientError(
            f"cannot {verb} job {job['id']}: its backend {name!r} does not support {verb}"
        )


def run_verb(args: argparse.Namespace, client: SwanMLClient) -> Output:
    """The verbs that answer once (not submit, not logs --follow), for the CLI and magics."""
    verb = args.verb
    if verb == "jobs":
        data = client.jobs(state=args.state, backend=args.backend, limit=args.limit)
        return Output(data, format_jobs(data["jobs"]), jobs_html(data["jobs"], client))
    if verb == "status":
        job = client.job(args.id)
        return Output(job, format_job(job, find_backend(client.backends(), job["backend"])))
    if verb in ACTIONS:  # refused here, without calling the action, if the backend cannot
        job = client.job(args.id)
        check_capability(job, find_backend(client.backends(), job["backend"]), verb)
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
    if verb == "check":
        if not args.notebook:
            raise UsageError("check needs a NOTEBOOK path (relative to the current folder)")
        spec = submit_spec(args, args.notebook, client)
        to_server_paths(spec, client)
        return check_job(spec, client)
    if verb == "backends":
        data = client.backends()
        return Output(data, format_backends(data))
    if verb == "gpu":
        from .gpu.magics import gpu_output

        return Output(*gpu_output(client))
    raise UsageError(f"unknown verb {verb!r}")
