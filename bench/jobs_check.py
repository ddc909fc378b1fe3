"""POST /swan-ml-ext/jobs/check (issue 11: p95 <= 20 ms against a pool of 1,000 machine ads).

The personal pool has one execute machine; a real collector holds 1,000 machines only as fake
startd ads that its negotiator would then try to match. So three measurements, each named:

1. the pure fit (backends/condor_fit.py) over 1,000 machines built from the real pool's ads
   (repeated and varied: a quarter with another GPU model, a third with every GPU busy):
   per request kind, and the cost of turning 1,000 ads into machines (once per cache refresh);
2. the full REST round trip (validation, notebook read, fit, JSON) against the real pool as
   it is (a real collector, one machine);
3. the same round trip against 1,000 machines: a server whose condor backend asks the real
   collector, then repeats its ads to 1,000 (bench/_ads_double.py: a test double of the ads
   LIST only; the machine-ad cache and its refreshes on the request path are the real ones).

Side by side: jupyter_server's cheapest authenticated route (GET /api/status) on the same
keep-alive connection, and the machine-ad cache refreshes the round trips met (requests are
10 ms apart so that the run spans several cache periods and the refreshes count in the p95).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from _common import ServerProcess, stats, timed_http, workdir, write_notebook

from swan_ml_ext.backends.condor import CondorBackend
from swan_ml_ext.backends.condor_fit import fit, machines_from_ads

HERE = Path(__file__).resolve().parent
MACHINES = 1000
GOAL_MS = 20.0
REQUESTS = {
    "4 GPUs (never)": {"gpus": 4},
    "80 GB GPU (never)": {"gpus": 1, "gpu_memory_mb": 81920},
    "an A100 (fits)": {"gpus": 1, "gpu_model": "A100-SXM4-40GB"},
    "cc >= 7.0 x2 (fits)": {"gpus": 2, "gpu_capability": 7.0},
    "CPUs only (fits)": {"cpus": 2, "memory_mb": 4096},
}


def timed_post(conn: http.client.HTTPConnection, token: str, path: str, body: Any) -> float:
    data = json.dumps(body)
    t = time.perf_counter()
    conn.request(
        "POST",
        path,
        body=data,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    text = resp.read()
    dt = time.perf_counter() - t
    assert resp.status == 200, text[:300]
    return dt


def pure() -> None:
    import sys

    sys.path.insert(0, str(HERE))
    from _ads_double import replicate

    real, _ = CondorBackend().machine_ads()
    ads = replicate(real, MACHINES)
    build = []
    for _ in range(20):
        t = time.perf_counter()
        machines = machines_from_ads(ads)
        build.append(time.perf_counter() - t)
    gpus = sum(len(m.gpus) for m in machines)
    print(f"\n## 1. pure fit over {len(machines)} machines ({gpus} GPUs) built from the real"
          f" pool's {len(real)} ad(s)")  # fmt: skip
    print(f"  {'':26} {'n':>5} {'median':>8} {'p95':>8} {'max':>8}  (ms)")
    b = stats(build)
    print(f"  {'ads -> machines (refresh)':26} {len(build):5d} {b['median'] * 1000:8.2f}"
          f" {b['p95'] * 1000:8.2f} {b['max'] * 1000:8.2f}")  # fmt: skip
    worst = 0.0
    for title, resources in REQUESTS.items():
        times = []
        for _ in range(200):
            t = time.perf_counter()
            answer = fit(machines, resources)
            times.append(time.perf_counter() - t)
        s = stats(times)
        worst = max(worst, s["p95"])
        said = answer["message"][:60]
        print(f"  {'fit: ' + title:26} {len(times):5d} {s['median'] * 1000:8.2f}"
              f" {s['p95'] * 1000:8.2f} {s['max'] * 1000:8.2f}  {said}")  # fmt: skip
    print(f"  worst fit p95 {worst * 1000:.2f} ms; goal <= {GOAL_MS} ms: "
          + ("MET" if worst * 1000 <= GOAL_MS else "NOT MET")
          + f" (the refresh, p95 {b['p95'] * 1000:.2f} ms, runs once per machine_ads_ttl, not"
          " per request: the round trips below include it)")  # fmt: skip


def round_trip(title: str, *extra: str, env: dict[str, str] | None = None) -> None:
    tmp = workdir("check")
    server = ServerProcess(tmp, "--SwanMLApp.max_gpus=8", *extra, env=env)
    write_notebook(server.root / "train.ipynb", "print(lr)", params="lr = 0.1")
    try:
        server.start()
        token = server.client.server.token
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        before = server.client.backends()["backends"][0]
        for _ in range(20):  # warm up
            timed_post(conn, token, "/swan-ml-ext/jobs/check", {"notebook": "train.ipynb"})
        print(f"\n## {title}")
        print(f"  {'':26} {'n':>5} {'median':>8} {'p95':>8} {'max':>8}  (ms)")
        worst = 0.0
        for name, resources in REQUESTS.items():
            body = {"notebook": "train.ipynb", "parameters": {"lr": 0.2}, "resources": resources}
            times = []
            for _ in range(150):  # 10 ms apart: the run spans several machine-ad cache periods
                times.append(timed_post(conn, token, "/swan-ml-ext/jobs/check", body))
                time.sleep(0.01)
            s = stats(times)
            worst = max(worst, s["p95"])
            print(f"  {'check: ' + name:26} {len(times):5d} {s['median'] * 1000:8.2f}"
                  f" {s['p95'] * 1000:8.2f} {s['max'] * 1000:8.2f}")  # fmt: skip
        floor = stats([timed_http(conn, token, "/api/status") for _ in range(300)])
        print(f"  {'floor: GET /api/status':26} {300:5d} {floor['median'] * 1000:8.2f}"
              f" {floor['p95'] * 1000:8.2f} {floor['max'] * 1000:8.2f}")  # fmt: skip
        after = server.client.backends()["backends"][0]
        answer = server.client.check({"notebook": "train.ipynb", "resources": {"gpus": 4}})
        refreshes = after["stats"]["collector_queries"] - before["stats"]["collector_queries"]
        print(f"  machines seen: {after['resources'].get('machines')}; collector queries"
              f" during the run: {refreshes}; e.g. '{answer['message']}'")  # fmt: skip
        print(f"  worst check p95 {worst * 1000:.2f} ms; goal <= {GOAL_MS} ms: "
              + ("MET" if worst * 1000 <= GOAL_MS else "NOT MET")
              + f"; vs floor p95 {worst / floor['p95']:.1f}x")  # fmt: skip
        conn.close()
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n# POST jobs/check benchmark ({os.cpu_count()} CPUs, load average {load})")
    pure()
    round_trip("2. REST round trip, real pool as it is (real collector, 1 machine)")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    env["SWAN_BENCH_MACHINES"] = str(MACHINES)
    round_trip(
        f"3. REST round trip, {MACHINES} machines (real collector query, its ads list repeated"
        " to 1,000 by a test double: bench/_ads_double.py)",
        "--SwanMLApp.backend_classes=condor=_ads_double:ManyMachinesCondor",
        env=env,
    )


if __name__ == "__main__":
    main()
