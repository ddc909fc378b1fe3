"""Monitor cost with many tracked remote KFP runs: list calls per monitor interval.

A real server (kubeflow backend, remote mode) follows N_RUNS (200) runs on the KFP STAND-IN
(tests/kfp_standin.py: no KFP server can run here). Over a window we count the stand-in's
GET /apis/v2beta1/runs requests and the server's monitor passes. Goal: one list call per
interval, whatever the number of runs.

Side by side, in the same run against the stand-in, on localhost and with 5 ms added per
request (a nearby cluster's ingress): one pass of our engine's poll (one filtered list of all
runs) vs kfp.Client.get_run per run (what following runs one by one costs, e.g. kfp's
wait_for_run_completion). The server also prints its CPU share during the window.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import yaml
from _common import ServerProcess, stats, workdir, write_notebook

from tests.kfp_standin import KfpStandIn  # (_common puts the repository on sys.path)

N_RUNS = int(os.environ.get("SWAN_BENCH_REMOTE_RUNS", "200"))
INTERVAL_S = 0.5  # ServerProcess's poll_interval
WINDOW_S = 10.0
REPEATS = 10
LATENCIES_S = (0.0, 0.005)  # per request: localhost, and a nearby cluster's ingress
RUNS = "/apis/v2beta1/runs"


def server_for(kfp: KfpStandIn, tmp: Path) -> ServerProcess:
    token = tmp / "kfp.token"
    fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("bench-token\n")
    return ServerProcess(
        tmp,
        "--SwanMLApp.backends=kubeflow",
        f"--KubeflowBackend.host={kfp.url}",
        f"--KubeflowBackend.token_file={token}",
    )


def kubeflow_stats(server: ServerProcess) -> dict[str, int]:
    [kf] = [b for b in server.client.backends()["backends"] if b["name"] == "kubeflow"]
    return kf["stats"]


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def through_the_server(kfp: KfpStandIn) -> tuple[int, int, float, float]:
    """(list calls, monitor passes, seconds, server CPU share) in a WINDOW_S window with
    N_RUNS running runs."""
    tmp = workdir("kfp-remote")
    server = server_for(kfp, tmp)
    write_notebook(server.root / "nb.ipynb", "print(1)")
    server.start()
    try:
        body = {"notebook": "nb.ipynb", "backend": "kubeflow"}
        # One at a time: kfp's pipeline compiler keeps global state (concurrent compiles fail
        # with "Nested pipelines are not allowed").
        jobs = [server.client.submit(body) for _ in range(N_RUNS)]
        for job in jobs:
            kfp.set_state(job["engine_ref"]["run_id"], "RUNNING")
        deadline = time.monotonic() + 60
        while server.client.jobs(state="running", limit=500)["total"] < N_RUNS:
            assert time.monotonic() < deadline, "the runs were not seen running"
            time.sleep(0.5)
        kfp.clear()
        before, t0 = kubeflow_stats(server), time.monotonic()
        cpu0 = cpu_seconds(server.proc.pid)
        time.sleep(WINDOW_S)
        cpu = cpu_seconds(server.proc.pid) - cpu0
        after, elapsed = kubeflow_stats(server), time.monotonic() - t0
        lists = kfp.calls("GET", RUNS)  # (a pass may be under way at either end)
        passes = after["monitor_polls"] - before["monitor_polls"]
        # (GET backends, read above for the pass count, asks healthz)
        others = [r for r in kfp.requests if r.path not in (RUNS, "/apis/v2beta1/healthz")]
        assert not others, f"the monitor sent more than list calls: {others[:3]}"
        ids = {i for r in lists for i in json.loads(r.query["filter"])["predicates"][0]
               ["stringValues"]["values"]}  # fmt: skip
        assert ids == {j["engine_ref"]["run_id"] for j in jobs}, "not every run was followed"
        for job in jobs:
            server.client.cancel(job["id"])
        return len(lists), passes, elapsed, cpu / elapsed
    finally:
        server.stop()


def one_pass_each_way(kfp: KfpStandIn) -> tuple[list[float], list[float]]:
    """Seconds for one pass over N_RUNS runs: our engine's poll (one filtered list) vs
    kfp.Client.get_run per run. The runs carry an inline pipeline spec, as submitted ones do."""
    import kfp as kfp_sdk

    from swan_ml_ext.backends.kubeflow import KubeflowBackend
    from swan_ml_ext.backends.kubeflow.compile import PipelineSettings, compile_pipeline
    from swan_ml_ext.backends.kubeflow.remote import RemoteEngine
    from swan_ml_ext.jobs.model import Job, JobState

    spec = yaml.safe_load(compile_pipeline(PipelineSettings(name="bench")))
    args = {"notebook_b64": "x" * 2000, "parameters_json": "{}", "kernel_name": "python3"}
    ids = [
        kfp.add_run("RUNNING", pipeline_spec=spec, runtime_config={"parameters": args})
        for _ in range(N_RUNS)
    ]
    # (their message is empty: every pass works out all N_RUNS updates)
    jobs = [
        Job(f"j{i}", "nb", "kubeflow", JobState.RUNNING, "nb.ipynb", {}, {}, "default",
            engine_ref={"run_id": run_id})
        for i, run_id in enumerate(ids)
    ]  # fmt: skip
    engine = RemoteEngine(KubeflowBackend(host=kfp.url, token="bench-token"))
    client = kfp_sdk.Client(host=kfp.url, existing_token="bench-token", namespace="bench")
    ours, per_run = [], []
    for _ in range(REPEATS):
        t = time.perf_counter()
        assert len(engine.poll(jobs)) == N_RUNS
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        for run_id in ids:
            client.get_run(run_id)
        per_run.append(time.perf_counter() - t)
    return ours, per_run


def main() -> float:
    with KfpStandIn() as kfp:
        lists, passes, elapsed, cpu = through_the_server(kfp)
    per_pass = lists / max(passes, 1)
    print(f"\n## remote KFP monitor, {N_RUNS} tracked runs, KFP stand-in")
    print(
        f"  server, interval {INTERVAL_S:g} s, {elapsed:.1f} s window: {passes} monitor passes,"
        f" {lists} list calls = {per_pass:.2f} per pass (goal 1)"
    )
    print(f"  server CPU meanwhile: {cpu * 100:.1f}% of a core")
    print(f"  one pass over {N_RUNS} runs (n={REPEATS}), ms:")
    print(f"  {'added latency':>14} {'':26} {'median':>9} {'p95':>9} {'requests':>9}")
    for latency in LATENCIES_S:
        with KfpStandIn() as kfp:
            kfp.latency_s = latency
            ours, per_run = one_pass_each_way(kfp)
        o, r = stats(ours), stats(per_run)
        for label, s, n in (("ours: engine poll", o, 1), ("kfp get_run per run", r, N_RUNS)):
            print(
                f"  {latency * 1000:11.0f} ms {label:26} {s['median'] * 1000:9.1f}"
                f" {s['p95'] * 1000:9.1f} {n:9d}"
            )
        print(f"  {'':14} ratio per-run / ours (medians): {r['median'] / o['median']:.1f}x")
    return per_pass


if __name__ == "__main__":
    main()
