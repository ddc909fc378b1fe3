"""The one job model shared by REST, magics, CLI and UI. No tornado, no engines."""

from __future__ import annotations

import enum
import json
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any


class JobState(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    HELD = "held"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


# Bounds of what a job's REST JSON carries (list pages carry 25-500 jobs).
MAX_MESSAGE_CHARS = 4000
SUMMARY_PARAMETERS_BYTES = 4096
SUMMARY_FILES = 100

# In a job's snapshot (staging folder) when it has `collect` names: the JSON list the runner's
# --collect reads.
COLLECT_FILE = "collect.json"

FINAL_STATES = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED})
ACTIVE_STATES = frozenset(set(JobState) - FINAL_STATES)


class SwanMLError(Exception):
    """A domain error with the HTTP status that describes it to a caller."""

    status = 500

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidRequest(SwanMLError):
    status = 400


class NotFound(SwanMLError):
    status = 404


class Conflict(SwanMLError):
    status = 409


class TooLarge(SwanMLError):
    status = 413


class Unprocessable(SwanMLError):
    """Well-formed but contradicting what was said before (e.g. a reused idempotency key)."""

    status = 422


class BackendUnavailable(SwanMLError):
    status = 503


@dataclass
class JobSpec:
    """A validated submission."""

    notebook: str  # path relative to the server root, '/'-separated
    backend: str
    parameters: dict[str, Any]
    resources: dict[str, Any]  # validated against the backend's resource_schema
    environment: str
    name: str
    kernel_name: str
    inputs: list[str] = field(default_factory=list)
    idempotency_key: str | None = None
    # The notebook as validated: read once per request, for what looks at its cells next
    # (input detection, parameter warnings); never stored.
    document: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass
class Job:
    id: str
    name: str
    backend: str
    state: JobState
    notebook: str
    parameters: dict[str, Any]
    resources: dict[str, Any]
    environment: str
    kernel_name: str = "python3"
    inputs: list[str] = field(default_factory=list)
    engine_ref: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    progress: dict[str, int] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    owner: str = ""
    # Fingerprint of the submitted body: a reused idempotency key must come with the same body.
    request_hash: str = ""
    # A point of a parameter sweep: the sweep's id and the point's index (else None), the
    # notebook variables the runner brings back (`collect`), and what it brought back once
    # the point finished (`collected`, name -> value; `collect_notes`, name -> why a value is
    # missing or kept as its repr).
    sweep_id: str | None = None
    point: int | None = None
    collect: list[str] = field(default_factory=list)
    collected: dict[str, Any] = field(default_factory=dict)
    collect_notes: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The public REST shape (see openapi.yaml)."""
        return {
            "id": self.id,
            "name": self.name,
            "backend": self.backend,
            "state": self.state.value,
            "notebook": self.notebook,
            "parameters": self.parameters,
            "resources": dict(self.resources),
            "environment": self.environment,
            "kernel_name": self.kernel_name,
            "inputs": self.inputs,
            "engine_ref": self.engine_ref,
            "message": _clip(self.message, MAX_MESSAGE_CHARS),
            "progress": self.progress,
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "outputs": self.outputs,
            "sweep": {"id": self.sweep_id, "point": self.point} if self.sweep_id else None,
            "collected": self.collected,
        }

    def to_summary(self) -> dict[str, Any]:
        """The shape of list pages: every field bounded. Parameters (and a sweep point's
        collected values) larger than SUMMARY_PARAMETERS_BYTES and output files past
        SUMMARY_FILES are left out and named in 'truncated' (GET jobs/{id} has them all)."""
        d = self.to_json()
        truncated = []
        if len(json.dumps(self.parameters)) > SUMMARY_PARAMETERS_BYTES:
            d["parameters"] = {}
            truncated.append("parameters")
        if self.collected and len(json.dumps(self.collected)) > SUMMARY_PARAMETERS_BYTES:
            d["collected"] = {}
            truncated.append("collected")
        files = self.outputs.get("files") or []
        if len(files) > SUMMARY_FILES:
            d["outputs"] = {**self.outputs, "files": files[:SUMMARY_FILES]}
            truncated.append("outputs.files")
        if truncated:
            d["truncated"] = truncated
        return d

    def to_record(self) -> dict[str, Any]:
        """Everything, for the store (a shallow copy: the store encodes it at once, and
        asdict's deep copy was most of the cost of a write)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["state"] = self.state.value
        return d

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Job:
        """A stored record; fields this version does not know (a newer version wrote it) are
        left out, missing ones take their defaults."""
        d = _known(cls, d)
        d["state"] = JobState(d["state"])
        # (records of earlier versions hold every field, unset ones as null)
        d["resources"] = {k: v for k, v in d["resources"].items() if v is not None}
        return cls(**d)


@dataclass
class Sweep:
    """One notebook over many parameter points; each point is a Job (sweep_id, point). What the
    REST API shows of it (state, counts, the results table) is computed from its points' jobs
    (jobs/sweeps.py)."""

    id: str
    name: str
    notebook: str
    backend: str
    environment: str
    keys: list[str]  # the swept parameters, in column order
    points: list[dict[str, Any]]  # point i's swept values (name -> value)
    collect: list[str]
    # The body's job part (without sweep, collect, idempotency_key): a resubmission of failed
    # points checks it again and snapshots the notebook as it is then.
    request: dict[str, Any]
    grid: dict[str, list[Any]] | None = None
    created_at: float = field(default_factory=time.time)
    owner: str = ""
    idempotency_key: str | None = None
    request_hash: str = ""
    batch: bool = False  # the backend submitted the points as one batch
    submissions: int = 0  # engine submissions made for this sweep (a batch counts once)
    cancelled: bool = False  # cancelled by the user (until failed points are resubmitted)
    warnings: list[str] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Sweep:
        """A stored record (unknown fields left out, as for jobs)."""
        return cls(**_known(cls, d))


def _known(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    """The record's entries that are fields of the dataclass `cls`."""
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = frozenset(f.name for f in fields(cls))
    return {k: v for k, v in d.items() if k in names}


_FIELDS: dict[type, frozenset[str]] = {}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


@dataclass
class Update:
    """What a backend learned about one job in a poll."""

    state: JobState
    message: str = ""
    progress: dict[str, int] | None = None
    started_at: float | None = None
    finished_at: float | None = None
    engine_ref: dict[str, Any] | None = None
    # The engine lost the job's input (e.g. it died while spooling): submit it again.
    resubmit: bool = False
    # The tail of stdout/stderr the running job reported (read in the same batched query).
    log_tail: str | None = None
    # False when the engine stopped the job and kept nothing to fetch (e.g. over its runtime).
    has_outputs: bool = True
