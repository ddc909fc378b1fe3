"""The checks that ask the cluster before a session starts: a standalone master's `/json/`
(does an ALIVE worker have the cores, memory and GPUs an executor asks for?) and a local
cluster's discovery script (does it find the GPUs the worker asks for?). Without them Spark
starts and then waits forever ("Initial job has not accepted any resources").
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .conf import (
    RESOURCE_AMOUNT,
    RESOURCE_SCRIPT,
    SparkConfigError,
    local_cluster,
    memory_mb,
    parse_amount,
)

if TYPE_CHECKING:
    from .profiles import ResolvedProfile

MAX_JSON = 4 << 20  # a master's /json/ answer: a few KiB per worker
MAX_SCRIPT_OUTPUT = 1 << 20  # a discovery script's answer: one small JSON object
DISCOVERY_TIMEOUT_S = 15.0
# What a discovery script (run by the server) must not see: the server's own credentials.
SERVER_ENV = ("SWAN_ML_TOKEN", "SWAN_ML_URL", "SWAN_ML_ROOT", "JUPYTERHUB_API_TOKEN")
SERVER_ENV_PREFIXES = ("JPY_",)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def check_cluster(resolved: ResolvedProfile, get_json: Callable[[str], Any] | None = None) -> None:
    """Refuse (SparkConfigError) what would wait forever once started: a standalone master
    that does not answer or has no ALIVE worker with the cores, memory and GPUs an executor
    asks for (asked at <master_ui>/json/); a local cluster whose discovery script finds
    fewer GPUs than its worker asks for. Other kinds: nothing to ask. Blocks up to ~5 s."""
    master = resolved.master or ""
    if master.startswith("spark://"):
        _check_standalone(resolved, get_json or _get_json)
    elif local_cluster(master) is not None:
        _check_local_cluster(resolved)


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        data = resp.read(MAX_JSON + 1)
    if len(data) > MAX_JSON:
        raise SparkConfigError(
            f"the Spark master's web UI answered {url} with more than {MAX_JSON >> 20} MiB: "
            "not a standalone master's /json/"
        )
    return json.loads(data)


def master_ui_url(resolved: ResolvedProfile) -> str:
    if resolved.master_ui:
        return resolved.master_ui.rstrip("/")
    first = (resolved.master or "").removeprefix("spark://").split(",")[0]
    return f"http://{first.rsplit(':', 1)[0]}:8080"


def _check_standalone(resolved: ResolvedProfile, get_json: Callable[[str], Any]) -> None:
    ui = master_ui_url(resolved)
    try:
        state = get_json(ui + "/json/")
    except SparkConfigError:
        raise
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise SparkConfigError(
            f"the Spark master's web UI at {ui} does not answer ({reason}): is the standalone "
            f"master of {resolved.master} running?"
        ) from None
    if not isinstance(state, dict) or state.get("status") != "ALIVE":
        status = state.get("status") if isinstance(state, dict) else None
        raise SparkConfigError(f"the Spark master at {ui} is not ALIVE (status: {status})")
    workers = [w for w in state.get("workers") or [] if w.get("state") == "ALIVE"]
    if not workers:
        raise SparkConfigError(f"the Spark master at {ui} has no ALIVE worker")
    conf = resolved.conf
    cores = int(conf.get("spark.executor.cores", "1"))
    memory = memory_mb("spark.executor.memory", conf.get("spark.executor.memory", "1g"))
    wanted = {}
    for key, value in conf.items():
        m = RESOURCE_AMOUNT.match(key)
        if m and m.group(1) == "executor":
            wanted[m.group(2)] = parse_amount(key, value, fractional=False)

    def free(worker: dict[str, Any], res: str) -> int:
        info = (worker.get("resourcesfree") or worker.get("resources") or {}).get(res) or {}
        return len(info.get("addresses") or [])

    for w in workers:
        if (
            int(w.get("coresfree", 0)) >= cores
            and int(w.get("memoryfree", 0)) >= memory
            and all(free(w, res) >= amount for res, amount in wanted.items())
        ):
            return
    ask = ", ".join([f"{cores} core(s)", f"{memory} MiB"] + [
        f"{_number(a)} {res}" for res, a in sorted(wanted.items())])  # fmt: skip
    offers = "; ".join(
        f"{w.get('host')}: {w.get('coresfree', 0)} core(s), {w.get('memoryfree', 0)} MiB"
        + "".join(f", {free(w, res)} {res}" for res in sorted(wanted))
        for w in workers[:5]
    )
    raise SparkConfigError(
        f"no ALIVE worker of {resolved.master} can start an executor with {ask} "
        f"(free now: {offers}); the application would wait forever"
    )


def _check_local_cluster(resolved: ResolvedProfile) -> None:
    for key, script in resolved.conf.items():
        m = RESOURCE_SCRIPT.match(key)
        if not m or m.group(1) != "worker":
            continue
        res = m.group(2)
        amount_key = f"spark.worker.resource.{res}.amount"
        if amount_key not in resolved.conf:
            continue
        asked = parse_amount(amount_key, resolved.conf[amount_key], fractional=False)
        found = _discover(script, res, _script_env({**os.environ, **resolved.env}))
        if len(found) < asked:
            raise SparkConfigError(
                f"the discovery script {script} finds {len(found)} {res}(s) "
                f"{found[:8]}, the local cluster's worker asks for {_number(asked)}"
            )


def _script_env(env: dict[str, str]) -> dict[str, str]:
    """`env` without the server's credentials (SERVER_ENV, JPY_*)."""
    return {
        k: v
        for k, v in env.items()
        if k not in SERVER_ENV and not k.startswith(SERVER_ENV_PREFIXES)
    }


def _discover(script: str, res: str, env: dict[str, str]) -> list[str]:
    try:
        text = _run_capped(script, env)
        data = json.loads(text)
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        raise SparkConfigError(f"the discovery script {script} failed: {e}") from None
    if not isinstance(data, dict) or data.get("name") != res:
        raise SparkConfigError(f"the discovery script {script} does not describe {res!r}")
    return [str(a) for a in data.get("addresses") or []]


def _run_capped(script: str, env: dict[str, str]) -> str:
    """The script's standard output: at most MAX_SCRIPT_OUTPUT bytes, within
    DISCOVERY_TIMEOUT_S; the script and whatever it started are killed otherwise."""
    deadline = time.monotonic() + DISCOVERY_TIMEOUT_S
    out = bytearray()
    with subprocess.Popen(
        [script], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, env=env, start_new_session=True,
    ) as proc:  # fmt: skip
        assert proc.stdout is not None
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(proc.stdout, selectors.EVENT_READ)
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise subprocess.TimeoutExpired(script, DISCOVERY_TIMEOUT_S)
                    if not selector.select(left):
                        continue
                    chunk = os.read(proc.stdout.fileno(), 1 << 16)
                    if not chunk:
                        break
                    out += chunk
                    if len(out) > MAX_SCRIPT_OUTPUT:
                        raise ValueError(f"it wrote more than {MAX_SCRIPT_OUTPUT >> 10} KiB")
            proc.wait(max(0.0, deadline - time.monotonic()))
        finally:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                proc.wait()
    return out.decode("utf-8", "replace")
