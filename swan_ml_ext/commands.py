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
from pathlib import PurePosixPath
from typing import Any, TextIO

from .client import ClientError, SwanMLClient
from .jobs.spec import human_bytes

FINAL = {"completed", "failed", "cancelled"}
STATE_COLOURS = {
    "pending": "#9e9e9e", "running": "#1976d2", "held": "#f57c00",
    "completed": "#388e3c", "failed": "#d32f2f", "cancelled": "#616161",
}  # fmt: skip

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

# The common resources as flags: (option, dest, schema key). Any other field of the chosen
# backend's resource_schema is given as --resource KEY=VALUE; both are checked against it.
RESOURCE_FLAGS = [
    ("--cpus", "cpus", "cpus"),
    ("--memory", "memory", "memory_mb"),
    ("--disk", "disk", "disk_mb"),
    ("--gpus", "gpus", "gpus"),
    ("--gpu-model", "gpu_model", "gpu_model"),
    ("--gpu-memory", "gpu_memory", "gpu_memory_mb"),
    ("--gpu-capability", "gpu_capability", "gpu_capability"),
    ("--max-runtime", "max_runtime", "max_runtime_s"),
]
ACTIONS = ("cancel", "hold", "release")


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


def parse_memory(text: str, what: str = "memory") -> int:
    """'4GB', '4G', '512M', '2048' (MB) → MB."""
    m = _MEM.match(text)
    if not m:
        raise UsageError(f"{what} {text!r} must look like 4GB, 512MB or 2048 (MB)")
    number, unit = float(m.group(1)), (m.group(2) or "m").lower()
    factor = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}[unit]
    mb = int(round(number * factor))
    if mb < 1:
        raise UsageError(f"{what} {text!r} is less than 1 MB")
    return mb


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
    from .sweep_commands import add_sweep_verb  # (it imports this module)

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


def job_options(
    s: argparse.ArgumentParser,
    param_help: str = "typed parameter (ints, floats, bools, JSON); repeatable",
) -> None:
    """What describes a job: the options of submit, check and sweep (whose -p says more)."""
    s.add_argument(
        "notebook",
        nargs="?",
        help="path relative to the current folder, or absolute, inside the server root "
        "(default: the current notebook)",
    )
    s.add_argument("--backend", "-b", help="backend name (default: the server's; see backends)")
    s.add_argument("--cpus", type=int)
    s.add_argument("--memory", help="e.g. 4GB, 512MB")
    s.add_argument("--disk", help="scratch disk, e.g. 10GB")
    s.add_argument("--gpus", type=int)
    s.add_argument(
        "--gpu-model", help="only GPUs of this model (see backends), e.g. A100-SXM4-40GB"
    )
    s.add_argument("--gpu-memory", help="minimum GPU memory, e.g. 16GB")
    s.add_argument("--gpu-capability", type=float, help="minimum CUDA capability, e.g. 8.0")
    s.add_argument("--max-runtime", type=int, help="seconds")
    s.add_argument(
        "--resource",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any resource the backend takes (see backends), typed by its schema; repeatable",
    )
    s.add_argument("--env", help="environment name")
    s.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=param_help,
    )
    s.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="PATH",
        help="a file or folder to send with the job (a path like NOTEBOOK's: relative to the"
        " current folder); repeatable",
    )
    s.add_argument("--name")


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


def spec_from_args(
    args: argparse.Namespace, notebook: str, backends: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The job spec of a `submit` line. With `backends` (the GET backends answer), the
    resources are typed and checked against the chosen backend's resource_schema (an unknown
    key or a bad value is a UsageError naming the backend's resources); without it, or for a
    backend the server does not list, --resource values are typed like -p values and the
    server alone checks them."""
    flagged: dict[str, tuple[str, Any]] = {}  # schema key -> (option, value)
    for option, dest, key in RESOURCE_FLAGS:
        value = getattr(args, dest, None)
        if value is None:
            continue
        if key.endswith("_mb"):
            value = parse_memory(value, option)
        flagged[key] = (option, value)
    items = [parse_resource(item) for item in getattr(args, "resource", None) or []]
    backend = find_backend(backends, args.backend) if backends is not None else None
    schema = (backend or {}).get("resource_schema")
    resources: dict[str, Any] = {}
    if isinstance(schema, dict):
        for key, (option, value) in flagged.items():
            resources[key] = check_resource(backend, key, value, option)
        for key, text in items:
            resources[key] = resource_value(backend, key, text)
    else:
        resources.update((key, value) for key, (_, value) in flagged.items())
        resources.update((key, _untyped(text)) for key, text in items)
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


def submit_spec(args: argparse.Namespace, notebook: str, client: SwanMLClient) -> dict[str, Any]:
    """spec_from_args for a submission: malformed options fail before any request; resources,
    if any, are then checked against the chosen backend's schema (one GET backends)."""
    spec = spec_from_args(args, notebook)
    if not spec.get("resources"):
        return spec
    return spec_from_args(args, notebook, client.backends())


def check_dry_run(args: argparse.Namespace) -> None:
    """Options that make no sense with --dry-run: a UsageError before anything is sent."""
    if getattr(args, "dry_run", False) and args.wait:
        raise UsageError("--dry-run submits nothing: there is nothing to --wait for")


def dry_run(
    args: argparse.Namespace,
    spec: dict[str, Any],
    client: SwanMLClient,
    out: TextIO | None = None,
) -> Output:
    """`submit --dry-run`: the server's preview of the spec (POST jobs/preview: the same
    checks as a submission, nothing submitted). Text: what would go to the engine; with the
    inputs detected in the notebook added as submit adds them (previewed again then), and
    said on `out` (default stdout)."""
    check_dry_run(args)
    data = client.request("POST", "jobs/preview", spec)
    added = add_detected(args, spec, data, client, out or sys.stdout)
    if added:
        data = client.request("POST", "jobs/preview", spec)
    say_inputs(spec, added, client, out or sys.stdout)
    text = data["text"].rstrip("\n")
    if data.get("existing_job"):
        text += f"\n# submitting this again would return job {data['existing_job']}"
    return Output(data, text)


class NotFeasible(UsageError):
    """submit refused a job that no machine could ever run (the CLI exits with 2)."""


def format_check(data: dict[str, Any]) -> str:
    """A POST jobs/check answer in words: what will happen, or each reason it cannot run."""
    if data.get("feasible"):
        lines = [f"fits: {data['message']}" if data.get("message") else "fits"]
    else:
        lines = ["no machine could ever run it:", *(f"  {r}" for r in data.get("reasons") or [])]
    lines += detected_lines(data.get("detected_inputs"))
    lines += [f"warning: {w}" for w in data.get("warnings") or []]
    return "\n".join(lines)


def check_job(spec: dict[str, Any], client: SwanMLClient) -> Output:
    """`check`: the server's answer for the spec (the same checks as a submission)."""
    data = client.check(spec)
    return Output(data, format_check(data))


def submit_checked(
    args: argparse.Namespace,
    spec: dict[str, Any],
    client: SwanMLClient,
    out: TextIO | None = None,
    send: Callable[[dict[str, Any]], Any] | None = None,
) -> Any:
    """`submit`: POST jobs/check first (its warnings go to stderr); a job that no machine
    could ever run is refused with the reasons (NotFeasible) unless --force; the inputs the
    check detected in the notebook are added unless --no-detect (add_detected), what is sent
    is said on `out` (default stdout); then submitted (`send`, default client.submit: `sweep`
    posts a sweep of this job)."""
    force, detect = getattr(args, "force", False), not getattr(args, "no_detect", False)
    data: dict[str, Any] = {"feasible": True}
    if detect or not force:
        try:
            data = client.check(spec)
        except ClientError as e:
            if e.status != 404:  # a server without jobs/check: submit as before
                raise
        for warning in data.get("warnings") or []:
            print(f"warning: {warning}", file=sys.stderr)
        if not force and not data.get("feasible", True):
            raise NotFeasible(f"not submitted: {data.get('message')} (--force submits it anyway)")
    added = add_detected(args, spec, data, client, out or sys.stdout)
    say_inputs(spec, added, client, out or sys.stdout)
    try:
        return (send or client.submit)(spec)
    except ClientError as e:
        if not added or e.status not in (400, 413):
            raise
        paths = ", ".join(d["path"] for d in added)
        raise ClientError(
            f"{e.message} (sent because the notebook reads them: {paths};"
            " --no-detect leaves them out)",
            e.status,
        ) from None


# --- inputs: what the notebook reads, what travels with the job ----------------------------
def _covered(path: str, inputs: list[str]) -> bool:
    """`path` (root-relative) is one of `inputs` or lies in a folder among them."""
    p = PurePosixPath(path)
    return any(i == "." or PurePosixPath(i) == p or PurePosixPath(i) in p.parents for i in inputs)


def detected_to_send(spec: dict[str, Any], detected: Any) -> list[dict[str, Any]]:
    """The detected inputs (a check or preview answer's detected_inputs) that submit adds:
    those to send (not read in place, no problem) that the spec's inputs do not send yet."""
    given = list(spec.get("inputs") or [])
    return [
        d
        for d in (detected if isinstance(detected, list) else [])
        if isinstance(d, dict)
        and isinstance(d.get("path"), str)
        and not d.get("in_place")
        and not d.get("problem")
        and not _covered(d["path"], given)
    ]


def takes_inputs(client: SwanMLClient, backend: str | None) -> bool:
    """The backend sends input files (its capabilities["inputs"], GET backends); a backend
    the server does not list, or one that does not say, is left to the server."""
    b = find_backend(client.backends(), backend)
    return b is None or (b.get("capabilities") or {}).get("inputs", True) is not False


def add_detected(
    args: argparse.Namespace,
    spec: dict[str, Any],
    answer: dict[str, Any],
    client: SwanMLClient,
    out: TextIO,
) -> list[dict[str, Any]]:
    """Unless --no-detect: the inputs the server detected in the notebook (`answer`: POST
    jobs/check or jobs/preview), added to spec["inputs"] and returned; none for a backend
    that sends no input files (the check's warnings say so). What is read in place, and what
    cannot be sent, is said on `out`."""
    if getattr(args, "no_detect", False):
        return []
    detected = answer.get("detected_inputs") if isinstance(answer, dict) else None
    for d in detected if isinstance(detected, list) else []:
        if isinstance(d, dict) and d.get("in_place"):
            print(f"read in place: {d.get('path')} (a shared filesystem; not sent)", file=out)
        elif isinstance(d, dict) and d.get("problem"):
            print(f"not sent: {d.get('path')}: {d['problem']}", file=out)
    added = detected_to_send(spec, detected)
    if not added or not takes_inputs(client, spec.get("backend")):
        return []
    spec["inputs"] = [*(spec.get("inputs") or []), *(d["path"] for d in added)]
    return added


def local_size(root: str, rel: str) -> tuple[bool, int]:
    """(a folder?, its bytes) of a root-relative input as this machine sees it (the user's
    --input; Jupyter's checkpoints left out, as the server leaves them out)."""
    full = os.path.join(root, rel)
    if not os.path.isdir(full):
        try:
            return False, os.stat(full).st_size
        except OSError:
            return False, 0
    total = 0
    for folder, dirs, files in os.walk(full, followlinks=True):
        dirs[:] = [d for d in dirs if d != ".ipynb_checkpoints"]
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return True, total


def inputs_line(spec: dict[str, Any], added: list[dict[str, Any]], root: Callable[[], str]) -> str:
    """'sending 2 inputs (1.2 MB): ana/data/, cfg.yaml' ('' when nothing is sent): detected
    ones sized by the server, the user's own here (`root`: the server's root folder)."""
    inputs = [p for p in spec.get("inputs") or [] if isinstance(p, str)]
    if not inputs:
        return ""
    known = {d["path"]: d for d in added}
    names, total = [], 0
    for rel in inputs:
        d = known.get(rel)
        folder, size = (
            (d.get("kind") == "folder", int(d.get("bytes") or 0)) if d else local_size(root(), rel)
        )
        names.append(f"{rel}/" if folder else rel)
        total += size
    n = len(inputs)
    return f"sending {n} input{'s' * (n != 1)} ({human_bytes(total)}): {', '.join(names)}"


def say_inputs(
    spec: dict[str, Any], added: list[dict[str, Any]], client: SwanMLClient, out: TextIO
) -> None:
    line = inputs_line(spec, added, client.root_dir)
    if line:
        print(line, file=out)


def detected_lines(detected: Any) -> list[str]:
    """A check answer's detected_inputs in lines (none: no line)."""
    items = [d for d in (detected if isinstance(detected, list) else []) if isinstance(d, dict)]
    if not items:
        return []
    lines = ["the notebook reads (submit sends these unless --no-detect):"]
    for d in items:
        cell = f"cell {d.get('cell')}"
        if d.get("in_place"):
            lines.append(f"  {d.get('path')}: read in place ({cell})")
            continue
        folder = d.get("kind") == "folder"
        name = f"{d.get('path')}/" if folder else str(d.get("path"))
        files = int(d.get("files") or 0)
        size = human_bytes(int(d.get("bytes") or 0))
        what = f"{files:,} file{'s' * (files != 1)}, {size}" if folder else size
        problem = f" — not sent: {d['problem']}" if d.get("problem") else ""
        lines.append(f"  {name}: {what} ({cell}){problem}")
    return lines


# --- backends as data: resource schema, capabilities, engine reference labels --------------


def find_backend(backends: dict[str, Any] | None, name: str | None = None) -> dict[str, Any] | None:
    """The backend called `name` (default: the server's default) in a GET backends answer."""
    if not backends:
        return None
    name = name or backends.get("default_backend")
    return next((b for b in backends.get("backends", []) if b.get("name") == name), None)


def parse_resource(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key or any(c.isspace() for c in key):
        raise UsageError(f"resource {item!r} must look like KEY=VALUE (e.g. cpus=2)")
    return key, value


def _untyped(text: str) -> Any:
    try:
        return parse_value(text)
    except UsageError:
        return text


def _fields(backend: dict[str, Any]) -> dict[str, Any]:
    return (backend.get("resource_schema") or {}).get("properties") or {}


def _types(field_: dict[str, Any]) -> list[str]:
    types = field_.get("type") or []
    return [types] if isinstance(types, str) else list(types)


def _resource_error(backend: dict[str, Any], problem: str) -> UsageError:
    known = ", ".join(_fields(backend)) or "none"
    return UsageError(f"{problem}; backend {backend.get('name')!r} resources: {known}")


def _field(backend: dict[str, Any], key: str, option: str | None) -> dict[str, Any] | None:
    """The schema field of `key`; None where the schema lets unknown keys through."""
    fields = _fields(backend)
    if key in fields:
        return fields[key]
    if (backend.get("resource_schema") or {}).get("additionalProperties", True) is False:
        how = f" ({option})" if option else ""
        raise _resource_error(backend, f"unknown resource {key!r}{how}")
    return None


_NO_VALUE = object()
_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}
_TYPE_WORDS = {
    "integer": "an integer", "number": "a number", "string": "a string",
    "boolean": "true or false", "null": "null",
}  # fmt: skip


def resource_value(backend: dict[str, Any], key: str, text: str) -> Any:
    """`--resource key=text` typed by the backend's schema field and checked against it."""
    field_ = _field(backend, key, None)
    if field_ is None:
        return _untyped(text)
    types, word = _types(field_), text.strip()
    value: Any = _NO_VALUE
    if "null" in types and word.lower() in ("null", "none", ""):
        value = None
    elif "boolean" in types and word.lower() in _TRUE | _FALSE:
        value = word.lower() in _TRUE
    elif "integer" in types and field_.get("x-unit") == "MB":
        try:
            value = parse_memory(word, f"resource {key}")
        except UsageError as e:
            raise _resource_error(backend, str(e)) from None
    elif "integer" in types and re.fullmatch(r"[+-]?\d+", word):
        value = int(word)
    elif "number" in types and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", word):
        value = float(word)
        if value in (float("inf"), float("-inf")):
            value = _NO_VALUE
    elif "string" in types:
        value = text
    if value is _NO_VALUE:
        want = " or ".join(_TYPE_WORDS.get(t, t) for t in types) or "a value"
        raise _resource_error(backend, f"resource {key} must be {want}, got {text!r}")
    return check_resource(backend, key, value)


def check_resource(backend: dict[str, Any], key: str, value: Any, option: str | None = None) -> Any:
    """`value` (given by `option`, else by --resource) checked against the schema field of
    `key`: type, enum, bounds, string lengths (the subset of JSON Schema the backends use).
    Returns it; UsageError otherwise."""
    field_ = _field(backend, key, option)
    if field_ is None:
        return value
    types = _types(field_)
    ok = {
        "null": value is None,
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "string": isinstance(value, str),
    }
    if types and not any(ok.get(t, False) for t in types):
        want = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
        raise _resource_error(backend, f"resource {key} must be {want}, got {value!r}")
    if value is None:
        return value

    def bad(problem: str) -> UsageError:
        return _resource_error(backend, f"resource {key} must be {problem}, got {value!r}")

    if "enum" in field_ and value not in field_["enum"]:
        raise bad(f"one of {', '.join(map(str, field_['enum']))}")
    if isinstance(value, str):
        if "minLength" in field_ and len(value) < field_["minLength"]:
            raise bad(f"at least {field_['minLength']} characters")
        if "maxLength" in field_ and len(value) > field_["maxLength"]:
            raise bad(f"at most {field_['maxLength']} characters")
        if "pattern" in field_ and not re.search(field_["pattern"], value):
            raise bad(f"like {field_['pattern']}")
    elif not isinstance(value, bool):
        if "minimum" in field_ and value < field_["minimum"]:
            raise bad(f"at least {field_['minimum']}")
        if "exclusiveMinimum" in field_ and value <= field_["exclusiveMinimum"]:
            raise bad(f"more than {field_['exclusiveMinimum']}")
        if "maximum" in field_ and value > field_["maximum"]:
            raise bad(f"at most {field_['maximum']}")
        if "exclusiveMaximum" in field_ and value >= field_["exclusiveMaximum"]:
            raise bad(f"less than {field_['exclusiveMaximum']}")
    return value


def engine_text(job: dict[str, Any], backend: dict[str, Any] | None) -> str:
    """The job's engine reference as its backend labels it: 'label value', in the labels'
    order; keys without a label, and empty values, are not shown."""
    ref = job.get("engine_ref") or {}
    parts = []
    for item in (backend or {}).get("engine_ref_labels") or []:
        value = ref.get(item.get("key"))
        if value is None or value == "" or value == [] or value == {}:
            continue
        if isinstance(value, list):
            value = ",".join(map(str, value))
        elif isinstance(value, dict):
            value = json.dumps(value)
        parts.append(f"{item.get('label') or item.get('key')} {value}")
    return ", ".join(parts)


def job_actions(job: dict[str, Any], backend: dict[str, Any]) -> list[str]:
    """The actions this job's backend can take on it now (the server may still refuse one in
    a race, e.g. a job that finishes in between)."""
    caps = backend.get("capabilities") or {}
    state = job["state"]
    if state in FINAL:
        return []
    actions = []
    if caps.get("cancel"):
        actions.append("cancel")
    if caps.get("hold") and state != "held" and job.get("engine_ref"):
        actions.append("hold")
    if caps.get("release") and state == "held":
        actions.append("release")
    return actions


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


def format_job(job: dict[str, Any], backend: dict[str, Any] | None = None) -> str:
    """A job in lines; with its backend (from GET backends): the engine reference as the
    backend labels it, and the actions that backend can take on the job now."""
    lines = [progress_line(job)]
    for key in ("notebook", "backend", "environment", "created_at", "started_at", "finished_at"):
        if job.get(key):
            lines.append(f"  {key}: {job[key]}")
    for key in ("parameters", "resources"):
        if job.get(key):
            lines.append(f"  {key}: {json.dumps(job[key])}")
    if job.get("inputs"):
        lines.append(f"  inputs: {', '.join(job['inputs'])}")
    suggested = (job.get("outputs") or {}).get("suggested_inputs")
    if suggested:
        lines.append(f"  suggested inputs: {', '.join(suggested)} (the job failed without them)")
    engine = engine_text(job, backend)
    if engine:
        lines.append(f"  engine: {engine}")
    if (job.get("outputs") or {}).get("notebook"):
        lines.append(f"  executed notebook: {job['outputs']['notebook']}")
    if backend is not None:
        lines.append(f"  actions: {', '.join(job_actions(job, backend)) or 'none'}")
    return "\n".join(lines)


def _limits(field_: dict[str, Any]) -> str:
    lo, hi = field_.get("minimum"), field_.get("maximum")
    parts = []
    if lo is not None and hi is not None:
        parts.append(f"{lo}..{hi}")
    elif lo is not None:
        parts.append(f">= {lo}")
    elif hi is not None:
        parts.append(f"<= {hi}")
    if "exclusiveMinimum" in field_:
        parts.append(f"> {field_['exclusiveMinimum']}")
    if "exclusiveMaximum" in field_:
        parts.append(f"< {field_['exclusiveMaximum']}")
    if field_.get("enum"):
        parts.append("one of " + "|".join(map(str, field_["enum"])))
    if "minLength" in field_:
        parts.append(f"at least {field_['minLength']} characters")
    if "maxLength" in field_:
        parts.append(f"at most {field_['maxLength']} characters")
    return ", ".join(parts)


def format_resource_fields(backend: dict[str, Any]) -> list[str]:
    """One aligned line per field of the backend's resource_schema: key, title [unit],
    default, limits, and the flag that sets it where there is one."""
    flags = {key: option for option, _, key in RESOURCE_FLAGS}
    rows = []
    for key, f in _fields(backend).items():
        unit = f" [{f['x-unit']}]" if f.get("x-unit") else ""
        default = f.get("default")
        shown = "unset" if default is None else json.dumps(default)
        rows.append(
            (key, f"{f.get('title') or key}{unit}", f"default {shown}", _limits(f),
             flags.get(key, ""))
        )  # fmt: skip
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "    " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in rows
    ]


def gpu_type_text(t: dict[str, Any]) -> str:
    """One GPU model of a pool: 'A100-SXM4-40GB: 1 of 2 free, 40 GB, cc 8.0'."""
    parts = [f"{t.get('free', 0)} of {t.get('total', 0)} free"]
    mb = t.get("memory_mb")
    if isinstance(mb, (int, float)) and mb > 0:
        parts.append(f"{round(mb / 1024, 1):g} GB" if mb >= 1024 else f"{int(mb)} MB")
    cc = t.get("capability")
    if isinstance(cc, (int, float)) and cc > 0:
        parts.append(f"cc {float(cc):.1f}" if float(cc) * 10 % 1 == 0 else f"cc {cc:g}")
    return f"{t.get('name')}: {', '.join(parts)}"


def format_backends(data: dict[str, Any]) -> str:
    lines = []
    for b in data["backends"]:
        title = f" ({b['title']})" if b.get("title") and b["title"] != b["name"] else ""
        default = " [default]" if b["name"] == data.get("default_backend") else ""
        if b["available"]:
            r = b.get("resources", {})
            gpus = f", GPUs free {r['gpus_free']}/{r['gpus_total']}" if "gpus_total" in r else ""
            lines.append(f"{b['name']}{title}{default}: available{gpus}")
            lines.extend(f"  {gpu_type_text(t)}" for t in r.get("gpu_types") or [])
        else:
            lines.append(f"{b['name']}{title}{default}: unavailable — {b.get('reason', '')}")
        caps = b.get("capabilities")
        if isinstance(caps, dict):
            has = [c for c, v in caps.items() if v]
            lacks = [c for c, v in caps.items() if not v]
            text = ", ".join(has) or "none"
            lines.append(f"  capabilities: {text}" + (f" (not: {', '.join(lacks)})" * bool(lacks)))
        fields = format_resource_fields(b)
        if fields:
            lines.append("  resources (--resource KEY=VALUE, or the flag):")
            lines.extend(fields)
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
