"""The REST answer of GET gpu (shape: gpu/nvml.py's docstring) from one NVML reading in
plain dicts (RAW, same docstring), and this server's kernels. Pure: no NVML, no tornado;
`ppid` (which reads /proc) is a parameter."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .kernels import KernelContext, PeakTracker, kernels_json, map_processes, ppid_of

NO_NVML = "no NVIDIA driver (NVML not found) in this session"
NO_DEVICE = "no GPU in this session (NVML sees no device)"


def _bytes(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _device_processes(d: dict[str, Any]) -> list[dict[str, Any]]:
    """A RAW device's processes, each once: a MIG GPU's from its instances, then those only
    the GPU's own list has, placed by (gpu_instance_id, compute_instance_id)."""
    instances = d.get("instances") or []
    by_ids = {(i.get("gpu_instance_id"), i.get("compute_instance_id")): i for i in instances}
    by_gi = {i.get("gpu_instance_id"): i for i in instances}
    found: dict[tuple[int, str | None], dict[str, Any]] = {}
    for inst in instances:
        for pid, used in inst.get("processes") or []:
            found.setdefault((pid, inst["uuid"]), _process(pid, used, inst["uuid"]))
    instance_pids = {pid for pid, _ in found}
    for pid, used, gi, ci in d.get("processes") or []:
        if pid in instance_pids:
            continue
        inst = (by_ids.get((gi, ci)) or by_gi.get(gi)) if instances else None
        mig_uuid = inst["uuid"] if inst else None
        found.setdefault((pid, mig_uuid), _process(pid, used, mig_uuid))
    return list(found.values())


def _process(pid: int, used: Any, mig_uuid: str | None) -> dict[str, Any]:
    return {"pid": pid, "memory_used_bytes": _bytes(used), "mig_instance_uuid": mig_uuid}


def shape_devices(raw: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """RAW devices → (REST devices without kernel ids, one flat list of GPU processes:
    {pid, memory_used_bytes, device_index, device_uuid, mig_instance_uuid})."""
    devices, flat = [], []
    for d in raw.get("devices", []):
        instances = d.get("instances") or []
        processes = _device_processes(d)
        mig = d.get("mig")
        devices.append(
            {
                "index": d["index"],
                "uuid": d["uuid"],
                "name": d["name"],
                "memory_used_bytes": d["memory_used"],
                "memory_total_bytes": d["memory_total"],
                "utilization_percent": d.get("utilization"),
                "temperature_c": d.get("temperature"),
                "mig": None if mig is None else {"current": mig[0], "pending": mig[1]},
                "mig_instances": [
                    {
                        "index": i["index"],
                        "uuid": i["uuid"],
                        "name": i.get("name") or "",
                        "memory_used_bytes": i.get("memory_used"),
                        "memory_total_bytes": i.get("memory_total"),
                        "gpu_instance_id": i.get("gpu_instance_id"),
                        "compute_instance_id": i.get("compute_instance_id"),
                    }
                    for i in instances
                ],
                "processes": processes,
            }
        )
        flat.extend({**p, "device_index": d["index"], "device_uuid": d["uuid"]} for p in processes)
    return devices, flat


def answer(
    raw: dict[str, Any] | None,
    reason: str | None,
    sampled_at: float,
    context: KernelContext,
    peaks: PeakTracker,
    ppid: Callable[[int], int | None] = ppid_of,
) -> dict[str, Any]:
    """The REST answer from one NVML read (`raw`) or the reason there is none (pure, but
    for `ppid`, which reads /proc: pass a dict's .get in tests). Updates `peaks`."""
    when = datetime.fromtimestamp(sampled_at, timezone.utc).isoformat()
    if raw is not None and not raw.get("devices"):
        raw, reason = None, NO_DEVICE
    if raw is None:
        peaks.update({}, set(context.pids))
        return {
            "available": False,
            "reason": reason or NO_NVML,
            "sampled_at": when,
            "driver_version": None,
            "devices": [],
            "kernels": [],
        }
    devices, flat = shape_devices(raw)
    usage = map_processes(flat, context.pids, ppid)
    owner = {pid: kid for kid, u in usage.items() for pid in u["pids"]}
    for d in devices:
        for p in d["processes"]:
            p["kernel_id"] = owner.get(p["pid"])
    peaks.update({kid: u["memory_used_bytes"] for kid, u in usage.items()}, set(context.pids))
    return {
        "available": True,
        "reason": None,
        "sampled_at": when,
        "driver_version": raw.get("driver_version"),
        "devices": devices,
        "kernels": kernels_json(usage, context, peaks),
    }
