"""Shared by tests/test_spark_ui.py and tests/test_spark_poller.py: a real local Spark in the
test process (one per module), the in-process server's config, a slow job in a thread, and a
tiny HTTP server that records what it is sent (a stand-in UI registered in-process)."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import conforms, server_config

CELL = "cell-ui-1"


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("swan ui test")
        .config("spark.ui.port", "0")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", "512m")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    try:
        sc = session.sparkContext
        sc.setJobGroup(f"swan-cell-{CELL}", "a finished job")
        assert sc.parallelize(range(100), 2).sum() == 4950
        yield session
    finally:
        session.stop()


def info(spark: Any) -> dict[str, Any]:
    sc = spark.sparkContext
    port = int(sc.uiWebUrl.rsplit(":", 1)[1])
    return {
        "kind": "classic",
        "profile": "local",
        "app_id": sc.applicationId,
        "app_name": sc.appName,
        "ui_url": f"http://127.0.0.1:{port}",
        "session_id": None,
        "master": sc.master,
    }


@pytest.fixture
def jp_server_config(tmp_path: Path) -> dict[str, Any]:
    # The poller's own task makes its first pass only: the tests drive it with tick().
    return server_config(
        tmp_path,
        spark_poll_interval=3600.0,
        backends=["condor", "fake"],
        backend_classes={"fake": "tests.fake_backend:FakeBackend"},
    )


@pytest.fixture
def spark_mgr(swan_app: Any) -> Any:
    return swan_app.spark


class Slow:
    """A job of 2 tasks of `seconds` each, run in a thread (its own job group)."""

    def __init__(self, spark: Any, cell: str, seconds: float):
        self.error: BaseException | None = None

        def run() -> None:
            sc = spark.sparkContext
            sc.setJobGroup(f"swan-cell-{cell}", "slow", interruptOnCancel=True)
            try:
                sc.parallelize(range(2), 2).map(lambda x: time.sleep(seconds) or x).count()
            except Exception as e:  # the kill makes count() raise: the test checks it
                self.error = e

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()


async def until(predicate: Any, timeout: float = 30, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.2)


async def get_json(jp_fetch: Any, path: str, template: str) -> Any:
    resp = await jp_fetch("swan-ml-ext", *path.split("/"), method="GET")
    data = json.loads(resp.body)
    conforms("GET", template, resp.code, data)
    return data


class Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, dict[str, str]]] = []

    def do_GET(self) -> None:
        Recorder.seen.append((self.path, dict(self.headers)))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Set-Cookie", "spark=1; Path=/")
        self.end_headers()
        self.wfile.write(b"recorded")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        Recorder.seen.append((f"POST {self.path} {self.rfile.read(length).decode()}", {}))
        self.send_response(302)
        self.send_header("Location", "/jobs/")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_http(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    """A local HTTP server with `handler`, in a thread: its port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def recorder() -> Iterator[int]:
    Recorder.seen.clear()
    with serve_http(Recorder) as port:
        yield port
