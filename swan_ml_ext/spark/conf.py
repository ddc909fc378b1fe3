"""Spark conf bundles: parsed from `k=v` items or a dict, and checked before anything starts.

Only what would otherwise fail late (or hang) is checked: keys are `spark.*`, no control
characters or lone surrogates, values of the keys whose type is known parse (ASCII counts, GPU
amounts, memory sizes up to 1 PiB, booleans; the UI's retained lists bounded), and bundles stay
small. Spark itself checks the rest when the session starts. A request's own conf may not set
the SITE_ONLY_KEYS nor move the driver off loopback (check_user_conf; the site's profiles may).
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
    "spark.ui.retainedTasks",
}
POSITIVE_INT_KEYS = {"spark.executor.cores", "spark.driver.cores", "spark.task.cpus"}
MAX_INT = 2**31 - 1  # Spark reads these as Java ints
# The server polls the UI's job, stage and task lists: keep them to a size it can page through.
INT_MAXIMA = {
    "spark.ui.retainedJobs": 10_000,
    "spark.ui.retainedStages": 10_000,
    "spark.ui.retainedTasks": 100_000,
    "spark.ui.port": 65535,
    "spark.driver.port": 65535,
    "spark.blockManager.port": 65535,
    "spark.connect.grpc.binding.port": 65535,
}
MAX_MEMORY_BYTES = 1024**5  # 1 PiB: far above any machine; bigger is a typo (or an attack)
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
_MEMORY = re.compile(r"([0-9]+)([kmgtp]b?|b)?", re.IGNORECASE)  # fullmatch: ASCII only
_WHOLE = re.compile(r"[0-9]+")  # fullmatch; int() alone takes "1_0" and other scripts' digits
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")  # fullmatch; float() takes "1_0", "nan"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # C0, DEL, C1, line breaks
SPACE = " \t"  # what is trimmed: as Java's trim() would, not Unicode's wider str.strip()
_KEY = re.compile(r"spark\.[A-Za-z0-9_.\-]+")  # fullmatch

# Keys a request's extra conf (POST spark/sessions conf, `%swan spark connect --conf`, a batch
# job's resources) may not set: they make the server (check_cluster runs discovery scripts) or
# the driver run a program, load code or read a path of the requester's choosing, or move the
# driver off the master its profile names (and past the checks made for that master). Only the
# site's Spark profiles (trusted configuration) set them. Patterns are matched whole, ignoring
# case; `*` is any run of characters.
SITE_ONLY_KEYS = (
    "spark.*.discoveryScript",  # run by the server (check_cluster) and by Spark
    "spark.*.resourcesFile",
    "spark.worker.*",  # the local cluster's in-process worker: scripts, dirs, options
    "spark.*.extraJavaOptions",  # -XX:OnOutOfMemoryError=<program>, -javaagent:<path>, ...
    "spark.*.defaultJavaOptions",
    "spark.*.extraClassPath",
    "spark.*.extraLibraryPath",
    "spark.jars",
    "spark.jars.*",  # packages, repositories, ivy settings: code fetched and loaded
    "spark.files",
    "spark.archives",
    "spark.submit.pyFiles",
    "spark.plugins",
    "spark.plugins.*",
    "spark.executorEnv.*",  # LD_PRELOAD, PYTHONSTARTUP, ... in the executors
    "spark.python.worker.*",
    "spark.python.daemon.*",
    "spark.pyspark.python",
    "spark.pyspark.driver.python",
    "spark.kubernetes.*podTemplateFile",
    "spark.master",  # the profile's master (and its checks) decide where executors run
    "spark.remote",
    "spark.submit.deployMode",
)
_SITE_ONLY = re.compile(
    "|".join(re.escape(p).replace(r"\*", ".*") for p in SITE_ONLY_KEYS), re.IGNORECASE
)
# A request may keep the driver on loopback (what the server registers), not move it elsewhere.
HOST_KEYS = ("spark.driver.host", "spark.driver.bindAddress")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


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
            items.append((key.strip(SPACE), value.strip(SPACE)))
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
    if _CONTROL.search(key) or not _KEY.fullmatch(key):
        raise SparkConfigError(
            f"conf key {key!r} is not a Spark key (spark.* letters, digits, '.', '_', '-')"
        )
    return key


def _text(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value.bit_length() > 63:  # str() of a huge int is slow, or raises
            raise SparkConfigError(f"conf {key}: the number is too large")
        return str(value)
    if isinstance(value, float):
        return str(value)
    if not isinstance(value, str):
        raise SparkConfigError(f"conf {key}: the value must be a string, number or boolean")
    if len(value) > MAX_VALUE:
        raise SparkConfigError(f"conf {key}: the value is longer than {MAX_VALUE} characters")
    _printable(value, f"conf {key}: the value")
    return value


def _printable(text: str, what: str) -> None:
    """SparkConfigError when `text` has control characters (C0, DEL, C1) or lone surrogates
    (which no UTF-8 file, JVM argument or JSON answer can carry)."""
    if _CONTROL.search(text):
        raise SparkConfigError(f"{what} contains control characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise SparkConfigError(f"{what} contains a lone surrogate (not valid Unicode)") from None


def check_user_conf(conf: dict[str, str]) -> None:
    """SparkConfigError for what a request's extra conf may not set (the site's profiles may):
    the SITE_ONLY_KEYS, and the driver's host or bind address off loopback."""
    for key, value in conf.items():
        if _SITE_ONLY.fullmatch(key):
            raise SparkConfigError(
                f"{key}: set in the Spark profile (site configuration), not per session"
            )
        if key in HOST_KEYS and value.strip(SPACE).lower().strip("[]") not in LOOPBACK:
            raise SparkConfigError(
                f"{key}={value}: a session's driver stays on this machine's loopback "
                f"({', '.join(LOOPBACK)}); another address is set in the Spark profile (site "
                "configuration), not per session"
            )


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
        if text.strip(SPACE).lower() not in ("true", "false"):
            raise SparkConfigError(f"conf {key}={text}: must be true or false")
    elif RESOURCE_SCRIPT.match(key) and not text.strip(SPACE):
        raise SparkConfigError(f"conf {key}: the discovery script path is empty")


def _int(key: str, text: str) -> int:
    value = text.strip(SPACE)
    if value.startswith("-") and _WHOLE.fullmatch(value[1:]):
        raise SparkConfigError(f"conf {key}={text}: must not be negative")
    if not _WHOLE.fullmatch(value):
        raise SparkConfigError(f"conf {key}={text}: must be a whole number (digits 0-9)")
    highest = INT_MAXIMA.get(key, MAX_INT)
    if len(value) > 12 or int(value) > highest:
        raise SparkConfigError(f"conf {key}={text}: must be at most {highest}")
    return int(value)


def parse_amount(key: str, text: str, *, fractional: bool) -> float:
    """A resource amount: whole numbers; task amounts may also be a fraction of one
    (0 < x < 1: several tasks share a GPU), as Spark accepts them."""
    value = text.strip(SPACE)
    if not _DECIMAL.fullmatch(value) or len(value) > 32:
        raise SparkConfigError(
            f"conf {key}={text}: must be a positive number (digits 0-9, optionally with a "
            "decimal point)"
        )
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise SparkConfigError(f"conf {key}={text}: must be a positive number")
    if number != int(number) and not (fractional and number < 1):
        what = "a whole number, or a fraction below 1" if fractional else "a whole number"
        raise SparkConfigError(f"conf {key}={text}: must be {what}")
    return number


def memory_mb(key: str, text: str) -> int:
    """Spark's size syntax (512m, 2g, 1024 = MiB for memory keys) → MiB, or SparkConfigError."""
    value = text.strip(SPACE)
    m = _MEMORY.fullmatch(value)
    if not m:
        raise SparkConfigError(
            f"conf {key}={text}: must be a size like 512m or 2g (a whole number, with an "
            "optional unit b, k, m, g, t, p)"
        )
    digits, unit = m.group(1).lstrip("0") or "0", (m.group(2) or "m")[:1].lower()
    power = "bkmgtp".index(unit)  # integers only: float arithmetic overflows on long numbers
    if len(digits) > 20 or int(digits) * 1024**power > MAX_MEMORY_BYTES:
        raise SparkConfigError(f"conf {key}={text}: more than 1p (1 PiB), the most allowed")
    return int(digits) * 1024**power // 1024**2


def is_plain_local(master: str | None) -> bool:
    """local, local[N], local[*], local[N,F]: one JVM that offers no custom resources."""
    return bool(master) and re.match(r"^local(\[[^\]]*\])?$", master or "") is not None


def local_cluster(master: str | None) -> tuple[int, int, int] | None:
    """local-cluster[workers,cores,memoryMB] → the three numbers, else None."""
    m = re.match(r"^local-cluster\[\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\]$", master or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None
