"""Validation of a submission: every caller mistake becomes InvalidRequest with a clear message."""

from __future__ import annotations

import json
import keyword
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .inputs import InputPlan, plan_inputs, shared_prefix_of
from .model import InvalidRequest, JobSpec, TooLarge

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
    max_request_bytes: int = 1024 * 1024
    max_parameters_bytes: int = 256 * 1024
    max_inputs_bytes: int = 1024**3
    max_inputs_files: int = 10_000


# Nesting of a request body. The runner injects parameters as Python literals and CPython's
# parser refuses ~200 nested brackets; the body's own object is level 1.
MAX_DEPTH = 32
MAX_PATH_CHARS = 4096  # PATH_MAX
MAX_NAME_BYTES = 255  # NAME_MAX: one folder or file name
MAX_INPUTS = 1000
INT64 = 2**63


def check_json(value: Any, where: str = "the request body", max_depth: int = MAX_DEPTH) -> None:
    """One iterative pass over decoded JSON: bounded nesting, strings that are real Unicode
    (JSON allows a lone surrogate like "\\ud800"; nothing downstream can encode it), integers
    that fit in 64 bits. The first problem found is the message."""
    stack: list[tuple[Any, str, int]] = [(value, where, 1)]
    while stack:
        v, at, depth = stack.pop()
        if isinstance(v, str):
            _check_text(v, at)
        elif isinstance(v, bool) or v is None or isinstance(v, float):
            continue
        elif isinstance(v, int):
            if not -INT64 <= v < INT64:
                raise InvalidRequest(f"{at} is an integer outside 64 bits ({len(str(v))} digits)")
        elif isinstance(v, (dict, list)):
            if depth > max_depth:
                raise InvalidRequest(f"{at} is nested too deeply (the limit is {max_depth} levels)")
            items = v.items() if isinstance(v, dict) else enumerate(v)
            for k, x in items:
                if isinstance(k, str):
                    _check_text(k, f"a key of {at}")
                stack.append((x, f"{at}.{k}" if isinstance(k, str) else f"{at}[{k}]", depth + 1))


_WORDS = {str: "a string", list: "a list", dict: "an object"}


def _optional(body: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise InvalidRequest(f"'{key}' must be {_WORDS[kind]}, got {_json_clip(value)}")
    return value


def _clip(value: Any, n: int = 100) -> Any:
    return value[:n] + "…" if isinstance(value, str) and len(value) > n else value


def _check_text(text: str, at: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        bad = text[e.start : e.end].encode("utf-8", "backslashreplace").decode()
        raise InvalidRequest(
            f"{at[:200]} is not valid Unicode: it holds a lone surrogate ({bad})"
        ) from None


@dataclass
class Environment:
    """A named software stack, visible on both the session and the worker side."""

    name: str
    python: str = "python3"
    setup: str = ""
    kernels: tuple[str, ...] = ("python3",)
    description: str = ""
    # Absolute folders the session and the worker both see (e.g. /eos, /cvmfs): read in place
    # by absolute path, never transferred.
    shared_prefixes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kernels": list(self.kernels),
            "description": self.description,
            "shared_prefixes": list(self.shared_prefixes),
        }


def resolve_path(
    root_dir: str | Path, rel: Any, what: str, folders: bool = False
) -> tuple[str, Path]:
    """A caller-given path: relative, inside the root after symlinks, an existing file (or
    folder, with `folders`)."""
    if not isinstance(rel, str) or not rel.strip():
        raise InvalidRequest(f"'{what}' must be a non-empty path relative to the server root")
    if "\x00" in rel:
        raise InvalidRequest(f"'{what}' contains a NUL character")
    _check_text(rel, f"'{what}'")
    if len(rel) > MAX_PATH_CHARS:
        raise InvalidRequest(
            f"'{what}' is too long: {len(rel)} characters; the limit is {MAX_PATH_CHARS}"
        )
    longest = max(rel.replace("\\", "/").split("/"), key=lambda p: len(p.encode()))
    if len(longest.encode()) > MAX_NAME_BYTES:
        raise InvalidRequest(
            f"'{what}' has a folder or file name of {len(longest.encode())} bytes;"
            f" the limit is {MAX_NAME_BYTES}: {longest[:40]!r}…"
        )
    if rel.startswith(("/", "\\")) or os.path.isabs(rel):
        raise InvalidRequest(f"'{what}' must be relative to the server root, not absolute: {rel!r}")
    parts = Path(rel).parts
    if ".." in parts:
        raise InvalidRequest(f"'{what}' must stay inside the server root (no '..'): {rel!r}")
    root = Path(root_dir).resolve()
    try:
        full = (root / rel).resolve()
        if full != root and root not in full.parents:
            raise InvalidRequest(f"'{what}' leads outside the server root: {rel!r}")
        if not full.exists():
            raise InvalidRequest(f"'{what}' does not exist: {rel!r}")
        if not (full.is_file() or folders and full.is_dir()):
            kind = "a file or folder" if folders else "a file"
            raise InvalidRequest(f"'{what}' is not {kind}: {rel!r}")
    except OSError as e:  # e.g. a symlink loop, or a name the filesystem refuses
        raise InvalidRequest(f"'{what}' cannot be used: {e.strerror or e}: {rel[:200]!r}") from None
    return full.relative_to(root).as_posix(), full


def parse_inputs(raw: list[Any], root_dir: str | Path, env: Environment) -> list[str]:
    """`inputs`: files and folders under the root (root-relative, resolved, duplicates
    dropped). A path on one of the environment's shared filesystems is refused with what to
    do instead (it is read in place). Their size: input_plan."""
    if len(raw) > MAX_INPUTS:
        raise InvalidRequest(f"'inputs' has {len(raw)} paths; the limit is {MAX_INPUTS}")
    rels: dict[str, None] = {}
    for p in raw:
        shared = shared_prefix_of(p, env.shared_prefixes) if isinstance(p, str) else None
        if shared:
            raise InvalidRequest(
                f"'inputs' {_clip(p)!r} is on the shared filesystem {shared} of environment"
                f" {env.name!r}: the job reads it in place by that path; leave it out of 'inputs'"
            )
        try:
            rels.setdefault(resolve_path(root_dir, p, "inputs", folders=True)[0])
        except InvalidRequest as e:
            if "leads outside the server root" in e.message:  # a link: to a shared place?
                real = os.path.realpath(os.path.join(root_dir, p))
                shared = shared_prefix_of(real, env.shared_prefixes)
                if shared:
                    raise InvalidRequest(
                        f"'inputs' {_clip(p)!r} is a link to {_clip(real)!r} on the shared"
                        f" filesystem {shared}: the job reads it in place; read it by that path"
                        " in the notebook and leave it out of 'inputs'"
                    ) from None
            raise
    return list(rels)


def input_plan(
    root_dir: str | Path, notebook_rel: str, inputs: list[str], limits: Limits, env: Environment
) -> InputPlan:
    """The files `inputs` send (see jobs/inputs.py), refused above the limits with the size
    found, the limit and where large data belongs instead."""
    plan = plan_inputs(
        Path(root_dir), notebook_rel, inputs, limits.max_inputs_files, env.shared_prefixes
    )
    if plan.truncated or plan.bytes > limits.max_inputs_bytes:
        found = (
            f"more than {limits.max_inputs_files:,} files"
            if plan.truncated
            else f"{human_bytes(plan.bytes)} in {plan.count:,} files"
        )
        shared = (
            f"environment {env.name!r} reads {', '.join(env.shared_prefixes)} in place"
            if env.shared_prefixes
            else "e.g. EOS; see the environments' shared_prefixes"
        )
        raise InvalidRequest(
            f"the inputs hold {found}; the limit is {human_bytes(limits.max_inputs_bytes)} and"
            f" {limits.max_inputs_files:,} files (SwanMLApp.max_inputs_bytes,"
            " max_inputs_files): put large data on a shared filesystem and read it there by"
            f" its absolute path ({shared})"
        )
    return plan


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


class ResourceRules(Protocol):
    """What parse_spec needs of a backend (backends/base.py implements it)."""

    def resource_schema(self, limits: Limits) -> dict[str, Any]: ...

    def check_resources(self, resources: dict[str, Any]) -> None: ...


_TYPES: dict[str, Any] = {
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
_TYPE_WORDS = {"integer": "an integer", "number": "a number", "string": "a string",
               "boolean": "true or false"}  # fmt: skip


def parse_resources(raw: Any, schema: dict[str, Any]) -> dict[str, Any]:
    """`resources` checked against a backend's resource_schema (the subset of JSON Schema the
    backends use: type, minimum/maximum, exclusive bounds, enum, maxLength, default); the
    schema's defaults fill what the caller left out. Messages name the field and the limit."""
    props: dict[str, Any] = schema.get("properties", {})
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidRequest("'resources' must be an object")
    unknown = sorted(set(raw) - set(props))
    if unknown:
        raise InvalidRequest(
            f"unknown resource(s) {', '.join(_clip(u) for u in unknown[:10])};"
            f" known: {', '.join(sorted(props))}"
        )
    out = {k: f["default"] for k, f in props.items() if f.get("default") is not None}
    for key, value in raw.items():
        field_ = props[key]
        types = field_.get("type", [])
        types = [types] if isinstance(types, str) else types
        if value is None and "null" in types:
            out.pop(key, None)
            continue
        if "integer" in types and isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON Schema's integer: 2.0 is one
        if not any(_TYPES[t](value) for t in types if t in _TYPES):
            want = " or ".join(_TYPE_WORDS[t] for t in types if t in _TYPE_WORDS)
            raise InvalidRequest(f"resources.{key} must be {want}, got {_json_clip(value)}")
        _check_bounds(key, value, field_)
        out[key] = value
    return out


def _check_bounds(key: str, value: Any, f: dict[str, Any]) -> None:
    if "enum" in f and value not in f["enum"]:
        raise InvalidRequest(
            f"resources.{key} must be one of {', '.join(map(str, f['enum']))}, got {value!r}"
        )
    if isinstance(value, str):
        if "maxLength" in f and len(value) > f["maxLength"]:
            raise InvalidRequest(f"resources.{key} must be at most {f['maxLength']} characters")
        return
    if "minimum" in f and value < f["minimum"]:
        raise InvalidRequest(f"resources.{key} must be at least {f['minimum']}, got {value}")
    if "exclusiveMinimum" in f and value <= f["exclusiveMinimum"]:
        raise InvalidRequest(
            f"resources.{key} must be more than {f['exclusiveMinimum']}, got {value}"
        )
    if "maximum" in f and value > f["maximum"]:
        raise InvalidRequest(
            f"resources.{key} must be at most {f['maximum']} on this server, got {value}"
        )
    if "exclusiveMaximum" in f and value >= f["exclusiveMaximum"]:
        raise InvalidRequest(
            f"resources.{key} must be less than {f['exclusiveMaximum']}, got {value}"
        )


def _json_clip(value: Any) -> str:
    return _clip(json.dumps(value), 100)


def parse_parameters(raw: Any, max_bytes: int = Limits.max_parameters_bytes) -> dict[str, Any]:
    """Parameters the runner can inject: identifiers, finite JSON values (nesting and text
    already bounded by check_json), at most max_bytes as JSON."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidRequest("'parameters' must be an object of name: value")
    for key in raw:
        if not key.isidentifier() or keyword.iskeyword(key):
            raise InvalidRequest(f"parameter name {key[:100]!r} is not a valid Python identifier")
    try:
        size = len(json.dumps(raw, allow_nan=False, ensure_ascii=False).encode())
    except ValueError:
        raise InvalidRequest("parameters must not contain NaN or Infinity") from None
    if size > max_bytes:
        raise TooLarge(
            f"the parameters are {human_bytes(size)} as JSON; the limit is {human_bytes(max_bytes)}"
            " (SwanMLApp.max_parameters_bytes): pass large data as an input file"
        )
    return raw


def human_bytes(n: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}".replace(".0 ", " ")
    return f"{n} bytes"


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
    backends: dict[str, ResourceRules],
    environments: dict[str, Environment],
    limits: Limits,
    default_backend: str,
    default_environment: str,
) -> JobSpec:
    """A submission's fields, checked. The body has passed check_json (the service runs it
    first, before the idempotency key is looked up)."""
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown field(s): {', '.join(u[:100] for u in unknown[:10])}")
    rel, full = resolve_path(root_dir, body.get("notebook"), "notebook")
    nb = read_notebook(full, rel)
    # An optional field given as null means its default; any other value must have its type.
    backend = _optional(body, "backend", str, default_backend)
    if backend not in backends:
        raise InvalidRequest(
            f"unknown backend {_clip(backend)!r}; enabled on this server: {', '.join(backends)}"
        )
    env_name = _optional(body, "environment", str, default_environment)
    if env_name not in environments:
        raise InvalidRequest(
            f"unknown environment {_clip(env_name)!r}; available: {', '.join(sorted(environments))}"
        )
    env = environments[env_name]
    kernelspec = nb.get("metadata", {}).get("kernelspec")
    kernel = (kernelspec.get("name") if isinstance(kernelspec, dict) else None) or env.kernels[0]
    if kernel not in env.kernels:
        raise InvalidRequest(
            f"the notebook's kernel {kernel!r} cannot run in environment {env_name!r}"
            f" (it has: {', '.join(env.kernels)}); change the notebook's kernel or the environment"
        )
    inputs = parse_inputs(_optional(body, "inputs", list, []), root_dir, env)
    rules = backends[backend]
    resources = parse_resources(body.get("resources"), rules.resource_schema(limits))
    rules.check_resources(resources)
    key = _optional(body, "idempotency_key", str, None)
    if key is not None and not 0 < len(key) <= 200:
        raise InvalidRequest("'idempotency_key' must be a string of 1-200 characters")
    if inputs:  # last: the only check that walks folders
        input_plan(root_dir, rel, inputs, limits, env)
    return JobSpec(
        notebook=rel,
        backend=backend,
        parameters=parse_parameters(body.get("parameters"), limits.max_parameters_bytes),
        resources=resources,
        environment=env_name,
        name=parse_name(body.get("name"), Path(rel).stem),
        kernel_name=kernel,
        inputs=inputs,
        idempotency_key=key,
        document=nb,
    )
