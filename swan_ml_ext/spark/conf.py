"""Spark conf bundles: parsed from `k=v` items or a dict, and checked before anything starts.

Only what would otherwise fail late (or hang) is checked: keys are `spark.*`, no control
characters, values of the keys whose type is known parse (counts, GPU amounts, memory sizes,
booleans), and bundles stay small. Spark itself checks the rest when the session starts.
"""

from __future__ import annotations

import re
from typing import Any

MAX_ENTRIES = 200
MAX_KEY = 200
MAX_VALUE = 4096


class SparkConfigError(ValueError):
    """A profile or conf Spark would refuse, or that would hang: str(e) is one clear line."""


# Whole numbers >= 0 (ports may be 0: "any free port").
INT_KEYS = {
    "spark.executor.cores",
    "spark.driver.cores",
    "spark.executor.instances",
    "spark.cores.max",
    "spark.task.cpus",
    "spark.task.maxFailures",
    "spark.default.parallelism",
    "spark.sql.shuffle.partitions",
    "spark.dynamicAllocation.minExecutors",
    "spark.dynamicAllocation.maxExecutors",
    "spark.dynamicAllocation.initialExecutors",
    "spark.ui.port",
    "spark.driver.port",
    "spark.blockManager.port",
    "spark.port.maxRetries",
    "spark.connect.grpc.binding.port",
    "spark.ui.retainedJobs",
    "spark.ui.retainedStages",
}
POSITIVE_INT_KEYS = {"spark.executor.cores", "spark.driver.cores", "spark.task.cpus"}
MEMORY_KEYS = {
    "spark.driver.memory",
    "spark.executor.memory",
    "spark.driver.memoryOverhead",
    "spark.executor.memoryOverhead",
    "spark.executor.pyspark.memory",
    "spark.driver.maxResultSize",
    "spark.memory.offHeap.size",
    "spark.kryoserializer.buffer.max",
}
BOOL_KEYS = {"spark.ui.showConsoleProgress", "spark.speculation", "spark.ui.killEnabled"}
# spark.{driver,executor,task,worker}.resource.<name>.amount
RESOURCE_AMOUNT = re.compile(r"^spark\.(driver|executor|task|worker)\.resource\.([^.]+)\.amount$")
RESOURCE_SCRIPT = re.compile(
    r"^spark\.(driver|executor|worker)\.resource\.([^.]+)\.discoveryScript$"
)
_MEMORY = re.compile(r"^[0-9]+([kmgtp]b?|b)?$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_KEY = re.compile(r"^spark\.[A-Za-z0-9_.\-]+$")


def parse_conf(pairs: list[str] | dict[str, Any] | None) -> dict[str, str]:
    """`["k=v", ...]` (the magics' --conf items) or a dict → a checked `{key: str(value)}`.

    Booleans become "true"/"false" and numbers their text, as Spark reads them."""
    if pairs is None:
        return {}
    items: list[tuple[Any, Any]]
    if isinstance(pairs, dict):
        items = list(pairs.items())
    elif isinstance(pairs, (list, tuple)):
        items = []
        for item in pairs:
            if not isinstance(item, str) or "=" not in item:
                raise SparkConfigError(f"conf item {item!r} must look like spark.key=value")
            key, _, value = item.partition("=")
            items.append((key.strip(), value.strip()))
    else:
        raise SparkConfigError("conf must be a list of 'spark.key=value' items or an object")
    if len(items) > MAX_ENTRIES:
        raise SparkConfigError(f"too many conf entries ({len(items)}; at most {MAX_ENTRIES})")
    conf: dict[str, str] = {}
    for key, value in items:
        key, text = _key(key), _text(value, key)
        check_value(key, text)
        conf[key] = text
    return conf


def _key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise SparkConfigError("a conf key is empty")
    if len(key) > MAX_KEY:
        raise SparkConfigError(f"conf key {key[:40]!r}... is longer than {MAX_KEY} characters")
    if _CONTROL.search(key) or not _KEY.match(key):
        raise SparkConfigError(
            f"conf key {key!r} is not a Spark key (spark.* letters, digits, '.', '_', '-')"
        )
    return key


def _text(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise SparkConfigError(f"conf {key}: the value must be a string, number or boolean")
    if len(value) > MAX_VALUE:
        raise SparkConfigError(f"conf {key}: the value is longer than {MAX_VALUE} characters")
    if _CONTROL.search(value):
        raise SparkConfigError(f"conf {key}: the value contains control characters")
    return value


def check_value(key: str, text: str) -> None:
    """SparkConfigError when a known key's value would not parse in Spark."""
    amount = RESOURCE_AMOUNT.match(key)
    if amount:
        parse_amount(key, text, fractional=amount.group(1) == "task")
    elif key in INT_KEYS:
        number = _int(key, text)
        if key in POSITIVE_INT_KEYS and number < 1:
            raise SparkConfigError(f"conf {key}={text}: must be at least 1")
    elif key in MEMORY_KEYS:
        memory_mb(key, text)
    elif key in BOOL_KEYS or key.endswith(".enabled"):
        if text.strip().lower() not in ("true", "false"):
            raise SparkConfigError(f"conf {key}={text}: must be true or false")
    elif RESOURCE_SCRIPT.match(key) and not text.strip():
        raise SparkConfigError(f"conf {key}: the discovery script path is empty")


def _int(key: str, text: str) -> int:
    try:
        number = int(text.strip())
    except ValueError:
        raise SparkConfigError(f"conf {key}={text}: must be a whole number") from None
    if number < 0:
        raise SparkConfigError(f"conf {key}={text}: must not be negative")
    return number


def parse_amount(key: str, text: str, *, fractional: bool) -> float:
    """A resource amount: whole numbers; task amounts may also be a fraction of one
    (0 < x < 1: several tasks share a GPU), as Spark accepts them."""
    try:
        number = float(text.strip())
    except ValueError:
        raise SparkConfigError(f"conf {key}={text}: must be a number") from None
    if not number > 0 or number != number or number == float("inf"):
        raise SparkConfigError(f"conf {key}={text}: must be a positive number")
    if number != int(number) and not (fractional and number < 1):
        what = "a whole number, or a fraction below 1" if fractional else "a whole number"
        raise SparkConfigError(f"conf {key}={text}: must be {what}")
    return number


def memory_mb(key: str, text: str) -> int:
    """Spark's size syntax (512m, 2g, 1024 = MiB for memory keys) → MiB, or SparkConfigError."""
    value = text.strip()
    if not _MEMORY.match(value):
        raise SparkConfigError(
            f"conf {key}={text}: must be a size like 512m or 2g (a whole number, with an "
            "optional unit b, k, m, g, t, p)"
        )
    digits = re.match(r"^[0-9]+", value)
    assert digits is not None
    number, unit = int(digits.group(0)), value[len(digits.group(0)) :][:1].lower() or "m"
    factor = {"b": 1 / 1024**2, "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024**2, "p": 1024**3}
    return int(number * factor[unit])


def is_plain_local(master: str | None) -> bool:
    """local, local[N], local[*], local[N,F]: one JVM that offers no custom resources."""
    return bool(master) and re.match(r"^local(\[[^\]]*\])?$", master or "") is not None


def local_cluster(master: str | None) -> tuple[int, int, int] | None:
    """local-cluster[workers,cores,memoryMB] → the three numbers, else None."""
    m = re.match(r"^local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]$", master or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None
