"""Spark profiles: built-ins, the site overlay, conf checks and every refusal (one line each),
and the standalone master check, against recorded /json/ answers and a real master."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from swan_ml_ext.spark.profiles import (
    DISCOVERY_SCRIPT,
    SparkConfigError,
    check_cluster,
    load_profiles,
    parse_conf,
    profiles_from_json,
    resolve,
)


def refusal(profiles: Any, name: str, extra: Any = None) -> str:
    with pytest.raises(SparkConfigError) as e:
        resolve(profiles, name, extra)
    message = str(e.value)
    assert "\n" not in message
    return message


# --- built-ins and the site overlay --------------------------------------------------------


def test_builtins_resolve_to_loopback_specs():
    # Given the built-in profiles only
    profiles = load_profiles({})
    # Then
    assert set(profiles) == {"local", "local-gpu", "standalone", "standalone-gpu", "connect"}
    spec = resolve(profiles, "local").to_spec()
    assert spec["kind"] == "classic" and spec["master"] == "local[2]"
    assert spec["conf"]["spark.driver.host"] == "127.0.0.1"
    assert spec["conf"]["spark.driver.bindAddress"] == "127.0.0.1"
    assert spec["conf"]["spark.ui.showConsoleProgress"] == "false"
    assert spec["env"] == {"SPARK_LOCAL_IP": "127.0.0.1"}  # the Spark UI's bind address
    connect = resolve(profiles, "connect").to_spec()
    assert connect["kind"] == "connect" and connect["remote"] == "sc://127.0.0.1:15002"
    assert connect["ui"] == "http://127.0.0.1:4040" and "master" not in connect
    assert "spark.driver.host" not in connect["conf"]  # the Connect server's business


def test_gpu_preset_conf_for_local_cluster_and_standalone():
    profiles = load_profiles({})
    local = resolve(profiles, "local-gpu").conf
    assert local["spark.executor.resource.gpu.amount"] == "1"
    assert local["spark.task.resource.gpu.amount"] == "1"
    assert local["spark.executor.resource.gpu.discoveryScript"] == DISCOVERY_SCRIPT
    assert local["spark.worker.resource.gpu.amount"] == "1"  # the in-process worker's GPUs
    assert local["spark.worker.resource.gpu.discoveryScript"] == DISCOVERY_SCRIPT
    standalone = resolve(profiles, "standalone-gpu").conf
    assert standalone["spark.task.resource.gpu.amount"] == "1"
    assert not any(k.startswith("spark.worker.") for k in standalone)  # the workers' own conf
    assert "spark.plugins" not in local and "spark.plugins" not in standalone


def test_rapids_left_out_without_the_plugin_jar_and_said_so():
    # Given a profile that asks for RAPIDS on a machine without the plugin jar
    profiles = load_profiles({"rapids": {"master": "local-cluster[1,2,1024]",
                                         "conf": {"spark.executor.memory": "512m"},
                                         "gpu": {"rapids": True}}})  # fmt: skip
    # When / Then
    resolved = resolve(profiles, "rapids")
    assert "spark.plugins" not in resolved.conf
    assert any("RAPIDS" in n for n in resolved.notes)
    listed = profiles["rapids"].to_json()
    assert listed["gpu"]["rapids"] is True and listed["gpu"]["rapids_available"] is False
    assert any("RAPIDS" in n for n in listed["notes"])


def test_rapids_conf_added_when_the_jar_is_there(tmp_path: Path):
    jar = tmp_path / "rapids-4-spark_2.13-25.10.0.jar"
    jar.write_bytes(b"PK")
    profiles = load_profiles({"rapids": {"master": "local-cluster[1,2,1024]",
                                         "conf": {"spark.executor.memory": "512m",
                                                  "spark.jars": str(jar)},
                                         "gpu": {"rapids": True}}})  # fmt: skip
    conf = resolve(profiles, "rapids").conf
    assert conf["spark.plugins"] == "com.nvidia.spark.SQLPlugin"
    assert conf["spark.rapids.sql.enabled"] == "true"


def test_site_overlay_merges_conf_replaces_master_and_removes():
    # Given a site config that tunes a built-in, moves another and removes a third
    site = {
        "local": {"conf": {"spark.driver.memory": "1g"}, "env": {"FOO": "bar"}},
        "standalone": {"master": "spark://10.0.0.1:7077", "master_ui": "http://10.0.0.1:8080"},
        "connect": None,
        "k8s": {"master": "k8s://https://api:6443", "description": "the cluster"},
    }
    # When
    profiles = load_profiles(site)
    # Then
    assert "connect" not in profiles and profiles["k8s"].kind == "classic"
    local = resolve(profiles, "local")
    assert local.master == "local[2]" and local.conf["spark.driver.memory"] == "1g"
    assert local.env == {"FOO": "bar", "SPARK_LOCAL_IP": "127.0.0.1"}
    assert resolve(profiles, "standalone").master == "spark://10.0.0.1:7077"
    assert profiles["local"].description == "Spark in this kernel (local[2])"


def test_extra_conf_overrides_profile_and_defaults():
    profiles = load_profiles({"local": {"conf": {"spark.ui.showConsoleProgress": "true"}}})
    conf = resolve(profiles, "local", ["spark.driver.host=localhost", "spark.executor.cores=2"])
    assert conf.conf["spark.driver.host"] == "localhost"
    assert conf.conf["spark.ui.showConsoleProgress"] == "true"  # the profile's, over ours
    assert conf.conf["spark.executor.cores"] == "2"


SITE_ONLY = [
    "spark.executor.resource.gpu.discoveryScript=/bin/sh",
    "spark.driver.resource.gpu.discoveryScript=/etc/passwd",
    "spark.worker.resource.gpu.discoveryScript=/bin/true",
    "spark.worker.resource.gpu.amount=1",
    "spark.worker.cleanup.enabled=true",
    "spark.driver.resourcesFile=/etc/shadow",
    "spark.driver.extraJavaOptions=-Xmx1g",
    "spark.executor.extraJavaOptions=-XX:OnOutOfMemoryError=/bin/sh",
    "spark.driver.defaultJavaOptions=-javaagent:/tmp/a.jar",
    "spark.driver.extraClassPath=/tmp/x.jar",
    "spark.executor.extraClassPath=/tmp/x.jar",
    "spark.executor.extraLibraryPath=/tmp",
    "spark.jars=/tmp/x.jar",
    "spark.jars.packages=org.evil:evil:1.0",
    "spark.jars.ivySettings=/tmp/ivy.xml",
    "spark.files=/etc/passwd",
    "spark.archives=/tmp/a.zip",
    "spark.submit.pyFiles=/tmp/a.py",
    "spark.plugins=com.evil.Plugin",
    "spark.executorEnv.LD_PRELOAD=/tmp/evil.so",
    "spark.python.worker.module=evil",
    "spark.python.daemon.module=evil",
    "spark.pyspark.python=/tmp/evil",
    "spark.pyspark.driver.python=/tmp/evil",
    "spark.kubernetes.driver.podTemplateFile=/etc/passwd",
    "spark.master=local[64]",
    "spark.executor.resource.gpu.DISCOVERYscript=/bin/sh",  # case aside: refused too
]


@pytest.mark.parametrize("item", SITE_ONLY)
def test_request_conf_may_not_name_programs_or_paths(item: str):
    # When a request's conf sets a key that runs a program or reads a path
    key = item.partition("=")[0]
    for name in ("local", "local-gpu", "standalone", "connect"):
        message = refusal(load_profiles({}), name, [item])
        # Then it is refused, saying where it belongs (and nothing about the path)
        assert message == f"{key}: set in the Spark profile (site configuration), not per session"


def test_site_profiles_may_set_the_site_only_keys(tmp_path: Path):
    script = tmp_path / "gpus.sh"
    script.write_text("#!/bin/sh\necho '{}'\n")
    script.chmod(0o700)
    conf = {
        "spark.driver.extraJavaOptions": "-Dx=1",
        "spark.jars": "/opt/site/x.jar",
        "spark.executor.resource.gpu.discoveryScript": str(script),
        "spark.driver.host": "10.0.0.5",
    }
    resolved = resolve(load_profiles({"site": {"master": "local[1]", "conf": conf}}), "site")
    assert {k: resolved.conf[k] for k in conf} == conf


def test_a_request_learns_nothing_about_paths(tmp_path: Path):
    # Whether the named script exists or not, the answer is the same line
    there, missing = tmp_path / "there.sh", tmp_path / "missing.sh"
    there.write_text("#!/bin/sh\n")
    answers = {
        refusal(
            load_profiles({}),
            "standalone-gpu",
            [f"spark.executor.resource.gpu.discoveryScript={path}"],
        )  # fmt: skip
        for path in (there, missing)
    }
    assert answers == {
        "spark.executor.resource.gpu.discoveryScript: set in the Spark profile (site "
        "configuration), not per session"
    }


@pytest.mark.parametrize("key", ["spark.driver.host", "spark.driver.bindAddress"])
def test_request_conf_keeps_the_driver_on_loopback(key: str):
    for value in ("127.0.0.1", "localhost", "::1", "[::1]"):
        assert resolve(load_profiles({}), "local", {key: value}).conf[key] == value
    for value in ("0.0.0.0", "10.1.1.1", "example.org", "::"):
        message = refusal(load_profiles({}), "local", {key: value})
        assert message.startswith(f"{key}={value}: a session's driver stays on this machine's")
        assert "set in the Spark profile (site configuration), not per session" in message


def test_the_web_ui_may_not_be_turned_off():
    site = {"local": {"conf": {"spark.ui.enabled": "false"}}}
    for message in (
        refusal(load_profiles({}), "local", {"spark.ui.enabled": " FALSE"}),  # a request's
        refusal(load_profiles(site), "local"),  # a site's
    ):
        assert message == (
            "spark.ui.enabled=false: the Spark panel, its kill buttons and the UI tab read the "
            "session's web UI; leave it on"
        )
    assert resolve(load_profiles({}), "local", {"spark.ui.enabled": True})


def test_to_json_round_trips_through_profiles_from_json():
    profiles = load_profiles({"x": {"master": "local[1]", "conf": {"spark.a": "b"}}})
    listed = json.loads(json.dumps([p.to_json() for p in profiles.values()]))
    back = profiles_from_json(listed)
    assert back == profiles
    assert {p["kind"] for p in listed} == {"classic", "connect"}


def test_parse_conf_types_values():
    assert parse_conf({"spark.ui.enabled": True, "spark.executor.cores": 2}) == {
        "spark.ui.enabled": "true",
        "spark.executor.cores": "2",
    }
    assert parse_conf(["spark.a=x=y", " spark.b = 1 "]) == {"spark.a": "x=y", "spark.b": "1"}
    assert parse_conf(["spark.executor.memory=2g", "spark.driver.memory=512m"])
    assert parse_conf(["spark.task.resource.gpu.amount=0.25"])


# --- refusals ------------------------------------------------------------------------------


def test_unknown_profile_lists_the_known_ones():
    message = refusal(load_profiles({}), "nope")
    assert "'nope'" in message and "local, local-gpu" in message and "connect" in message


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ("foo.bar=1", "not a Spark key"),
        ("=1", "empty"),
        ("spark.a b=1", "not a Spark key"),
        ("spark.x", "must look like spark.key=value"),
        ("spark.executor.cores=two", "whole number"),
        ("spark.executor.cores=0", "at least 1"),
        ("spark.executor.instances=-1", "negative"),
        ("spark.executor.memory=2 gigs", "size like 512m"),
        ("spark.driver.memory=1.5g", "size like 512m"),
        ("spark.ui.enabled=yes", "true or false"),
        ("spark.ui.showConsoleProgress=1", "true or false"),
        ("spark.executor.resource.gpu.amount=0.5", "whole number"),
        ("spark.task.resource.gpu.amount=1.5", "fraction below 1"),
        ("spark.task.resource.gpu.amount=-1", "positive"),
        ("spark.task.resource.gpu.amount=nan", "positive"),
        ("spark.app.name=a\x1bb", "control characters"),
        ("spark.app.name=a\x85b", "control characters"),  # C1 (NEL)
        ("spark.app.name=a\x9bb", "control characters"),  # C1 (CSI)
        ("spark.app.name=a\ud800b", "lone surrogate"),
        ("spark.a\ud800=1", "not a Spark key"),
        ("spark.a\x85=1", "not a Spark key"),
        ("spark.app.name=a\u2028b", "control characters"),
        ("spark.executor.cores=2\xa0", "whole number (digits 0-9)"),
        ("spark.executor.cores=1_0", "whole number (digits 0-9)"),
        ("spark.executor.instances=\u0661\u0662", "whole number (digits 0-9)"),
        ("spark.executor.instances=+3", "whole number (digits 0-9)"),
        ("spark.executor.instances=" + "9" * 400, "at most 2147483647"),
        ("spark.ui.port=70000", "at most 65535"),
        ("spark.ui.retainedJobs=10001", "at most 10000"),
        ("spark.ui.retainedStages=100000", "at most 10000"),
        ("spark.ui.retainedTasks=100001", "at most 100000"),
        ("spark.task.resource.gpu.amount=1_0", "positive number (digits 0-9"),
        ("spark.task.resource.gpu.amount=\u0661", "positive number (digits 0-9"),
        ("spark.task.resource.gpu.amount=inf", "positive number"),
        ("spark.task.resource.gpu.amount=1e400", "positive number"),
        ("spark.executor.resource.gpu.amount=" + "9" * 400, "positive number"),
        ("spark.executor.memory=" + "9" * 400 + "b", "more than 1p (1 PiB)"),
        ("spark.executor.memory=1025t", "more than 1p (1 PiB)"),
        ("spark.driver.maxResultSize=2p", "more than 1p (1 PiB)"),
        ("spark.executor.memory=1_024m", "size like 512m"),
        ("spark.executor.memory=\u0661g", "size like 512m"),
    ],
)
def test_malformed_conf_is_refused(item: str, words: str):
    assert words in refusal(load_profiles({}), "local", [item])


def test_conf_numbers_at_the_limits():
    conf = parse_conf({
        "spark.executor.memory": "1p", "spark.driver.memory": "1048576b",
        "spark.ui.retainedJobs": "10000", "spark.ui.retainedTasks": 100000,
        "spark.executor.instances": "0", "spark.task.resource.gpu.amount": ".5",
    })  # fmt: skip
    assert conf["spark.ui.retainedTasks"] == "100000"
    from swan_ml_ext.spark.conf import memory_mb

    assert memory_mb("k", "1p") == 1024**3 and memory_mb("k", "1048576b") == 1
    assert memory_mb("k", "0001g") == 1024
    with pytest.raises(SparkConfigError, match="too large"):
        parse_conf({"spark.executor.instances": 10**5000})


def test_conf_limits():
    too_many = {f"spark.k{i}": "v" for i in range(201)}
    assert "too many" in refusal(load_profiles({}), "local", too_many)
    assert "longer than" in refusal(load_profiles({}), "local", {"spark." + "a" * 200: "v"})
    assert "longer than" in refusal(load_profiles({}), "local", {"spark.a": "v" * 5000})


def test_gpu_task_amounts_on_plain_local_are_refused():
    message = refusal(
        load_profiles({}),
        "local",
        ["spark.executor.resource.gpu.amount=1", "spark.task.resource.gpu.amount=1"],
    )
    assert "local[2]" in message and "wait forever" in message and "local-gpu" in message
    bad = {"g": {"master": "local[4]", "gpu": {}}}
    assert "wait forever" in refusal(load_profiles(bad), "g")


def test_task_amount_above_executor_amount_is_refused():
    message = refusal(load_profiles({}), "standalone-gpu", ["spark.task.resource.gpu.amount=2"])
    assert "(2) is more than spark.executor.resource.gpu.amount (1)" in message
    site = {"s": {"master": "spark://127.0.0.1:7077", "conf": {
        "spark.task.resource.gpu.amount": "1"}}}  # fmt: skip
    assert "executor.resource.gpu.amount is not" in refusal(load_profiles(site), "s")


def test_missing_or_not_executable_discovery_script_is_refused(tmp_path: Path):
    missing = {"g": {"master": "spark://127.0.0.1:7077",
                     "gpu": {"discovery_script": str(tmp_path / "nope.sh")}}}  # fmt: skip
    assert "does not exist" in refusal(load_profiles(missing), "g")
    script = tmp_path / "gpus.sh"
    script.write_text("#!/bin/sh\necho '{}'\n")
    plain = {"g": {"master": "spark://127.0.0.1:7077", "gpu": {"discovery_script": str(script)}}}
    assert "not executable" in refusal(load_profiles(plain), "g")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    assert resolve(load_profiles(plain), "g")


def test_local_cluster_executor_memory_above_worker_memory_is_refused():
    message = refusal(load_profiles({}), "local-gpu", ["spark.executor.memory=2g"])
    assert "2048 MiB" in message and "1024 MiB" in message


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ({"description": "no master"}, "either master or remote"),
        ({"master": "local[1]", "remote": "sc://h:1"}, "either master or remote"),
        ({"remote": "http://h:1"}, "sc://host:port"),
        ({"master": "local[1]", "colour": "red"}, "unknown field"),
        ({"master": "local[1]", "env": {"1X": "a"}}, "env must map"),
        ({"master": "local[1]", "ui": "ftp://x"}, "http(s) URL"),
        ({"master": "local[1]", "gpu": {"executor_amount": 0}}, "executor_amount"),
        ({"master": "local[1]", "gpu": {"task_amount": 2.5}}, "fraction below 1"),
        ({"remote": "sc://h:1", "gpu": {}}, "does not apply to Spark Connect"),
        ({"master": "local[1]", "conf": {"bad": "1"}}, "not a Spark key"),
    ],
)
def test_bad_site_profiles_are_refused_at_load(raw: dict[str, Any], words: str):
    with pytest.raises(SparkConfigError, match="Spark profile 'p'") as e:
        load_profiles({"p": raw})
    assert words in str(e.value)


# --- the cluster checks --------------------------------------------------------------------


def master_json(*workers: dict[str, Any], status: str = "ALIVE") -> dict[str, Any]:
    return {"url": "spark://127.0.0.1:7077", "status": status, "workers": list(workers)}


def worker(cores: int = 2, memory: int = 2048, gpus: int = 2, used_gpus: int = 0,
           state: str = "ALIVE") -> dict[str, Any]:  # fmt: skip
    addresses = [str(i) for i in range(gpus)]
    return {
        "host": "127.0.0.1", "state": state, "coresfree": cores, "memoryfree": memory,
        "resources": {"gpu": {"name": "gpu", "addresses": addresses}} if gpus else {},
        "resourcesfree": {"gpu": {"name": "gpu", "addresses": addresses[used_gpus:]}}
        if gpus else {},
    }  # fmt: skip


def check_refusal(name: str, answer: Any, extra: Any = None) -> str:
    resolved = resolve(load_profiles({}), name, extra)
    asked: list[str] = []

    def get_json(url: str) -> Any:
        asked.append(url)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with pytest.raises(SparkConfigError) as e:
        check_cluster(resolved, get_json)
    assert asked == ["http://127.0.0.1:8080/json/"]
    assert "\n" not in str(e.value)
    return str(e.value)


def test_check_cluster_passes_when_a_worker_fits():
    seen: list[str] = []
    resolved = resolve(load_profiles({}), "standalone-gpu")
    check_cluster(
        resolved, lambda url: seen.append(url) or master_json(worker(gpus=0), worker(gpus=1))
    )
    assert seen == ["http://127.0.0.1:8080/json/"]
    check_cluster(resolve(load_profiles({}), "local"), lambda url: pytest.fail("asked"))


def test_check_cluster_refusals():
    assert "does not answer" in check_refusal("standalone", ConnectionRefusedError(111, "no"))
    assert "not ALIVE (status: STANDBY)" in check_refusal(
        "standalone", master_json(worker(), status="STANDBY")
    )
    assert "no ALIVE worker" in check_refusal("standalone", master_json(worker(state="DEAD")))
    message = check_refusal("standalone-gpu", master_json(worker(gpus=0)))
    assert "1 gpu" in message and "0 gpu" in message and "wait forever" in message
    assert "0 gpu" in check_refusal("standalone-gpu", master_json(worker(gpus=2, used_gpus=2)))
    message = check_refusal("standalone", master_json(worker()), ["spark.executor.cores=4"])
    assert "4 core(s)" in message and "2 core(s)" in message
    assert "MiB" in check_refusal("standalone", master_json(worker(memory=512)))


def test_check_local_cluster_runs_the_discovery_script(monkeypatch: pytest.MonkeyPatch):
    # Given the shipped script finds no GPU on this machine (no nvidia-smi, no fake GPUs)
    monkeypatch.delenv("SWAN_FAKE_GPUS", raising=False)
    if os.system("command -v nvidia-smi >/dev/null 2>&1") == 0:
        pytest.skip("this machine has nvidia-smi")
    resolved = resolve(load_profiles({}), "local-gpu")
    with pytest.raises(SparkConfigError, match=r"finds 0 gpu\(s\) \[\], .* asks for 1"):
        check_cluster(resolved)
    # When the profile's environment fakes two
    faked = load_profiles({"local-gpu": {"env": {"SWAN_FAKE_GPUS": "0,1"}}})
    # Then
    check_cluster(resolve(faked, "local-gpu"))


def test_discovery_script_output(monkeypatch: pytest.MonkeyPatch):
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "SWAN_FAKE_GPUS"}
    path = "/usr/bin:/bin"  # no nvidia-smi there on the test machines
    out = subprocess.run([DISCOVERY_SCRIPT], env={**env, "PATH": path}, capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert json.loads(out) == {"name": "gpu", "addresses": []}
    faked = {**env, "PATH": path, "SWAN_FAKE_GPUS": "0, 1"}
    out = subprocess.run([DISCOVERY_SCRIPT], env=faked, capture_output=True, text=True).stdout
    assert json.loads(out) == {"name": "gpu", "addresses": ["0", "1"]}


# --- against a real standalone master (tests/spark_cluster.py) ------------------------------


def test_check_cluster_against_a_real_master(spark_cluster: Any):
    # Given the test cluster: one worker with 2 cores and 2 fake GPUs
    profiles = load_profiles(spark_cluster.profiles())
    # Then one GPU per executor fits, three do not
    check_cluster(resolve(profiles, "standalone-gpu"))
    with pytest.raises(SparkConfigError, match="no ALIVE worker .* 3 gpu .* 2 gpu"):
        check_cluster(resolve(profiles, "standalone-gpu", ["spark.executor.resource.gpu.amount=3"]))
    with pytest.raises(SparkConfigError, match="8 core"):
        check_cluster(resolve(profiles, "standalone", ["spark.executor.cores=8"]))
    gone = load_profiles({"standalone": {"master_ui": "http://127.0.0.1:9"}})
    with pytest.raises(SparkConfigError, match="does not answer"):
        check_cluster(resolve(gone, "standalone"))


# --- what the server runs and reads: discovery scripts, a master's /json/ -----------------


def gpu_profile(tmp_path: Path, body: str, executors: int = 2) -> Any:
    """local-gpu with the site's discovery script `body` (a shell script)."""
    script = tmp_path / "gpus.sh"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o700)
    gpu = {"discovery_script": str(script), "executor_amount": executors}
    site = {"local-gpu": {"gpu": gpu, "master": "local-cluster[1,2,1024]"}}
    return resolve(load_profiles(site), "local-gpu")


def test_discovery_script_runs_without_the_servers_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Given the server's credentials in its environment
    for name in ("SWAN_ML_TOKEN", "SWAN_ML_URL", "SWAN_ML_ROOT", "JPY_SESSION_NAME"):
        monkeypatch.setenv(name, "secret")
    monkeypatch.setenv("SWAN_OTHER", "kept")
    body = (
        'echo "{\\"name\\": \\"gpu\\", \\"addresses\\": [\\"${SWAN_ML_TOKEN:-none}\\", '
        '\\"${SWAN_ML_URL:-none}${SWAN_ML_ROOT:-}${JPY_SESSION_NAME:-}\\", \\"$SWAN_OTHER\\"]}"\n'
    )
    # When the check runs the site's script (which finds 3 of the 4 asked for)
    with pytest.raises(SparkConfigError) as e:
        check_cluster(gpu_profile(tmp_path, body, executors=4))
    # Then it did not see them
    assert "finds 3 gpu(s) ['none', 'none', 'kept']" in str(e.value)


def test_discovery_script_output_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from swan_ml_ext.spark import cluster

    monkeypatch.setattr(cluster, "MAX_SCRIPT_OUTPUT", 1000)
    resolved = gpu_profile(tmp_path, "head -c 100000 /dev/zero | tr '\\0' x\n")
    with pytest.raises(SparkConfigError, match=r"gpus.sh failed: it wrote more than 0 KiB$"):
        check_cluster(resolved)


def test_discovery_script_is_stopped_after_its_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import time

    from swan_ml_ext.spark import cluster

    monkeypatch.setattr(cluster, "DISCOVERY_TIMEOUT_S", 0.5)
    marker = tmp_path / "still-running"
    resolved = gpu_profile(tmp_path, f"sleep 3; touch {marker}\n")
    started = time.monotonic()
    with pytest.raises(SparkConfigError, match="gpus.sh failed: .*timed out"):
        check_cluster(resolved)
    assert time.monotonic() - started < 2.5
    time.sleep(3)
    assert not marker.exists()  # the script's children were killed too


def test_a_masters_answer_is_read_up_to_a_limit(monkeypatch: pytest.MonkeyPatch):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from swan_ml_ext.spark import cluster

    big = b'{"status": "ALIVE", "workers": [], "pad": "' + b"x" * (5 << 20) + b'"}'

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(big)))
            self.end_headers()
            try:
                self.wfile.write(big)
            except OSError:
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ui = f"http://127.0.0.1:{server.server_address[1]}"
        site = {"standalone": {"master_ui": ui}}
        with pytest.raises(SparkConfigError) as e:
            check_cluster(resolve(load_profiles(site), "standalone"))
        assert str(e.value) == (
            f"the Spark master's web UI answered {ui}/json/ with more than 4 MiB: not a "
            "standalone master's /json/"
        )
        monkeypatch.setattr(cluster, "MAX_JSON", 6 << 20)  # under the limit: read and judged
        with pytest.raises(SparkConfigError, match="has no ALIVE worker"):
            check_cluster(resolve(load_profiles(site), "standalone"))
    finally:
        server.shutdown()
        server.server_close()
