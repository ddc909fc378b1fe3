"""Shared bits of the benchmarks: a live server, a raw htcondor2 schedd, statistics."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from swan_ml_ext import pool  # noqa: E402

os.environ["CONDOR_CONFIG"] = str(pool.client_config())

from tests.conftest import write_notebook  # noqa: E402
from tests.server import ServerProcess  # noqa: E402

__all__ = [
    "ServerProcess",
    "write_notebook",
    "raw_schedd",
    "stats",
    "workdir",
    "report",
    "timed_get",
    "timed_http",
    "raw_papermill",
]


def raw_schedd():
    import htcondor2

    return htcondor2.Schedd(htcondor2.Collector().locateAll(htcondor2.DaemonType.Schedd)[0])


def raw_papermill(
    schedd, folder: Path, extra_inputs: tuple[str, ...] = (), poll: float = 0.5, **submit: str
) -> float:
    """The raw side of an end-to-end comparison: `folder/nb.ipynb` (and `extra_inputs`)
    straight through htcondor2 (submit + spool, poll, retrieve), papermill from the pool's
    worker environment. Returns the seconds from submit to `folder/out.ipynb` retrieved."""
    import htcondor2

    t = time.perf_counter()
    desc = {
        "executable": "/opt/worker/bin/papermill",
        "transfer_executable": "false",
        "arguments": "nb.ipynb out.ipynb",
        "initialdir": str(folder),
        "transfer_input_files": ",".join([str(folder / "nb.ipynb"), *extra_inputs]),
        "should_transfer_files": "YES",
        "transfer_output_files": "out.ipynb",
        "request_memory": "256M",
        "output": "stdout.txt",
        "error": "stderr.txt",
        **submit,
    }
    result = schedd.submit(htcondor2.Submit(desc), spool=True)
    schedd.spool(result)
    cid = result.cluster()
    while True:
        ads = schedd.query(f"ClusterId == {cid}", projection=["JobStatus"])
        if ads and ads[0]["JobStatus"] == 4:
            break
        time.sleep(poll)
    schedd.retrieve(f"ClusterId == {cid}")
    return time.perf_counter() - t


def workdir(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"swan-bench-{name}-"))


def timed_get(conn, token: str, path: str) -> tuple[float, bytes]:
    """One authenticated GET on a keep-alive http.client connection: (seconds, body); 200 only."""
    t = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"token {token}"})
    resp = conn.getresponse()
    body = resp.read()
    dt = time.perf_counter() - t
    assert resp.status == 200, body[:200]
    return dt, body


def timed_http(conn, token: str, path: str) -> float:
    """timed_get's seconds."""
    return timed_get(conn, token, path)[0]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def stats(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "p95": pct(values, 95),
        "min": min(values),
        "max": max(values),
    }


def report(title: str, ours: list[float], raw: list[float], goal: float, unit: str = "ms"):
    """Print ours vs raw side by side and the ratio of medians (and of paired runs)."""
    scale = 1000 if unit == "ms" else 1
    o, r = stats(ours), stats(raw)
    pairs = [a / b for a, b in zip(ours, raw, strict=False) if b > 0]
    ratio = o["median"] / r["median"]
    print(f"\n## {title}")
    print(f"  {'':8} {'median':>10} {'p95':>10} {'min':>10} {'max':>10}  ({unit}, n={len(ours)})")
    for label, s in (("ours", o), ("raw", r)):
        print(
            f"  {label:8} "
            + " ".join(f"{s[k] * scale:10.2f}" for k in ("median", "p95", "min", "max"))
        )
    print(
        f"  ratio ours/raw: {ratio:.2f}x (median of paired ratios "
        f"{statistics.median(pairs):.2f}x, of minimums {o['min'] / r['min']:.2f}x);"
        f" goal <= {goal}x: " + ("MET" if ratio <= goal else "NOT MET")
    )
    return ratio
