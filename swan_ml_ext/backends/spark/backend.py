"""SparkBackend: a notebook job runs as a Spark driver on this server (client mode): our runner
in a supervised local process (driver.py), with `spark` made from a Spark profile (the site's
SwanMLApp.spark_profiles over the built-ins; swan_ml_ext/spark/profiles.py) before the
notebook's first cell. The executors are where the profile's master puts them.

A profile that would fail late or wait forever (unknown, malformed conf, GPUs on local[N], a
standalone master without a worker that can take the executor) is refused while the request
is checked (400), before anything is stored, staged or started. While the job runs its
engine_ref has "spark": {"app_id", "ui_url", ...} (the Spark panel follows it).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import threading
from pathlib import Path
from typing import Any, ClassVar

from jupyter_core.paths import jupyter_data_dir
from traitlets import Float, Unicode

from ...jobs.model import BackendUnavailable, InvalidRequest, Job, Update
from ...jobs.spec import Environment, Limits
from ...spark.profiles import (
    Profile,
    ResolvedProfile,
    SparkConfigError,
    check_cluster,
    load_profiles,
    resolve,
)
from ..base import Backend, BackendStatus, Logs, enforce_max_runtime, integer
from .driver import SparkDrivers, runner_argv, setup_cell

FORMAT = "spark-driver"  # the preview: the setup cell and the driver's command
DEFAULT_PROFILE = "local"
MIN_DRIVER_MB = 512  # Spark refuses a driver under ~450 MB ("System memory ... must be at least")
_LOCAL = re.compile(r"^local\[(\d+|\*)(,\d+)?\]$")


class SparkBackend(Backend):
    """Runs notebooks as Spark drivers on this server, `spark` made from a profile."""

    name: ClassVar[str] = "spark"
    title: ClassVar[str] = "Spark"
    capabilities: ClassVar[dict[str, bool]] = {
        **Backend.capabilities,
        "live_logs": True,
        "progress": True,
    }
    engine_ref_labels: ClassVar[list[tuple[str, str]]] = [
        ("profile", "Spark profile"),
        ("app_id", "Spark application"),
    ]

    driver_root = Unicode(
        "",
        help="""Where Spark batch drivers keep their state and working folders (per user), one
        folder per job. Empty: 'spark-local' beside SwanMLApp.staging_dir.""",
    ).tag(config=True)
    cancel_grace_s = Float(
        5.0,
        help="Seconds a cancelled driver gets after SIGTERM before its process group is killed.",
    ).tag(config=True)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.drivers = SparkDrivers(self)
        self._profiles: dict[str, Profile] | None = None
        self._profiles_lock = threading.Lock()

    def local_root(self) -> str:
        if self.driver_root:
            return self.driver_root
        staging = getattr(self.parent, "staging_dir", "")
        if staging:
            return str(Path(staging).parent / "spark-local")
        return str(Path(jupyter_data_dir()) / "swan_ml_ext" / "spark-local")

    # -- profiles ------------------------------------------------------------------------
    def profiles(self) -> dict[str, Profile]:
        """The site's profiles over the built-ins (SwanMLApp.spark_profiles, read once);
        BackendUnavailable when they cannot be loaded."""
        with self._profiles_lock:
            if self._profiles is None:
                site = getattr(self.parent, "spark_profiles", None) or {}
                try:
                    self._profiles = load_profiles(dict(site))
                except SparkConfigError as e:
                    raise BackendUnavailable(f"SwanMLApp.spark_profiles: {e}") from None
            return self._profiles

    def batch_profiles(self) -> list[str]:
        """The profiles a batch job may name: the classic ones (a driver of our own)."""
        try:
            return sorted(n for n, p in self.profiles().items() if p.kind == "classic")
        except BackendUnavailable:
            return []

    def resolve(self, resources: dict[str, Any], app_name: str = "") -> ResolvedProfile:
        """The job's profile with its resources as Spark conf, checked (InvalidRequest)."""
        name = resources.get("profile") or DEFAULT_PROFILE
        profiles = self.profiles()
        if name in profiles and profiles[name].kind != "classic":
            raise InvalidRequest(
                f"Spark profile {name!r} is a Spark Connect profile: a batch job runs its own"
                f" driver, use one of {', '.join(self.batch_profiles())}"
            )
        extra: dict[str, str] = {}
        if resources.get("memory_mb"):
            extra["spark.driver.memory"] = f"{int(resources['memory_mb'])}m"
        if resources.get("cpus"):
            extra["spark.driver.cores"] = str(int(resources["cpus"]))
        if app_name:
            extra["spark.app.name"] = app_name
        try:
            return resolve(profiles, name, extra)
        except SparkConfigError as e:
            raise InvalidRequest(str(e)) from None

    def spec(self, job: Job) -> dict[str, Any]:
        """What the setup cell hands to kernel.connect(): the resolved profile; cpus become
        local[N]'s threads on a local master; the UI on a free port unless the profile says."""
        spec = self.resolve(job.resources, f"swan-ml job {job.id}").to_spec()
        cpus = job.resources.get("cpus")
        m = _LOCAL.match(str(spec.get("master") or ""))
        if cpus and m:
            spec["master"] = f"local[{int(cpus)}{m.group(2) or ''}]"
        spec["conf"].setdefault("spark.ui.port", "0")
        return spec

    # -- published as data ----------------------------------------------------------------
    def status(self) -> BackendStatus:
        if importlib.util.find_spec("pyspark") is None:
            why = "pyspark is not installed on the server: pip install 'swan_ml_ext[spark]'"
            return BackendStatus(self.name, False, reason=why)
        if shutil.which("java") is None and not _java_home():
            return BackendStatus(self.name, False, reason="no Java runtime (java) on the server")
        try:
            self.profiles()
        except BackendUnavailable as e:
            return BackendStatus(self.name, False, reason=e.message)
        return BackendStatus(
            self.name,
            True,
            resources={"profiles": self.batch_profiles(), "default_profile": DEFAULT_PROFILE},
        )

    def resource_schema(self, limits: Limits) -> dict[str, Any]:
        schema = super().resource_schema(limits)
        props = schema["properties"]
        del props["disk_mb"]
        names = self.batch_profiles()
        profile: dict[str, Any] = {
            "type": "string",
            "title": "Spark profile",
            "description": "where the executors run (the site's Spark profiles)",
            "default": DEFAULT_PROFILE if DEFAULT_PROFILE in names or not names else names[0],
        }
        if names:
            profile["enum"] = names
        props["cpus"] = integer(
            "CPUs",
            "driver cores (spark.driver.cores); on local[N] the N task threads; empty: the"
            " profile's",
            1,
            limits.max_cpus,
            None,
        )
        props["memory_mb"] = integer(
            "Memory",
            "driver memory (spark.driver.memory), in MB; empty: the profile's",
            min(MIN_DRIVER_MB, limits.max_memory_mb),
            limits.max_memory_mb,
            None,
            **{"x-unit": "MB"},
        )
        props["max_runtime_s"]["description"] = (
            "the driver is stopped and the job failed after this many seconds"
        )
        order = ["cpus", "memory_mb", "max_runtime_s"]
        schema["properties"] = {"profile": profile, **{k: props[k] for k in order}}
        return schema

    def check_resources(self, resources: dict[str, Any]) -> None:
        """Refuses, before anything is created, what Spark would refuse late or wait for
        forever; asks a standalone master whether a worker can take the executor (~5 s max)."""
        try:
            check_cluster(self.resolve(resources))
        except SparkConfigError as e:
            raise InvalidRequest(str(e)) from None

    def preview(self, job: Job, staged: Path, environment: Environment) -> dict[str, str]:
        spec = self.spec(job)
        jr = self.drivers.job_root(job)
        argv = runner_argv(job, staged, jr, jr / "process")
        text = "# the driver (a supervised local process):\n# " + " ".join(argv) + "\n"
        text += "# its setup cell, run before the notebook's first cell:\n" + setup_cell(spec)
        return {"format": FORMAT, "text": text}

    # -- the engine ----------------------------------------------------------------------
    def submit(self, job: Job, staged: Path, environment: Environment) -> dict[str, Any]:
        spec = self.spec(job)
        ref = self.drivers.submit(job, staged, spec)
        self.submissions += 1
        return {"profile": spec["profile"], "master": spec.get("master"), **ref}

    def resubmit(self, job: Job, staged: Path, environment: Environment) -> dict[str, Any]:
        """Whatever runs of this job is stopped first (also a driver whose submission was
        interrupted: its folder is at a known place), so it never runs twice."""
        self.drivers.cancel(job)
        return self.submit(job, staged, environment)

    def poll(self, jobs: list[Job]) -> dict[str, Update]:
        if not jobs:
            return {}
        updates = self.drivers.poll(jobs)
        enforce_max_runtime(jobs, updates, self.drivers.cancel)
        return updates

    def fetch(self, job: Job, staged: Path) -> None:
        self.drivers.fetch(job, staged)

    def cancel(self, job: Job) -> None:
        self.drivers.cancel(job)

    def logs(self, job: Job, staged: Path, tail: int | None = None) -> Logs:
        return self.drivers.logs(job, staged, tail)


def _java_home() -> bool:
    home = os.environ.get("JAVA_HOME")
    return bool(home) and Path(home, "bin", "java").exists()
