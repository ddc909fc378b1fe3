"""Spark profiles: built-ins overlaid by the site's `SwanMLApp.spark_profiles`, resolved into
the spec `kernel.connect()` takes, and refused before anything starts when Spark would fail
late or hang (see conf.py for the conf checks, and the Spark notes for what hangs).

Pure logic and no pyspark import: the server, the magics and the batch backend all use it.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cluster import check_cluster, master_ui_url
from .conf import (
    RESOURCE_AMOUNT,
    RESOURCE_SCRIPT,
    SparkConfigError,
    check_user_conf,
    is_plain_local,
    local_cluster,
    memory_mb,
    parse_amount,
    parse_conf,
)

__all__ = [
    "DISCOVERY_SCRIPT",
    "GpuPreset",
    "Profile",
    "ResolvedProfile",
    "SparkConfigError",
    "check_cluster",
    "load_profiles",
    "master_ui_url",
    "parse_conf",
    "profiles_from_json",
    "resolve",
]

DISCOVERY_SCRIPT = str(Path(__file__).resolve().parent / "discover_gpus.sh")
RAPIDS_JAR = "rapids-4-spark*.jar"
RAPIDS_CONF = {"spark.plugins": "com.nvidia.spark.SQLPlugin", "spark.rapids.sql.enabled": "true"}
LOCAL_DEFAULTS = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.showConsoleProgress": "false",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_FIELDS = {"description", "master", "remote", "conf", "env", "gpu", "master_ui", "ui"}
_JSON_ONLY = {"name", "kind", "notes"}  # what to_json adds; from_json ignores them

BUILTINS: dict[str, dict[str, Any]] = {
    "local": {"description": "Spark in this kernel (local[2])", "master": "local[2]"},
    "local-gpu": {
        "description": "a local cluster (1 worker, 2 cores) with the machine's GPUs",
        "master": "local-cluster[1,2,1024]",
        "conf": {"spark.executor.memory": "512m"},
        "gpu": {"executor_amount": 1, "task_amount": 1},
    },
    "standalone": {
        "description": "the standalone cluster at spark://127.0.0.1:7077",
        "master": "spark://127.0.0.1:7077",
        "master_ui": "http://127.0.0.1:8080",
    },
    "standalone-gpu": {
        "description": "the standalone cluster at spark://127.0.0.1:7077, one GPU per task",
        "master": "spark://127.0.0.1:7077",
        "master_ui": "http://127.0.0.1:8080",
        "gpu": {"executor_amount": 1, "task_amount": 1},
    },
    "connect": {
        "description": "the Spark Connect server at sc://127.0.0.1:15002",
        "remote": "sc://127.0.0.1:15002",
        "ui": "http://127.0.0.1:4040",
    },
}


@dataclass(frozen=True)
class GpuPreset:
    executor_amount: int = 1
    task_amount: float = 1
    discovery_script: str = DISCOVERY_SCRIPT
    rapids: bool = False

    @classmethod
    def from_dict(cls, where: str, raw: Any) -> GpuPreset:
        if not isinstance(raw, dict):
            raise SparkConfigError(f"{where}: gpu must be an object or null")
        unknown = set(raw) - {"executor_amount", "task_amount", "discovery_script", "rapids"}
        unknown -= {"rapids_available"}  # to_json's
        if unknown:
            raise SparkConfigError(f"{where}: unknown gpu field(s) {', '.join(sorted(unknown))}")
        executor = raw.get("executor_amount", 1)
        task = raw.get("task_amount", 1)
        if isinstance(executor, bool) or not isinstance(executor, int) or executor < 1:
            raise SparkConfigError(f"{where}: gpu.executor_amount must be a whole number >= 1")
        if isinstance(task, bool) or not isinstance(task, (int, float)):
            raise SparkConfigError(f"{where}: gpu.task_amount must be a number")
        parse_amount(f"{where}: gpu.task_amount", str(task), fractional=True)
        script = raw.get("discovery_script") or DISCOVERY_SCRIPT
        if not isinstance(script, str):
            raise SparkConfigError(f"{where}: gpu.discovery_script must be a path")
        rapids = raw.get("rapids", False)
        if not isinstance(rapids, bool):
            raise SparkConfigError(f"{where}: gpu.rapids must be true or false")
        return cls(executor, task, os.path.expanduser(script), rapids)


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    master: str | None = None
    remote: str | None = None
    conf: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    gpu: GpuPreset | None = None
    master_ui: str | None = None
    ui: str | None = None

    @property
    def kind(self) -> str:
        return "connect" if self.remote else "classic"

    @classmethod
    def from_dict(cls, name: str, raw: Any) -> Profile:
        where = f"Spark profile {name!r}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise SparkConfigError(f"{where}: names are letters, digits, '.', '_', '-' (<= 64)")
        if not isinstance(raw, dict):
            raise SparkConfigError(f"{where}: must be an object")
        unknown = set(raw) - _FIELDS - _JSON_ONLY
        if unknown:
            raise SparkConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        master, remote = raw.get("master"), raw.get("remote")
        if bool(master) == bool(remote):
            raise SparkConfigError(f"{where}: give either master or remote (sc://host:port)")
        for key, value in (("master", master), ("remote", remote), ("description", None)):
            value = raw.get(key) if value is None else value
            if value is not None and not isinstance(value, str):
                raise SparkConfigError(f"{where}: {key} must be a string")
        if remote and not remote.startswith("sc://"):
            raise SparkConfigError(f"{where}: remote must look like sc://host:port")
        for key in ("master_ui", "ui"):
            url = raw.get(key)
            if url is not None and (
                not isinstance(url, str)
                or urllib.parse.urlsplit(url).scheme not in ("http", "https")
            ):
                raise SparkConfigError(f"{where}: {key} must be an http(s) URL")
        try:
            conf = parse_conf(raw.get("conf") or {})
        except SparkConfigError as e:
            raise SparkConfigError(f"{where}: {e}") from None
        env = raw.get("env") or {}
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and _ENV.match(k) and isinstance(v, str) for k, v in env.items()
        ):
            raise SparkConfigError(f"{where}: env must map variable names to strings")
        gpu = GpuPreset.from_dict(where, raw["gpu"]) if raw.get("gpu") is not None else None
        if gpu is not None and remote:
            raise SparkConfigError(
                f"{where}: a GPU preset does not apply to Spark Connect (the server's own conf "
                "decides its executors)"
            )
        return cls(
            name, raw.get("description") or "", master or None, remote or None, conf,
            dict(env), gpu, raw.get("master_ui"), raw.get("ui"),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The config form (what load_profiles takes)."""
        out: dict[str, Any] = {"description": self.description, "conf": dict(self.conf)}
        out["master" if self.master else "remote"] = self.master or self.remote
        out["env"] = dict(self.env)
        out["gpu"] = None if self.gpu is None else {
            "executor_amount": self.gpu.executor_amount, "task_amount": self.gpu.task_amount,
            "discovery_script": self.gpu.discovery_script, "rapids": self.gpu.rapids,
        }  # fmt: skip
        for key in ("master_ui", "ui"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out

    def to_json(self) -> dict[str, Any]:
        """For GET spark/profiles: the config form plus name, kind and notes (read back by
        profiles_from_json in the magics, which resolve and check locally)."""
        out = {"name": self.name, "kind": self.kind, **self.to_dict(), "notes": []}
        if self.gpu is not None:
            jar = rapids_jar(self.conf)
            out["gpu"]["rapids_available"] = jar is not None
            if self.gpu.rapids and jar is None:
                out["notes"].append(
                    "RAPIDS was asked for but its plugin jar (rapids-4-spark_*.jar) is not "
                    "installed: SQL runs on CPUs"
                )
        return out


@dataclass(frozen=True)
class ResolvedProfile:
    """A profile with the user's extra conf merged and checked: what a session starts with."""

    name: str
    kind: str
    master: str | None
    remote: str | None
    conf: dict[str, str]
    env: dict[str, str]
    master_ui: str | None
    ui: str | None
    notes: tuple[str, ...] = ()

    def to_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"profile": self.name, "kind": self.kind, "conf": dict(self.conf)}
        spec["env"] = dict(self.env)
        if self.master:
            spec["master"] = self.master
        if self.remote:
            spec["remote"] = self.remote
        spec["ui"] = self.ui
        return spec


def load_profiles(site: dict[str, Any] | None) -> dict[str, Profile]:
    """Built-ins overlaid by the site's profiles: a site entry with a built-in's name changes
    only the fields it gives (conf and env merged key by key; giving master or remote
    replaces both); `None` removes a built-in."""
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in BUILTINS.items()}
    for name, raw in (site or {}).items():
        if raw is None:
            merged.pop(name, None)
            continue
        if not isinstance(raw, dict):
            raise SparkConfigError(f"Spark profile {name!r}: must be an object")
        base = merged.get(name, {})
        if "master" in raw or "remote" in raw:
            base = {k: v for k, v in base.items() if k not in ("master", "remote")}
        entry = {**base, **raw}
        for key in ("conf", "env"):
            if isinstance(base.get(key), dict) and isinstance(raw.get(key), dict):
                entry[key] = {**base[key], **raw[key]}
        merged[name] = entry
    return {name: Profile.from_dict(name, raw) for name, raw in merged.items()}


def profiles_from_json(items: list[dict[str, Any]]) -> dict[str, Profile]:
    """The GET spark/profiles answer's list back into profiles (exactly those: no built-ins)."""
    return {item["name"]: Profile.from_dict(item["name"], item) for item in items}


def rapids_jar(conf: dict[str, str]) -> str | None:
    """The RAPIDS plugin jar when installed: in pyspark's or SPARK_HOME's jars, or named by
    the conf (spark.jars, spark.driver.extraClassPath)."""
    folders = []
    spec = importlib.util.find_spec("pyspark")
    if spec is not None and spec.submodule_search_locations:
        folders.append(os.path.join(list(spec.submodule_search_locations)[0], "jars"))
    if os.environ.get("SPARK_HOME"):
        folders.append(os.path.join(os.environ["SPARK_HOME"], "jars"))
    listed = re.split(r"[,:]", conf.get("spark.jars", "") + ":" + conf.get(
        "spark.driver.extraClassPath", ""))  # fmt: skip
    for path in listed:
        if re.search(r"rapids-4-spark[^/]*\.jar$", path) and os.path.isfile(path):
            return path
    for folder in folders:
        found = sorted(glob.glob(os.path.join(folder, RAPIDS_JAR)))
        if found:
            return found[0]
    return None


def resolve(
    profiles: dict[str, Profile], name: str, extra_conf: dict[str, Any] | list[str] | None = None
) -> ResolvedProfile:
    """The profile `name` with `extra_conf` (the request's: it may not set the site-only keys
    of conf.SITE_ONLY_KEYS) on top, checked (SparkConfigError, one line)."""
    profile = profiles.get(name)
    if profile is None:
        known = ", ".join(sorted(profiles)) or "none"
        raise SparkConfigError(f"unknown Spark profile {name!r}; known profiles: {known}")
    extra = parse_conf(extra_conf)
    check_user_conf(extra)
    conf: dict[str, str] = {}
    notes: list[str] = []
    if profile.kind == "classic":
        conf.update(LOCAL_DEFAULTS)
        conf["spark.app.name"] = f"swan {name}"
        conf.update(_gpu_conf(profile, notes))
    conf.update(profile.conf)
    conf.update(extra)
    if conf.get("spark.ui.enabled", "true").strip(" \t").lower() == "false":
        raise SparkConfigError(
            "spark.ui.enabled=false: the Spark panel, its kill buttons and the UI tab read the "
            "session's web UI; leave it on"
        )
    env = dict(profile.env)
    if profile.kind == "classic":
        _check_resources(profile.master or "", conf)
        if conf.get("spark.driver.bindAddress") == "127.0.0.1":  # else the UI binds 0.0.0.0
            env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return ResolvedProfile(
        name, profile.kind, profile.master, profile.remote, conf, env,
        profile.master_ui, profile.ui, tuple(notes),
    )  # fmt: skip


def _gpu_conf(profile: Profile, notes: list[str]) -> dict[str, str]:
    gpu = profile.gpu
    if gpu is None:
        return {}
    conf = {
        "spark.executor.resource.gpu.amount": str(gpu.executor_amount),
        "spark.task.resource.gpu.amount": _number(gpu.task_amount),
        "spark.executor.resource.gpu.discoveryScript": gpu.discovery_script,
    }
    cluster = local_cluster(profile.master)
    if cluster is not None:  # the local cluster's workers need GPUs to hand out
        cores = cluster[1]
        per_executor = int(profile.conf.get("spark.executor.cores", cores) or cores)
        executors = max(1, cores // max(1, per_executor))
        conf["spark.worker.resource.gpu.amount"] = str(gpu.executor_amount * executors)
        conf["spark.worker.resource.gpu.discoveryScript"] = gpu.discovery_script
    if gpu.rapids:
        if rapids_jar(profile.conf) is not None:
            conf.update(RAPIDS_CONF)
        else:
            notes.append("RAPIDS plugin jar not installed: the RAPIDS conf was left out")
    return conf


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _check_resources(master: str, conf: dict[str, str]) -> None:
    amounts: dict[tuple[str, str], float] = {}
    for key, value in conf.items():
        m = RESOURCE_AMOUNT.match(key)
        if m:
            amounts[(m.group(1), m.group(2))] = parse_amount(key, value, fractional=True)
    tasks = {res: amount for (who, res), amount in amounts.items() if who == "task"}
    if is_plain_local(master) and tasks:
        res = ", ".join(sorted(tasks))
        raise SparkConfigError(
            f"task {res} amounts on plain {master} would make every job wait forever (a "
            "local[N] master has no resources to hand out): use local-cluster[...] (profile "
            "local-gpu) or a standalone cluster"
        )
    for res, task in sorted(tasks.items()):
        executor = amounts.get(("executor", res))
        if executor is None:
            raise SparkConfigError(
                f"spark.task.resource.{res}.amount is set but spark.executor.resource.{res}."
                "amount is not: no executor would have any to give"
            )
        if task > executor:
            raise SparkConfigError(
                f"spark.task.resource.{res}.amount ({_number(task)}) is more than "
                f"spark.executor.resource.{res}.amount ({_number(executor)}): no task could run"
            )
    cluster = local_cluster(master)
    if cluster is not None:
        asked = memory_mb("spark.executor.memory", conf.get("spark.executor.memory", "1g"))
        if asked > cluster[2]:
            raise SparkConfigError(
                f"spark.executor.memory ({asked} MiB) is more than the {master} workers have "
                f"({cluster[2]} MiB): no executor would start"
            )
    if master.startswith("k8s://"):  # scripts are paths inside the executors' image
        return
    # The only path check: these keys come from the profile (site configuration) alone, as
    # check_user_conf refuses them in a request, so no request learns whether a path exists.
    for key, path in conf.items():
        if RESOURCE_SCRIPT.match(key):
            if not os.path.isfile(path):
                raise SparkConfigError(f"{key}: the discovery script {path} does not exist")
            if not os.access(path, os.X_OK):
                raise SparkConfigError(f"{key}: the discovery script {path} is not executable")
