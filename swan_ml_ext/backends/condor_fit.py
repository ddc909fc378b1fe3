"""Whether a job's resources fit the pool's machines, and why not, in words.

Pure: plain-dict machine ads in (as the collector sends them, nested device ads as dicts and
`AvailableGPUs` as attribute names), plain answers out. No htcondor import, so it is unit
tested and benchmarked over any number of ads. PendingMessages turns the answers into the
monitor's pending messages for idle jobs.

A machine is a partitionable or static slot (dynamic slots are parts of their partitionable
slot, whose ad lists every device and, in `AvailableGPUs`, the free ones). Each GPU device is
its own nested ad `GPUs_<id> = [DeviceName; GlobalMemoryMb; Capability ...]` (HTCondor 23+,
devices that differ on one machine); identical devices may instead be described once by
`GPUs_DeviceName`, `GPUs_GlobalMemoryMb`, `GPUs_Capability`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..jobs.model import Job, JobState, Update

# What resources.gpu_model may be (the schema's pattern): no quotes, no backslash, one line.
GPU_MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._()/+-]*$"
GPU_MODEL_MAX = 100
_GPU_MODEL = re.compile(GPU_MODEL_PATTERN)

# The machine-ad attributes read besides the per-device ads (whose names come from
# AvailableGPUs: see CondorBackend).
MACHINE_ATTRS = [
    "Name",
    "Machine",
    "SlotType",
    "State",
    "Cpus",
    "Memory",
    "TotalSlotCpus",
    "TotalSlotMemory",
    "GPUs",
    "TotalSlotGPUs",
    "AvailableGPUs",
    "AssignedGPUs",
    "GPUs_DeviceName",
    "GPUs_GlobalMemoryMb",
    "GPUs_Capability",
]


def valid_gpu_model(name: Any) -> bool:
    """A model name that can go into a ClassAd string literal as it is."""
    return isinstance(name, str) and len(name) <= GPU_MODEL_MAX and bool(_GPU_MODEL.fullmatch(name))


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_mb: int | None
    capability: float | None
    free: bool


@dataclass(frozen=True)
class Machine:
    name: str
    cpus: int  # the whole machine
    memory_mb: int
    cpus_free: int  # not claimed now
    memory_free_mb: int
    gpus: tuple[Gpu, ...]


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, (int, float)):
        return int(value)
    return 0


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _device(props: Mapping[str, Any], free: bool) -> Gpu | None:
    name = props.get("DeviceName")
    if not isinstance(name, str):
        return None
    mem = _num(props.get("GlobalMemoryMb"))
    return Gpu(name, int(mem) if mem is not None else None, _num(props.get("Capability")), free)


def machines_from_ads(ads: Iterable[Mapping[str, Any]]) -> list[Machine]:
    """The machines of a list of startd ads (dynamic slots are counted in their machine)."""
    machines = []
    for ad in ads:
        kind = ad.get("SlotType")
        if kind == "Dynamic":
            continue
        partitionable = kind == "Partitionable" or ad.get("PartitionableSlot") is True
        unclaimed = partitionable or ad.get("State") in (None, "Unclaimed")
        available = {str(a) for a in ad.get("AvailableGPUs") or ()}
        gpus: list[Gpu] = []
        for key, value in ad.items():
            if key.startswith("GPUs_") and isinstance(value, Mapping):
                free = unclaimed and (key in available if "AvailableGPUs" in ad else True)
                gpu = _device(value, free)
                if gpu is not None:
                    gpus.append(gpu)
        if not gpus and isinstance(ad.get("GPUs_DeviceName"), str):
            # identical devices described once; the first GPUs of them are free
            total = _int(ad.get("TotalSlotGPUs") or ad.get("GPUs"))
            free_n = _int(ad.get("GPUs")) if unclaimed else 0
            props = {
                "DeviceName": ad["GPUs_DeviceName"],
                "GlobalMemoryMb": ad.get("GPUs_GlobalMemoryMb"),
                "Capability": ad.get("GPUs_Capability"),
            }
            gpus = [g for i in range(total) if (g := _device(props, i < free_n)) is not None]
        cpus = _int(ad.get("TotalSlotCpus") or ad.get("Cpus"))
        memory = _int(ad.get("TotalSlotMemory") or ad.get("Memory"))
        machines.append(
            Machine(
                name=str(ad.get("Name") or ad.get("Machine") or "?"),
                cpus=cpus,
                memory_mb=memory,
                cpus_free=_int(ad.get("Cpus")) if unclaimed else 0,
                memory_free_mb=_int(ad.get("Memory")) if unclaimed else 0,
                gpus=tuple(gpus),
            )
        )
    return machines


# -- words --------------------------------------------------------------------------------
def size(mb: float) -> str:
    """Memory in words: '512 MB', '16 GB', '46.5 GB' (1 GB = 1024 MB, as the CLI parses)."""
    if mb < 1024:
        return f"{int(mb)} MB"
    return f"{round(mb / 1024, 1):g} GB"


def capability(cc: float) -> str:
    """'8.0', '8.6', '9.0'."""
    text = f"{cc:g}"
    return text if "." in text else f"{text}.0"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _models(counts: Mapping[str, int]) -> str:
    """'2 A100-SXM4-40GB' or '1 Tesla V100-PCIE-16GB, 2 A100-SXM4-40GB'."""
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))


@dataclass(frozen=True)
class Request:
    cpus: int
    memory_mb: int
    gpus: int
    model: str | None
    gpu_memory_mb: int | None
    capability: float | None

    @classmethod
    def of(cls, resources: Mapping[str, Any]) -> Request:
        return cls(
            cpus=_int(resources.get("cpus", 1)),
            memory_mb=_int(resources.get("memory_mb", 0)),
            gpus=_int(resources.get("gpus", 0)),
            model=resources.get("gpu_model") or None,
            gpu_memory_mb=_int(resources.get("gpu_memory_mb")) or None,
            capability=_num(resources.get("gpu_capability")) or None,
        )

    def gpu_ok(self, g: Gpu) -> bool:
        """What require_gpus says of one device (an undefined property never matches)."""
        return (
            (self.model is None or g.name == self.model)
            and (self.gpu_memory_mb is None or (g.memory_mb or 0) >= self.gpu_memory_mb)
            and (self.capability is None or (g.capability or 0) >= self.capability)
        )

    def gpu_words(self) -> str:
        parts = [self.model] if self.model else []
        if self.gpu_memory_mb:
            parts.append(f"≥ {size(self.gpu_memory_mb)}")
        if self.capability:
            parts.append(f"cc ≥ {capability(self.capability)}")
        return ", ".join(parts)


def _short_of(
    candidates: list[Gpu],
    needed: float,
    of: Callable[[Gpu], float | None],
    words: Callable[[float], str],
    wanted: str,
    best_is: str,
) -> str | None:
    """Why no candidate GPU reaches `needed` of what `of` reads, against the best of them
    ("no GPU has <wanted>; <best_is> <words(best)> (<model>)"); None when one does."""
    best = max(candidates, key=lambda g: of(g) or 0)
    if (of(best) or 0) >= needed:
        return None
    return f"no GPU has {wanted}; {best_is} {words(of(best) or 0)} ({best.name})"


def _reasons(machines: list[Machine], req: Request) -> list[tuple[str, str]]:
    """Why no machine can ever run the request: (kind, words) per requirement that fails,
    each against the best the pool has."""
    if not machines:
        return [("machines", "the pool has no machines")]
    out: list[tuple[str, str]] = []
    if req.gpus:
        devices = [g for m in machines for g in m.gpus]
        most = max(len(m.gpus) for m in machines)
        if not devices:
            out.append(("gpus", "the pool has no GPUs"))
        elif req.gpus > most:
            out.append(("gpus", f"no machine has {req.gpus} GPUs; the largest has {most}"))
        candidates = devices
        if devices and req.model is not None:
            candidates = [g for g in devices if g.name == req.model]
            if not candidates:
                names = ", ".join(sorted({g.name for g in devices}))
                out.append(("model", f"no GPU model '{req.model}'; the pool has {names}"))
        if candidates and req.gpu_memory_mb:
            short = _short_of(
                candidates, req.gpu_memory_mb, lambda g: g.memory_mb, size,
                size(req.gpu_memory_mb), "the largest has",
            )  # fmt: skip
            if short:
                out.append(("gpu_memory", short))
        if candidates and req.capability:
            short = _short_of(
                candidates, req.capability, lambda g: g.capability, capability,
                f"compute capability {capability(req.capability)}", "the highest is",
            )  # fmt: skip
            if short:
                out.append(("capability", short))
        if devices and not out:
            n = max(sum(map(req.gpu_ok, m.gpus)) for m in machines)
            if n < req.gpus:
                out.append((
                    "gpus",
                    f"no machine has {req.gpus} GPUs matching {req.gpu_words()};"
                    f" the most on one machine is {n}",
                ))  # fmt: skip
    cpus = max(m.cpus for m in machines)
    if req.cpus > cpus:
        out.append(("cpus", f"no machine has {req.cpus} CPUs; the largest has {cpus}"))
    memory = max(m.memory_mb for m in machines)
    if req.memory_mb > memory:
        out.append((
            "memory",
            f"no machine has {size(req.memory_mb)} of memory; the largest has {size(memory)}",
        ))  # fmt: skip
    if not out:
        wants = [_plural(req.cpus, "CPU"), f"{size(req.memory_mb)} of memory"]
        if req.gpus:
            wants.append(_plural(req.gpus, "matching GPU"))
        out.append(("together", f"no single machine has {', '.join(wants)} together"))
    return out


_HINTS = {
    "gpus": "with fewer GPUs",
    "model": "with one of the pool's GPU models",
    "gpu_memory": "with a lower minimum GPU memory",
    "capability": "with a lower minimum compute capability",
    "cpus": "with fewer CPUs",
    "memory": "with less memory",
    "together": "with a smaller request",
    "machines": "when the pool has machines",
}


def _fits(m: Machine, req: Request, now: bool) -> bool:
    cpus, memory = (m.cpus_free, m.memory_free_mb) if now else (m.cpus, m.memory_mb)
    if cpus < req.cpus or memory < req.memory_mb:
        return False
    if not req.gpus:
        return True
    return sum(1 for g in m.gpus if req.gpu_ok(g) and (g.free or not now)) >= req.gpus


def fit(machines: list[Machine], resources: Mapping[str, Any]) -> dict[str, Any]:
    """Could any machine ever run a job with these resources, can one start it now, and in
    words: {feasible, message, reasons, matching: {slots, gpus, gpus_free}} and, for
    pending_message, `now` (a machine can start it now), `busy` (matching GPUs taken now, by
    model) and `hint` (what to change when it can never run)."""
    req = Request.of(resources)
    ever = [m for m in machines if _fits(m, req, now=False)]
    matching_gpus = [g for m in ever for g in m.gpus if req.gpu_ok(g)] if req.gpus else []
    free = [g for g in matching_gpus if g.free]
    busy = [g for g in matching_gpus if not g.free]
    answer: dict[str, Any] = {
        "feasible": bool(ever),
        "reasons": [],
        "matching": {"slots": len(ever), "gpus": len(matching_gpus), "gpus_free": len(free)},
        "now": False,
        "busy": dict(Counter(g.name for g in busy)),
        "hint": "",
    }
    if not ever:
        reasons = _reasons(machines, req)
        answer["reasons"] = [words for _, words in reasons]
        answer["message"] = " · ".join(answer["reasons"])
        answer["hint"] = _HINTS[reasons[0][0]]
        return answer
    now = any(_fits(m, req, now=True) for m in ever)
    answer["now"] = now
    if req.gpus:
        matches = "matches" if len(matching_gpus) == 1 else "match"
        counted = f"{_plural(len(matching_gpus), 'GPU')} {matches} ({len(free)} free now)"
        if now:
            answer["message"] = counted
        elif not free:
            taken = _models(answer["busy"])
            answer["message"] = (
                f"matches, but every matching GPU is busy now ({taken}): it will wait"
            )
        else:
            answer["message"] = f"{counted}, but no machine can start it now: it will wait"
    elif now:
        answer["message"] = f"{_plural(len(ever), 'machine')} can run it now"
    else:
        answer["message"] = "matches, but every matching machine is busy now: it will wait"
    return answer


def _place(position: int, idle: int) -> str:
    return f"; {_ordinal(position)} of your {idle} idle jobs" if idle > 1 else ""


def pending_message(answer: Mapping[str, Any], position: int, idle: int) -> str:
    """Why an idle job waits, from fit()'s answer for its resources: it can never match
    (which requirement, against what), every matching slot is busy (how many, the job's
    place among the user's idle jobs), or it could start now (the scheduler's turn)."""
    return _waits(answer, _place(position, idle))


def _waits(answer: Mapping[str, Any], place: str) -> str:
    if not answer["feasible"]:
        return f"waiting: {answer['message']} — cancel and resubmit {answer['hint']}"
    if answer["now"]:
        return f"waiting for the scheduler's next match: a matching slot is free now{place}"
    matching, busy = answer["matching"], answer["busy"]
    if matching["gpus_free"]:
        return (
            f"waiting: no machine has room for it now ({matching['gpus_free']} of"
            f" {matching['gpus']} matching GPUs free){place}"
        )
    if busy:
        n, names = sum(busy.values()), ", ".join(sorted(busy))
        return f"waiting: {_plural(n, 'matching GPU')} busy ({names}){place}"
    return f"waiting: every matching slot is busy{place}"


class Pending(NamedTuple):
    """An idle job's pending message, and the same without its place in the user's queue."""

    message: str
    reason: str


def idle_messages(
    idle: list[tuple[str, Mapping[str, Any], str]], machines: list[Machine]
) -> dict[str, Pending]:
    """Why each idle job waits: `idle` is (job id, its resources, the schedd's last words on
    matching it) in queue order; one fit per distinct request."""
    answers: dict[str, dict[str, Any]] = {}
    out: dict[str, Pending] = {}
    for position, (job_id, resources, said) in enumerate(idle, 1):
        key = json.dumps(resources, sort_keys=True, default=str)
        if key not in answers:
            answers[key] = fit(machines, resources)
        answer = answers[key]
        tail = f" (the scheduler last said: {said})" if answer["now"] and said else ""
        out[job_id] = Pending(
            pending_message(answer, position, len(idle)) + tail, _waits(answer, "") + tail
        )
    return out


def idle_in_queue_order(
    wanted: Mapping[str, Job], found: Mapping[str, Mapping[str, Any]], missing: Collection[str]
) -> list[Job]:
    """The idle jobs among `wanted`, in queue order (cluster, then proc: a sweep's points
    share a cluster): those whose ad in `found` says idle and, without an ad (an incremental
    query returns only the jobs that changed), the pending ones not `missing`."""

    def queued(j: Job) -> tuple[int, int]:
        return int(j.engine_ref["cluster_id"]), int(j.engine_ref.get("proc_id") or 0)

    idle = [
        j
        for i, j in wanted.items()
        if "cluster_id" in j.engine_ref
        and (
            found[i].get("JobStatus") == 1
            if i in found
            else i not in missing and j.state == JobState.PENDING
        )
    ]
    return sorted(idle, key=queued)


class PendingMessages:
    """What the monitor last told each idle job about why it waits, so that a pass updates
    only the jobs whose reason changed (e.g. the machine ads changed, with no new job ad). A
    change of place alone (another of the user's jobs started: with N idle jobs, N places
    move) waits for a `refresh` pass (the backend's full query), not to rewrite N jobs every
    pass."""

    def __init__(self) -> None:
        self.sent: dict[str, Pending] = {}  # idle job id -> what it was last told

    def explain(
        self,
        idle: list[Job],
        said: Mapping[str, str],
        machines: list[Machine],
        updates: dict[str, Update],
        refresh: bool,
    ) -> None:
        """Set the message of `idle`'s jobs (queue order) in `updates`: in the update a job
        already has, else in a new one where it changed. `said`: job id -> the schedd's last
        words on matching it."""
        why = idle_messages([(j.id, j.resources, said.get(j.id, "")) for j in idle], machines)
        for job_id, now in why.items():
            u, last = updates.get(job_id), self.sent.get(job_id)
            if u is not None:
                if u.state == JobState.PENDING:
                    u.message = now.message
            elif last is None or last.reason != now.reason or (refresh and last != now):
                updates[job_id] = Update(JobState.PENDING, message=now.message)
            else:
                why[job_id] = last  # unchanged, or only its place moved: told at the next refresh
        self.sent = why


def gpu_types(machines: list[Machine]) -> list[dict[str, Any]]:
    """The pool's GPUs per model: {name, total, free, memory_mb, capability}, by name."""
    types: dict[str, dict[str, Any]] = {}
    for m in machines:
        for g in m.gpus:
            t = types.setdefault(
                g.name,
                {"name": g.name, "total": 0, "free": 0, "memory_mb": None, "capability": None},
            )
            t["total"] += 1
            t["free"] += int(g.free)
            if g.memory_mb is not None:
                t["memory_mb"] = max(t["memory_mb"] or 0, g.memory_mb)
            if g.capability is not None:
                t["capability"] = max(t["capability"] or 0.0, g.capability)
    return sorted(types.values(), key=lambda t: t["name"])
