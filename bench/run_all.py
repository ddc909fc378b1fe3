"""Run every benchmark in turn (make bench). Each prints its own side-by-side figures."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

for name in ("submit_latency", "e2e_trivial", "list_jobs", "schedd_queries", "monitor_cost"):
    runpy.run_path(str(HERE / f"{name}.py"), run_name="__main__")
