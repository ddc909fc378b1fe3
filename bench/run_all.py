"""Run every benchmark in turn (make bench). Each prints its own side-by-side figures.

detect_inputs sends a 1 GB folder through the pool (about 5 GB of disk while it runs):
SWAN_BENCH_TRANSFER=0 make bench skips that part and keeps its detection figures."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

BENCHES = (
    "submit_latency",
    "e2e_trivial",
    "list_jobs",
    "schedd_queries",
    "monitor_cost",
    "kubeflow_e2e",
    "kubeflow_remote_monitor",
    "spark_watch",
    "spark_latency",
    "gpu_get",
    "jobs_check",
    "sweep_submit",
    "detect_inputs",
)
for name in BENCHES:
    runpy.run_path(str(HERE / f"{name}.py"), run_name="__main__")
