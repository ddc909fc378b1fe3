"""NVML processes → this server's kernels → notebooks, and each kernel's peak GPU memory.

A GPU process belongs to a kernel when the kernel's process is it or one of its ancestors
(found by walking /proc/<pid>/stat's ppid upwards from the GPU process: a DataLoader worker
or a subprocess counts for its kernel). The kernel's pid comes from its provisioner
(jupyter_client's LocalProvisioner: `provisioner.pid`, the Popen's pid); a kernel on another
host (a remote provisioner) has no local pid and is never matched. NVML reports pids as the
host sees them: a server in a container with its own pid namespace may see none match.
No tornado here; `ServerKernels.context()` runs on the event loop (no blocking calls)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 64  # ancestors walked per GPU process


@dataclass
class KernelContext:
    """This server's kernels at one instant: kernel id → pid, kernel id → notebook path."""

    pids: dict[str, int]
    notebooks: dict[str, str]


def kernel_pid(kernel: Any) -> int | None:
    """The local pid of a jupyter_client KernelManager's kernel process, or None."""
    provisioner = getattr(kernel, "provisioner", None)
    for pid in (
        getattr(provisioner, "pid", None),
        getattr(getattr(provisioner, "process", None), "pid", None),
        getattr(getattr(kernel, "kernel", None), "pid", None),  # jupyter_client < 7
    ):
        if isinstance(pid, int) and pid > 0:
            return pid
    return None


def notebooks_by_kernel(sessions: list[dict[str, Any]]) -> dict[str, str]:
    """kernel id → the path (under the server root) of its session; a notebook session wins
    over a console or file one when a kernel has several."""
    out: dict[str, str] = {}
    for s in sessions:
        kid = (s.get("kernel") or {}).get("id")
        path = s.get("path")
        if not kid or not isinstance(path, str):
            continue
        if kid not in out or s.get("type") == "notebook":
            out[kid] = path
    return out


class ServerKernels:
    """Reads the server's kernel and session managers (on the event loop)."""

    def __init__(self, kernel_manager: Any, session_manager: Any | None) -> None:
        self.kernel_manager = kernel_manager
        self.session_manager = session_manager

    async def __call__(self) -> KernelContext:
        pids = {}
        for kid in list(self.kernel_manager.list_kernel_ids()):
            try:
                pid = kernel_pid(self.kernel_manager.get_kernel(kid))
            except KeyError:  # shut down meanwhile
                continue
            if pid is not None:
                pids[kid] = pid
        sessions = await self.session_manager.list_sessions() if self.session_manager else []
        return KernelContext(pids, notebooks_by_kernel(sessions))


def ppid_of(pid: int) -> int | None:
    """The parent pid from /proc/<pid>/stat (None: gone, or no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    try:  # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        return int(stat[stat.rindex(b")") + 2 :].split()[1])
    except (ValueError, IndexError):
        return None


def owner(pid: int, kernel_of_pid: dict[int, str], ppid: Callable[[int], int | None],
          memo: dict[int, str | None]) -> str | None:  # fmt: skip
    """The kernel whose process is `pid` or an ancestor of it, else None."""
    chain = []
    current: int | None = pid
    found = None
    for _ in range(MAX_DEPTH):
        if current is None or current <= 1:
            break
        if current in memo:
            found = memo[current]
            break
        if current in kernel_of_pid:
            found = kernel_of_pid[current]
            break
        chain.append(current)
        current = ppid(current)
    for p in chain:
        memo[p] = found
    return found


def map_processes(
    processes: list[dict[str, Any]],
    kernel_pids: dict[str, int],
    ppid: Callable[[int], int | None],
) -> dict[str, dict[str, Any]]:
    """GPU processes ({pid, memory_used_bytes, device_index, device_uuid, mig_instance_uuid})
    → kernel id → {memory_used_bytes, memory_known, pids, devices}. Processes of no kernel
    of this server are left out."""
    kernel_of_pid = {pid: kid for kid, pid in kernel_pids.items()}
    memo: dict[int, str | None] = {}
    usage: dict[str, dict[str, Any]] = {}
    for p in processes:
        kid = owner(p["pid"], kernel_of_pid, ppid, memo)
        if kid is None:
            continue
        u = usage.setdefault(
            kid, {"memory_used_bytes": 0, "memory_known": False, "pids": [], "devices": {}}
        )
        used = p.get("memory_used_bytes")
        if p["pid"] not in u["pids"]:
            u["pids"].append(p["pid"])
        key = (p["device_index"], p.get("mig_instance_uuid"))
        dev = u["devices"].setdefault(
            key,
            {
                "index": p["device_index"],
                "uuid": p["device_uuid"],
                "mig_instance_uuid": p.get("mig_instance_uuid"),
                "memory_used_bytes": 0,
            },
        )
        if isinstance(used, int):
            u["memory_used_bytes"] += used
            u["memory_known"] = True
            dev["memory_used_bytes"] += used
    for u in usage.values():
        u["devices"] = list(u["devices"].values())
    return usage


class PeakTracker:
    """Each live kernel's highest GPU memory seen by the sampler in this server's life
    (issue 11 item 6: the suggested GPU memory of a job). A kernel that is gone is
    forgotten; a restarted kernel keeps its id, and so its peak."""

    def __init__(self) -> None:
        self._peaks: dict[str, int] = {}

    def update(self, used: dict[str, int], alive: set[str]) -> None:
        for kid in [k for k in self._peaks if k not in alive]:
            del self._peaks[kid]
        for kid, value in used.items():
            if kid in alive and value > self._peaks.get(kid, 0):
                self._peaks[kid] = value

    def get(self, kernel_id: str) -> int:
        return self._peaks.get(kernel_id, 0)

    def items(self) -> dict[str, int]:
        return dict(self._peaks)


def kernels_json(
    usage: dict[str, dict[str, Any]], context: KernelContext, peaks: PeakTracker
) -> list[dict[str, Any]]:
    """The REST `kernels`: every kernel of this server on a GPU now or with a peak > 0."""
    ids = sorted(set(usage) | {k for k, v in peaks.items().items() if v > 0})
    out = []
    for kid in ids:
        u = usage.get(kid)
        out.append(
            {
                "kernel_id": kid,
                "notebook": context.notebooks.get(kid),
                "memory_used_bytes": (u["memory_used_bytes"] if u["memory_known"] else None)
                if u
                else 0,
                "peak_memory_bytes": peaks.get(kid),
                "pids": sorted(u["pids"]) if u else [],
                "devices": u["devices"] if u else [],
            }
        )
    return out
