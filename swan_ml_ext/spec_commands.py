"""A job's line → the job's spec (the POST jobs body): the options that describe a job (shared
by submit, check and sweep), and the user's paths made the server's root-relative ones."""

from __future__ import annotations

import argparse
import os
from typing import Any

from .client import SwanMLClient
from .options_commands import (
    RESOURCE_FLAGS,
    UsageError,
    check_resource,
    find_backend,
    parse_memory,
    parse_param,
    parse_resource,
    resource_value,
    untyped,
)


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
        resources.update((key, untyped(text)) for key, text in items)
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
