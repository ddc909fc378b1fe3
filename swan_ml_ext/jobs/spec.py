"""Validation of a submission: every caller mistake becomes InvalidRequest with a clear message."""

from __future__ import annotations

import json
import keyword
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .model import InvalidRequest, JobSpec, Resources

_FIELDS = {
    "notebook",
    "backend",
    "parameters",
    "resources",
    "environment",
    "name",
    "idempotency_key",
    "inputs",
}


@dataclass
class Limits:
    max_cpus: int = 16
    max_memory_mb: int = 65536
    max_gpus: int = 2
    max_disk_mb: int = 102400
    max_runtime_s: int = 7 * 24 * 3600


@dataclass
class Environment:
    """A named software stack, visible on both the session and the worker side."""

    name: str
    python: str = "python3"
    setup: str = ""
    kernels: tuple[str, ...] = ("python3",)
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kernels": list(self.kernels), "description": self.description}


def resolve_path(root_dir: str | Path, rel: Any, what: str) -> tuple[str, Path]:
    """A caller-given path: relative, inside the root after symlinks, an existing file."""
    if not isinstance(rel, str) or not rel.strip():
        raise InvalidRequest(f"'{what}' must be a non-empty path relative to the server root")
    if "\x00" in rel:
        raise InvalidRequest(f"'{what}' contains a NUL character")
    if rel.startswith(("/", "\\")) or os.path.isabs(rel):
        raise InvalidRequest(f"'{what}' must be relative to the server root, not absolute: {rel!r}")
    parts = Path(rel).parts
    if ".." in parts:
        raise InvalidRequest(f"'{what}' must stay inside the server root (no '..'): {rel!r}")
    root = Path(root_dir).resolve()
    full = (root / rel).resolve()
    if full != root and root not in full.parents:
        raise InvalidRequest(f"'{what}' leads outside the server root: {rel!r}")
    if not full.exists():
        raise InvalidRequest(f"'{what}' does not exist: {rel!r}")
    if not full.is_file():
        raise InvalidRequest(f"'{what}' is not a file: {rel!r}")
    return full.relative_to(root).as_posix(), full


def read_notebook(full: Path, rel: str) -> dict[str, Any]:
    """Parse and check the notebook's structure (plain JSON: nbformat's full schema
    validation costs ~5 ms a submission; papermill validates again on the worker)."""
    if full.suffix != ".ipynb":
        raise InvalidRequest(f"'{rel}' is not a notebook (.ipynb)")
    try:
        nb = json.loads(full.read_bytes())
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidRequest(f"'{rel}' is not valid notebook JSON: {e}") from e
    if not isinstance(nb, dict):
        raise InvalidRequest(f"'{rel}' is not a valid notebook: not a JSON object")
    if not isinstance(nb.get("nbformat"), int) or nb["nbformat"] < 4:
        raise InvalidRequest(f"'{rel}' is not a valid notebook: nbformat 4 or newer is needed")
    cells = nb.get("cells")
    if not isinstance(cells, list) or not all(
        isinstance(c, dict)
        and c.get("cell_type") in ("code", "markdown", "raw")
        and isinstance(c.get("source", ""), (str, list))
        for c in cells
    ):
        raise InvalidRequest(f"'{rel}' is not a valid notebook: malformed 'cells'")
    if not isinstance(nb.get("metadata", {}), dict):
        raise InvalidRequest(f"'{rel}' is not a valid notebook: malformed 'metadata'")
    return nb


def _int(value: Any, key: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"resources.{key} must be an integer, got {json.dumps(value)}")
    if value < lo:
        raise InvalidRequest(f"resources.{key} must be at least {lo}, got {value}")
    if value > hi:
        raise InvalidRequest(f"resources.{key} must be at most {hi} on this server, got {value}")
    return value


def parse_resources(raw: Any, limits: Limits) -> Resources:
    if raw is None:
        return Resources()
    if not isinstance(raw, dict):
        raise InvalidRequest("'resources' must be an object")
    known = {
        "cpus",
        "memory_mb",
        "gpus",
        "disk_mb",
        "gpu_memory_mb",
        "gpu_capability",
        "max_runtime_s",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise InvalidRequest(
            f"unknown resource(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    r = Resources()
    if "cpus" in raw:
        r.cpus = _int(raw["cpus"], "cpus", 1, limits.max_cpus)
    if "memory_mb" in raw:
        r.memory_mb = _int(raw["memory_mb"], "memory_mb", 1, limits.max_memory_mb)
    if "gpus" in raw:
        r.gpus = _int(raw["gpus"], "gpus", 0, limits.max_gpus)
    if "disk_mb" in raw:
        r.disk_mb = _int(raw["disk_mb"], "disk_mb", 1, limits.max_disk_mb)
    if raw.get("gpu_memory_mb") is not None:
        r.gpu_memory_mb = _int(raw["gpu_memory_mb"], "gpu_memory_mb", 1, 10**7)
    if raw.get("gpu_capability") is not None:
        cap = raw["gpu_capability"]
        if isinstance(cap, bool) or not isinstance(cap, (int, float)) or not 0 < cap < 100:
            raise InvalidRequest(
                f"resources.gpu_capability must be a number like 8.0, got {json.dumps(cap)}"
            )
        r.gpu_capability = float(cap)
    if raw.get("max_runtime_s") is not None:
        r.max_runtime_s = _int(raw["max_runtime_s"], "max_runtime_s", 1, limits.max_runtime_s)
    if (r.gpu_memory_mb or r.gpu_capability) and r.gpus == 0:
        raise InvalidRequest("GPU constraints (gpu_memory_mb, gpu_capability) need gpus >= 1")
    return r


def parse_parameters(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidRequest("'parameters' must be an object of name: value")
    for key in raw:
        if not key.isidentifier() or keyword.iskeyword(key):
            raise InvalidRequest(f"parameter name {key!r} is not a valid Python identifier")
    try:
        json.dumps(raw, allow_nan=False)
    except ValueError:
        raise InvalidRequest("parameters must not contain NaN or Infinity") from None
    return raw


def parse_name(raw: Any, default: str) -> str:
    if raw is None or raw == "":
        return default
    if not isinstance(raw, str):
        raise InvalidRequest("'name' must be a string")
    if len(raw) > 200:
        raise InvalidRequest("'name' must be at most 200 characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise InvalidRequest("'name' must be one line without control characters")
    return raw


def parse_spec(
    body: Any,
    *,
    root_dir: str | Path,
    backends: list[str],
    environments: dict[str, Environment],
    limits: Limits,
    default_backend: str = "condor",
    default_environment: str = "default",
) -> JobSpec:
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown field(s): {', '.join(unknown)}")
    rel, full = resolve_path(root_dir, body.get("notebook"), "notebook")
    nb = read_notebook(full, rel)
    backend = body.get("backend") or default_backend
    if not isinstance(backend, str) or backend not in backends:
        raise InvalidRequest(
            f"unknown backend {backend!r}; enabled on this server: {', '.join(backends)}"
        )
    env_name = body.get("environment") or default_environment
    if not isinstance(env_name, str) or env_name not in environments:
        raise InvalidRequest(
            f"unknown environment {env_name!r}; available: {', '.join(sorted(environments))}"
        )
    env = environments[env_name]
    kernelspec = nb.get("metadata", {}).get("kernelspec")
    kernel = (kernelspec.get("name") if isinstance(kernelspec, dict) else None) or env.kernels[0]
    if kernel not in env.kernels:
        raise InvalidRequest(
            f"the notebook's kernel {kernel!r} cannot run in environment {env_name!r}"
            f" (it has: {', '.join(env.kernels)}); change the notebook's kernel or the environment"
        )
    inputs_raw = body.get("inputs") or []
    if not isinstance(inputs_raw, list):
        raise InvalidRequest("'inputs' must be a list of paths")
    inputs = [resolve_path(root_dir, p, "inputs")[0] for p in inputs_raw]
    key = body.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 200):
        raise InvalidRequest("'idempotency_key' must be a string of 1-200 characters")
    return JobSpec(
        notebook=rel,
        backend=backend,
        parameters=parse_parameters(body.get("parameters")),
        resources=parse_resources(body.get("resources"), limits),
        environment=env_name,
        name=parse_name(body.get("name"), Path(rel).stem),
        kernel_name=kernel,
        inputs=inputs,
        idempotency_key=key,
    )
