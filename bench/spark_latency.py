"""The Spark panel's data: (1) time from a Spark job's start (Spark's submissionTime) to its
appearance in GET spark/sessions/{id}/jobs, the session idle before each job; (2) that GET's
latency with 20 concurrent pollers, side by side with jupyter_server's GET /api/status under
the same load, and the Spark REST calls the server made (the session's `spark_requests`) with
no poller vs with 20: the pollers read the poller's cache, so the rate must not change.

Goals: appearance <= 1 s (p95); GET p95 <= 2x /api/status; calls/s with 20 pollers <= with 0.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from _common import pct, report, stats, timed_http
from _spark import SparkServer, run

from swan_ml_ext.client import ClientError
from swan_ml_ext.spark.poller import EXECUTORS_EVERY_S

N_JOBS = int(os.environ.get("SWAN_BENCH_SPARK_JOBS", "10"))
POLLERS = 20
WINDOW_S = 8.0
ROUND_CALLS = 4  # a busy session's round: jobs, stages, executors (+ the app id once)
INTERVAL = 0.5
SHORT_JOB = "sc.parallelize(range(2), 2).map(lambda x: __import__('time').sleep(1) or x).sum()"
# 2 cores, 60 tasks of 2 s: ~60 s of a running job that costs no CPU (the tasks sleep);
# killed through the API once measured
LONG_JOB = "sc.parallelize(range(60), 60).map(lambda x: __import__('time').sleep(2) or x).sum()"


def spark_time(text: str) -> float:
    """Spark's REST time ('2026-11-30T22:57:27.123GMT') as a Unix time."""
    parsed = datetime.strptime(text.replace("GMT", ""), "%Y-%m-%dT%H:%M:%S.%f")
    return parsed.replace(tzinfo=timezone.utc).timestamp()


def first_seen(
    fetch: Callable[[], list[dict[str, Any]]],
    key: str,
    seen: set[int],
    found: dict[str, float],
    name: str,
    stop: threading.Event,
) -> None:
    """Poll `fetch` every 10 ms; the Unix time a job id not in `seen` first shows."""
    while not stop.is_set():
        try:
            fresh = [j for j in fetch() if j[key] not in seen]
        except (OSError, ClientError):  # a slow answer under load: try again
            fresh = []
        if fresh:
            found[name] = time.time()
            found[name + "_job"] = fresh[0][key]
            return
        time.sleep(0.01)


def appearance(s: SparkServer, kc: Any, sid: str) -> tuple[list[float], list[float]]:
    """Seconds from each job's submission (Spark's submissionTime) to its first listing in
    GET .../jobs (ours), and in the Spark UI's own REST API polled directly (raw)."""
    ui, app = run(kc, "print(sc.uiWebUrl, sc.applicationId)").split()
    ui = "http://127.0.0.1:" + ui.rsplit(":", 1)[1]
    spark_url = f"{ui}/api/v1/applications/{app}/jobs"

    def spark_jobs() -> list[dict[str, Any]]:
        with urllib.request.urlopen(spark_url, timeout=10) as resp:
            return json.loads(resp.read())

    def our_jobs() -> list[dict[str, Any]]:
        return s.client.request("GET", f"spark/sessions/{sid}/jobs")["jobs"]

    ours, raw = [], []
    for _ in range(N_JOBS):
        seen = {j["jobId"] for j in spark_jobs()}
        time.sleep(random.uniform(1.0, 2.0))  # idle: the poller is on /jobs only
        found: dict[str, float] = {}
        stop = threading.Event()
        threads = [
            threading.Thread(target=first_seen, args=(fetch, key, seen, found, name, stop))
            for fetch, key, name in ((our_jobs, "job_id", "ours"), (spark_jobs, "jobId", "raw"))
        ]
        for t in threads:
            t.start()
        run(kc, SHORT_JOB)
        for t in threads:
            t.join(timeout=30)
        stop.set()
        job = next(j for j in spark_jobs() if j["jobId"] == found.get("raw_job"))
        submitted = spark_time(job["submissionTime"])
        ours.append(found["ours"] - submitted)
        raw.append(found["raw"] - submitted)
    return ours, raw


def load(port: int, token: str, path: str, pollers: int) -> list[float]:
    """`pollers` clients GET `path` back to back for WINDOW_S; each request's seconds."""
    stop = threading.Event()
    samples: list[list[float]] = [[] for _ in range(pollers)]

    def poller(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while not stop.is_set():
            samples[n].append(timed_http(conn, token, path))
        conn.close()

    threads = [threading.Thread(target=poller, args=(n,)) for n in range(pollers)]
    for t in threads:
        t.start()
    time.sleep(WINDOW_S)
    stop.set()
    for t in threads:
        t.join()
    return [x for per in samples for x in per]


def spark_calls(s: SparkServer, sid: str, pollers: int) -> float:
    """Spark REST calls per second the server made for the session over one window."""
    before = s.client.request("GET", f"spark/sessions/{sid}")["spark_requests"]
    t0 = time.monotonic()
    if pollers:
        load(s.server.port, s.client.server.token, f"/swan-ml-ext/spark/sessions/{sid}/jobs",
             pollers)  # fmt: skip
    else:
        time.sleep(WINDOW_S)
    after = s.client.request("GET", f"spark/sessions/{sid}")["spark_requests"]
    return (after - before) / (time.monotonic() - t0)


def print_appearance(ours: list[float], raw: list[float]) -> None:
    print(f"\n## Spark job start -> first listed (s, n={len(ours)}, session idle before)")
    print(f"  {'':28} {'median':>8} {'p95':>8} {'max':>8}")
    for label, values in (("GET spark/sessions/{id}/jobs", ours), ("Spark REST directly", raw)):
        st = stats(values)
        print(f"  {label:28} {st['median']:8.2f} {st['p95']:8.2f} {st['max']:8.2f}")
    print("  goal p95 <= 1 s through the server: " + ("MET" if pct(ours, 95) <= 1 else "NOT MET"))


def under_load(s: SparkServer, sid: str) -> None:
    """A job running: Spark calls/s with 0 and 20 pollers, then the GET's latency."""
    idle_rate = spark_calls(s, sid, 0)
    busy_rate = spark_calls(s, sid, POLLERS)
    token = s.client.server.token
    ours = load(s.server.port, token, f"/swan-ml-ext/spark/sessions/{sid}/jobs", POLLERS)
    raw = load(s.server.port, token, "/api/status", POLLERS)
    title = f"GET spark/sessions/{{id}}/jobs (ours) vs GET /api/status (raw), {POLLERS} pollers"
    report(title + ", a job running", ours, raw, goal=2.0)
    print(f"  requests served: ours {len(ours)}, raw {len(raw)} in {WINDOW_S:g} s each")
    print(f"\n## Spark REST calls by the server, a job running, {WINDOW_S:g} s windows")
    bound = 2 / INTERVAL + 1 / EXECUTORS_EVERY_S
    print(f"  0 pollers: {idle_rate:.2f}/s; {POLLERS} pollers: {busy_rate:.2f}/s")
    print(
        f"  (jobs and stages every {INTERVAL:g} s, executors every {EXECUTORS_EVERY_S:g} s:"
        f" {bound:g}/s at most)"
    )
    same = busy_rate <= idle_rate + ROUND_CALLS / WINDOW_S  # at most one round apart
    print("  goal not more with pollers (they read the cache): " + ("MET" if same else "NOT MET"))


def main() -> None:
    with SparkServer("spark-latency", f"--SwanMLApp.spark_poll_interval={INTERVAL}") as s:
        _, kc, session = s.connect_registered()
        sid = session["id"]
        run(kc, SHORT_JOB)  # warm: Python workers, the first REST call
        print_appearance(*appearance(s, kc, sid))
        time.sleep(3 * INTERVAL)  # the cache has the last short job's end
        last = max(
            j["job_id"] for j in s.client.request("GET", f"spark/sessions/{sid}/jobs")["jobs"]
        )
        msg_id = kc.execute(LONG_JOB, store_history=False)
        deadline = time.monotonic() + 60
        while not (running := [
            j for j in s.client.request("GET", f"spark/sessions/{sid}/jobs")["jobs"]
            if j["status"] == "RUNNING" and j["job_id"] > last
        ]):  # fmt: skip
            assert time.monotonic() < deadline, "the long job never showed as running"
            time.sleep(0.2)
        under_load(s, sid)
        s.client.request("POST", f"spark/sessions/{sid}/jobs/{running[0]['job_id']}/kill")
        while kc.get_shell_msg(timeout=180)["parent_header"].get("msg_id") != msg_id:
            pass


if __name__ == "__main__":
    main()
