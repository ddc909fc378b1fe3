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
from .condor_fit import (
    GPU_MODEL_MAX,
    GPU_MODEL_PATTERN,
    Machine,
    PendingMessages,
    fit,
    gpu_types,
    idle_in_queue_order,
    valid_gpu_model,
)
from .condor_machines import MachineAds, query_startds
from .condor_submit import WRAPPER, batch_submit_description, submit_description, write_wrapper

QUERY_PROJECTION = [*PROJECTION, "ServerTime"]
_REJECTED = PROJECTION.index("LastRejMatchReason")

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
        "batch_submit": True,  # a sweep's points: one cluster, one proc per point
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

    machine_ads_ttl = Float(
        3.0,
        help="""Seconds the collector's machine ads are cached: one collector query serves GET
        backends (GPUs per model), POST jobs/check and the monitor's pending messages.""",
    ).tag(config=True)

    full_query_s = Float(
        30.0,
        help="""Seconds between two full queries of our jobs. In between, a monitor pass asks
        the schedd only for jobs that are not idle or whose status changed since the last
        pass (an idle job's pending reason from its ad, and its place among the user's idle
        jobs, are refreshed by the full query).""",
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
        self._pending = PendingMessages()  # what each idle job was last told
        self._ads = MachineAds(self._query_machines, lambda: self.machine_ads_ttl)
        self._device_attrs: set[str] = set()  # GPUs_<id> attribute names seen in the pool
        self.collector_queries = 0
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

    # -- machine ads --------------------------------------------------------------------
    def machine_ads(self) -> tuple[list[dict[str, Any]], list[Machine]]:
        """The collector's startd ads as plain dicts, and the machines they describe; cached
        machine_ads_ttl seconds (BackendUnavailable when the collector cannot be asked)."""
        try:
            return self._ads.get()
        except self._htcondor.HTCondorException as e:
            raise BackendUnavailable(self._unreachable(e)) from e

    def _query_machines(self) -> list[dict[str, Any]]:
        htcondor2 = self._htcondor
        ads, n = query_startds(htcondor2.Collector(), htcondor2.AdTypes.Startd, self._device_attrs)
        self.collector_queries += n
        return ads

    # -- status -------------------------------------------------------------------------
    def status(self) -> BackendStatus:
        cached = self._status
        if cached and time.monotonic() - cached[0] < self.status_ttl:
            return cached[1]
        try:
            self._schedd()
            ads, machines = self.machine_ads()
        except BackendUnavailable as e:
            with self._lock:
                self._schedd_obj = None
            st = BackendStatus(self.name, False, reason=e.message)
            self._status = (time.monotonic(), st)
            return st
        types = gpu_types(machines)
        st = BackendStatus(
            self.name,
            available=bool(ads),
            reason="" if ads else "the pool has no execute slots",
            resources={
                "slots": len(ads),
                "machines": len(machines),
                "cpus_free": sum(m.cpus_free for m in machines),
                "memory_free_mb": sum(m.memory_free_mb for m in machines),
                "gpus_total": sum(t["total"] for t in types),
                "gpus_free": sum(t["free"] for t in types),
                "gpu_types": types,
            },
        )
        self._status = (time.monotonic(), st)
        return st

    def stats(self) -> dict[str, int]:
        return {**super().stats(), "collector_queries": self.collector_queries}

    def fit(self, resources: dict[str, Any]) -> dict[str, Any]:
        """Whether the pool's machines (cached ads) could ever run these resources, in words."""
        return fit(self.machine_ads()[1], resources)

    # -- resources ----------------------------------------------------------------------
    def resource_schema(self, limits: Limits) -> dict[str, Any]:
        schema = super().resource_schema(limits)
        props = schema["properties"]
        props["gpus"] = integer("GPUs", "GPUs for the job (request_gpus)", 0, limits.max_gpus, 0)
        props["gpu_memory_mb"] = integer(
            "Minimum GPU memory", "only GPUs with at least this much memory, in MB",
            1, 10**7, None, **{"x-unit": "MB"},
        )  # fmt: skip
        props["gpu_model"] = {
            "type": ["string", "null"],
            "title": "GPU model",
            "description": "only GPUs of this model (their DeviceName), e.g. A100-SXM4-40GB",
            "maxLength": GPU_MODEL_MAX,
            "pattern": GPU_MODEL_PATTERN,
            "default": None,
            "x-options-from": "gpu_types",
        }
        props["gpu_capability"] = {
            "type": ["number", "null"],
            "title": "Minimum GPU capability",
            "description": "only GPUs with at least this CUDA compute capability, e.g. 8.0",
            "exclusiveMinimum": 0,
            "exclusiveMaximum": 100,
            "default": None,
        }
        # the dialog's order
        order = [
            "cpus", "memory_mb", "gpus", "gpu_model", "gpu_memory_mb", "gpu_capability", "disk_mb"
        ]  # fmt: skip
        schema["properties"] = {k: props[k] for k in order + sorted(set(props) - set(order))}
        return schema

    def check_resources(self, resources: dict[str, Any]) -> None:
        model = resources.get("gpu_model")
        if model is not None and not valid_gpu_model(model):
            raise InvalidRequest(
                "resources.gpu_model must be a GPU model name (letters, digits, spaces and"
                " ._()/+- only, starting with a letter or digit), as GET backends lists them"
                " in resources.gpu_types"
            )
        constrained = model is not None or resources.get("gpu_memory_mb")
        if (constrained or resources.get("gpu_capability")) and not resources.get("gpus"):
            raise InvalidRequest(
                "GPU constraints (gpu_model, gpu_memory_mb, gpu_capability) need gpus >= 1"
            )

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
        self.submissions += 1
        return {"cluster_id": cluster, "schedd": self.schedd_name or None}

    def submit_many(
        self, jobs: list[Job], staged: list[Path], environment: Environment
    ) -> list[dict[str, Any]]:
        """ONE submission for all of them: one cluster with one proc per job (itemdata: each
        proc its own folder and SwanMLJobId), one spool; engine_refs {cluster_id, proc_id}."""
        for job, folder in zip(jobs, staged, strict=True):
            self.write_wrapper(job, folder, environment)
        desc, items = batch_submit_description(jobs, staged)
        sub = self._htcondor.Submit(desc)
        remove = self._htcondor.JobAction.Remove

        def do(schedd: Any) -> tuple[int, int]:
            result = schedd.submit(sub, spool=True, itemdata=iter(items))
            try:
                schedd.spool(result)
            except BaseException:  # all or nothing: no half-spooled cluster left behind
                schedd.act(remove, f"ClusterId == {int(result.cluster())}")
                raise
            return int(result.cluster()), int(result.first_proc())

        cluster, first = self._call(do)
        self.submissions += 1
        schedd_name = self.schedd_name or None
        return [
            {"cluster_id": cluster, "proc_id": first + i, "schedd": schedd_name}
            for i in range(len(jobs))
        ]

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
        updates: dict[str, Update] = {}
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
        self._explain_idle(idle_in_queue_order(wanted, found, missing), updates, full)
        return updates

    def _explain_idle(self, idle: list[Job], updates: dict[str, Update], full: bool) -> None:
        """An idle job's message says why it waits (condor_fit.PendingMessages), from the
        cached machine ads and its resources: no schedd query; a change of its place in the
        queue alone is told at the next full query. Without machine ads (the collector
        unreachable) the messages last sent stay."""
        try:
            machines = self.machine_ads()[1] if idle else []
        except BackendUnavailable:
            return
        said = {i: s[_REJECTED] for i, s in self._seen.items() if isinstance(s[_REJECTED], str)}
        self._pending.explain(idle, said, machines, updates, refresh=full)

    def fetch(self, job: Job, staged: Path) -> None:
        cid = int(job.engine_ref["cluster_id"])
        self._call(lambda s: s.retrieve(f"ClusterId == {cid}{_proc(job)}"))

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

    def cancel_many(self, jobs: list[Job]) -> None:
        """One removal by our own attribute for all of them (a batch's procs, and any cluster
        of a job submitted again). Those the schedd still has afterwards are removed again,
        all together, while their input spools (the transient hold after a submit), within
        ONE wait of cancel's 10 s for all of them; one left that is not spooling after a
        second removal, or any left at the end of the wait, is a Conflict."""
        remove = self._htcondor.JobAction.Remove
        reason = "cancelled by the user (swan-ml-ext)"
        deadline = time.monotonic() + 10
        ids, passes = [j.id for j in jobs], 0
        while ids:
            passes += 1
            left: dict[str, Any] = {}  # job id -> its HoldReasonCode
            for i in range(0, len(ids), _MEMBER_CHUNK):
                members = ", ".join(json.dumps(x) for x in ids[i : i + _MEMBER_CHUNK])
                constraint = f"member(SwanMLJobId, {{{members}}})"
                self._call(lambda s, c=constraint: s.act(remove, c, reason=reason))
                active = f"({constraint}) && JobStatus =!= 3 && JobStatus =!= 4"
                ads = self._call(lambda s, c=active: s.query(c, ["SwanMLJobId", "HoldReasonCode"]))
                left.update((str(ad.get("SwanMLJobId")), ad.get("HoldReasonCode")) for ad in ads)
            stuck = passes > 1 and any(code != SPOOLING_INPUT for code in left.values())
            if left and (stuck or time.monotonic() > deadline):
                names = ", ".join(sorted(left)[:10]) + (" …" if len(left) > 10 else "")
                raise Conflict(f"HTCondor refused to remove job(s) {names} in their state")
            ids = [j.id for j in jobs if j.id in left]
            if ids:
                time.sleep(0.2)

    def resubmit(self, job: Job, staged: Path, environment: Environment) -> dict[str, Any]:
        """Remove what the schedd has of this job (a stuck cluster, or one whose submission
        was interrupted before we stored its id) and submit the staged job again."""
        remove = self._htcondor.JobAction.Remove
        self._call(lambda s: s.act(remove, _by_our_id(job)))
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


_MEMBER_CHUNK = 200  # job ids per member() constraint


def _constraint(job: Job) -> str:
    """The job's cluster (and its proc in a batch: a sweep point, not its siblings); before
    its id is known, our own attribute (our ids are hex)."""
    cid = job.engine_ref.get("cluster_id")
    if cid is not None:
        return f"ClusterId == {int(cid)}{_proc(job)}"
    return _by_our_id(job)


def _by_our_id(job: Job) -> str:
    """The job by our own attribute, whatever its cluster (our ids are hex)."""
    return f'SwanMLJobId == "{job.id}"'


def _proc(job: Job) -> str:
    """' && ProcId == N' for a job that is one proc of a batch's cluster, else ''."""
    proc = job.engine_ref.get("proc_id")
    return f" && ProcId == {int(proc)}" if proc is not None else ""
