"""Whether resources fit the pool's machines, in words (pure logic over plain machine ads;
the real pool with its simulated mixed GPUs is exercised in test_gpu_fit.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from swan_ml_ext.backends.condor_fit import (
    PendingMessages,
    fit,
    gpu_types,
    idle_in_queue_order,
    machines_from_ads,
    pending_message,
    size,
    valid_gpu_model,
)
from swan_ml_ext.backends.condor_submit import submit_description
from swan_ml_ext.jobs.model import BackendUnavailable, InvalidRequest, Job, JobState, Update

V100 = {"Id": "GPU-a0", "DeviceName": "Tesla V100-PCIE-16GB", "GlobalMemoryMb": 24220,
        "Capability": 7.0}  # fmt: skip
A100 = {"DeviceName": "A100-SXM4-40GB", "GlobalMemoryMb": 47661, "Capability": 8.0}
DEVICES = {"GPUs_GPU_a0": V100, "GPUs_GPU_b1": {**A100, "Id": "GPU-b1"},
           "GPUs_GPU_c2": {**A100, "Id": "GPU-c2"}}  # fmt: skip


def pslot(available: list[str] | None = None, cpus: int = 8, memory: int = 16384) -> dict:
    """The personal pool's partitionable slot as the collector sends it (plain values)."""
    free = list(DEVICES) if available is None else available
    return {
        "Name": "slot1@vm", "SlotType": "Partitionable", "State": "Unclaimed",
        "Cpus": cpus, "Memory": memory, "TotalSlotCpus": 8, "TotalSlotMemory": 16384,
        "GPUs": len(free), "TotalSlotGPUs": 3, "AvailableGPUs": free,
        "AssignedGPUs": "GPU-a0,GPU-b1,GPU-c2", **copy.deepcopy(DEVICES),
    }  # fmt: skip


def dslot(device: str) -> dict:
    """A dynamic slot holding one device (it is part of slot1: not a machine of its own)."""
    return {"Name": "slot1_1@vm", "SlotType": "Dynamic", "State": "Claimed", "Cpus": 1,
            "Memory": 256, "GPUs": 1, "TotalSlotGPUs": 1, "AvailableGPUs": [device],
            device: DEVICES[device], "GPUs_DeviceName": DEVICES[device]["DeviceName"]}  # fmt: skip


def check(resources: dict[str, Any], *ads: dict) -> dict[str, Any]:
    return fit(machines_from_ads(ads or [pslot()]), resources)


@pytest.mark.parametrize(
    "resources, words",
    [
        ({"gpus": 4}, "no machine has 4 GPUs; the largest has 3"),
        ({"gpus": 1, "gpu_memory_mb": 81920},
         "no GPU has 80 GB; the largest has 46.5 GB (A100-SXM4-40GB)"),
        ({"gpus": 1, "gpu_capability": 9.0},
         "no GPU has compute capability 9.0; the highest is 8.0 (A100-SXM4-40GB)"),
        ({"gpus": 1, "gpu_model": "H100"},
         "no GPU model 'H100'; the pool has A100-SXM4-40GB, Tesla V100-PCIE-16GB"),
        ({"gpus": 2, "gpu_model": "Tesla V100-PCIE-16GB"},
         "no machine has 2 GPUs matching Tesla V100-PCIE-16GB; the most on one machine is 1"),
        ({"gpus": 1, "gpu_model": "Tesla V100-PCIE-16GB", "gpu_memory_mb": 40000},
         "no GPU has 39.1 GB; the largest has 23.7 GB (Tesla V100-PCIE-16GB)"),
        ({"cpus": 16}, "no machine has 16 CPUs; the largest has 8"),
        ({"memory_mb": 32768}, "no machine has 32 GB of memory; the largest has 16 GB"),
    ],
)  # fmt: skip
def test_never_fits_says_which_requirement_against_what(resources, words):
    answer = check(resources)
    assert answer["feasible"] is False
    assert answer["reasons"] == [words]
    assert answer["message"] == words
    assert answer["matching"] == {"slots": 0, "gpus": 0, "gpus_free": 0}


def test_every_failing_requirement_is_a_reason():
    answer = check({"gpus": 4, "gpu_capability": 9.0, "cpus": 16})
    assert answer["reasons"] == [
        "no machine has 4 GPUs; the largest has 3",
        "no GPU has compute capability 9.0; the highest is 8.0 (A100-SXM4-40GB)",
        "no machine has 16 CPUs; the largest has 8",
    ]
    assert answer["message"] == " · ".join(answer["reasons"])


def test_requirements_met_only_on_different_machines():
    small_gpu = {**pslot(), "Name": "gpu@a", "TotalSlotCpus": 2, "Cpus": 2}
    big_cpu = {"Name": "cpu@b", "SlotType": "Partitionable", "Cpus": 64, "Memory": 10**6,
               "TotalSlotCpus": 64, "TotalSlotMemory": 10**6}  # fmt: skip
    answer = check({"cpus": 32, "gpus": 1, "memory_mb": 1024}, small_gpu, big_cpu)
    assert answer["reasons"] == [
        "no single machine has 32 CPUs, 1 GB of memory, 1 matching GPU together"
    ]


def test_fits_and_free_now():
    answer = check({"gpus": 1, "gpu_model": "A100-SXM4-40GB"})
    assert answer["feasible"] is True and answer["reasons"] == []
    assert answer["message"] == "2 GPUs match (2 free now)"
    assert answer["matching"] == {"slots": 1, "gpus": 2, "gpus_free": 2}
    assert check({"gpus": 1, "gpu_capability": 7.0})["message"] == "3 GPUs match (3 free now)"
    assert check({"cpus": 1})["message"] == "1 machine can run it now"


def test_fits_but_every_matching_gpu_is_busy():
    # both A100s taken by dynamic slots: the partitionable slot has only the V100 left
    ads = [pslot(["GPUs_GPU_a0"]), dslot("GPUs_GPU_b1"), dslot("GPUs_GPU_c2")]
    answer = check({"gpus": 1, "gpu_model": "A100-SXM4-40GB"}, *ads)
    assert answer["feasible"] is True
    assert answer["message"] == (
        "matches, but every matching GPU is busy now (2 A100-SXM4-40GB): it will wait"
    )
    assert answer["matching"] == {"slots": 1, "gpus": 2, "gpus_free": 0}
    assert pending_message(answer, 3, 3) == (
        "waiting: 2 matching GPUs busy (A100-SXM4-40GB); 3rd of your 3 idle jobs"
    )
    assert pending_message(answer, 1, 1) == "waiting: 2 matching GPUs busy (A100-SXM4-40GB)"
    # the V100 is free: an any-model request can start now
    assert check({"gpus": 1}, *ads)["message"] == "3 GPUs match (1 free now)"


def test_gpu_types_count_each_device_once():
    ads = [pslot(["GPUs_GPU_a0"]), dslot("GPUs_GPU_b1"), dslot("GPUs_GPU_c2")]
    assert gpu_types(machines_from_ads(ads)) == [
        {"name": "A100-SXM4-40GB", "total": 2, "free": 0, "memory_mb": 47661, "capability": 8.0},
        {"name": "Tesla V100-PCIE-16GB", "total": 1, "free": 1, "memory_mb": 24220,
         "capability": 7.0},
    ]  # fmt: skip


def test_free_gpus_but_no_room_now():
    ads = [pslot(cpus=0, memory=0)]
    answer = check({"gpus": 1}, *ads)
    assert (
        answer["message"]
        == "3 GPUs match (3 free now), but no machine can start it now: it will wait"
    )
    assert pending_message(answer, 1, 2).startswith(
        "waiting: no machine has room for it now (3 of 3 matching GPUs free); 1st of your 2"
    )


def test_pending_message_of_a_job_that_can_never_run():
    answer = check({"gpus": 4})
    assert pending_message(answer, 1, 1) == (
        "waiting: no machine has 4 GPUs; the largest has 3 — cancel and resubmit with fewer GPUs"
    )


def test_identical_devices_described_once_and_static_slots():
    flat = {"Name": "slot1@old", "SlotType": "Partitionable", "Cpus": 4, "Memory": 8192,
            "TotalSlotCpus": 4, "TotalSlotMemory": 8192, "GPUs": 1, "TotalSlotGPUs": 2,
            "GPUs_DeviceName": "Tesla T4", "GPUs_GlobalMemoryMb": 15360,
            "GPUs_Capability": 7.5}  # fmt: skip
    static = {"Name": "slot2@st", "SlotType": "Static", "State": "Claimed", "Cpus": 2,
              "Memory": 4096, "GPUs_GPU_x": {**A100, "Id": "GPU-x"},
              "AvailableGPUs": ["GPUs_GPU_x"]}  # fmt: skip
    machines = machines_from_ads([flat, static])
    assert [(g.name, g.free) for g in machines[0].gpus] == [("Tesla T4", True), ("Tesla T4", False)]
    assert [(g.name, g.free) for g in machines[1].gpus] == [("A100-SXM4-40GB", False)]
    assert machines[1].cpus_free == 0
    answer = fit(machines, {"gpus": 1, "gpu_memory_mb": 15000})
    assert answer["message"] == "3 GPUs match (1 free now)"


def test_no_machines():
    answer = fit([], {"cpus": 1})
    assert answer["feasible"] is False and answer["reasons"] == ["the pool has no machines"]


def test_sizes_in_words():
    assert [size(512), size(16384), size(47661), size(81920)] == [
        "512 MB", "16 GB", "46.5 GB", "80 GB"
    ]  # fmt: skip


@pytest.mark.parametrize(
    "name, ok",
    [
        ("A100-SXM4-40GB", True),
        ("Tesla V100-PCIE-16GB", True),
        ("NVIDIA A100-SXM4-40GB MIG 1g.5gb", True),
        ("GeForce RTX 3090 (rev a1)/x+y", True),
        ("", False),
        (" A100", False),
        ('A100" || true || "', False),
        ("A100\\", False),
        ("A100\n", False),
        ("A" * 101, False),
        ("A" * 100, True),
        (None, False),
        (3, False),
    ],
)
def test_gpu_model_names(name, ok):
    assert valid_gpu_model(name) is ok


def _job(
    resources: dict[str, Any], id: str = "abc", cluster: int | None = None, proc: int | None = None
) -> Job:
    """A pending job; with `cluster`, one the schedd has (`proc`: a batch's proc)."""
    ref = {} if cluster is None else {"cluster_id": cluster}
    if proc is not None:
        ref["proc_id"] = proc
    return Job(
        id=id,
        name="n",
        backend="condor",
        state=JobState.PENDING,
        notebook="n.ipynb",
        parameters={},
        resources=resources,
        environment="default",
        engine_ref=ref,
    )


def test_gpu_model_becomes_a_classad_string_in_require_gpus(tmp_path):
    desc = submit_description(
        _job({"gpus": 1, "gpu_model": "A100-SXM4-40GB", "gpu_memory_mb": 40000}), tmp_path
    )
    assert desc["require_gpus"] == 'DeviceName == "A100-SXM4-40GB" && GlobalMemoryMb >= 40000'
    assert "require_gpus" not in submit_description(_job({"gpus": 1}), tmp_path)
    with pytest.raises(InvalidRequest):
        submit_description(_job({"gpus": 1, "gpu_model": 'x" || true'}), tmp_path)


A100_JOB = {"gpus": 1, "gpu_model": "A100-SXM4-40GB", "memory_mb": 256, "cpus": 1}
BUSY = [pslot(["GPUs_GPU_a0"]), dslot("GPUs_GPU_b1"), dslot("GPUs_GPU_c2")]


def _messages(updates: dict[str, Update]) -> dict[str, str]:
    assert all(u.state == JobState.PENDING for u in updates.values())
    return {k: u.message for k, u in updates.items()}


def test_idle_jobs_in_queue_order():
    refs = {
        "c": (8, 0),
        "b": (7, 1),
        "a": (7, 0),
        "d": (9, None),
        "run": (6, None),
        "gone": (5, None),
        "new": (None, None),
    }
    jobs = [_job({}, i, cluster, proc) for i, (cluster, proc) in refs.items()]
    wanted = {j.id: j for j in jobs}
    # "run"'s ad says running, "gone" is missing, "new" has no cluster yet: none is idle
    found = {"a": {"JobStatus": 1}, "run": {"JobStatus": 2}}
    idle = idle_in_queue_order(wanted, found, ["gone"])
    assert [j.id for j in idle] == ["a", "b", "c", "d"]


def test_a_change_of_place_alone_waits_for_the_next_refresh():
    # Given the 100 idle points of a sweep, every matching GPU busy, each told its place
    machines = machines_from_ads(BUSY)
    jobs = [_job(A100_JOB, f"p{i:03d}", 7, i) for i in range(100)]
    pending = PendingMessages()
    updates: dict[str, Update] = {}
    pending.explain(jobs, {}, machines, updates, refresh=True)
    assert len(updates) == 100
    assert updates["p056"].message == (
        "waiting: 2 matching GPUs busy (A100-SXM4-40GB); 57th of your 100 idle jobs"
    )
    # When the first point starts: every other place moves, but a pass that is no refresh
    # updates (writes) no job
    updates = {}
    pending.explain(jobs[1:], {}, machines, updates, refresh=False)
    assert updates == {}
    # the next refresh (the full query) tells each its new place, once
    pending.explain(jobs[1:], {}, machines, updates, refresh=True)
    assert len(updates) == 99
    assert updates["p056"].message.endswith("; 56th of your 99 idle jobs")
    updates = {}
    pending.explain(jobs[1:], {}, machines, updates, refresh=True)
    assert updates == {}
    # and a change of the reason itself (an A100 freed) is told at once, with the place
    pending.explain(jobs[1:], {}, machines_from_ads([pslot()]), updates, refresh=False)
    assert len(updates) == 99
    assert _messages(updates)["p001"] == (
        "waiting for the scheduler's next match: a matching slot is free now;"
        " 1st of your 99 idle jobs"
    )


def test_an_update_from_the_job_ad_carries_the_pending_message():
    # A job whose ad changed already has an update: the message goes into it, whatever pass
    machines = machines_from_ads(BUSY)
    jobs = [_job(A100_JOB, "a", 7, 0), _job(A100_JOB, "b", 7, 1)]
    pending = PendingMessages()
    pending.explain(jobs, {}, machines, {}, refresh=True)
    updates = {"b": Update(JobState.PENDING, message="idle: no match")}
    pending.explain(jobs[1:], {"b": "no match"}, machines, updates, refresh=False)
    assert _messages(updates) == {"b": "waiting: 2 matching GPUs busy (A100-SXM4-40GB)"}


def _backend() -> Any:
    from swan_ml_ext.backends.condor import CondorBackend

    return CondorBackend(machine_ads_ttl=1e9, full_query_s=1e9)


def test_pending_message_follows_the_machine_ads_without_a_new_job_ad(condor_pool):
    """The monitor's part (CondorBackend._explain_idle): an idle job the incremental query
    did not return (its ad unchanged) gets a new message when the cached machine ads change,
    and none while they do not."""
    backend = _backend()
    job = _job(A100_JOB, cluster=7)
    wanted = {job.id: job}

    def explain(*ads: dict) -> dict:
        backend._ads.set(list(ads))
        updates: dict = {}
        backend._explain_idle(idle_in_queue_order(wanted, {}, []), updates, full=False)
        return {k: (u.state, u.message) for k, u in updates.items()}

    waiting = "waiting: 2 matching GPUs busy (A100-SXM4-40GB)"
    assert explain(*BUSY) == {"abc": (JobState.PENDING, waiting)}
    assert explain(*BUSY) == {}  # nothing new: no update
    ((state, message),) = explain(pslot()).values()  # an A100 freed
    assert state == JobState.PENDING and message.startswith("waiting for the scheduler")


def test_an_unreachable_collector_keeps_the_messages_sent(condor_pool, monkeypatch):
    backend = _backend()
    job = _job(A100_JOB, cluster=7)
    idle = [job]
    backend._ads.set(BUSY)
    updates: dict = {}
    backend._explain_idle(idle, updates, full=True)
    assert list(updates) == ["abc"]

    def unreachable() -> Any:
        raise BackendUnavailable("HTCondor pool unreachable")

    # When the collector cannot be asked: no update, and what was sent is remembered
    monkeypatch.setattr(backend, "machine_ads", unreachable)
    updates = {}
    backend._explain_idle(idle, updates, full=True)
    assert updates == {}
    # so that once it answers again with the same machines, nothing is sent again
    monkeypatch.undo()
    backend._explain_idle(idle, updates, full=True)
    assert updates == {}


class _Schedd:
    """A schedd that answers queries with the ads given (the backend filters what changed)."""

    def __init__(self) -> None:
        self.ads: list[dict[str, Any]] = []

    def query(self, constraint: str = "", projection: Any = None) -> list[dict[str, Any]]:
        return [dict(ad) for ad in self.ads]


def test_a_point_starting_rewrites_no_other_idle_point(condor_pool):
    """Through poll(): a sweep of 100 idle points in one cluster; when one starts, the
    incremental pass updates that job only, and the next full query tells the others their
    new place."""
    backend = _backend()
    backend._ads.set(BUSY)
    schedd = _Schedd()
    backend._schedd_obj = schedd
    jobs = [_job(A100_JOB, f"p{i:03d}", 7, i) for i in range(100)]
    ad = {"ClusterId": 7, "JobStatus": 1, "ServerTime": 1000, "EnteredCurrentStatus": 900}
    schedd.ads = [{**ad, "ProcId": i, "SwanMLJobId": j.id} for i, j in enumerate(jobs)]
    first = backend.poll(jobs)
    assert len(first) == 100
    assert first["p099"].message.endswith("; 100th of your 100 idle jobs")
    # When point 0 starts
    schedd.ads[0] = {**schedd.ads[0], "JobStatus": 2, "EnteredCurrentStatus": 1001}
    jobs[0].state = JobState.RUNNING
    updates = backend.poll(jobs)
    assert {k: u.state for k, u in updates.items()} == {"p000": JobState.RUNNING}
    # and at the next full query, each idle point learns its new place
    backend.full_query_s = 0
    updates = backend.poll(jobs)
    assert len(updates) == 99
    assert updates["p099"].message.endswith("; 99th of your 99 idle jobs")
