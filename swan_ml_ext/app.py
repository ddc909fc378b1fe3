"""SwanMLApp: the jupyter_server extension (config, handlers, the job monitor)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Float, Int, List, Type, Unicode, Union, default, validate

from .backends import load_class, registered
from .backends.base import Backend
from .gpu.kernels import ServerKernels
from .gpu.nvml import GpuSampler
from .handlers import routes
from .jobs.model import Job, JobState
from .jobs.monitor import Monitor
from .jobs.service import JobService
from .jobs.spec import Environment, Limits
from .jobs.store import JobStore
from .jobs.sweeps import SweepService
from .spark.manager import SparkManager
from .spark.registry import Session as SparkSession

EVENT_SCHEMA = Path(__file__).resolve().parent / "events" / "job_state.yaml"
EVENT_SCHEMA_ID = "https://events.jupyter.org/swan_ml_ext/job_state/v1"
SPARK_EVENT_SCHEMA = EVENT_SCHEMA.parent / "spark.yaml"
SPARK_EVENT_SCHEMA_ID = "https://events.jupyter.org/swan_ml_ext/spark/v1"


class SwanMLApp(ExtensionApp):
    name = "swan_ml_ext"
    load_other_extensions = True

    db_path = Unicode(
        help="""SQLite file of the job store. It survives restarts: on start the monitor
        reconciles every unfinished job with its engine. Default:
        <jupyter data dir>/swan_ml_ext/jobs.sqlite (env SWAN_ML_DB).""",
    ).tag(config=True)

    staging_dir = Unicode(
        help="""Where each job's snapshot (notebook, inputs, parameters, runner) is staged and
        where the engine's raw outputs land before they are published to the workspace.
        Default: <jupyter data dir>/swan_ml_ext/staging.""",
    ).tag(config=True)

    output_dir = Unicode(
        "swan-ml-jobs",
        help="""Workspace folder, relative to the server root, that receives each job's
        executed notebook and files as <output_dir>/<notebook stem>-<job id>/.""",
    ).tag(config=True)

    poll_interval = Float(
        1.0,
        help="""Seconds between two monitor passes. Each pass makes ONE batched engine query
        per backend that has unfinished jobs, however many clients poll the REST API.""",
    ).tag(config=True)

    backends = List(
        Unicode(),
        help="""Names of the enabled backends, in the order the UI offers them. Default: every
        backend found (built-in, installed packages' `swan_ml_ext.backends` entry points, and
        `backend_classes`).""",
    ).tag(config=True)

    backend_classes = Dict(
        key_trait=Unicode(),
        value_trait=Union([Unicode(), Type(klass=Backend)]),
        help="""Backend name -> class (or import string 'package.module:Class'), over the
        backends found by name: adds a site's backend, or swaps a built-in one's class, e.g.
        {"slurm": "mysite.backends:SlurmBackend"}. A package can also publish one in the
        entry-point group `swan_ml_ext.backends`.""",
    ).tag(config=True)

    engine_timeout_s = Float(
        60.0,
        help="""Seconds a backend's monitor query may take. One that takes longer marks that
        backend unavailable (its jobs keep their state) and holds up no other backend.""",
    ).tag(config=True)

    default_backend = Unicode(
        "",
        help="""Backend used when a job does not name one; empty: the first of `backends`.
        Checked at start: it must be one of `backends`.""",
    ).tag(config=True)

    default_environment = Unicode(
        "",
        help="""Environment used when a job does not name one. Empty: the only environment when
        one is configured, else the one named 'default'. Checked at start: it must name one of
        `environments`.""",
    ).tag(config=True)

    environments = Dict(
        help="""Named software stacks, visible on the session and the worker side:
        {name: {"python": interpreter on the worker, "setup": shell line run first on the
        worker (e.g. 'source /cvmfs/sft.cern.ch/lcg/views/LCG_106/x86_64-el9-gcc13-opt/setup.sh'),
        "kernels": [kernel names this stack can run], "description": text,
        "shared_prefixes": absolute folders the session and the worker both mount, e.g.
        ["/eos", "/cvmfs"]: a notebook reads them in place by absolute path, they are never
        sent with a job and input detection reports them as read in place}}. The personal
        pool's worker venv is 'default'. A job whose notebook kernel is not in its
        environment's kernels is refused before submission.""",
    ).tag(config=True)

    @default("environments")
    def _default_environments(self) -> dict[str, Any]:
        return {
            "default": {
                "python": "/opt/worker/bin/python",
                "setup": "",
                "kernels": ["python3"],
                "description": "Python 3 worker environment of the personal pool "
                "(papermill, ipykernel, numpy, pandas, matplotlib)",
            }
        }

    @validate("environments")
    def _check_environments(self, proposal: Any) -> dict[str, Any]:
        for name, env in proposal["value"].items():
            if not isinstance(env, dict) or not env.get("kernels"):
                raise ValueError(f"environment {name!r} needs a 'kernels' list")
            prefixes = env.get("shared_prefixes", [])
            if not isinstance(prefixes, (list, tuple)) or not all(
                isinstance(p, str) and p.startswith("/") and p.strip("/") for p in prefixes
            ):
                raise ValueError(
                    f"environment {name!r}: 'shared_prefixes' must be a list of absolute folders"
                    " other than the root folder, e.g. ['/eos', '/cvmfs']"
                )
        return proposal["value"]

    max_cpus = Int(16, help="Largest resources.cpus a job may request.").tag(config=True)
    max_memory_mb = Int(65536, help="Largest resources.memory_mb a job may request.").tag(
        config=True
    )
    max_gpus = Int(2, help="Largest resources.gpus a job may request.").tag(config=True)
    max_disk_mb = Int(102400, help="Largest resources.disk_mb a job may request.").tag(config=True)
    max_runtime_s = Int(
        7 * 24 * 3600, help="Largest resources.max_runtime_s a job may request."
    ).tag(config=True)
    max_request_bytes = Int(
        1024 * 1024,
        help="Largest request body the API reads (a larger one is answered 413).",
    ).tag(config=True)
    max_parameters_bytes = Int(
        256 * 1024,
        help="""Largest `parameters` object a job may carry, measured as JSON (413 above): they
        are stored with the job and injected into the notebook; large data belongs in a file.""",
    ).tag(config=True)
    max_sweep_points = Int(
        1000,
        help="""Most points a parameter sweep (POST sweeps) may have: a grid's product of list
        lengths, or the number of explicit points. Above it the sweep is refused (400) with
        its count; each point is a job.""",
    ).tag(config=True)
    max_sweep_parameters_bytes = Int(
        64 * 1024**2,
        help="""Largest total of a parameter sweep's parameters, all points together, measured
        as JSON (413 above, with the total): each point's job stores its own, so a large value
        in `parameters` counts once per point; large data belongs in an input file.""",
    ).tag(config=True)
    max_inputs_bytes = Int(
        1024**3,
        help="""Largest total size of the files a job's `inputs` send (folders counted
        recursively). Above it the job is refused (400) with the size found: large data
        belongs on a shared filesystem, read in place (see the environments'
        shared_prefixes).""",
    ).tag(config=True)
    max_inputs_files = Int(
        10_000,
        help="""Largest number of files a job's `inputs` send (folders counted recursively);
        400 above, like max_inputs_bytes.""",
    ).tag(config=True)

    spark_profiles = Dict(
        help="""Spark profiles by name, over the built-in ones (local, local-gpu, standalone,
        standalone-gpu, connect; a site's profile of the same name replaces it). A profile:
        {"description": text, "master": "local[2]" | "spark://host:port" | ... XOR
        "remote": "sc://host:port", "conf": {spark.* key: value}, "env": {name: value},
        "gpu": {"executor_amount", "task_amount", "discovery_script", "rapids"} | null,
        "master_ui": "http://host:8080" (standalone: checked before a session starts),
        "ui": "http://host:4040" (Connect: the Connect server's UI, for monitoring and kill)}.
        Offered by GET spark/profiles, the `%swan spark` magic and the Spark batch backend.""",
    ).tag(config=True)

    spark_poll_interval = Float(
        0.5,
        help="""Seconds between two passes of the Spark poller. Each pass makes at most one
        round of Spark REST calls per live session (jobs; plus active stages and executors
        while jobs run), however many clients watch: clients read the poller's cache.""",
    ).tag(config=True)

    spark_connect_timeout_s = Float(
        120.0,
        help="""Seconds POST spark/sessions waits for a kernel to create its Spark session
        (or, for a kernel that connected itself, to become idle and say which session it
        has) before answering 504.""",
    ).tag(config=True)

    spark_ui_hosts = List(
        Unicode(),
        help="""Hosts besides loopback (127.0.0.1, localhost, ::1) whose Spark UI the server
        may poll and serve at spark/ui/<session>/. The address always comes from the kernel
        or batch job that runs the session, never from a request; list a host only when the
        drivers of this server's users really run there (e.g. a Spark driver node).""",
    ).tag(config=True)

    spark_ui_route = Bool(
        True,
        help="""Serve registered Spark UIs at spark/ui/<session>/ (same origin as Lab, so Spark's
        pages run with Lab's origin). False: no UI route; the Spark panel and API still work.""",
    ).tag(config=True)

    gpu_sample_interval = Float(
        1.0,
        help="""Seconds an NVML reading of this session's GPUs is reused: GET gpu (and the Lab
        status-bar item, `%swan gpu`) costs at most one NVML read per interval however many
        clients poll.""",
    ).tag(config=True)

    gpu_watch_interval = Float(
        5.0,
        help="""Seconds between two background NVML readings, so that each kernel's peak GPU
        memory is seen while no client polls (it suggests a job's GPU memory). 0: read only
        when asked. Where there is no NVML or no GPU the watch stops after its first reading.""",
    ).tag(config=True)

    @default("db_path")
    def _default_db(self) -> str:
        return os.environ.get("SWAN_ML_DB") or str(
            Path(jupyter_data_dir()) / "swan_ml_ext" / "jobs.sqlite"
        )

    @default("staging_dir")
    def _default_staging(self) -> str:
        return str(Path(jupyter_data_dir()) / "swan_ml_ext" / "staging")

    def _backend_specs(self) -> dict[str, Any]:
        """Every backend found by name (class or import string), a site's configuration last
        (it wins)."""
        return {**registered(), **self.backend_classes}

    def _load_backend(self, name: str, spec: Any) -> type[Backend]:
        cls = load_class(spec)
        if not (isinstance(cls, type) and issubclass(cls, Backend)):
            raise ValueError(f"backend {name!r}: {spec!r} is not a Backend class")
        return cls

    def enabled_backends(self) -> list[str]:
        return list(self.backends) or list(self._backend_specs())

    def resolved_defaults(self) -> tuple[str, str]:
        """(default backend, default environment), or a startup error naming the trait."""
        enabled = self.enabled_backends()
        if not enabled:
            raise ValueError("SwanMLApp.backends is empty: enable at least one backend")
        backend = self.default_backend or enabled[0]
        if backend not in enabled:
            raise ValueError(
                f"SwanMLApp.default_backend is {backend!r}, which is not one of"
                f" SwanMLApp.backends {enabled}"
            )
        envs = list(self.environments)
        if not envs:
            raise ValueError("SwanMLApp.environments is empty: configure at least one")
        env = self.default_environment or (
            envs[0] if len(envs) == 1 else "default" if "default" in envs else ""
        )
        if env not in envs:
            raise ValueError(
                f"SwanMLApp.default_environment is {env!r}, which names none of"
                f" SwanMLApp.environments ({', '.join(envs)}): set it to one of them"
            )
        return backend, env

    def initialize_settings(self) -> None:
        specs = self._backend_specs()
        enabled = self.enabled_backends()
        unknown = [b for b in enabled if b not in specs]
        if unknown:
            raise ValueError(
                f"SwanMLApp.backends names unknown backend(s) {unknown}; known: {sorted(specs)}"
            )
        default_backend, default_environment = self.resolved_defaults()
        # Only the enabled ones are imported (an engine's client can be heavy, e.g. kfp).
        backends = {
            name: self._load_backend(name, specs[name])(parent=self, log=self.log)
            for name in enabled
        }
        self.store = JobStore(self.db_path)
        self.serverapp.event_logger.register_event_schema(EVENT_SCHEMA)
        self.service = JobService(
            store=self.store,
            backends=backends,
            environments={
                name: Environment(
                    name=name,
                    python=env.get("python", "python3"),
                    setup=env.get("setup", ""),
                    kernels=tuple(env["kernels"]),
                    description=env.get("description", ""),
                    shared_prefixes=tuple(p.rstrip("/") for p in env.get("shared_prefixes", [])),
                )
                for name, env in self.environments.items()
            },
            limits=Limits(
                max_cpus=self.max_cpus,
                max_memory_mb=self.max_memory_mb,
                max_gpus=self.max_gpus,
                max_disk_mb=self.max_disk_mb,
                max_runtime_s=self.max_runtime_s,
                max_request_bytes=self.max_request_bytes,
                max_parameters_bytes=self.max_parameters_bytes,
                max_inputs_bytes=self.max_inputs_bytes,
                max_inputs_files=self.max_inputs_files,
            ),
            root_dir=self.serverapp.root_dir,
            staging_root=self.staging_dir,
            output_dir=self.output_dir,
            default_backend=default_backend,
            default_environment=default_environment,
            emit=self._emit,
            log=self.log,
        )
        self.monitor = Monitor(
            self.service, self.poll_interval, log=self.log, engine_timeout=self.engine_timeout_s
        )
        self.serverapp.event_logger.register_event_schema(SPARK_EVENT_SCHEMA)
        self.spark = SparkManager(
            site_profiles=self.spark_profiles,
            kernel_manager=self.serverapp.kernel_manager,
            service=self.service,
            poll_interval=self.spark_poll_interval,
            connect_timeout=self.spark_connect_timeout_s,
            ui_hosts=list(self.spark_ui_hosts),
            emit=self._emit_spark,
            log=self.log,
        )
        self.gpu = GpuSampler(
            context=ServerKernels(self.serverapp.kernel_manager, self.serverapp.session_manager),
            interval=self.gpu_sample_interval,
            log=self.log,
        )
        self.sweeps = SweepService(
            self.service,
            max_points=self.max_sweep_points,
            max_total_bytes=self.max_sweep_parameters_bytes,
        )
        self.settings.update(
            {
                "swan_ml_ext_service": self.service,
                "swan_ml_ext_sweeps": self.sweeps,
                "swan_ml_ext_spark": self.spark,
                "swan_ml_ext_gpu": self.gpu,
            }
        )

    def initialize_handlers(self) -> None:
        self.handlers.extend(r for r in routes() if self.spark_ui_route or "/spark/ui/" not in r[0])

    def _emit(self, job: Job, previous: JobState | None) -> None:
        self.serverapp.event_logger.emit(
            schema_id=EVENT_SCHEMA_ID,
            data={
                "id": job.id,
                "name": job.name,
                "backend": job.backend,
                "state": job.state.value,
                "previous_state": previous.value if previous else None,
                "message": job.message,
                "notebook": job.notebook,
                "output_notebook": job.outputs.get("notebook"),
                "sweep_id": job.sweep_id,
            },
        )

    def _emit_spark(self, session: SparkSession, change: str) -> None:
        self.serverapp.event_logger.emit(
            schema_id=SPARK_EVENT_SCHEMA_ID,
            data={
                "session_id": session.id,
                "change": change,
                "jobs_running": session.summary()["jobs_running"],
            },
        )

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        # Kernels this server starts find it (magics, CLI in a terminal) through these.
        os.environ["SWAN_ML_URL"] = serverapp.connection_url
        os.environ["SWAN_ML_TOKEN"] = serverapp.identity_provider.token
        os.environ["SWAN_ML_ROOT"] = str(Path(serverapp.root_dir).resolve())
        self.monitor.start()
        self.spark.start()
        self.gpu.start(self.gpu_watch_interval)

    async def stop_extension(self) -> None:
        await self.gpu.stop()
        await self.spark.stop()
        await self.monitor.stop()
        for backend in self.service.backends.values():
            backend.close()
        self.store.close()
