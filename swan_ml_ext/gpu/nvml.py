"""This session's GPUs through NVML (`nvidia-ml-py`), sampled at most once per interval.

REST shape of ``GET swan-ml-ext/gpu`` (also in openapi.yaml, schema ``Gpu``)::

    {
      "available": true,                 # false: no NVML / no GPU here (still 200)
      "reason": null,                    # when not available, why, in words:
                                         #   "no NVIDIA driver (NVML not found) in this session"
      "sampled_at": "2026-12-01T00:12:03.123456+00:00",   # when NVML was read (UTC)
      "driver_version": "580.95.05",     # null when not available
      "devices": [{
        "index": 0, "uuid": "GPU-…", "name": "NVIDIA A100-SXM4-40GB",
        "memory_used_bytes": 1234, "memory_total_bytes": 42949672960,
        "utilization_percent": 37,       # null: NVML cannot tell (e.g. in MIG mode)
        "temperature_c": 41,             # null: not reported
        "mig": {"current": true, "pending": true},   # null: the GPU has no MIG
        "mig_instances": [{
          "index": 0, "uuid": "MIG-…", "name": "NVIDIA A100-SXM4-40GB MIG 1g.5gb",
          "memory_used_bytes": 1, "memory_total_bytes": 5,
          "gpu_instance_id": 7, "compute_instance_id": 0        # null when not reported
        }],
        "processes": [{"pid": 4242, "memory_used_bytes": 1024,  # null: NVML cannot tell
                       "mig_instance_uuid": "MIG-…" | null,
                       "kernel_id": "…" | null}]               # null: not this server's
      }],
      "kernels": [{                      # this server's kernels that use, or used, a GPU
        "kernel_id": "…", "notebook": "path/under/root.ipynb" | null,
        "memory_used_bytes": 1024,       # now, summed over its processes and devices
        "peak_memory_bytes": 2048,       # highest seen by the sampler in this server's life
        "pids": [4242],                  # its processes on a GPU now (kernel or children)
        "devices": [{"index": 0, "uuid": "GPU-…", "mig_instance_uuid": null,
                     "memory_used_bytes": 1024}]
      }]
    }

Layers: `NvmlReader` is the only code that calls pynvml (thin; in a worker thread) and
returns plain dicts (`RAW` below); shape.py turns them into the REST answer (pure);
kernels.py maps processes to kernels (pure, plus /proc reads); `GpuSampler` caches the
answer for `interval` seconds, so N clients polling cost one NVML read per interval.
Without NVML, without a GPU, or on any NVML error at init, the answer is
`available: false` with a reason: never an error. The shaping is in shape.py.

RAW (what a reader returns)::

    {"driver_version": str | None,
     "devices": [{"index", "uuid", "name", "memory_used", "memory_total",
                  "utilization": int | None, "temperature": int | None,
                  "mig": (current: bool, pending: bool) | None,
                  "processes": [(pid, used_bytes | None, gpu_instance_id | None,
                                 compute_instance_id | None)],
                  "instances": [{"index", "uuid", "name", "memory_used", "memory_total",
                                 "gpu_instance_id", "compute_instance_id",
                                 "processes": [(pid, used_bytes | None)] | None}]}]}
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread

from .kernels import KernelContext, PeakTracker, ppid_of
from .shape import NO_NVML, answer

NO_PACKAGE = "nvidia-ml-py is not installed on the server (pip install nvidia-ml-py)"
# NVMLError values -> calm words (nvml.h: NVML_ERROR_*).
REASONS = {
    9: "the NVIDIA driver is not loaded in this session",  # DRIVER_NOT_LOADED
    12: NO_NVML,  # LIBRARY_NOT_FOUND
    13: "the NVIDIA driver is too old for NVML here (function not found)",
    4: "no permission to read the GPUs through NVML in this session",  # NO_PERMISSION
    18: "the NVIDIA driver and library versions do not match: the GPU is not usable here",
}


class GpuUnavailable(Exception):
    """NVML cannot be read here; `reason` says why, in words for the user."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def reason_for(error: Exception) -> str:
    value = getattr(error, "value", None)
    return REASONS.get(value, f"NVML is not usable in this session ({error})")  # type: ignore[arg-type]


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class NvmlReader:
    """Reads NVML into RAW plain dicts. Blocking: call it from a worker thread. NVML is
    initialized on the first call and kept; an NVML error while reading shuts it down (the
    next call initializes again)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nv: Any = None

    def __call__(self) -> dict[str, Any]:
        with self._lock:
            if self._nv is None:
                self._nv = self._init()
            nv = self._nv
            try:
                return _read(nv)
            except nv.NVMLError as e:
                self._shutdown()
                raise GpuUnavailable(f"NVML stopped answering: {e}") from None

    @staticmethod
    def _init() -> Any:
        try:
            import pynvml as nv
        except ImportError:
            raise GpuUnavailable(NO_PACKAGE) from None
        try:
            nv.nvmlInit()
        except nv.NVMLError as e:
            raise GpuUnavailable(reason_for(e)) from None
        except OSError as e:  # a broken libnvidia-ml.so
            raise GpuUnavailable(f"NVML is not usable in this session ({e})") from None
        return nv

    def _shutdown(self) -> None:
        nv, self._nv = self._nv, None
        if nv is not None:
            try:
                nv.nvmlShutdown()
            except nv.NVMLError:
                pass

    def close(self) -> None:
        with self._lock:
            self._shutdown()


def _read(nv: Any) -> dict[str, Any]:
    def opt(fn: Callable[..., Any], *args: Any) -> Any:
        """A value NVML may not support on this GPU (or in MIG mode): None then."""
        try:
            return fn(*args)
        except nv.NVMLError:
            return None

    def procs(handle: Any) -> list[Any] | None:
        return opt(nv.nvmlDeviceGetComputeRunningProcesses, handle)

    count = nv.nvmlDeviceGetCount()
    devices = []
    for i in range(count):
        h = nv.nvmlDeviceGetHandleByIndex(i)
        mem = nv.nvmlDeviceGetMemoryInfo(h)
        util = opt(nv.nvmlDeviceGetUtilizationRates, h)
        mig = opt(nv.nvmlDeviceGetMigMode, h)
        dev = {
            "index": i,
            "uuid": _text(nv.nvmlDeviceGetUUID(h)),
            "name": _text(nv.nvmlDeviceGetName(h)),
            "memory_used": int(mem.used),
            "memory_total": int(mem.total),
            "utilization": None if util is None else int(util.gpu),
            "temperature": opt(nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU),
            "mig": None if mig is None else (bool(mig[0]), bool(mig[1])),
            "processes": [
                (
                    p.pid,
                    p.usedGpuMemory,
                    getattr(p, "gpuInstanceId", None),
                    getattr(p, "computeInstanceId", None),
                )
                for p in procs(h) or []
            ],  # fmt: skip
            "instances": [],
        }
        if mig is not None and mig[0]:
            for j in range(opt(nv.nvmlDeviceGetMaxMigDeviceCount, h) or 0):
                m = opt(nv.nvmlDeviceGetMigDeviceHandleByIndex, h, j)
                if m is None:  # no instance at this index
                    continue
                mm = opt(nv.nvmlDeviceGetMemoryInfo, m)
                found = procs(m)
                dev["instances"].append(
                    {
                        "index": j,
                        "uuid": _text(nv.nvmlDeviceGetUUID(m)),
                        "name": _text(opt(nv.nvmlDeviceGetName, m) or ""),
                        "memory_used": None if mm is None else int(mm.used),
                        "memory_total": None if mm is None else int(mm.total),
                        "gpu_instance_id": opt(nv.nvmlDeviceGetGpuInstanceId, m),
                        "compute_instance_id": opt(nv.nvmlDeviceGetComputeInstanceId, m),
                        "processes": None
                        if found is None
                        else [(p.pid, p.usedGpuMemory) for p in found],
                    }
                )
        devices.append(dev)
    driver = opt(nv.nvmlSystemGetDriverVersion)
    return {"driver_version": None if driver is None else _text(driver), "devices": devices}


# -- the sampler ----------------------------------------------------------------------------
class GpuSampler:
    """At most one NVML read per `interval` seconds however many callers: `await text()`
    answers from the cache (see there when a read happens); a read runs NVML in a worker
    thread, never on the event loop, and concurrent callers share it (one lock).

    `reader`: blocking, returns RAW or raises GpuUnavailable (NvmlReader by default).
    `context`: coroutine giving this server's kernels (pids, notebooks); None: no kernels."""

    def __init__(
        self,
        reader: Callable[[], dict[str, Any]] | None = None,
        context: Callable[[], Any] | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        ppid: Callable[[int], int | None] = ppid_of,
        log: logging.Logger | None = None,
    ) -> None:
        self.reader = reader or NvmlReader()
        self.log = log or logging.getLogger(__name__)
        self.context = context
        self.interval = interval
        self.clock = clock
        self.ppid = ppid
        self.peaks = PeakTracker()
        self.samples = 0  # NVML reads made (for tests and the benchmark)
        self.latest: dict[str, Any] | None = None
        self._text: str | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._refresh: asyncio.Task[None] | None = None  # a background read under way

    def _fresh(self) -> bool:
        return self._text is not None and self.clock() - self._at < self.interval

    async def text(self) -> str:
        """The answer as JSON text (what the handler sends). Fresh: from the cache. Stale by
        less than one more interval: from the cache too, while one background read refreshes
        it (so no request waits for NVML when clients poll steadily). Else (the first request,
        or after a pause): the caller waits for a read, shared with concurrent callers."""
        if self._fresh():
            assert self._text is not None
            return self._text
        if self._text is not None and self.clock() - self._at < 2 * self.interval:
            if self._refresh is None or self._refresh.done():
                self._refresh = asyncio.get_running_loop().create_task(self._sample_once())
            return self._text
        await self._sample_once()
        assert self._text is not None
        return self._text

    async def _sample_once(self) -> None:
        async with self._lock:
            if not self._fresh():
                await self._sample()

    async def get(self) -> dict[str, Any]:
        await self.text()
        assert self.latest is not None
        return self.latest

    async def _sample(self) -> None:
        context = KernelContext({}, {})
        if self.context is not None:
            try:
                context = await self.context()
            except Exception:  # the GPUs are still worth showing without the kernels
                self.log.warning("swan-ml: GPU view: this server's kernels not read", exc_info=True)
        latest, text = await anyio.to_thread.run_sync(self._read_and_shape, context)
        self.latest, self._text, self._at = latest, text, self.clock()

    def _read_and_shape(self, context: KernelContext) -> tuple[dict[str, Any], str]:
        """(the answer, its JSON text), off the event loop: NVML, /proc and the encoding."""
        self.samples += 1
        raw, reason = None, None
        try:
            raw = self.reader()
        except GpuUnavailable as e:
            reason = e.reason
        except Exception as e:  # a status view answers, whatever NVML does
            self.log.warning("swan-ml: reading NVML failed", exc_info=True)
            reason = f"reading the GPUs failed here ({type(e).__name__}: {str(e)[:200]})"
        latest = answer(raw, reason, time.time(), context, self.peaks, self.ppid)
        return latest, json.dumps(latest)

    def peak_memory_bytes(self, kernel_id: str) -> int:
        """The kernel's highest GPU memory seen in this server's life (0: none seen)."""
        return self.peaks.get(kernel_id)

    # -- background watch: peaks are seen while no client polls ------------------------------
    def start(self, every: float) -> None:
        """Sample every `every` seconds; stops after the first reading where there is no GPU
        (nothing to watch). 0: never (samples only when asked)."""
        if every > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch(every))

    async def _watch(self, every: float) -> None:
        if not (await self.get())["available"]:
            return
        while True:
            await asyncio.sleep(every)
            await self.get()

    async def stop(self) -> None:
        for task in (self._task, self._refresh):
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):  # its own end is not ours to raise
                    pass
        self._task = self._refresh = None
        close = getattr(self.reader, "close", None)
        if close is not None:
            await anyio.to_thread.run_sync(close)
