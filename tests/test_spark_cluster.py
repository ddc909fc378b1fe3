"""The test Spark cluster itself: master + worker with 2 GPUs, a Connect server, loopback only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from swan_ml_ext.spark.profiles import check_cluster, load_profiles, resolve

from .spark_cluster import GPUS, SparkCluster, get_json

# /proc/net/tcp{,6} local addresses meaning 127.0.0.1 (plain, v4-mapped) or ::1.
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}

CLASSIC_JOB = """
import json, sys
from pyspark import TaskContext
from pyspark.sql import SparkSession
builder = SparkSession.builder.master(sys.argv[1]).appName("swan-cluster-test")
for k, v in json.loads(sys.argv[2]).items():
    builder = builder.config(k, v)
spark = builder.getOrCreate()
gpus = spark.sparkContext.parallelize(range(4), 2).map(
    lambda _: TaskContext.get().resources()["gpu"].addresses
).collect()
print(json.dumps({"count": spark.range(1000).count(), "gpus": gpus}))
spark.stop()
"""

CONNECT_JOB = """
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
print(spark.range(10).count())
"""


def run_python(code: str, *args: str) -> str:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def listening(port: int) -> set[str]:
    """The local addresses of the sockets listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            addr, hexport = cols[1].split(":")
            if cols[3] == "0A" and int(hexport, 16) == port:
                found.add(addr)
    return found


def test_master_lists_one_alive_worker_with_two_gpus(spark_cluster: SparkCluster):
    # When
    state = get_json(f"{spark_cluster.master_ui}/json/")
    # Then
    alive = [w for w in state["workers"] if w["state"] == "ALIVE"]
    assert len(alive) == 1
    assert alive[0]["cores"] == 2
    assert alive[0]["resources"]["gpu"]["addresses"] == GPUS
    print(f"spark cluster startup: {spark_cluster.startup_s:.1f} s")


def test_everything_listens_on_loopback_only(spark_cluster: SparkCluster):
    ports = [
        spark_cluster.master_port,
        spark_cluster.master_ui_port,
        spark_cluster.worker_ui_port,
        spark_cluster.connect_port,
        spark_cluster.connect_ui_port,
    ]
    for port in ports:
        addrs = listening(port)
        assert addrs and addrs <= LOOPBACK, (port, addrs)


def test_classic_session_runs_a_job_on_the_gpus_of_the_worker(spark_cluster: SparkCluster):
    # Given: the standalone-gpu profile's resources, small memory
    conf = {
        "spark.driver.memory": "512m",
        "spark.executor.memory": "512m",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.showConsoleProgress": "false",
        "spark.ui.enabled": "false",
        "spark.executor.resource.gpu.amount": "1",
        "spark.task.resource.gpu.amount": "1",
    }
    # When
    out = json.loads(run_python(CLASSIC_JOB, spark_cluster.master_url, json.dumps(conf)))
    # Then: every task ran on one fake GPU of the worker
    assert out["count"] == 1000
    assert len(out["gpus"]) == 4
    assert all(len(g) == 1 and g[0] in GPUS for g in out["gpus"])


def test_connect_client_counts(spark_cluster: SparkCluster):
    assert run_python(CONNECT_JOB, spark_cluster.connect_url) == "10"
    apps = get_json(f"{spark_cluster.connect_ui}/api/v1/applications")
    assert len(apps) == 1


def test_profiles_overlay_points_at_the_cluster(spark_cluster: SparkCluster):
    # When
    profiles = load_profiles(spark_cluster.profiles())
    # Then: they resolve, and the GPU profile passes the master check
    assert resolve(profiles, "standalone").to_spec()["master"] == spark_cluster.master_url
    assert profiles["connect"].remote == spark_cluster.connect_url
    assert profiles["connect"].ui == spark_cluster.connect_ui
    check_cluster(resolve(profiles, "standalone-gpu"))
