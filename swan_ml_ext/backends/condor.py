"""HTCondor backend: remote-style spool submission through htcondor2 only."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from traitlets import Float, Unicode, default

from ..jobs.files import read_tail
from ..jobs.model import BackendUnavailable, Conflict, InvalidRequest, Job, JobState, Update
from ..jobs.spec import Environment, Limits
from ..pool import client_config
from .base import Backend, BackendStatus, Logs, integer
from .condor_ads import PROJECTION, SPOOLING_INPUT, ad_to_update
from .condor_submit import WRAPPER, submit_description, write_wrapper

QUERY_PROJECTION = [*PROJECTION, "ServerTime"]

_config_lock = threading.Lock()  # CONDOR_CONFIG is process-wide


class CondorBackend(Backend):
    """Runs notebooks as HTCondor jobs (spooled: batch nodes share no filesystem with us)."""

    name: ClassVar[str] = "condor"
    title: ClassVar[str] = "HTCondor"
    capabilities: ClassVar[dict[str, bool]] = {
        **Backend.capabilities,
        "hold": True,
        "release": True,
        "live_logs": True,
        "progress": True,
        "gpus": True,
        "gpu_constraints": True,
    }
    engine_ref_labels: ClassVar[list[tuple[str, str]]] = [
        ("cluster_id", "cluster"),
        ("execute_host", "on"),
        ("assigned_gpus", "GPUs"),
    ]

    condor_config = Unicode(
        help="""Client configuration file for the pool (CONDOR_CONFIG): where the collector is
        and how to authenticate (e.g. SEC_TOKEN_DIRECTORY with an IDTOKEN). Default: the
        CONDOR_CONFIG environment variable, else the personal pool's client config written by
        `swan-ml pool up`.""",
    ).tag(config=True)

    schedd_name = Unicode(
        "",
        help="Name of the schedd to submit to; empty: the first schedd the collector knows.",
    ).tag(config=True)

    stuck_spool_s = Float(
        30.0,
        help="""A job still waiting for its input spool this many seconds after the spool began
        lost it (the schedd died mid-transfer): it is removed and submitted again.""",
    ).tag(config=True)

    status_ttl = Float(
        2.0, help="Seconds a GET /backends answer (slots, free GPUs) is cached."
    ).tag(config=True)

    full_query_s = Float(
        30.0,
        help="""Seconds between two full queries of our jobs. In between, a monitor pass asks
        the schedd only for jobs that are not idle or whose status changed since the last
        pass (an idle job's pending reason is refreshed by the full query).""",
    ).tag(config=True)

    @default("condor_config")
    def _default_condor_config(self) -> str:
        return os.environ.get("CONDOR_CONFIG") or str(client_config())

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._schedd_obj: Any = None
        self._status: tuple[float, BackendStatus] | None = None
        self._since: int | None = None  # the schedd's time at the last pass
        self._last_full = 0.0
        self._seen: dict[str, tuple[Any, ...]] = {}  # job id -> its ad at the last pass
        self._lock = threading.Lock()
        with _config_lock:
            os.environ["CONDOR_CONFIG"] = self.condor_config
            import htcondor2

            htcondor2.reload_config()
        self._htcondor = htcondor2

    # -- connection ---------------------------------------------------------------------
    def _schedd(self) -> Any:
        htcondor2 = self._htcondor
        with self._lock:
            if self._schedd_obj is None:
                try:
                    coll = htcondor2.Collector()
                    if self.schedd_name:
                        ad = coll.locate(htcondor2.DaemonType.Schedd, self.schedd_name)
                    else:
                        ads = coll.locateAll(htcondor2.DaemonType.Schedd)
                        if not ads:
                            raise BackendUnavailable("the collector knows no schedd")
                        ad = ads[0]
                    self._schedd_obj = htcondor2.Schedd(ad)
                except htcondor2.HTCondorException as e:
                    raise BackendUnavailable(self._unreachable(e)) from e
            return self._schedd_obj

    def _unreachable(self, e: Exception) -> str:
        return (
            f"HTCondor pool unreachable or refusing ({e}); check the pool and {self.condor_config}"
        )

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a schedd call; on a connection failure forget the schedd and report it."""
        try:
            return fn(self._schedd(), *args, **kwargs)
        except self._htcondor.HTCondorException as e:
            with self._lock:
                self._schedd_obj = None
            self._status = None
            self._since, self._seen = None, {}  # after an outage: a full query, every job
            raise BackendUnavailable(self._unreachable(e)) from e

    # -- status -------------------------------------------------------------------------
    def status(self) -> BackendStatus:
        cached = self._status
        if cached and time.monotonic() - cached[0] < self.status_ttl:
            return cached[1]
        try:
            self._schedd()
            ads = self._htcondor.Collector().query(
                self._htcondor.AdTypes.Startd,
                projection=[
                    "Name",
                    "Cpus",
                    "Memory",
                    "GPUs",
                    "TotalSlotGPUs",
                    "GPUs_DeviceName",
                    "GPUs_GlobalMemoryMb",
                    "GPUs_Capability",
                ],
            )
        except (BackendUnavailable, self._htcondor.HTCondorException) as e:
            with self._lock:
                self._schedd_obj = None
            st = BackendStatus(self.name, False, reason=getattr(e, "message", None) or str(e))
            self._status = (time.monotonic(), st)
            return st
        gpu_types: dict[str, dict[str, Any]] = {}
        for ad in ads:
            kind = ad.get("GPUs_DeviceName")
            if isinstance(kind, str) and ad.get("TotalSlotGPUs"):
                t = gpu_types.setdefault(
                    kind,
                    {
                        "name": kind,
                        "total": 0,
                        "free": 0,
                        "memory_mb": ad.get("GPUs_GlobalMemoryMb"),
                        "capability": ad.get("GPUs_Capability"),
                    },
                )
                t["total"] += int(ad.get("TotalSlotGPUs") or 0)
                t["free"] += int(ad.get("GPUs") or 0)
        st = BackendStatus(
            self.name,
            available=bool(ads),
            reason="" if ads else "the pool has no execute slots",
            resources={
                "slots": len(ads),
                "cpus_free": sum(int(ad.get("Cpus") or 0) for ad in ads),
                "memory_free_mb": sum(int(ad.get("Memory") or 0) for ad in ads),
                "gpus_total": sum(t["total"] for t in gpu_types.values()),
                "gpus_free": sum(t["free"] for t in gpu_types.values()),
                "gpu_types": list(gpu_types.values()),
            },
        )
        self._status = (time.monotonic(), st)
        return st

    # -- resources ----------------------------------------------------------------------
    def resource_schema(self, limits: Limits) -> dict[str, Any]:
        schema = super().resource_schema(limits)
        props = schema["properties"]
        props["gpus"] = integer("GPUs", "GPUs for the job (request_gpus)", 0, limits.max_gpus, 0)
        props["gpu_memory_mb"] = integer(
            "Minimum GPU memory", "only GPUs with at least this much memory, in MB",
            1, 10**7, None, **{"x-unit": "MB"},
        )  # fmt: skip
        props["gpu_capability"] = {
            "type": ["number", "null"],
            "title": "Minimum GPU capability",
            "description": "only GPUs with at least this CUDA compute capability, e.g. 8.0",
            "exclusiveMinimum": 0,
            "exclusiveMaximum": 100,
            "default": None,
        }
        # the dialog's order
        order = ["cpus", "memory_mb", "gpus", "gpu_memory_mb", "gpu_capability", "disk_mb"]
        schema["properties"] = {k: props[k] for k in order + sorted(set(props) - set(order))}
        return schema

    def check_resources(self, resources: dict[str, Any]) -> None:
        if (resources.get("gpu_memory_mb") or resources.get("gpu_capability")) and not (
            resources.get("gpus")
        ):
            raise InvalidRequest("GPU constraints (gpu_memory_mb, gpu_capability) need gpus >= 1")

    # -- submit -------------------------------------------------------------------------
    def write_wrapper(self, job: Job, staged: Path, env: Environment) -> None:
        write_wrapper(job, staged, env)

    def submit_description(self, job: Job, staged: Path) -> dict[str, str]:
        return submit_description(job, staged)

    def preview(self, job: Job, staged: Path, environment: Environment) -> dict[str, str]:
        """The submit description submit() hands to the schedd, one `key = value` a line like
        a submit file, then the wrapper it ships as the executable. No engine call."""
        self.write_wrapper(job, staged, environment)
        desc = self.submit_description(job, staged)
        wrapper = (staged / WRAPPER).read_text()
        text = (
            "# HTCondor submit description (spooled: the schedd gets its own copy of the"
            " files)\n"
            + "".join(f"{key} = {value}\n" for key, value in desc.items())
            + "queue\n\n"
            + f"# {WRAPPER}, the executable (runs on the execute node)\n"
            + wrapper
        )
        return {"format": "htcondor-submit", "text": text}

    def submit(self, job: Job, staged: Path, environment: Environment) -> dict[str, Any]:
        self.write_wrapper(job, staged, environment)
        sub = self._htcondor.Submit(self.submit_description(job, staged))

        def do(schedd: Any) -> int:
            result = schedd.submit(sub, spool=True)
            schedd.spool(result)
            return int(result.cluster())

        cluster = self._call(do)
        return {"cluster_id": cluster, "schedd": self.schedd_name or None}

    # -- monitor ------------------------------------------------------------------------
    def poll(self, jobs: list[Job]) -> dict[str, Update]:
        """One query for our jobs: all of them every full_query_s, else only those that are
        not idle or changed status since the last pass (ServerTime is the schedd's clock). An
        ad identical to the one of the last pass gives no update: no work for unchanged jobs."""
        if not jobs:
            return {}
        wanted = {j.id: j for j in jobs}
        full = self._since is None or time.monotonic() - self._last_full >= self.full_query_s
        constraint = "SwanML =?= true"
        if not full:
            constraint += f" && (JobStatus =!= 1 || EnteredCurrentStatus >= {self._since - 5})"
        self.engine_queries += 1
        ads = self._call(lambda s: s.query(constraint=constraint, projection=QUERY_PROJECTION))
        if full:
            self._last_full = time.monotonic()
        found: dict[str, Any] = {}
        for ad in ads:
            if isinstance(ad.get("ServerTime"), int):
                self._since = max(self._since or 0, ad["ServerTime"])
            job = wanted.get(ad.get("SwanMLJobId"))
            if job is None:
                continue
            # After a resubmission the old cluster may linger: the current one wins.
            current = job.engine_ref.get("cluster_id")
            if ad.get("SwanMLJobId") not in found or ad.get("ClusterId") == current:
                found[ad["SwanMLJobId"]] = ad
        if self._since is None and not ads:
            self._since = int(time.time())
        # Only jobs the schedd accepted can be in its history; an idle job an incremental
        # query did not return is unchanged, not gone.
        missing = [
            i
            for i, j in wanted.items()
            if i not in found
            and "cluster_id" in j.engine_ref
            and (full or j.state != JobState.PENDING)
        ]
        if missing:
            ids = ", ".join(json.dumps(i) for i in missing)
            self.engine_queries += 1
            hist = self._call(
                lambda s: list(
                    s.history(
                        constraint=f"member(SwanMLJobId, {{{ids}}})",
                        projection=PROJECTION,
                        match=len(missing),
                    )
                )
            )
            for ad in hist:
                found.setdefault(ad.get("SwanMLJobId"), ad)
        updates = {}
        for job_id, job in wanted.items():
            ad = found.get(job_id)
            if ad is not None:
                seen = tuple(ad.get(k) for k in PROJECTION)
                # (a job waiting for its input spool must be looked at: time alone changes it)
                if self._seen.get(job_id) == seen and ad.get("HoldReasonCode") != SPOOLING_INPUT:
                    continue
                self._seen[job_id] = seen
                updates[job_id] = ad_to_update(ad, self.stuck_spool_s)
            elif job_id in missing and job.engine_ref.get("cluster_id") is not None:
                updates[job_id] = Update(
                    job.state, message="not found in the schedd's queue or history (yet)"
                )
        for job_id in list(self._seen):
            if job_id not in wanted:
                del self._seen[job_id]
        return updates

    def fetch(self, job: Job, staged: Path) -> None:
        cid = int(job.engine_ref["cluster_id"])
        self._call(lambda s: s.retrieve(f"ClusterId == {cid}"))

    # -- actions ------------------------------------------------------------------------
    def _act(self, job: Job, action: str, reason: str) -> None:
        act = getattr(self._htcondor.JobAction, action)
        constraint = _constraint(job)
        deadline = time.monotonic() + 10
        while True:
            res = self._call(lambda s: s.act(act, constraint, reason=reason))
            if int(res.get("TotalSuccess", 0)) >= 1:
                return
            if "cluster_id" not in job.engine_ref:
                return  # an interrupted submission the schedd never got: nothing to act on
            # Right after submit the job sits in a transient hold while its input spools:
            # wait for that to end rather than refuse the user's action.
            ads = self._call(lambda s: s.query(constraint, projection=["HoldReasonCode"]))
            spooling = bool(ads) and ads[0].get("HoldReasonCode") == SPOOLING_INPUT
            if not spooling or time.monotonic() > deadline:
                raise Conflict(f"HTCondor refused to {action.lower()} job {job.id} in its state")
            time.sleep(0.2)

    def cancel(self, job: Job) -> None:
        self._act(job, "Remove", "cancelled by the user (swan-ml-ext)")

    def resubmit(self, job: Job, staged: Path, environment: Environment) -> dict[str, Any]:
        """Remove what the schedd has of this job (a stuck cluster, or one whose submission
        was interrupted before we stored its id) and submit the staged job again."""
        remove = self._htcondor.JobAction.Remove
        self._call(lambda s: s.act(remove, f'SwanMLJobId == "{job.id}"'))
        return self.submit(job, staged, environment)

    def hold(self, job: Job) -> None:
        self._act(job, "Hold", "held by the user (swan-ml-ext)")

    def release(self, job: Job) -> None:
        self._act(job, "Release", "released by the user (swan-ml-ext)")

    def logs(self, job: Job, staged: Path, tail: int | None = None) -> Logs:
        return Logs(
            stdout=read_tail(staged / "stdout.txt", tail),
            stderr=read_tail(staged / "stderr.txt", tail),
            live=False,
        )


def _constraint(job: Job) -> str:
    """The job's cluster; before its id is known, our own attribute (our ids are hex)."""
    cid = job.engine_ref.get("cluster_id")
    if cid is not None:
        return f"ClusterId == {int(cid)}"
    return f'SwanMLJobId == "{job.id}"'
