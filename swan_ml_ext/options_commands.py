"""What the user types on a verb's line, typed and checked before anything is sent: -p values,
memory sizes, and resources (the flags and --resource KEY=VALUE) against the chosen backend's
resource_schema, which GET backends publishes (a backend as data: no engine names here)."""

from __future__ import annotations

import json
import keyword
import re
from typing import Any


class UsageError(Exception):
    """A bad option or value: one line for the user."""


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


def untyped(text: str) -> Any:
    """A --resource value without a schema to type it: typed like a -p value, else the text."""
    try:
        return parse_value(text)
    except UsageError:
        return text


def schema_fields(backend: dict[str, Any]) -> dict[str, Any]:
    """The fields of the backend's resource_schema, by key."""
    return (backend.get("resource_schema") or {}).get("properties") or {}


def _types(field_: dict[str, Any]) -> list[str]:
    types = field_.get("type") or []
    return [types] if isinstance(types, str) else list(types)


def _resource_error(backend: dict[str, Any], problem: str) -> UsageError:
    known = ", ".join(schema_fields(backend)) or "none"
    return UsageError(f"{problem}; backend {backend.get('name')!r} resources: {known}")


def _field(backend: dict[str, Any], key: str, option: str | None) -> dict[str, Any] | None:
    """The schema field of `key`; None where the schema lets unknown keys through."""
    fields = schema_fields(backend)
    if key in fields:
        return fields[key]
    if (backend.get("resource_schema") or {}).get("additionalProperties", True) is False:
        how = f" ({option})" if option else ""
        raise _resource_error(backend, f"unknown resource {key!r}{how}")
    return None


_NO_VALUE = object()
_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}
_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "null": "null",
}


def resource_value(backend: dict[str, Any], key: str, text: str) -> Any:
    """`--resource key=text` typed by the backend's schema field and checked against it."""
    field_ = _field(backend, key, None)
    if field_ is None:
        return untyped(text)
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
