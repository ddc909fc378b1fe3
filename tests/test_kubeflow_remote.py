"""Remote KFP, at the HTTP level: the real kfp.Client (kfp 2.17.3) inside RemoteEngine talks
over real HTTP to tests/kfp_standin.py — a STAND-IN for a KFP API server (no KFP server can run
here), which records every request. The tests assert the exact requests (bearer token, inline
pipeline spec, parameters, the one batched list per poll, terminate), the state mapping, where
the token comes from (config, a file re-read when it changes, kfp's env variable, an RFC 8693
token exchange) and the errors a user can act on (refused token, unreachable server) — never
with the token in a message. The last tests go through the REST API of a real server whose
kubeflow backend points at the stand-in."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

from swan_ml_ext.backends.kubeflow import KubeflowBackend
from swan_ml_ext.backends.kubeflow.engine import PIPELINE_FILE, pipeline_arguments
from swan_ml_ext.backends.kubeflow.remote import LIST_CHUNK, RemoteEngine
from swan_ml_ext.jobs.model import BackendUnavailable, Job, JobState

from .conftest import FINAL, server_config, write_notebook
from .kfp_standin import EXCHANGE_PATH, KfpStandIn

RUNS = "/apis/v2beta1/runs"
EXPERIMENTS = "/apis/v2beta1/experiments"
TOKEN = "tok-config-5f1e2d"  # distinctive: easy to find where it must not be


@pytest.fixture(autouse=True)
def no_ambient_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing from the machine's environment decides where a token comes from."""
    for var in ("KF_PIPELINES_SA_TOKEN_PATH", "ACCESS_TOKEN", "KF_PIPELINES_UI_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def kfp() -> Any:
    with KfpStandIn() as standin:
        yield standin


@pytest.fixture(scope="module")
def pipeline_text() -> str:
    """The pipeline as the kubeflow backend compiles it (a tiny one if compile.py is absent)."""
    try:
        from swan_ml_ext.backends.kubeflow.compile import PipelineSettings, compile_pipeline

        return compile_pipeline(PipelineSettings(name="swan-ml-test"))
    except ImportError:
        from kfp import compiler, dsl

        @dsl.component
        def step(notebook_b64: str, parameters_json: str, kernel_name: str, job_id: str):
            print(job_id)

        @dsl.pipeline(name="swan-ml-test")
        def pipe(notebook_b64: str, parameters_json: str, kernel_name: str, job_id: str):
            step(
                notebook_b64=notebook_b64,
                parameters_json=parameters_json,
                kernel_name=kernel_name,
                job_id=job_id,
            )

        out = Path(os.environ.get("TMPDIR", "/tmp")) / f"swan-ml-test-{uuid.uuid4().hex}.yaml"
        compiler.Compiler().compile(pipe, str(out))
        text = out.read_text()
        out.unlink()
        return text


def engine_for(kfp: KfpStandIn, **traits: Any) -> RemoteEngine:
    traits.setdefault("host", kfp.url)
    traits.setdefault("experiment", "swan-ml")
    return RemoteEngine(KubeflowBackend(**traits))


def new_job(tmp_path: Path, pipeline_text: str, parameters: dict[str, Any] | None = None) -> Any:
    """A staged job as the service hands it over: (job, staged folder, pipeline file)."""
    job_id = uuid.uuid4().hex[:12]
    staged = tmp_path / job_id
    write_notebook(staged / "notebook.ipynb", "print(epochs)", params="epochs = 1")
    (staged / PIPELINE_FILE).write_text(pipeline_text)
    job = Job(
        id=job_id,
        name="analysis",
        backend="kubeflow",
        state=JobState.PENDING,
        notebook="analysis.ipynb",
        parameters=parameters or {},
        resources={},
        environment="default",
    )
    return job, staged, staged / PIPELINE_FILE


def tracked(kfp: KfpStandIn, n: int, state: str = "RUNNING") -> list[Job]:
    """n jobs whose runs the stand-in already has."""
    jobs = []
    for _ in range(n):
        run_id = kfp.add_run(state)
        jobs.append(
            Job(
                id=uuid.uuid4().hex[:12],
                name="nb",
                backend="kubeflow",
                state=JobState.PENDING,
                notebook="nb.ipynb",
                parameters={},
                resources={},
                environment="default",
                engine_ref={"run_id": run_id},
            )
        )
    return jobs


def secret_file(path: Path, token: str) -> Path:
    """A token file as a renewer writes it: a new 0600 file renamed over the old one."""
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    os.replace(tmp, path)
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- submit ------------------------------------------------------------------------------------
def test_submit_sends_the_inline_pipeline_and_typed_parameters(kfp, tmp_path, pipeline_text):
    engine = engine_for(kfp, token=TOKEN, namespace="alice")
    params = {"epochs": 21, "lr": 0.5, "label": "python3-word", "flags": [1, 2]}
    job, staged, pipeline = new_job(tmp_path, pipeline_text, params)
    ref = engine.submit(job, staged, pipeline)

    # The constructor calls nothing; the experiment is looked up, created, then the run.
    assert [(r.method, r.path) for r in kfp.requests] == [
        ("GET", EXPERIMENTS),
        ("POST", EXPERIMENTS),
        ("POST", RUNS),
    ]
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in kfp.requests)
    lookup = kfp.requests[0]
    assert lookup.query["namespace"] == "alice"
    assert json.loads(lookup.query["filter"]) == {
        "predicates": [{"operation": 1, "key": "display_name", "stringValue": "swan-ml"}]
    }
    assert kfp.requests[1].json == {"display_name": "swan-ml", "namespace": "alice"}

    body = kfp.requests[2].json
    experiment_id = next(iter(kfp.experiments))
    assert body["experiment_id"] == experiment_id
    assert body["display_name"] == f"analysis [swan-ml {job.id}]"
    assert body["pipeline_spec"] == yaml.safe_load(pipeline_text)  # the IR, inline
    assert body["runtime_config"] == {"parameters": pipeline_arguments(job, staged)}
    args = body["runtime_config"]["parameters"]
    assert json.loads(args["parameters_json"]) == params
    assert type(json.loads(args["parameters_json"])["epochs"]) is int  # ints stay ints
    assert base64.b64decode(args["notebook_b64"]) == (staged / "notebook.ipynb").read_bytes()
    assert (args["kernel_name"], args["job_id"]) == ("python3", job.id)

    run_id = ref["run_id"]
    assert run_id in kfp.runs
    assert ref == {
        "run_id": run_id,
        "run_url": f"{kfp.url}/#/runs/details/{run_id}",
        "experiment": "swan-ml",
    }

    # The experiment's id is remembered: the next submission is one request.
    kfp.clear()
    job2, staged2, pipeline2 = new_job(tmp_path, pipeline_text)
    engine.submit(job2, staged2, pipeline2)
    assert [(r.method, r.path) for r in kfp.requests] == [("POST", RUNS)]
    assert kfp.requests[0].json["experiment_id"] == experiment_id


def test_a_deleted_experiment_is_found_or_made_again(kfp, tmp_path, pipeline_text):
    engine = engine_for(kfp, token=TOKEN)
    job, staged, pipeline = new_job(tmp_path, pipeline_text)
    engine.submit(job, staged, pipeline)
    kfp.experiments.clear()  # deleted in the KFP UI
    kfp.clear()
    job2, staged2, pipeline2 = new_job(tmp_path, pipeline_text)
    ref = engine.submit(job2, staged2, pipeline2)
    assert [(r.method, r.path) for r in kfp.requests] == [
        ("POST", RUNS),  # 404: the remembered experiment is gone
        ("GET", EXPERIMENTS),
        ("POST", EXPERIMENTS),
        ("POST", RUNS),
    ]
    assert ref["run_id"] in kfp.runs


def test_ui_url_setting_makes_the_run_link(kfp, tmp_path, pipeline_text):
    engine = engine_for(kfp, token=TOKEN, ui_url="https://ml.example.org/_/pipeline/")
    job, staged, pipeline = new_job(tmp_path, pipeline_text)
    ref = engine.submit(job, staged, pipeline)
    assert ref["run_url"] == f"https://ml.example.org/_/pipeline/#/runs/details/{ref['run_id']}"


# -- poll ----------------------------------------------------------------------------------------
STATES = [
    # KFP state, our state (None: the job's own), words in the message, has_outputs
    ("PENDING", JobState.PENDING, "pending in KFP", True),
    ("RUNNING", JobState.RUNNING, "running in KFP", True),
    ("SUCCEEDED", JobState.COMPLETED, "", True),
    ("SKIPPED", JobState.FAILED, "skipped the run", False),
    ("FAILED", JobState.FAILED, "the KFP run failed: cell 3 raised ValueError", True),
    ("CANCELING", None, "being cancelled in KFP", True),
    ("CANCELED", JobState.CANCELLED, "cancelled in KFP", True),
    ("PAUSED", JobState.HELD, "paused in KFP", True),
    ("RUNTIME_STATE_UNSPECIFIED", None, "has not reported a state", True),
]


@pytest.mark.parametrize(("kfp_state", "state", "words", "has_outputs"), STATES)
def test_each_kfp_state_maps_to_a_job_state(kfp, kfp_state, state, words, has_outputs):
    engine = engine_for(kfp, token=TOKEN)
    [job] = tracked(kfp, 1, state="RUNNING")
    job.state = JobState.RUNNING
    run_id = job.engine_ref["run_id"]
    error = "cell 3 raised ValueError" if kfp_state == "FAILED" else None
    kfp.set_state(run_id, kfp_state, error=error)
    update = engine.poll([job])[job.id]
    assert update.state == (state or JobState.RUNNING)
    assert words in update.message if words else update.message == ""
    assert update.has_outputs is has_outputs
    assert update.started_at is not None  # it was RUNNING first
    if update.state.final:
        assert update.finished_at is not None
    else:
        assert update.finished_at is None


def test_a_pending_run_has_no_start_time(kfp):
    engine = engine_for(kfp, token=TOKEN)
    [job] = tracked(kfp, 1, state="PENDING")
    update = engine.poll([job])[job.id]
    assert (update.state, update.started_at) == (JobState.PENDING, None)


def test_one_list_call_per_poll_for_all_tracked_runs(kfp):
    engine = engine_for(kfp, token=TOKEN)
    jobs = tracked(kfp, 50)
    updates = engine.poll(jobs)
    [call] = kfp.requests
    assert (call.method, call.path) == ("GET", RUNS)
    assert call.query["page_size"] == str(LIST_CHUNK)
    assert json.loads(call.query["filter"]) == {
        "predicates": [
            {
                "operation": "IN",
                "key": "run_id",
                "stringValues": {"values": sorted(j.engine_ref["run_id"] for j in jobs)},
            }
        ]
    }
    assert {k: u.state for k, u in updates.items()} == {j.id: JobState.RUNNING for j in jobs}
    assert engine.list_calls == 1 and engine.backend.engine_queries == 1

    # Recorded as the service does; unchanged runs: one call again, nothing to report.
    for j in jobs:
        j.state, j.message, j.started_at = JobState.RUNNING, "running in KFP", time.time()
    assert engine.poll(jobs) == {}
    jobs[3].message = "engine unreachable, last known state kept: ..."  # set by the monitor
    assert list(engine.poll(jobs)) == [jobs[3].id]
    jobs[3].message = "running in KFP"
    kfp.set_state(jobs[7].engine_ref["run_id"], "SUCCEEDED")
    updates = engine.poll(jobs)
    assert list(updates) == [jobs[7].id] and updates[jobs[7].id].state == JobState.COMPLETED
    assert len(kfp.calls("GET", RUNS)) == 4 and len(kfp.requests) == 4


def test_more_runs_than_a_page_take_one_call_per_page(kfp):
    engine = engine_for(kfp, token=TOKEN)
    jobs = tracked(kfp, LIST_CHUNK + 50)
    updates = engine.poll(jobs)
    assert len(updates) == len(jobs)
    assert len(kfp.calls("GET", RUNS)) == 2 == len(kfp.requests)


def test_a_run_gone_from_the_server_fails_its_job_after_a_few_passes(kfp):
    engine = engine_for(kfp, token=TOKEN)
    [job] = tracked(kfp, 1)
    del kfp.runs[job.engine_ref["run_id"]]
    first = engine.poll([job])[job.id]
    assert first.state == JobState.PENDING and "not found" in first.message
    engine.poll([job])
    last = engine.poll([job])[job.id]
    assert last.state == JobState.FAILED and "no longer exists" in last.message
    assert last.has_outputs is False


# -- cancel ----------------------------------------------------------------------------------------
def test_cancel_terminates_the_run(kfp, tmp_path, pipeline_text):
    engine = engine_for(kfp, token=TOKEN)
    job, staged, pipeline = new_job(tmp_path, pipeline_text)
    job.engine_ref = engine.submit(job, staged, pipeline)
    kfp.clear()
    engine.cancel(job)
    [call] = kfp.requests
    assert (call.method, call.path) == ("POST", f"{RUNS}/{job.engine_ref['run_id']}:terminate")
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert kfp.runs[job.engine_ref["run_id"]]["state"] == "CANCELING"


def test_cancel_of_a_finished_run_is_no_error(kfp):
    engine = engine_for(kfp, token=TOKEN)
    [job] = tracked(kfp, 1, state="SUCCEEDED")
    engine.cancel(job)  # the server answers 400: nothing left to stop
    assert kfp.runs[job.engine_ref["run_id"]]["state"] == "SUCCEEDED"


def test_cancel_of_an_interrupted_submission_finds_the_run_by_name(kfp, tmp_path, pipeline_text):
    engine = engine_for(kfp, token=TOKEN)
    job, staged, pipeline = new_job(tmp_path, pipeline_text)
    run_id = engine.submit(job, staged, pipeline)["run_id"]  # the server stopped before storing
    kfp.add_run("RUNNING", display_name="another job's run")
    kfp.clear()
    engine.cancel(job)  # job.engine_ref is empty
    lookup, terminate = kfp.requests
    assert json.loads(lookup.query["filter"])["predicates"] == [
        {"operation": "IS_SUBSTRING", "key": "display_name", "stringValue": f"[swan-ml {job.id}]"}
    ]
    assert terminate.path == f"{RUNS}/{run_id}:terminate"


# -- where the token comes from -------------------------------------------------------------
def test_the_token_file_is_read_again_when_it_changes(kfp, tmp_path):
    path = secret_file(tmp_path / "kfp.token", "tok-one")
    engine = engine_for(kfp, token_file=str(path))
    jobs = tracked(kfp, 2)
    engine.poll(jobs)
    engine.poll(jobs)
    assert [r.bearer for r in kfp.requests] == ["tok-one", "tok-one"]
    assert engine.tokens._files[(str(path), "KubeflowBackend.token_file")].reads == 1

    secret_file(path, "tok-two")  # renewed: a new file renamed over the old one
    engine.poll(jobs)
    assert kfp.requests[-1].bearer == "tok-two"

    with open(path, "w") as f:  # renewed in place, same length
        f.write("tok-333\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    engine.poll(jobs)
    assert kfp.requests[-1].bearer == "tok-333"


def test_kfps_own_token_path_variable(kfp, tmp_path, monkeypatch):
    path = secret_file(tmp_path / "sa.token", "tok-from-sa-path")
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(path))
    engine = engine_for(kfp)
    engine.poll(tracked(kfp, 1))
    assert kfp.requests[-1].bearer == "tok-from-sa-path"


def test_config_token_comes_first_and_no_source_sends_no_header(kfp, tmp_path):
    path = secret_file(tmp_path / "kfp.token", "tok-file")
    engine = engine_for(kfp, token=TOKEN, token_file=str(path))
    engine.poll(tracked(kfp, 1))
    assert kfp.requests[-1].bearer == TOKEN
    engine = engine_for(kfp)
    engine.poll(tracked(kfp, 1))
    assert "authorization" not in kfp.requests[-1].headers


def test_a_token_source_set_later_is_used_from_the_next_request(kfp, tmp_path):
    engine = engine_for(kfp)
    jobs = tracked(kfp, 1)
    engine.poll(jobs)
    assert "authorization" not in kfp.requests[-1].headers
    engine.backend.token_file = str(secret_file(tmp_path / "kfp.token", "tok-later"))
    engine.poll(jobs)
    assert kfp.requests[-1].bearer == "tok-later"


def exchange_engine(kfp: KfpStandIn, tmp_path: Path, **traits: Any) -> RemoteEngine:
    subject = secret_file(tmp_path / "swan_oauth.token", "user-oauth-7c1d")
    traits.setdefault("token_exchange_client_id", "swan")
    traits.setdefault("token_exchange_client_secret", "client-s3cret")
    return engine_for(
        kfp,
        token_exchange_url=kfp.url + EXCHANGE_PATH,
        subject_token_file=str(subject),
        token_exchange_audience="kfp",
        **traits,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_exchange_rfc8693(kfp, tmp_path):
    kfp.exchange.client = ("swan", "client-s3cret")
    kfp.exchange.expires_in = 100
    kfp.accepted_tokens = {"exchanged-1", "exchanged-2", "exchanged-3"}
    engine = exchange_engine(kfp, tmp_path)
    clock = Clock()
    engine.tokens._clock = clock
    jobs = tracked(kfp, 1)
    engine.poll(jobs)
    engine.poll(jobs)

    [exchange] = kfp.calls("POST", EXCHANGE_PATH)
    assert exchange.form == {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": "user-oauth-7c1d",
        "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "requested_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "audience": "kfp",
    }
    basic = base64.b64encode(b"swan:client-s3cret").decode()
    assert exchange.headers["authorization"] == f"Basic {basic}"
    assert exchange.headers["content-type"] == "application/x-www-form-urlencoded"
    assert [r.bearer for r in kfp.calls("GET", RUNS)] == ["exchanged-1", "exchanged-1"]

    # Cached until shortly before it expires (100 s, refreshed 20 s early), then exchanged again.
    clock.now += 79
    engine.poll(jobs)
    assert len(kfp.calls("POST", EXCHANGE_PATH)) == 1
    clock.now += 2
    engine.poll(jobs)
    assert len(kfp.calls("POST", EXCHANGE_PATH)) == 2
    assert kfp.calls("GET", RUNS)[-1].bearer == "exchanged-2"

    # Revoked before its time: the KFP's 401 makes one new exchange and one retry.
    kfp.accepted_tokens = {"exchanged-3"}
    kfp.clear()
    engine.poll(jobs)
    assert [(r.method, r.path, r.bearer) for r in kfp.requests] == [
        ("GET", RUNS, "exchanged-2"),
        ("POST", EXCHANGE_PATH, None),
        ("GET", RUNS, "exchanged-3"),
    ]


def test_token_exchange_public_client_and_subject_from_the_environment(kfp, tmp_path, monkeypatch):
    monkeypatch.setenv("ACCESS_TOKEN", "user-env-token-9a")  # subject_token_env's default
    engine = engine_for(
        kfp,
        token_exchange_url=kfp.url + EXCHANGE_PATH,
        token_exchange_client_id="swan-public",
        token_exchange_scope="openid kfp",
    )
    engine.poll(tracked(kfp, 1))
    [exchange] = kfp.calls("POST", EXCHANGE_PATH)
    assert "authorization" not in exchange.headers
    assert exchange.form["client_id"] == "swan-public"
    assert exchange.form["subject_token"] == "user-env-token-9a"
    assert exchange.form["scope"] == "openid kfp" and "audience" not in exchange.form
    assert kfp.calls("GET", RUNS)[0].bearer == "exchanged-1"


def test_a_refused_exchange_says_why_without_the_tokens(kfp, tmp_path):
    kfp.exchange.accepted_subjects = {"someone-else"}  # it echoes the subject token back
    engine = exchange_engine(kfp, tmp_path)
    with pytest.raises(BackendUnavailable) as e:
        engine.poll(tracked(kfp, 1))
    msg = e.value.message
    assert msg.startswith(f"the token exchange at {kfp.url}{EXCHANGE_PATH} refused")
    assert "400 invalid_grant" in msg and "expired or invalid" in msg
    assert str(tmp_path / "swan_oauth.token") in msg  # what to renew
    assert "user-oauth-7c1d" not in msg and "client-s3cret" not in msg
    assert not kfp.calls("GET", RUNS)  # nothing went to the KFP without a token


def test_a_missing_subject_token_is_named(kfp, tmp_path):
    engine = engine_for(kfp, token_exchange_url=kfp.url + EXCHANGE_PATH)
    with pytest.raises(BackendUnavailable, match="ACCESS_TOKEN .* is not set"):
        engine.poll(tracked(kfp, 1))


# -- errors a user can act on ------------------------------------------------------------------
def test_a_rejected_token_file_says_what_to_renew_without_the_token(kfp, tmp_path):
    path = secret_file(tmp_path / "kfp.token", "expired-tok-4b2a")
    kfp.accepted_tokens = {"fresh-tok"}  # the stand-in echoes the token it refuses
    engine = engine_for(kfp, token_file=str(path))
    job = tracked(kfp, 1)
    with pytest.raises(BackendUnavailable) as e:
        engine.poll(job)
    msg = e.value.message
    assert msg.startswith("the KFP token was rejected: 401 Unauthorized")
    assert f"renew the token in {path}" in msg
    assert "expired-tok-4b2a" not in msg and "[redacted]" in msg
    st = engine.status()
    assert not st.available and st.reason.startswith("the KFP token was rejected: 401")

    secret_file(path, "fresh-tok")  # renewed: the next pass works, with no restart
    engine._status = None
    assert engine.poll(job)[job[0].id].state == JobState.RUNNING
    assert engine.status().available


def test_a_rejected_config_token_and_a_403(kfp):
    kfp.accepted_tokens = {"other"}
    with pytest.raises(BackendUnavailable, match=r"401 .*KubeflowBackend\.token setting") as e:
        engine_for(kfp, token=TOKEN).poll(tracked(kfp, 1))
    assert TOKEN not in e.value.message
    kfp.accepted_tokens = None
    kfp.forbidden_tokens = {TOKEN}
    with pytest.raises(BackendUnavailable) as e:
        engine_for(kfp, token=TOKEN, namespace="alice").poll(tracked(kfp, 1))
    assert e.value.message.startswith("the KFP token was rejected: 403 Forbidden")
    assert "no access to the namespace 'alice'" in e.value.message


def test_a_login_redirect_is_a_rejected_token(kfp):
    kfp.redirect_to = kfp.url + "/dex/auth"
    with pytest.raises(BackendUnavailable) as e:
        engine_for(kfp, token=TOKEN).poll(tracked(kfp, 1))
    msg = e.value.message
    assert msg.startswith("the KFP token was rejected: 302")
    assert f"redirected to {kfp.url}/dex/auth (a login page?)" in msg and "rd=" not in msg


def test_an_unreachable_server_is_backend_unavailable(tmp_path, pipeline_text):
    host = f"http://127.0.0.1:{closed_port()}"
    engine = RemoteEngine(KubeflowBackend(host=host, token=TOKEN))
    job, staged, pipeline = new_job(tmp_path, pipeline_text)
    t0 = time.monotonic()
    with pytest.raises(BackendUnavailable, match=f"the KFP server {host} cannot be reached"):
        engine.submit(job, staged, pipeline)
    job.engine_ref = {"run_id": "r-1"}
    with pytest.raises(BackendUnavailable, match="Connection refused"):
        engine.poll([job])
    st = engine.status()
    assert not st.available and "cannot be reached" in st.reason
    assert time.monotonic() - t0 < 10


def test_status_is_healthz(kfp):
    kfp.multi_user = True
    engine = engine_for(kfp, token=TOKEN, namespace="alice")
    st = engine.status()
    assert st.available and st.resources["multi_user"] is True
    assert st.resources["namespace"] == "alice" and st.resources["host"] == kfp.url
    engine.status()  # cached for a few seconds
    assert [(r.method, r.path) for r in kfp.requests] == [("GET", "/apis/v2beta1/healthz")]


def test_no_token_in_logs_or_output(kfp, tmp_path, pipeline_text, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    path = secret_file(tmp_path / "kfp.token", "tok-in-file-e93")
    engine = engine_for(kfp, token_file=str(path))
    job, staged, pipeline = new_job(tmp_path, pipeline_text)
    job.engine_ref = engine.submit(job, staged, pipeline)
    engine.poll([job])
    kfp.accepted_tokens = {"x"}
    with pytest.raises(BackendUnavailable):
        engine.poll([job])
    out = capsys.readouterr()
    for text in (caplog.text, out.out, out.err, json.dumps(job.engine_ref)):
        assert "tok-in-file-e93" not in text


# -- outputs and logs ----------------------------------------------------------------------------
def test_fetch_says_when_the_artifact_store_cannot_be_reached(kfp, tmp_path, pipeline_text):
    engine = engine_for(kfp, token=TOKEN)
    [job] = tracked(kfp, 1, state="SUCCEEDED")
    run_id = job.engine_ref["run_id"]
    kfp.runs[run_id]["runtime_config"] = {"pipeline_root": "minio://mlpipeline/v2/artifacts"}
    with pytest.raises(OSError) as e:
        engine.fetch(job, tmp_path / "staged")
    assert str(e.value).startswith(
        "the run's artifact store (minio://mlpipeline/v2/artifacts) cannot be reached from this"
        " server"
    )
    assert f"{kfp.url}/#/runs/details/{run_id}" in str(e.value)
    assert kfp.requests[-1].path == f"{RUNS}/{run_id}"


def test_fetch_reads_a_pipeline_root_this_server_mounts(kfp, tmp_path):
    engine = engine_for(kfp, token=TOKEN)
    [job] = tracked(kfp, 1, state="FAILED")
    run_id = job.engine_ref["run_id"]
    root = tmp_path / "shared-root"
    task = root / "swan-ml-test" / run_id / "run-notebook" / "exec-17"
    (task / "files" / "plots").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), str(task / "notebook"))
    (task / "result").write_text(json.dumps({"status": "failed", "message": "cell 2"}))
    (task / "files" / "plots" / "a.png").write_bytes(b"png")
    kfp.runs[run_id]["runtime_config"] = {"pipeline_root": f"file://{root}"}
    staged = tmp_path / "staged"
    engine.fetch(job, staged)
    out = staged / "output"
    assert json.loads((out / "result.json").read_text())["message"] == "cell 2"
    assert nbformat.read(str(out / "notebook.ipynb"), as_version=4).cells == []
    assert (out / "files" / "plots" / "a.png").read_bytes() == b"png"


def test_logs_point_to_the_kfp_ui(kfp, tmp_path):
    engine = engine_for(kfp, token=TOKEN)
    [job] = tracked(kfp, 1)
    job.engine_ref["run_url"] = "https://kfp.example/#/runs/details/x"
    logs = engine.logs(job, tmp_path, None)
    assert not logs.live and "https://kfp.example/#/runs/details/x" in logs.stdout


# -- through the REST API of a real server -------------------------------------------------------
@pytest.fixture
def standin_for_server() -> Any:
    with KfpStandIn() as standin:
        yield standin


@pytest.fixture
def jp_server_config(tmp_path: Path, standin_for_server: KfpStandIn) -> dict[str, Any]:
    token_file = secret_file(tmp_path / "kfp.token", "rest-tok-61f0")
    config = server_config(
        tmp_path,
        backends=["kubeflow"],
        backend_classes={"kubeflow": "swan_ml_ext.backends.kubeflow:KubeflowBackend"},
    )
    config["KubeflowBackend"] = {
        "host": standin_for_server.url,
        "token_file": str(token_file),
        "namespace": "alice",
    }
    return config


async def test_rest_remote_job_follows_the_run_and_keeps_its_state_when_refused(
    api, notebook, standin_for_server, tmp_path
):
    kfp = standin_for_server
    kfp.accepted_tokens = {"rest-tok-61f0", "rest-tok-renewed"}
    nb = notebook("train.ipynb", "print(epochs)", params="epochs = 1")

    status, backends = await api.call("GET", "backends")
    [kubeflow] = [b for b in backends["backends"] if b["name"] == "kubeflow"]
    assert kubeflow["available"], kubeflow

    job = await api.submit(notebook=nb, backend="kubeflow", parameters={"epochs": 3})
    run_id = job["engine_ref"]["run_id"]
    assert job["engine_ref"]["run_url"] == f"{kfp.url}/#/runs/details/{run_id}"
    [create] = kfp.calls("POST", RUNS)
    params = json.loads(create.json["runtime_config"]["parameters"]["parameters_json"])
    assert params == {"epochs": 3}

    kfp.set_state(run_id, "RUNNING")
    await api.wait(job["id"], lambda j: j["state"] == "running", timeout=30)

    # The token is refused: the job keeps its state, its message says why and what to do.
    kfp.accepted_tokens = {"rest-tok-renewed"}
    refused = await api.wait(job["id"], lambda j: "rejected" in j["message"], timeout=30)
    assert refused["state"] == "running"
    assert refused["message"].startswith("engine unreachable, last known state kept:")
    assert "the KFP token was rejected: 401" in refused["message"]
    assert f"renew the token in {tmp_path / 'kfp.token'}" in refused["message"]

    # Renewed in the file: followed again without a restart, then to the end.
    secret_file(tmp_path / "kfp.token", "rest-tok-renewed")
    await api.wait(job["id"], lambda j: j["message"] == "running in KFP", timeout=30)
    kfp.set_state(run_id, "SUCCEEDED")
    done = await api.wait(job["id"], lambda j: j["state"] in FINAL, timeout=30)
    assert done["state"] == "completed"
    assert "outputs could not be fetched" in done["message"]
    assert "cannot be reached from this server" in done["message"]

    # Every poll was one list call; no token in any answer.
    lists = kfp.calls("GET", RUNS)
    assert lists and all(json.loads(r.query["filter"])["predicates"][0]["operation"] == "IN"
                         for r in lists)  # fmt: skip
    _, listing = await api.call("GET", "jobs")
    _, backends = await api.call("GET", "backends")
    for answer in (done, listing, backends):
        text = json.dumps(answer)
        assert "rest-tok-61f0" not in text and "rest-tok-renewed" not in text


async def test_rest_cancel_terminates_the_remote_run(api, notebook, standin_for_server):
    kfp = standin_for_server
    nb = notebook("train.ipynb", "print(1)")
    job = await api.submit(notebook=nb, backend="kubeflow")
    status, cancelled = await api.call("DELETE", f"jobs/{job['id']}")
    assert status == 200 and cancelled["state"] == "cancelled", cancelled
    [terminate] = kfp.calls("POST", f"{RUNS}/{job['engine_ref']['run_id']}:terminate")
    assert terminate.bearer == "rest-tok-61f0"
