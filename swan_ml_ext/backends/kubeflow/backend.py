"""KubeflowBackend: a notebook job becomes a compiled KFP v2 pipeline with one component that
runs it with our runner (papermill). Without a `host` it runs embedded (kfp.local in a
supervised local process per run, embedded.py); with one, on that KFP server (remote.py).

The compiled YAML is kept with the job (staging folder, engine.PIPELINE_FILE) and published
among its outputs as PUBLISHED_PIPELINE.
"""

from __future__ import annotations

import importlib.util
import shutil
import threading
from pathlib import Path
from typing import Any, ClassVar

from jupyter_core.paths import jupyter_data_dir
from traitlets import Bool, Dict, Float, List, Unicode

from ...jobs.model import BackendUnavailable, InvalidRequest, Job, Update
from ...jobs.spec import Environment, Limits
from ..base import Backend, BackendStatus, Logs, enforce_max_runtime, integer
from .engine import PIPELINE_FILE, KfpEngine

PIP_FIX = "pip install 'swan_ml_ext[kubeflow]'"
PUBLISHED_PIPELINE = "kfp-pipeline.yaml"  # the compiled pipeline, among the job's output files
FORMAT = "kfp-pipeline-yaml"


def kfp_missing() -> str | None:
    """Why kfp cannot be used here, or None."""
    if importlib.util.find_spec("kfp") is None:
        return f"the kfp package is not installed on the server: {PIP_FIX}"
    return None


class KubeflowBackend(Backend):
    """Runs notebooks as Kubeflow Pipelines runs: embedded (kfp.local) or on a KFP server."""

    name: ClassVar[str] = "kubeflow"
    title: ClassVar[str] = "Kubeflow Pipelines"
    capabilities: ClassVar[dict[str, bool]] = {
        **Backend.capabilities,
        "live_logs": True,
        "progress": True,
        "gpus": True,
        "gpu_constraints": False,
        "inputs": False,  # a run gets the notebook and its parameters only (_refuse_inputs)
    }
    engine_ref_labels: ClassVar[list[tuple[str, str]]] = [
        ("run_id", "run"),
        ("mode", "mode"),
        ("experiment", "experiment"),
        ("run_url", "KFP UI"),
    ]

    # -- where runs go -------------------------------------------------------------------
    host = Unicode(
        "",
        help="""URL of the KFP API server (e.g. https://ml.example.org/pipeline). Empty: runs
        are embedded, executed with kfp.local in a separate process per run on this server.""",
    ).tag(config=True)
    namespace = Unicode(
        "",
        help="""Kubeflow namespace (profile) the runs are created in; empty: the server's
        default (multi-user KFP needs one, e.g. the user's own profile).""",
    ).tag(config=True)
    experiment = Unicode(
        "swan-ml", help="Experiment (created when missing) that remote runs are filed under."
    ).tag(config=True)
    verify_ssl = Bool(True, help="Verify the KFP server's TLS certificate (remote mode).").tag(
        config=True
    )
    ssl_ca_cert = Unicode(
        "", help="CA bundle to verify the KFP server's certificate with; empty: the system's."
    ).tag(config=True)
    ui_url = Unicode(
        "",
        help="""Base URL of the KFP UI for links to runs (e.g. https://ml.example.org/_/pipeline);
        empty: derived from `host`.""",
    ).tag(config=True)
    pipeline_root = Unicode(
        "",
        help="""Pipeline root of remote runs, where KFP stores their artifacts (e.g.
        minio://mlpipeline/v2/artifacts); empty: the KFP server's default.""",
    ).tag(config=True)
    service_account = Unicode(
        "", help="Kubernetes service account remote runs use; empty: the namespace's default."
    ).tag(config=True)
    request_timeout_s = Float(
        15.0, help="Seconds one request to the remote KFP server may take."
    ).tag(config=True)

    # -- remote credentials (never logged, never in an API response or event) -------------
    token = Unicode(
        "",
        help="""Bearer token for the KFP server. Empty: `token_file`, then the file named by
        KF_PIPELINES_SA_TOKEN_PATH (kfp's own), then the token exchange.""",
    ).tag(config=True)
    token_file = Unicode(
        "",
        help="""File holding the bearer token; re-read when it changes (tokens expire and are
        renewed in place).""",
    ).tag(config=True)
    token_exchange_url = Unicode(
        "",
        help="""OAuth2 token endpoint for a token exchange (RFC 8693): the user's token (from
        `subject_token_file` or `subject_token_env`) is exchanged for one KFP accepts.""",
    ).tag(config=True)
    token_exchange_client_id = Unicode(
        "", help="OAuth2 client id used for the token exchange."
    ).tag(config=True)
    token_exchange_client_secret = Unicode(
        "", help="OAuth2 client secret used for the token exchange (empty: a public client)."
    ).tag(config=True)
    token_exchange_audience = Unicode(
        "", help="`audience` asked for in the token exchange (the KFP server's client id)."
    ).tag(config=True)
    token_exchange_scope = Unicode(
        "", help="`scope` asked for in the token exchange (space-separated; empty: none)."
    ).tag(config=True)
    subject_token_file = Unicode(
        "",
        help="File holding the user's own OAuth2 token to exchange (re-read when it changes).",
    ).tag(config=True)
    subject_token_env = Unicode(
        "ACCESS_TOKEN",
        help="Environment variable holding the user's own OAuth2 token to exchange.",
    ).tag(config=True)

    # -- what the pipeline asks for --------------------------------------------------------
    images = Dict(
        key_trait=Unicode(),
        value_trait=Unicode(),
        help="""Environment name -> container image the component runs in, e.g.
        {"default": "registry.example.org/swan/notebook:2024.1"}. The image needs Python with
        papermill and ipykernel (and kfp, unless install_kfp_package). Environments not
        listed run in `default_image`. The embedded mode ignores images (kfp.local runs the
        component with the server's Python).""",
    ).tag(config=True)
    default_image = Unicode(
        "python:3.11", help="Image for environments not listed in `images`."
    ).tag(config=True)
    accelerator_types = List(
        Unicode(),
        ["nvidia.com/gpu"],
        help="""Accelerator types a job may ask for (KFP's accelerator type: the Kubernetes
        resource name such as 'nvidia.com/gpu', or a platform's accelerator name). The first is
        used when a job asks for GPUs without a type. Empty: no GPUs on this site.""",
    ).tag(config=True)
    packages_to_install = List(
        Unicode(),
        ["papermill", "ipykernel"],
        help="""Packages the component pip-installs before it runs, remote mode only (embedded
        runs never install anything: kfp.local would install into the server's Python).""",
    ).tag(config=True)
    install_kfp_package = Bool(
        True,
        help="Whether the component installs kfp itself before it runs (remote mode only).",
    ).tag(config=True)

    # -- embedded ------------------------------------------------------------------------
    local_pipeline_root = Unicode(
        "",
        help="""Where embedded runs keep their state and kfp.local writes outputs (per user),
        one folder per job. Empty: 'kfp-local' beside SwanMLApp.staging_dir (in the Jupyter
        data dir).""",
    ).tag(config=True)
    cancel_grace_s = Float(
        5.0,
        help="""Seconds a cancelled embedded run gets after SIGTERM before its process group
        is killed.""",
    ).tag(config=True)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._engine_obj: KfpEngine | None = None
        self._engine_lock = threading.Lock()
        if self.host:  # a remote run's progress and logs are in the KFP UI, not here
            self.capabilities = {**self.capabilities, "live_logs": False, "progress": False}

    # -- the engine ----------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return "remote" if self.host else "embedded"

    def engine(self) -> KfpEngine:
        """The engine for the configured mode, built on first use; BackendUnavailable when it
        cannot be (kfp missing, the remote engine not importable)."""
        with self._engine_lock:
            if self._engine_obj is not None:
                return self._engine_obj
            missing = kfp_missing()
            if missing:
                raise BackendUnavailable(missing)
            try:
                if self.host:
                    from .remote import RemoteEngine

                    self._engine_obj = RemoteEngine(self)
                else:
                    from .embedded import EmbeddedEngine

                    self._engine_obj = EmbeddedEngine(self)
            except ImportError as e:
                raise BackendUnavailable(
                    f"the kubeflow {self.mode} engine cannot be loaded ({e}): {PIP_FIX}"
                ) from e
            return self._engine_obj

    def local_root(self) -> str:
        if self.local_pipeline_root:
            return self.local_pipeline_root
        staging = getattr(self.parent, "staging_dir", "")
        if staging:
            return str(Path(staging).parent / "kfp-local")
        return str(Path(jupyter_data_dir()) / "swan_ml_ext" / "kfp-local")

    def status(self) -> BackendStatus:
        try:
            st = self.engine().status()
        except BackendUnavailable as e:
            return BackendStatus(self.name, False, reason=e.message)
        st.resources.setdefault("mode", self.mode)
        st.resources.setdefault("accelerator_types", list(self.accelerator_types))
        return st

    # -- resources -----------------------------------------------------------------------
    def resource_schema(self, limits: Limits) -> dict[str, Any]:
        schema = super().resource_schema(limits)
        props = schema["properties"]
        del props["disk_mb"]  # KFP tasks take no disk request
        props["cpus"]["description"] = "CPU cores for the run (request = limit)"
        props["memory_mb"]["description"] = "memory for the run, in MB (request = limit)"
        props["gpus"] = integer(
            "GPUs",
            "accelerators for the run (KFP accelerator limit)",
            0,
            limits.max_gpus if self.accelerator_types else 0,
            0,
        )
        props["accelerator_type"] = {
            "type": ["string", "null"],
            "title": "Accelerator type",
            "description": "which accelerator the GPUs are; empty: "
            + (self.accelerator_types[0] if self.accelerator_types else "none on this site"),
            "enum": [*self.accelerator_types, None],
            "default": None,
        }
        props["max_runtime_s"]["description"] = (
            "the run is stopped and failed after this many seconds (checked every monitor pass)"
        )
        order = ["cpus", "memory_mb", "gpus", "accelerator_type", "max_runtime_s"]
        schema["properties"] = {k: props[k] for k in order + sorted(set(props) - set(order))}
        return schema

    def check_resources(self, resources: dict[str, Any]) -> None:
        if resources.get("accelerator_type") and not resources.get("gpus"):
            raise InvalidRequest("resources.accelerator_type needs resources.gpus >= 1")

    # -- the pipeline --------------------------------------------------------------------
    def pipeline_yaml(self, job: Job, environment: Environment) -> str:
        """The job as a compiled KFP v2 pipeline (IR YAML) for the configured mode."""
        if kfp_missing():
            raise BackendUnavailable(kfp_missing() or "")
        from .compile import PipelineSettings, compile_pipeline

        r = job.resources
        gpus = int(r.get("gpus") or 0)
        accel = r.get("accelerator_type") or (self.accelerator_types[0] if gpus else None)
        remote = bool(self.host)
        return compile_pipeline(
            PipelineSettings(
                name=f"swan-ml-{job.id}",
                image=self.images.get(environment.name, self.default_image),
                environment=environment.name,
                cpus=r.get("cpus"),
                memory_mb=r.get("memory_mb"),
                gpus=gpus,
                accelerator_type=accel,
                packages_to_install=list(self.packages_to_install) if remote else [],
                install_kfp_package=self.install_kfp_package if remote else False,
                description=f"swan-ml-ext job {job.id}: {job.notebook}",
                collect=list(job.collect),
            )
        )

    def preview(self, job: Job, staged: Path, environment: Environment) -> dict[str, str]:
        _refuse_inputs(job)
        return {"format": FORMAT, "text": self.pipeline_yaml(job, environment)}

    # -- submit and follow ---------------------------------------------------------------
    def submit(self, job: Job, staged: Path, environment: Environment) -> dict[str, Any]:
        _refuse_inputs(job)
        engine = self.engine()
        pipeline = staged / PIPELINE_FILE
        pipeline.write_text(self.pipeline_yaml(job, environment))
        ref = engine.submit(job, staged, pipeline)
        self.submissions += 1
        return {"mode": self.mode, **ref}

    def resubmit(self, job: Job, staged: Path, environment: Environment) -> dict[str, Any]:
        """Whatever the engine has of this job is stopped first (the engine's cancel also
        finds a run whose submission was interrupted), so it never runs twice."""
        self.engine().cancel(job)
        return self.submit(job, staged, environment)

    def poll(self, jobs: list[Job]) -> dict[str, Update]:
        if not jobs:
            return {}
        updates = self.engine().poll(jobs)
        enforce_max_runtime(jobs, updates, self.engine().cancel)
        return updates

    def fetch(self, job: Job, staged: Path) -> None:
        files = staged / "output" / "files"
        files.mkdir(parents=True, exist_ok=True)
        if (staged / PIPELINE_FILE).exists():
            shutil.copyfile(staged / PIPELINE_FILE, files / PUBLISHED_PIPELINE)
        self.engine().fetch(job, staged)

    def cancel(self, job: Job) -> None:
        self.engine().cancel(job)

    def logs(self, job: Job, staged: Path, tail: int | None = None) -> Logs:
        return self.engine().logs(job, staged, tail)

    def close(self) -> None:
        if self._engine_obj is not None:
            self._engine_obj.close()


def _refuse_inputs(job: Job) -> None:
    if job.inputs:
        raise InvalidRequest(
            "the kubeflow backend does not ship input files yet: the notebook's run gets only"
            " its parameters; drop 'inputs' or use the condor backend"
        )
