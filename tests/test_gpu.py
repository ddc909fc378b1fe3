"""GET gpu, `%swan gpu`, `swan-ml gpu` (issue 11, item 1).

Pure tests of the shaping and mapping with plain data (MIG instances, kernels' descendants,
peaks), of the once-per-interval sampling (an injected reader counts NVML reads), and the
no-NVML path for real: this machine has no NVIDIA driver, so a real server answers 200
`available: false`, a real kernel's `%swan gpu` prints the calm line, and Schemathesis runs
GET /gpu. The NVML path with a real GPU: bench/gpu_device_check.sh.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from jupyter_client.manager import start_new_kernel
from schemathesis.openapi.checks import MissingHeaderNotRejected

from swan_ml_ext.client import ClientError, Server, SwanMLClient
from swan_ml_ext.gpu.kernels import (
    KernelContext,
    PeakTracker,
    kernel_pid,
    map_processes,
    notebooks_by_kernel,
    ppid_of,
)
from swan_ml_ext.gpu.magics import format_gpu
from swan_ml_ext.gpu.nvml import GpuSampler, GpuUnavailable, NvmlReader, reason_for
from swan_ml_ext.gpu.shape import NO_DEVICE, NO_NVML, answer, shape_devices

from .conftest import conforms, server_config
from .server import ServerProcess

GiB = 1024**3


def a100_mig() -> dict[str, Any]:
    """RAW: GPU 0 an A100 in MIG mode with two instances, GPU 1 a plain T4."""
    return {
        "driver_version": "580.95.05",
        "devices": [
            {
                "index": 0, "uuid": "GPU-a100", "name": "NVIDIA A100-SXM4-40GB",
                "memory_used": 6 * GiB, "memory_total": 40 * GiB, "utilization": None,
                "temperature": 35, "mig": (True, True),
                # the GPU's own list: 501 is also an instance's; 502 only here (placed by ids)
                "processes": [(501, None, 1, 0), (502, None, 2, 0)],
                "instances": [
                    {"index": 0, "uuid": "MIG-1", "name": "NVIDIA A100-SXM4-40GB MIG 3g.20gb",
                     "memory_used": 4 * GiB, "memory_total": 20 * GiB, "gpu_instance_id": 1,
                     "compute_instance_id": 0, "processes": [(501, 4 * GiB)]},
                    {"index": 1, "uuid": "MIG-2", "name": "NVIDIA A100-SXM4-40GB MIG 3g.20gb",
                     "memory_used": 2 * GiB, "memory_total": 20 * GiB, "gpu_instance_id": 2,
                     "compute_instance_id": 0, "processes": None},  # NVML could not say
                ],
            },
            {
                "index": 1, "uuid": "GPU-t4", "name": "Tesla T4", "memory_used": 3 * GiB,
                "memory_total": 16 * GiB, "utilization": 80, "temperature": 60, "mig": None,
                "processes": [(601, 1 * GiB, None, None), (700, 2 * GiB, None, None)],
                "instances": [],
            },
        ],
    }  # fmt: skip


# Process tree: kernel k1 (pid 100) → 501 (a child) and 601 (a grandchild, through 550);
# kernel k2 (pid 200) → 502; 700 belongs to no kernel (its parent is 1).
PPIDS = {501: 100, 550: 100, 601: 550, 502: 200, 700: 1, 100: 50, 200: 50, 50: 1}
CONTEXT = KernelContext({"k1": 100, "k2": 200, "k3": 300}, {"k1": "a/train.ipynb"})


# -- shaping and mapping (pure) -----------------------------------------------------------
def test_shape_devices_places_mig_processes_on_their_instances():
    # Given a MIG GPU whose instances report some processes and the GPU others
    devices, flat = shape_devices(a100_mig())
    # Then each process is on its instance, once, and the T4's are on the T4
    a100, t4 = devices
    assert a100["mig"] == {"current": True, "pending": True}
    assert [i["uuid"] for i in a100["mig_instances"]] == ["MIG-1", "MIG-2"]
    assert a100["mig_instances"][0]["memory_total_bytes"] == 20 * GiB
    assert a100["processes"] == [
        {"pid": 501, "memory_used_bytes": 4 * GiB, "mig_instance_uuid": "MIG-1"},
        {"pid": 502, "memory_used_bytes": None, "mig_instance_uuid": "MIG-2"},
    ]
    assert t4["mig"] is None and t4["mig_instances"] == [] and t4["utilization_percent"] == 80
    assert [(p["pid"], p["device_index"]) for p in flat] == [(501, 0), (502, 0), (601, 1), (700, 1)]


def test_processes_map_to_kernels_through_their_ancestors():
    _, flat = shape_devices(a100_mig())
    # When GPU processes are mapped to kernel pids by walking ppid upwards
    usage = map_processes(flat, CONTEXT.pids, PPIDS.get)
    # Then a child and a grandchild count for their kernel, a foreign process for none
    assert set(usage) == {"k1", "k2"}
    assert usage["k1"]["pids"] == [501, 601]
    assert usage["k1"]["memory_used_bytes"] == 5 * GiB
    assert [(d["index"], d["mig_instance_uuid"], d["memory_used_bytes"])
            for d in usage["k1"]["devices"]] == [(0, "MIG-1", 4 * GiB), (1, None, GiB)]  # fmt: skip
    assert usage["k2"]["memory_known"] is False  # NVML gave no figure for 502


def test_answer_is_the_rest_shape_with_kernels_notebooks_and_peaks():
    # Given a sample of the GPUs above
    peaks = PeakTracker()
    data = answer(a100_mig(), None, 1.7e9, CONTEXT, peaks, PPIDS.get)
    # Then it conforms to the document and says who uses what
    conforms("GET", "/gpu", 200, data)
    assert data["available"] is True and data["driver_version"] == "580.95.05"
    owners = {p["pid"]: p["kernel_id"] for d in data["devices"] for p in d["processes"]}
    assert owners == {501: "k1", 502: "k2", 601: "k1", 700: None}
    k1, k2 = data["kernels"]
    assert (k1["kernel_id"], k1["notebook"], k1["memory_used_bytes"], k1["peak_memory_bytes"]) == (
        "k1", "a/train.ipynb", 5 * GiB, 5 * GiB)  # fmt: skip
    assert (k2["notebook"], k2["memory_used_bytes"], k2["peak_memory_bytes"]) == (None, None, 0)
    assert data["sampled_at"].startswith("2023-11-14T22:13:20")


def test_peaks_rise_stay_and_end_with_the_kernel():
    peaks = PeakTracker()
    raw = a100_mig()
    answer(raw, None, 1.0, CONTEXT, peaks, PPIDS.get)
    # When k1 frees memory (its T4 process ends), its peak stays and it is still listed
    raw["devices"][1]["processes"] = [(700, 2 * GiB, None, None)]
    raw["devices"][0]["instances"][0]["processes"] = [(501, 1 * GiB)]
    data = answer(raw, None, 2.0, CONTEXT, peaks, PPIDS.get)
    k1 = next(k for k in data["kernels"] if k["kernel_id"] == "k1")
    assert (k1["memory_used_bytes"], k1["peak_memory_bytes"]) == (GiB, 5 * GiB)
    # and when it leaves the GPU entirely it is still listed, with its peak
    raw["devices"][0]["instances"][0]["processes"] = []
    raw["devices"][0]["processes"] = [(502, None, 2, 0)]
    data = answer(raw, None, 3.0, CONTEXT, peaks, PPIDS.get)
    k1 = next(k for k in data["kernels"] if k["kernel_id"] == "k1")
    assert (k1["memory_used_bytes"], k1["peak_memory_bytes"], k1["pids"]) == (0, 5 * GiB, [])
    # Then a kernel that is gone is forgotten
    gone = KernelContext({"k2": 200}, {})
    data = answer(raw, None, 4.0, gone, peaks, PPIDS.get)
    assert [k["kernel_id"] for k in data["kernels"]] == ["k2"] and peaks.get("k1") == 0


def test_no_device_and_no_nvml_are_calm_answers():
    for raw, reason, words in ((None, NO_NVML, NO_NVML), ({"devices": []}, None, NO_DEVICE)):
        data = answer(raw, reason, 0.0, CONTEXT, PeakTracker(), PPIDS.get)
        conforms("GET", "/gpu", 200, data)
        assert data["available"] is False and data["reason"] == words
        assert data["devices"] == [] and data["kernels"] == []


def test_nvml_errors_become_words():
    class Err(Exception):
        def __init__(self, value: int):
            self.value = value

    assert reason_for(Err(12)) == NO_NVML
    assert "driver is not loaded" in reason_for(Err(9))
    assert reason_for(Err(999)).startswith("NVML is not usable in this session")


class FakeNvml:
    """A stand-in for the pynvml module, with the functions nvml._read calls (their names are
    checked against the real module below): an A100 in MIG mode with one instance, whose
    utilization NVML does not support, and a T4. Only the thin reader's walk is tested here;
    real NVML runs in bench/gpu_device_check.sh."""

    NVML_TEMPERATURE_GPU = 0

    class NVMLError(Exception):
        pass

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return f"gpu{i}"

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(used=GiB, total=(5 if h.startswith("mig") else 40) * GiB)

    def nvmlDeviceGetUtilizationRates(self, h):
        if h == "gpu0":
            raise self.NVMLError("Not Supported")
        return SimpleNamespace(gpu=12)

    def nvmlDeviceGetMigMode(self, h):
        if h == "gpu1":
            raise self.NVMLError("Not Supported")
        return [1, 0]

    def nvmlDeviceGetUUID(self, h):
        return f"UUID-{h}"

    def nvmlDeviceGetName(self, h):
        return b"NVIDIA A100-SXM4-40GB" if h == "gpu0" else "Tesla T4"

    def nvmlDeviceGetTemperature(self, h, sensor):
        return 40

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        p = SimpleNamespace(pid=9, usedGpuMemory=None, gpuInstanceId=1, computeInstanceId=0)
        return {"gpu0": [p], "mig0": [SimpleNamespace(pid=9, usedGpuMemory=GiB)]}.get(h, [])

    def nvmlDeviceGetMaxMigDeviceCount(self, h):
        return 2

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h, j):
        if j == 1:
            raise self.NVMLError("Not Found")
        return f"mig{j}"

    def nvmlDeviceGetGpuInstanceId(self, m):
        return 1

    def nvmlDeviceGetComputeInstanceId(self, m):
        return 0

    def nvmlSystemGetDriverVersion(self):
        return "580.95.05"


def test_the_thin_reader_walks_devices_and_mig_instances():
    import pynvml

    from swan_ml_ext.gpu.nvml import _read

    fake = FakeNvml()
    for name in (n for n in dir(FakeNvml) if n.startswith("nvml") or n.startswith("NVML")):
        assert hasattr(pynvml, name), name  # the real binding has every name the reader uses
    raw = _read(fake)
    a100, t4 = raw["devices"]
    assert (a100["name"], a100["utilization"], a100["mig"]) == ("NVIDIA A100-SXM4-40GB", None,
                                                               (True, False))  # fmt: skip
    assert a100["processes"] == [(9, None, 1, 0)]
    assert [(i["uuid"], i["memory_total"], i["processes"]) for i in a100["instances"]] == [
        ("UUID-mig0", 5 * GiB, [(9, GiB)])]  # fmt: skip
    assert (t4["mig"], t4["utilization"], t4["instances"]) == (None, 12, [])
    data = answer(raw, None, 0.0, KernelContext({"k": 9}, {}), PeakTracker(), {}.get)
    conforms("GET", "/gpu", 200, data)
    assert data["kernels"][0]["devices"] == [
        {"index": 0, "uuid": "UUID-gpu0", "mig_instance_uuid": "UUID-mig0",
         "memory_used_bytes": GiB}]  # fmt: skip


async def test_any_reader_failure_is_a_calm_answer():
    def broken() -> dict[str, Any]:
        raise RuntimeError("the driver fell off the bus")

    data = await GpuSampler(reader=broken).get()
    assert data["available"] is False
    assert data["reason"] == (
        "reading the GPUs failed here (RuntimeError: the driver fell off the bus)")  # fmt: skip


def test_kernel_pid_and_notebook_paths():
    popen = SimpleNamespace(pid=4242)
    assert kernel_pid(SimpleNamespace(provisioner=SimpleNamespace(pid=None, process=popen))) == 4242
    assert kernel_pid(SimpleNamespace(provisioner=SimpleNamespace(pid=77))) == 77
    assert kernel_pid(SimpleNamespace(provisioner=None)) is None  # remote or not started
    sessions = [
        {"kernel": {"id": "k1"}, "path": "console-1", "type": "console"},
        {"kernel": {"id": "k1"}, "path": "a/train.ipynb", "type": "notebook"},
        {"kernel": {"id": "k2"}, "path": "b.py", "type": "file"},
        {"kernel": None, "path": "x"},
    ]
    assert notebooks_by_kernel(sessions) == {"k1": "a/train.ipynb", "k2": "b.py"}


def test_a_real_child_process_maps_to_its_kernel_through_proc():
    # Given this test process as a "kernel" and a real grandchild of it
    child = subprocess.Popen(
        [sys.executable, "-c", "import subprocess,sys; subprocess.run([sys.executable, '-c',"
         " 'import time; print(__import__(\"os\").getpid(), flush=True); time.sleep(30)'])"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        grandchild = int(child.stdout.readline())
        assert ppid_of(os.getpid()) == os.getppid()
        flat = [{"pid": grandchild, "memory_used_bytes": 10, "device_index": 0,
                 "device_uuid": "GPU-x", "mig_instance_uuid": None}]  # fmt: skip
        # Then /proc's ppid chain leads to it
        assert set(map_processes(flat, {"me": os.getpid()}, ppid_of)) == {"me"}
        assert map_processes(flat, {"other": 1}, ppid_of) == {}
    finally:
        child.kill()
        child.wait()
    assert ppid_of(2**22 + 12345) is None  # no such process


# -- sampling once per interval -----------------------------------------------------------
class CountingReader:
    def __init__(self, raw: dict[str, Any] | None = None, delay: float = 0.05):
        self.calls = 0
        self.raw = raw
        self.delay = delay

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        time.sleep(self.delay)  # a slow read: concurrent callers arrive while it runs
        if self.raw is None:
            raise GpuUnavailable(NO_NVML)
        return self.raw


async def test_concurrent_callers_share_one_nvml_read():
    # Given a sampler with a reader that counts its calls and a clock the test moves
    now = [0.0]
    reader = CountingReader(a100_mig())
    sampler = GpuSampler(reader=reader, interval=1.0, clock=lambda: now[0], ppid=PPIDS.get)
    # When 50 callers ask at once
    texts = await asyncio.gather(*(sampler.text() for _ in range(50)))
    # Then NVML was read once and all got the same answer
    assert reader.calls == 1 and len(set(texts)) == 1
    assert json.loads(texts[0])["available"] is True
    # and within the interval nothing is read again
    now[0] = 0.99
    await asyncio.gather(*(sampler.get() for _ in range(10)))
    assert reader.calls == 1
    # Then, stale by less than one more interval: the cached answer at once, and one read in
    # the background for everyone
    now[0] = 1.5
    again = await asyncio.gather(*(sampler.text() for _ in range(10)))
    assert set(again) == set(texts) and sampler._refresh is not None
    await sampler._refresh
    assert reader.calls == 2 == sampler.samples
    # and after a pause (over two intervals), the caller waits for a new read
    now[0] = 10.0
    await asyncio.gather(*(sampler.get() for _ in range(10)))
    assert reader.calls == 3


async def test_sampler_without_nvml_answers_and_the_watch_stops():
    reader = CountingReader(None, delay=0)
    sampler = GpuSampler(reader=reader, interval=1.0)
    sampler.start(0.01)
    assert sampler._task is not None
    await asyncio.wait_for(sampler._task, 5)  # no GPU: the watch ends after one reading
    data = await sampler.get()
    assert data["available"] is False and data["reason"] == NO_NVML and reader.calls == 1
    await sampler.stop()


async def test_the_watch_keeps_sampling_where_there_is_a_gpu():
    reader = CountingReader(a100_mig(), delay=0)
    sampler = GpuSampler(reader=reader, interval=0.0, ppid=PPIDS.get)
    sampler.start(0.01)
    await asyncio.sleep(0.3)
    await sampler.stop()
    assert reader.calls >= 3


def test_the_real_reader_here_has_no_nvml():
    # This machine has no NVIDIA driver: the real reader says so, quickly.
    t = time.perf_counter()
    with pytest.raises(GpuUnavailable) as e:
        NvmlReader()()
    assert e.value.reason == NO_NVML and time.perf_counter() - t < 0.5


def test_format_gpu_table_and_calm_line():
    data = answer(a100_mig(), None, 0.0, CONTEXT, PeakTracker(), PPIDS.get)
    text = format_gpu(data)
    assert "GPU 0  NVIDIA A100-SXM4-40GB  6.0 GiB / 40.0 GiB  35°C  MIG on" in text
    assert "  MIG 3g.20gb  4.0 GiB / 20.0 GiB  MIG-1" in text
    assert "  a/train.ipynb  5.0 GiB (peak 5.0 GiB)  GPU 0 MIG, GPU 1" in text
    assert "other processes on the GPUs: 1 (2.0 GiB)" in text
    none = format_gpu(answer(None, NO_NVML, 0.0, CONTEXT, PeakTracker()))
    assert none == f"GPU: none here: {NO_NVML}"


# -- the no-NVML path for real ------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("gpu"),
        "--SwanMLApp.backends=fake",
        "--SwanMLApp.backend_classes=fake=tests.fake_backend:FakeBackend",
    )
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()  # also when it never answered: no server left behind


def test_get_gpu_without_nvml_is_200_and_calm(server: ServerProcess):
    data = server.client.request("GET", "gpu")
    conforms("GET", "/gpu", 200, data)
    assert data["available"] is False and data["reason"] == NO_NVML
    assert data["devices"] == [] and data["kernels"] == []
    # without the token: 403, as every route
    anonymous = SwanMLClient(Server(server.client.server.url, ""))
    with pytest.raises(ClientError) as e:
        anonymous.request("GET", "gpu")
    assert e.value.status == 403
    # 20 concurrent clients within the interval share one sample
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: server.client.request("GET", "gpu"), range(20)))
    assert len({a["sampled_at"] for a in answers}) <= 2  # at most one interval boundary


@pytest.fixture
def jp_server_config(tmp_path: Any) -> dict[str, Any]:
    """The in-process server (pytest-jupyter) for this module: the fake backend, no pool."""
    return server_config(
        tmp_path, backends=["fake"], backend_classes={"fake": "tests.fake_backend:FakeBackend"}
    )


async def test_a_real_kernel_and_its_child_map_to_their_notebook(swan_app, api, jp_serverapp):
    # Given a real kernel of this server, started for a notebook session, and a child of it
    session = await jp_serverapp.session_manager.create_session(
        path="work/train.ipynb", name="train.ipynb", type="notebook", kernel_name="python3"
    )
    kid = session["kernel"]["id"]
    context = await swan_app.gpu.context()
    pid = context.pids[kid]  # the local provisioner's pid: the kernel's own process
    assert ppid_of(pid) == os.getpid() and context.notebooks[kid] == "work/train.ipynb"
    # and NVML (a reader standing in for it) reporting the kernel and a child of it on a GPU
    # (the child's ppid given here; /proc's walk is tested above with real processes)
    child = 4_000_001
    raw = a100_mig()
    raw["devices"][1]["processes"] = [(pid, GiB, None, None), (child, 2 * GiB, None, None)]
    swan_app.gpu.reader = lambda: raw
    swan_app.gpu.ppid = lambda p: pid if p == child else ppid_of(p)
    swan_app.gpu._text = None  # drop the cached no-GPU answer
    try:
        # When a client asks
        status, data = await api.call("GET", "gpu")
        # Then the kernel is named with its notebook, both processes and the memory of both
        assert status == 200 and data["available"] is True
        (mine,) = [k for k in data["kernels"] if k["kernel_id"] == kid]
        assert mine["notebook"] == "work/train.ipynb"
        assert sorted(mine["pids"]) == sorted([pid, child])
        assert mine["memory_used_bytes"] == mine["peak_memory_bytes"] == 3 * GiB
        assert swan_app.gpu.peak_memory_bytes(kid) == 3 * GiB
    finally:
        await jp_serverapp.session_manager.delete_session(session["id"])


def _kernel_run(env: dict[str, str], code: str) -> dict[str, str]:
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    try:
        msg_id = kc.execute(code)
        out = {"stdout": "", "stderr": "", "data": ""}
        while True:
            msg = kc.get_iopub_msg(timeout=120)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            content = msg["content"]
            if msg["msg_type"] == "stream":
                out[content["name"]] += content["text"]
            elif msg["msg_type"] == "execute_result":
                out["data"] += content["data"].get("text/plain", "")
            elif msg["msg_type"] == "status" and content["execution_state"] == "idle":
                return out
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_magic_prints_the_calm_line_and_returns_json(server: ServerProcess):
    env = dict(os.environ, SWAN_ML_URL=f"http://127.0.0.1:{server.port}/",
               SWAN_ML_TOKEN=server.client.server.token)  # fmt: skip
    out = _kernel_run(env, "%load_ext swan_ml_ext\n%swan gpu\nr = %swan gpu --json\nr['available']")
    assert out["stdout"].strip() == f"GPU: none here: {NO_NVML}", out
    assert out["stderr"] == "" and out["data"] == "False"


def test_cli_gpu(server: ServerProcess):
    base = [sys.executable, "-m", "swan_ml_ext.cli", "--url", f"http://127.0.0.1:{server.port}/",
            "--token", server.client.server.token, "gpu"]  # fmt: skip
    r = subprocess.run(base, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"GPU: none here: {NO_NVML}", r
    r = subprocess.run([*base, "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and json.loads(r.stdout)["reason"] == NO_NVML, r


@pytest.fixture(scope="module")
def gpu_api_schema(server: ServerProcess) -> schemathesis.BaseSchema:
    """GET /gpu alone, with every Schemathesis check (test_schemathesis.py runs every
    operation against the pool-backed server; this one needs no pool)."""
    base = f"http://127.0.0.1:{server.port}/swan-ml-ext"
    token = f"token {server.client.server.token}"
    config = schemathesis.Config.from_dict({"auth": {"openapi": {"token": {"api_key": token}}}})
    schema = schemathesis.openapi.from_url(
        f"{base}/openapi.json", config=config, headers={"Authorization": token}, timeout=30
    )
    schema.config.update(base_url=base, request_timeout=30)
    schema.config.generation.update(with_security_parameters=False)
    schema.hooks.hook(filter_failure)
    return schema


def filter_failure(ctx: Any, failure: Any, case: Any, response: Any) -> bool:
    """Drops only what test_schemathesis.py drops for every operation: without credentials
    Jupyter answers 403 (documented), where missing_required_header insists on 401."""
    return not (
        isinstance(failure, MissingHeaderNotRejected)
        and failure.header_name.lower() == "authorization"
        and response.status_code == 403
    )


@pytest.fixture(autouse=True)
def _nodeid_shim(request: pytest.FixtureRequest) -> None:
    """As in test_schemathesis.py: pytest 9.2 renamed the attribute schemathesis writes."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


gpu_schema = schemathesis.pytest.from_fixture("gpu_api_schema").include(path_regex="^/gpu$")


@gpu_schema.parametrize()
@settings(max_examples=10, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])  # fmt: skip
def test_gpu_schemathesis(case: schemathesis.Case, server: ServerProcess) -> None:
    case.call_and_validate(timeout=30)


def test_openapi_documents_the_gpu_shape():
    from .conftest import OPENAPI

    schemas = OPENAPI["components"]["schemas"]
    assert set(schemas["Gpu"]["required"]) == {
        "available", "reason", "sampled_at", "driver_version", "devices", "kernels"}  # fmt: skip
    assert "403" in OPENAPI["paths"]["/gpu"]["get"]["responses"]
