"""For bench/jobs_check.py only: the condor backend with a test double of the collector's
ads LIST (not of the collector): each machine-ad query really asks the personal pool's
collector, then repeats its ads to SWAN_BENCH_MACHINES machines (default 1,000), varied:
every 4th with its GPUs renamed to another model, every 3rd with all its GPUs busy. A real
collector would hold 1,000 ads only as fake startd ads that the negotiator then matches."""

from __future__ import annotations

import copy
import os
from typing import Any

from swan_ml_ext.backends.condor import CondorBackend


def replicate(ads: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """`n` machines made of the pool's non-dynamic slot ads."""
    base = [a for a in ads if a.get("SlotType") != "Dynamic"] or ads
    out = []
    for i in range(n):
        ad = copy.deepcopy(base[i % len(base)])
        ad["Name"] = f"slot1@node{i:04d}"
        ad["Machine"] = f"node{i:04d}"
        for key, value in ad.items():
            if key.startswith("GPUs_") and isinstance(value, dict) and i % 4 == 3:
                value["DeviceName"] = "Tesla T4"
                value["GlobalMemoryMb"] = 15360
                value["Capability"] = 7.5
        if i % 3 == 2:
            ad["AvailableGPUs"] = []
            ad["GPUs"] = 0
        out.append(ad)
    return out


class ManyMachinesCondor(CondorBackend):
    def _query_machines(self) -> list[dict[str, Any]]:
        return replicate(
            super()._query_machines(), int(os.environ.get("SWAN_BENCH_MACHINES", 1000))
        )
