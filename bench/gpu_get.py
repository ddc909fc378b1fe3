"""GET /gpu with 20 concurrent pollers against a real server (issue 11: p95 <= 2 ms; NVML
sampled once per second, not per request).

Each poller is a process of its own (no client-side GIL between pollers) with a keep-alive
connection. Two rates: every 1 s for 20 s (as a status-bar item polls: the goal's case), then
every 50 ms for 10 s (20x that, for information). Side by side: jupyter_server's cheapest
authenticated route (GET /api/status) polled the same way, and the number of distinct
`sampled_at` values seen (= NVML samples the server made for all pollers together). Without
a GPU (this machine) the server caches the no-GPU answer the same way: the figure is then the
cached no-GPU path, and the output says so.
"""

from __future__ import annotations

import http.client
import json
import random
import shutil
import time
from concurrent.futures import ProcessPoolExecutor

from _common import ServerProcess, stats, timed_get, workdir

POLLERS = 20
RATES = ((1.0, 20.0), (0.05, 10.0))  # (period, duration) in seconds
GOAL_MS = 2.0


def poll(args: tuple[int, str, str, float, float]) -> tuple[list[float], set[str]]:
    port, token, path, period, duration = args
    out: list[float] = []
    seen: set[str] = set()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    rnd = random.Random()
    stop = time.monotonic() + duration
    time.sleep(rnd.uniform(0, period))  # pollers out of phase, as real clients are
    try:
        while time.monotonic() < stop:
            dt, body = timed_get(conn, token, path)
            out.append(dt)
            if path.endswith("/gpu"):
                seen.add(json.loads(body)["sampled_at"])
            time.sleep(max(0.0, period - dt) * rnd.uniform(0.8, 1.2))
    finally:
        conn.close()
    return out, seen


def run(
    port: int, token: str, path: str, period: float, duration: float
) -> tuple[list[float], set[str], float]:
    times: list[float] = []
    seen: set[str] = set()
    t0 = time.monotonic()
    with ProcessPoolExecutor(POLLERS) as pool:
        for out, s in pool.map(poll, [(port, token, path, period, duration)] * POLLERS):
            times += out
            seen |= s
    return times, seen, time.monotonic() - t0


def main() -> None:
    tmp = workdir("gpu")
    server = ServerProcess(
        tmp,
        "--SwanMLApp.backends=fake",
        "--SwanMLApp.backend_classes=fake=tests.fake_backend:FakeBackend",
    )
    try:
        server.start()
        token = server.client.server.token
        first = server.client.request("GET", "gpu")
        if first["available"]:
            print(
                f"\n  NVML path: {len(first['devices'])} GPU(s), driver {first['driver_version']}"
            )
        else:
            print(f"\n  no GPU on this machine ({first['reason']}): this measures the cached"
                  " no-GPU answer; the NVML path costs the same per request (one cached JSON"
                  " text), plus one NVML read per second in a worker thread")  # fmt: skip
        for period, duration in RATES:
            measure(server.port, token, period, duration)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def measure(port: int, token: str, period: float, duration: float) -> None:
    print(f"\n## GET /swan-ml-ext/gpu: {POLLERS} concurrent pollers (processes), each every"
          f" {period * 1000:.0f} ms for {duration:.0f} s (keep-alive)")  # fmt: skip
    ours, seen, took = run(port, token, "/swan-ml-ext/gpu", period, duration)
    floor, _, _ = run(port, token, "/api/status", period, duration)
    o, f = stats(ours), stats(floor)
    print(f"  {'':28} {'n':>6} {'median':>8} {'p95':>8} {'max':>8}  (ms)")
    for title, s, n in (("GET gpu", o, len(ours)), ("floor: GET /api/status", f, len(floor))):
        print(f"  {title:28} {n:6d} {s['median'] * 1000:8.2f} {s['p95'] * 1000:8.2f}"
              f" {s['max'] * 1000:8.2f}")  # fmt: skip
    print(f"  NVML samples for {len(ours)} requests in {took:.1f} s: {len(seen)}"
          f" (at most one per second: {len(seen) <= took + 1})")  # fmt: skip
    print(f"  GET gpu p95 {o['p95'] * 1000:.2f} ms; goal <= {GOAL_MS} ms: "
          + ("MET" if o["p95"] * 1000 <= GOAL_MS else "NOT MET")
          + f"; vs floor p95 {o['p95'] / f['p95']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
