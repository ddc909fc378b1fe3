"""What a job ad means for a job (pure mapping; the real pool is exercised elsewhere)."""

from __future__ import annotations

import base64
import json
import time

import pytest

from swan_ml_ext.backends.condor_ads import ad_to_update
from swan_ml_ext.jobs.model import JobState


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def ad(**attrs):
    return {"ClusterId": 12, "SwanMLJobId": "abc", **attrs}


@pytest.mark.parametrize(
    "attrs, state, words",
    [
        ({"JobStatus": 1}, JobState.PENDING, "idle: waiting for a matching slot"),
        ({"JobStatus": 1, "LastRejMatchReason": "no match found"}, JobState.PENDING,
         "idle: no match found"),
        ({"JobStatus": 2}, JobState.RUNNING, ""),
        ({"JobStatus": 6}, JobState.RUNNING, "transferring output"),
        ({"JobStatus": 5, "HoldReasonCode": 1, "HoldReason": ""}, JobState.HELD,
         "held by the user"),
        ({"JobStatus": 5, "HoldReasonCode": 13, "HoldReason": "Transfer input files failure"},
         JobState.HELD, "Transfer input files failure"),
        ({"JobStatus": 5, "HoldReasonCode": 16}, JobState.PENDING, "transferring input files"),
        ({"JobStatus": 3, "RemoveReason": "via condor_rm"}, JobState.CANCELLED, "via condor_rm"),
        ({"JobStatus": 4, "ExitCode": 0}, JobState.COMPLETED, ""),
        ({"JobStatus": 4, "ExitCode": 1,
          "SwanMLResult": b64(json.dumps({"status": "failed", "message": "cell 3 raised X"}))},
         JobState.FAILED, "cell 3 raised X"),
        ({"JobStatus": 4, "ExitCode": 127}, JobState.FAILED, "python was not found"),
        ({"JobStatus": 4, "ExitBySignal": True, "ExitSignal": 9}, JobState.FAILED,
         "killed by signal 9"),
    ],
)  # fmt: skip
def test_states_and_messages(attrs, state, words):
    u = ad_to_update(ad(**attrs), stuck_spool_s=30)
    assert u.state == state
    assert words in u.message
    assert not u.resubmit
    assert u.engine_ref == {"cluster_id": 12}


def test_progress_and_log_tail_are_decoded():
    u = ad_to_update(
        ad(JobStatus=2, SwanMLProgress=b64("3/7"), SwanMLLogTail=b64("epoch 3\n"),
           JobCurrentStartDate=1_700_000_000, RemoteHost="slot1_1@node", AssignedGPUs="GPU-0"),
        stuck_spool_s=30,
    )  # fmt: skip
    assert u.progress == {"cells_done": 3, "cells_total": 7}
    assert u.log_tail == "epoch 3\n"
    assert u.started_at == 1_700_000_000
    assert u.engine_ref == {
        "cluster_id": 12, "execute_host": "slot1_1@node", "assigned_gpus": "GPU-0",
    }  # fmt: skip


def test_a_spool_interrupted_long_ago_asks_for_a_resubmission():
    old = int(time.time()) - 120
    stuck = ad_to_update(ad(JobStatus=5, HoldReasonCode=16, StageInStart=old), stuck_spool_s=30)
    assert stuck.resubmit and stuck.state == JobState.PENDING
    recent = ad_to_update(
        ad(JobStatus=5, HoldReasonCode=16, StageInStart=int(time.time())), stuck_spool_s=30
    )
    assert not recent.resubmit
    done = ad_to_update(
        ad(JobStatus=5, HoldReasonCode=16, StageInStart=old, StageInFinish=old + 1),
        stuck_spool_s=30,
    )
    assert not done.resubmit


def test_removal_by_the_runtime_policy_is_a_failure_without_outputs():
    reason = "The job attribute PeriodicRemove expression 'JobStatus == 2 && ...' evaluated to TRUE"
    u = ad_to_update(ad(JobStatus=3, RemoveReason=reason, SwanMLMaxRuntime=600), stuck_spool_s=30)
    assert u.state == JobState.FAILED and not u.has_outputs
    assert u.message.startswith("exceeded the maximum runtime of 600 s")
    user = ad_to_update(ad(JobStatus=3, RemoveReason="via condor_rm", SwanMLMaxRuntime=600), 30)
    assert user.state == JobState.CANCELLED and user.has_outputs


@pytest.mark.parametrize(
    "assigned, expected",
    [("10000", None), ("", None), ("-1", None), ("GPU-1", "GPU-1"), ("GPU-1,10000", "GPU-1")],
)
def test_htcondor_no_device_value_is_no_gpu(assigned, expected):
    ref = ad_to_update(ad(JobStatus=2, AssignedGPUs=assigned), 30).engine_ref or {}
    assert ref.get("assigned_gpus") == expected
