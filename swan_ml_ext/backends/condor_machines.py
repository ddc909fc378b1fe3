"""The collector's machine ads for the condor backend: a projected startd query that learns the
names of the per-device ads, and a short cache so that one query serves GET backends, POST
jobs/check and the monitor's pending messages. No tornado; the htcondor2 module is passed in."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from .condor_fit import MACHINE_ATTRS, Machine, machines_from_ads


def plain(ad: Any) -> dict[str, Any]:
    """A collector ad as plain values: nested device ads as dicts, AvailableGPUs as the
    attribute names it refers to."""
    out: dict[str, Any] = {}
    for key, value in ad.items():
        if key == "AvailableGPUs" and isinstance(value, list):
            out[key] = [str(v) for v in value]
        elif hasattr(value, "items") and not isinstance(value, dict):
            out[key] = dict(value.items())
        else:
            out[key] = value
    return out


def query_startds(collector: Any, startd: Any, devices: set[str]) -> tuple[list[dict], int]:
    """The startd ads (plain) and how many queries it took: one projected query, a second only
    when devices appear whose nested `GPUs_<id>` ads were not asked for (their names come from
    AvailableGPUs and AssignedGPUs; `devices`, the names known so far, is updated)."""
    queries = 0
    while True:
        asked = set(devices)
        queries += 1
        ads = [
            plain(ad) for ad in collector.query(startd, projection=MACHINE_ATTRS + sorted(asked))
        ]
        for ad in ads:
            devices.update(ad.get("AvailableGPUs") or ())
            assigned = ad.get("AssignedGPUs")
            if isinstance(assigned, str):
                ids = (i.strip() for i in assigned.split(","))
                devices.update("GPUs_" + re.sub(r"\W", "_", i) for i in ids if i)
        if devices <= asked:
            return ads, queries


class MachineAds:
    """`fetch()` (the ads as plain dicts) cached `ttl()` seconds, with the machines they
    describe; concurrent callers wait for one query rather than each making their own."""

    def __init__(self, fetch: Callable[[], list[dict[str, Any]]], ttl: Callable[[], float]):
        self._fetch = fetch
        self._ttl = ttl
        self._lock = threading.Lock()
        self.cached: tuple[float, list[dict[str, Any]], list[Machine]] | None = None

    def get(self) -> tuple[list[dict[str, Any]], list[Machine]]:
        with self._lock:
            cached = self.cached
            if cached and time.monotonic() - cached[0] < self._ttl():
                return cached[1], cached[2]
            return self.set(self._fetch())

    def set(self, ads: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Machine]]:
        """Cache these ads (from now on, for ttl() seconds)."""
        machines = machines_from_ads(ads)
        self.cached = (time.monotonic(), ads, machines)
        return ads, machines
