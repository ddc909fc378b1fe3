"""`%swan gpu` and `swan-ml gpu`: this session's GPUs and the kernels using them, as a compact
table, or one calm line where there is no GPU (`--json`: GET gpu's answer as it is).

The verb sits in the shared parser (commands.py), which calls `gpu_output` here."""

from __future__ import annotations

from typing import Any

from ..client import SwanMLClient


def _size(n: Any) -> str:
    if not isinstance(n, int):
        return "?"
    gib = n / 1024**3
    return f"{gib:.1f} GiB" if gib >= 1 else f"{n / 1024**2:.0f} MiB"


def _mem(used: Any, total: Any) -> str:
    return f"{_size(used)} / {_size(total)}"


def format_gpu(data: dict[str, Any]) -> str:
    """The table (or the no-GPU line) for one GET gpu answer."""
    if not data.get("available"):
        return f"GPU: none here: {data.get('reason') or 'no GPU in this session'}"
    lines = []
    for d in data["devices"]:
        mig = d.get("mig")
        parts = [
            f"GPU {d['index']}  {d['name']}",
            _mem(d["memory_used_bytes"], d["memory_total_bytes"]),
        ]
        if d.get("utilization_percent") is not None:
            parts.append(f"util {d['utilization_percent']}%")
        if d.get("temperature_c") is not None:
            parts.append(f"{d['temperature_c']}°C")
        if mig is not None:
            pending = "" if mig["pending"] == mig["current"] else " (pending: change on reset)"
            parts.append(f"MIG {'on' if mig['current'] else 'off'}{pending}")
        lines.append("  ".join(parts))
        for i in d.get("mig_instances") or []:
            name = i["name"].rsplit(" MIG ", 1)[-1] if i["name"] else f"instance {i['index']}"
            lines.append(
                f"  MIG {name}  {_mem(i['memory_used_bytes'], i['memory_total_bytes'])}"
                f"  {i['uuid']}"
            )
    kernels = data.get("kernels") or []
    if kernels:
        lines.append("kernels:")
        for k in kernels:
            where = ", ".join(
                f"GPU {d['index']}" + (" MIG" if d.get("mig_instance_uuid") else "")
                for d in k["devices"]
            )
            lines.append(
                f"  {k['notebook'] or 'kernel ' + k['kernel_id'][:8]}  {_size(k['memory_used_bytes'])}"  # noqa: E501
                f" (peak {_size(k['peak_memory_bytes'])})" + (f"  {where}" if where else "")
            )
    others = [p for d in data["devices"] for p in d["processes"] if p.get("kernel_id") is None]
    if others:
        used = sum(p["memory_used_bytes"] or 0 for p in others)
        lines.append(f"other processes on the GPUs: {len(others)} ({_size(used)})")
    elif not kernels:
        lines.append("no kernel of this server uses a GPU")
    return "\n".join(lines)


def gpu_output(client: SwanMLClient) -> tuple[dict[str, Any], str]:
    data = client.request("GET", "gpu")
    return data, format_gpu(data)
