"""The shared CLI/magic verbs: value typing, parameters, memory sizes, the parser, formatting."""

from __future__ import annotations

import json
from typing import Any

import pytest

from swan_ml_ext import cli
from swan_ml_ext.check_commands import dry_run
from swan_ml_ext.client import ClientError, Server, SwanMLClient
from swan_ml_ext.commands import build_parser, run_verb
from swan_ml_ext.input_commands import inputs_line, local_size
from swan_ml_ext.options_commands import UsageError, parse_memory, parse_param, parse_value
from swan_ml_ext.spec_commands import spec_from_args, submit_spec
from swan_ml_ext.view_commands import (
    engine_text,
    format_backends,
    format_job,
    format_jobs,
    gpu_type_text,
    job_actions,
    progress_line,
)

# --- parse_value --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3),
        ("-7", -7),
        ("2.5", 2.5),
        ("1e3", 1000.0),
        ("true", True),
        ("True", True),
        ("false", False),
        ("False", False),
        ("null", None),
        ("None", None),
        ("[1,2]", [1, 2]),
        ('{"a":1}', {"a": 1}),
        ('{"a": [1, {"b": null}]}', {"a": [1, {"b": None}]}),
        ("hello", "hello"),
        ('"42"', "42"),
        ("", ""),
        ("01", "01"),  # not valid JSON: stays a string
        ("hello world", "hello world"),
        ("[1,2", "[1,2"),  # broken JSON stays a string
        ("/data/x.csv", "/data/x.csv"),
    ],
)
def test_parse_value_types(text: str, expected: Any) -> None:
    value = parse_value(text)
    assert value == expected
    assert type(value) is type(expected)


def test_parse_value_python_literals_ignore_surrounding_space() -> None:
    assert parse_value(" True ") is True
    assert parse_value(" None") is None
    # other strings keep their spaces exactly
    assert parse_value(" hello ") == " hello "


# --- parse_param --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("x=1", ("x", 1)),
        ("lr=0.001", ("lr", 0.001)),
        ("name=run one", ("name", "run one")),
        (" epochs = 5", ("epochs", 5)),
        ("flag=True", ("flag", True)),
        ("expr=a=b", ("expr", "a=b")),  # only the first '=' splits
        ("empty=", ("empty", "")),
        ("_private=null", ("_private", None)),
        ("layers=[64, 32]", ("layers", [64, 32])),
    ],
)
def test_parse_param_good(item: str, expected: tuple[str, Any]) -> None:
    assert parse_param(item) == expected


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ("x", "must look like name=value"),
        ("", "must look like name=value"),
        ("1x=2", "not a valid Python identifier"),
        ("=1", "not a valid Python identifier"),
        ("my-param=1", "not a valid Python identifier"),
        ("a b=1", "not a valid Python identifier"),
    ],
)
def test_parse_param_bad(item: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_param(item)
    assert fragment in str(info.value)


# --- parse_memory -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mb"),
    [
        ("4GB", 4096),
        ("4G", 4096),
        ("4gb", 4096),
        ("4 GB", 4096),
        ("512MB", 512),
        ("512M", 512),
        ("2048", 2048),
        ("1.5GiB", 1536),
        ("1TB", 1024 * 1024),
        ("2048KB", 2),
        ("1536KiB", 2),  # 1.5 MB rounds to 2
    ],
)
def test_parse_memory_good(text: str, mb: int) -> None:
    assert parse_memory(text) == mb


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("100KB", "less than 1 MB"),  # 0.098 MB rounds to 0
        ("0", "less than 1 MB"),
        ("0.4", "less than 1 MB"),
        ("lots", "must look like 4GB"),
        ("-1GB", "must look like 4GB"),
        ("4PB", "must look like 4GB"),
        ("", "must look like 4GB"),
        ("4 G B", "must look like 4GB"),
    ],
)
def test_parse_memory_bad(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_memory(text)
    assert fragment in str(info.value)


# --- the parser and spec_from_args --------------------------------------------------------


def test_full_submit_line_becomes_a_spec() -> None:
    # Given
    argv = [
        "--url",
        "http://localhost:8888",
        "submit",
        "work/train.ipynb",
        "--backend",
        "condor",
        "--cpus",
        "4",
        "--memory",
        "8GB",
        "--gpus",
        "1",
        "--gpu-memory",
        "16G",
        "--gpu-capability",
        "8.0",
        "--max-runtime",
        "3600",
        "--env",
        "pytorch",
        "-p",
        "lr=0.01",
        "--param",
        "epochs=10",
        "-p",
        "model=resnet",
        "-p",
        "augment=true",
        "-p",
        "layers=[64,32]",
        "-p",
        'quoted="7"',
        "--input",
        "data/train.csv",
        "--input",
        "data/labels.csv",
        "--name",
        "nightly run",
        "--wait",
    ]

    # When
    args = build_parser("swan-ml").parse_args(argv)
    spec = spec_from_args(args, args.notebook)

    # Then
    assert args.verb == "submit"
    assert args.url == "http://localhost:8888"
    assert args.wait is True
    assert spec == {
        "notebook": "work/train.ipynb",
        "backend": "condor",
        "environment": "pytorch",
        "name": "nightly run",
        "resources": {
            "cpus": 4,
            "memory_mb": 8192,
            "gpus": 1,
            "gpu_memory_mb": 16384,
            "gpu_capability": 8.0,
            "max_runtime_s": 3600,
        },
        "parameters": {
            "lr": 0.01,
            "epochs": 10,
            "model": "resnet",
            "augment": True,
            "layers": [64, 32],
            "quoted": "7",
        },
        "inputs": ["data/train.csv", "data/labels.csv"],
    }
    assert isinstance(spec["parameters"]["epochs"], int)


def test_minimal_submit_has_only_the_notebook() -> None:
    args = build_parser("swan-ml").parse_args(["submit"])
    assert args.notebook is None
    assert spec_from_args(args, "current.ipynb") == {"notebook": "current.ipynb"}


def test_short_backend_option_and_gpus_zero_are_kept() -> None:
    args = build_parser("swan-ml").parse_args(["submit", "nb.ipynb", "-b", "spark", "--gpus", "0"])
    spec = spec_from_args(args, args.notebook)
    assert spec == {"notebook": "nb.ipynb", "backend": "spark", "resources": {"gpus": 0}}


def test_later_param_with_same_name_wins() -> None:
    args = build_parser("swan-ml").parse_args(["submit", "nb.ipynb", "-p", "x=1", "-p", "x=2"])
    assert spec_from_args(args, "nb.ipynb")["parameters"] == {"x": 2}


def test_bad_values_surface_from_spec_from_args() -> None:
    parser = build_parser("swan-ml")
    with pytest.raises(UsageError, match="memory 'lots'"):
        spec_from_args(parser.parse_args(["submit", "nb.ipynb", "--memory", "lots"]), "nb.ipynb")
    with pytest.raises(UsageError, match="must look like name=value"):
        spec_from_args(parser.parse_args(["submit", "nb.ipynb", "-p", "oops"]), "nb.ipynb")


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["submit", "nb.ipynb", "--bogus"], "unrecognized arguments: --bogus"),
        (["submit", "--cpus", "four"], "invalid int value: 'four'"),
        (["submit", "--gpu-capability", "high"], "invalid float value"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["status"], "required: id"),
        (["jobs", "--limit", "many"], "invalid int value"),
    ],
)
def test_bad_options_raise_usage_error_not_system_exit(argv: list[str], fragment: str) -> None:
    parser = build_parser("swan-ml")
    try:
        parser.parse_args(argv)
    except SystemExit:  # pragma: no cover - this is the failure being tested for
        pytest.fail("the parser called sys.exit (it must never exit inside a kernel)")
    except UsageError as e:
        assert fragment in str(e)
        assert str(e).startswith("swan-ml")
    else:
        pytest.fail(f"{argv} was accepted")


def test_other_verbs_parse() -> None:
    parser = build_parser("swan-ml")
    jobs = parser.parse_args(["jobs", "--state", "running", "--state", "held", "--limit", "5"])
    assert (jobs.verb, jobs.state, jobs.limit, jobs.backend) == (
        "jobs",
        ["running", "held"],
        5,
        None,
    )
    assert parser.parse_args(["jobs"]).limit == 25
    logs = parser.parse_args(["logs", "abc123", "--tail", "50", "-f"])
    assert (logs.verb, logs.id, logs.tail, logs.follow) == ("logs", "abc123", 50, True)
    for verb in ("status", "cancel", "hold", "release", "open"):
        ns = parser.parse_args([verb, "j-1"])
        assert (ns.verb, ns.id) == (verb, "j-1")
    assert parser.parse_args(["--json", "backends"]).json is True


@pytest.mark.parametrize(
    "argv",
    [
        ["--json", "--url", "U", "--token", "T", "status", "j-1"],
        ["status", "j-1", "--json", "--url", "U", "--token", "T"],
        ["--json", "status", "j-1", "--url", "U", "--token", "T"],
        ["--url", "U", "status", "--token", "T", "j-1", "--json"],
    ],
)
def test_global_options_work_before_and_after_the_verb(argv: list[str]) -> None:
    ns = build_parser("swan-ml").parse_args(argv)
    assert (ns.verb, ns.id, ns.json, ns.url, ns.token) == ("status", "j-1", True, "U", "T")


@pytest.mark.parametrize("with_pool", [False, True])
def test_every_verb_takes_the_global_options_and_keeps_their_defaults(with_pool: bool) -> None:
    parser = build_parser("swan-ml", with_pool=with_pool)
    verbs = {
        "submit": ["nb.ipynb"], "jobs": [], "status": ["j"], "cancel": ["j"], "hold": ["j"],
        "release": ["j"], "open": ["j"], "logs": ["j"], "backends": [],
    }  # fmt: skip
    if with_pool:
        verbs["pool"] = ["status"]
    for verb, rest in verbs.items():
        after = parser.parse_args([verb, *rest, "--json"])
        before = parser.parse_args(["--json", verb, *rest])
        plain = parser.parse_args([verb, *rest])
        assert after.json is True and before.json is True, verb
        assert (plain.json, plain.url, plain.token) == (False, None, None), verb
        # a value before the verb is not overwritten by the verb's parser
        assert parser.parse_args(["--url", "U", verb, *rest]).url == "U", verb


def test_jobs_json_after_the_verb_as_the_readme_shows() -> None:
    ns = build_parser("swan-ml").parse_args(["jobs", "--json", "--limit", "3"])
    assert (ns.verb, ns.json, ns.limit) == ("jobs", True, 3)


def test_a_global_option_given_twice_keeps_the_last() -> None:
    ns = build_parser("swan-ml").parse_args(["--url", "A", "jobs", "--url", "B"])
    assert ns.url == "B"


def test_magic_parser_takes_global_options_after_the_verb() -> None:
    ns = build_parser("%swan").parse_args(["jobs", "--json"])
    assert ns.json is True


# --- formatting ---------------------------------------------------------------------------


def job_json(**overrides: Any) -> dict[str, Any]:
    job = {
        "id": "a1b2c3",
        "name": "train",
        "backend": "condor",
        "state": "running",
        "notebook": "work/train.ipynb",
        "parameters": {"lr": 0.01},
        "resources": {"cpus": 2},
        "environment": "default",
        "engine_ref": {"cluster_id": 42},
        "message": "",
        "progress": {"cells_done": 2, "cells_total": 5},
        "created_at": "2024-05-01T10:20:30.123Z",
        "started_at": "2024-05-01T10:21:00.000Z",
        "finished_at": None,
        "outputs": {},
    }
    job.update(overrides)
    return job


def test_progress_line_with_cells_and_message() -> None:
    line = progress_line(job_json(message="on node-3"))
    assert line == "a1b2c3 train: running cell 2/5 — on node-3"


def test_progress_line_without_progress() -> None:
    assert progress_line(job_json(progress={}, state="pending")) == "a1b2c3 train: pending"
    # cells_done missing counts as 0
    assert "cell 0/4" in progress_line(job_json(progress={"cells_total": 4}))
    # a total of 0 shows no cell count
    assert "cell" not in progress_line(job_json(progress={"cells_done": 0, "cells_total": 0}))


def test_format_jobs_table() -> None:
    # Given
    jobs = [
        job_json(),
        job_json(
            id="zz9",
            name="a very long notebook name that will be cut at thirty",
            state="failed",
            progress={},
            message="cell 3 raised ZeroDivisionError: division by zero",
        ),
    ]

    # When
    text = format_jobs(jobs)
    lines = text.splitlines()

    # Then
    assert len(lines) == 3
    assert lines[0].split() == ["ID", "NAME", "BACKEND", "STATE", "PROGRESS", "CREATED", "MESSAGE"]
    first = lines[1]
    assert first.startswith("a1b2c3 ")
    assert "running" in first and "2/5" in first and "2024-05-01 10:20:30" in first
    second = lines[2]
    assert second.startswith("zz9 ")
    assert "failed" in second and "cell 3 raised ZeroDivisionError" in second
    assert "a very long notebook name that" in second
    assert "will be cut" not in second  # names are cut at 30 characters
    # columns line up: STATE starts at the same offset in every row
    col = lines[0].index("STATE")
    assert first[col:].startswith("running") and second[col:].startswith("failed")
    assert all(line == line.rstrip() for line in lines)


def test_format_jobs_empty() -> None:
    assert format_jobs([]) == "no jobs"


def test_format_job_details() -> None:
    text = format_job(job_json(outputs={"notebook": "out/train-a1b2c3/train.ipynb"}))
    lines = text.splitlines()
    assert lines[0] == "a1b2c3 train: running cell 2/5"
    assert "  notebook: work/train.ipynb" in lines
    assert '  parameters: {"lr": 0.01}' in lines
    assert not any("engine" in line for line in lines)  # no backend: no labels to show it by
    assert not any(line.startswith("  actions") for line in lines)
    assert "  executed notebook: out/train-a1b2c3/train.ipynb" in lines
    assert not any(line.startswith("  finished_at") for line in lines)  # None is left out


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400", "[1, NaN]"])
def test_parse_value_refuses_non_finite_numbers(text):
    with pytest.raises(UsageError):
        parse_value(text)


def test_parse_param_refuses_python_keywords():
    with pytest.raises(UsageError):
        parse_param("class=1")


# --- backends as data: resource schema, engine labels, capabilities ------------------------


def field(type_: Any, title: str, default: Any = None, **kw: Any) -> dict[str, Any]:
    return {"type": type_, "title": title, "description": title.lower(), "default": default, **kw}


def backends_json() -> dict[str, Any]:
    """A GET backends answer with two backends: a batch one (the default) and one that can
    neither hold nor release and takes other resources (a string enum, a boolean, a number)."""
    batch = {
        "name": "batch",
        "title": "Batch pool",
        "available": True,
        "capabilities": {
            "cancel": True,
            "hold": True,
            "release": True,
            "live_logs": True,
            "progress": True,
            "gpus": True,
        },
        "resource_schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "cpus": field("integer", "CPUs", 1, minimum=1, maximum=16),
                "memory_mb": field(
                    "integer", "Memory", 2048, minimum=1, maximum=65536, **{"x-unit": "MB"}
                ),
                "gpus": field("integer", "GPUs", 0, minimum=0, maximum=2),
                "gpu_memory_mb": field(
                    ["integer", "null"], "Minimum GPU memory", minimum=1, **{"x-unit": "MB"}
                ),
                "gpu_capability": field(
                    ["number", "null"],
                    "Minimum GPU capability",
                    exclusiveMinimum=0,
                    exclusiveMaximum=100,
                ),
                "max_runtime_s": field(
                    ["integer", "null"],
                    "Maximum runtime",
                    minimum=1,
                    maximum=604800,
                    **{"x-unit": "s"},
                ),
            },
        },
        "engine_ref_labels": [
            {"key": "cluster_id", "label": "cluster"},
            {"key": "execute_host", "label": "on"},
            {"key": "assigned_gpus", "label": "GPUs"},
        ],
        "resources": {"gpus_total": 2, "gpus_free": 1},
    }
    local = {
        "name": "local",
        "title": "Local process",
        "available": False,
        "reason": "no runner installed",
        "capabilities": {"cancel": True, "hold": False, "release": False, "live_logs": True},
        "resource_schema": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "cpus": field("integer", "CPUs", 1, minimum=1, maximum=4),
                "queue": field("string", "Queue", "short", enum=["short", "long"]),
                "spot": field("boolean", "Spot instance", False),
                "scratch_mb": field("integer", "Scratch", 512, minimum=1, **{"x-unit": "MB"}),
                "priority": field("number", "Priority", 0.5, minimum=0, maximum=1),
                "tag": field(["string", "null"], "Tag", maxLength=8),
            },
        },
        "engine_ref_labels": [{"key": "pid", "label": "process"}],
    }  # fmt: skip
    return {
        "backends": [batch, local],
        "default_backend": "batch",
        "environments": [{"name": "default"}],
    }


def submit(*argv: str, backends: dict[str, Any] | None = None) -> dict[str, Any]:
    args = build_parser("swan-ml").parse_args(["submit", "nb.ipynb", *argv])
    return spec_from_args(args, "nb.ipynb", backends if backends is not None else backends_json())


@pytest.mark.parametrize(
    ("argv", "resources"),
    [
        (["--resource", "cpus=3"], {"cpus": 3}),
        (["--resource", "memory_mb=4GB", "--resource", "gpu_memory_mb=512"],
         {"memory_mb": 4096, "gpu_memory_mb": 512}),
        (["--resource", "gpu_capability=8"], {"gpu_capability": 8.0}),
        (["--resource", "gpu_memory_mb=null", "--resource", "max_runtime_s=None"],
         {"gpu_memory_mb": None, "max_runtime_s": None}),
        (["--resource", " max_runtime_s = 3600 "], {"max_runtime_s": 3600}),
        # flags and --resource mix; --resource comes after the flags (last wins)
        (["--cpus", "2", "--memory", "1GB", "--resource", "cpus=4"],
         {"cpus": 4, "memory_mb": 1024}),
        (["-b", "local", "--resource", "queue=long", "--resource", "spot=yes",
          "--resource", "scratch_mb=2G", "--resource", "priority=0.25", "--resource", "tag=7"],
         {"queue": "long", "spot": True, "scratch_mb": 2048, "priority": 0.25, "tag": "7"}),
        (["-b", "local", "--resource", "spot=False", "--resource", "tag="], {"spot": False,
          "tag": None}),
    ],
)  # fmt: skip
def test_resources_are_typed_by_the_chosen_backends_schema(argv, resources) -> None:
    spec = submit(*argv)
    assert spec["resources"] == resources
    for key, value in resources.items():
        assert type(spec["resources"][key]) is type(value), key


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--resource", "nope=1"], "unknown resource 'nope'"),
        (["--resource", "queue=long"], "unknown resource 'queue'"),  # the other backend's
        (["-b", "local", "--gpus", "1"], "unknown resource 'gpus' (--gpus)"),
        (["--resource", "cpus=many"], "resource cpus must be an integer, got 'many'"),
        (["--resource", "cpus=2.5"], "resource cpus must be an integer"),
        (["--resource", "cpus="], "resource cpus must be an integer, got ''"),
        (["--resource", "cpus=99"], "resource cpus must be at most 16, got 99"),
        (["--cpus", "0"], "resource cpus must be at least 1, got 0"),
        (["--gpus", "9"], "gpus must be at most 2"),
        (["--resource", "memory_mb=lots"], "resource memory_mb 'lots' must look like 4GB"),
        (["--resource", "gpu_capability=high"], "must be a number or null, got 'high'"),
        (["--resource", "gpu_capability=inf"], "must be a number or null"),
        (["--gpu-capability", "0"], "gpu_capability must be more than 0"),
        (["--resource", "gpu_capability=100"], "gpu_capability must be less than 100"),
        (["-b", "local", "--resource", "queue=medium"], "queue must be one of short, long"),
        (["-b", "local", "--resource", "spot=maybe"], "spot must be true or false"),
        (["-b", "local", "--resource", "priority=2"], "priority must be at most 1"),
        (["-b", "local", "--resource", "tag=123456789"], "tag must be at most 8 characters"),
        (["-b", "local", "--resource", "cpus=null"], "cpus must be an integer, got 'null'"),
    ],
)
def test_bad_resources_are_one_line_usage_errors_naming_the_known_keys(argv, fragment) -> None:
    with pytest.raises(UsageError) as info:
        submit(*argv)
    message = str(info.value)
    assert fragment in message and "\n" not in message
    backend = "local" if "local" in argv else "batch"
    known = list(
        next(b for b in backends_json()["backends"] if b["name"] == backend)["resource_schema"][
            "properties"
        ]
    )
    assert message.endswith(f"; backend {backend!r} resources: {', '.join(known)}")


@pytest.mark.parametrize("item", ["cpus", "=4", "my key=1"])
def test_malformed_resource_items_fail_without_a_schema(item: str) -> None:
    args = build_parser("swan-ml").parse_args(["submit", "nb.ipynb", "--resource", item])
    with pytest.raises(UsageError, match="must look like KEY=VALUE"):
        spec_from_args(args, "nb.ipynb")


def test_without_a_schema_resources_are_typed_like_parameters() -> None:
    """No GET backends at hand, or a backend the server does not list: the server checks."""
    args = build_parser("swan-ml").parse_args(
        ["submit", "nb.ipynb", "--resource", "cpus=2", "--resource", "queue=long",
         "--resource", "x=NaN", "--memory", "1GB"]
    )  # fmt: skip
    expected = {"cpus": 2, "queue": "long", "x": "NaN", "memory_mb": 1024}
    assert spec_from_args(args, "nb.ipynb")["resources"] == expected
    unknown = build_parser("swan-ml").parse_args(
        ["submit", "nb.ipynb", "-b", "elsewhere", "--resource", "cpus=2"]
    )
    assert spec_from_args(unknown, "nb.ipynb", backends_json())["resources"] == {"cpus": 2}


def test_a_schema_that_allows_other_keys_lets_them_through() -> None:
    data = backends_json()
    data["backends"][0]["resource_schema"]["additionalProperties"] = True
    assert submit("--resource", "extra=[1,2]", backends=data)["resources"] == {"extra": [1, 2]}


def test_format_backends_lists_resource_fields_and_capabilities() -> None:
    text = format_backends(backends_json())
    lines = text.splitlines()
    assert lines[0] == "batch (Batch pool) [default]: available, GPUs free 1/2"
    assert lines[1] == "  capabilities: cancel, hold, release, live_logs, progress, gpus"
    memory = next(ln for ln in lines if ln.strip().startswith("memory_mb "))
    assert memory.split() == ["memory_mb", "Memory", "[MB]", "default", "2048", "1..65536",
                              "--memory"]  # fmt: skip
    runtime = next(ln for ln in lines if ln.strip().startswith("max_runtime_s "))
    assert "Maximum runtime [s]" in runtime and "default unset" in runtime
    assert "1..604800" in runtime and runtime.endswith("--max-runtime")
    capability = next(ln for ln in lines if ln.strip().startswith("gpu_capability "))
    assert "> 0, < 100" in capability
    assert "local (Local process): unavailable — no runner installed" in lines
    assert "  capabilities: cancel, live_logs (not: hold, release)" in lines
    queue = next(ln for ln in lines if ln.strip().startswith("queue "))
    assert 'default "short"' in queue and "one of short|long" in queue
    assert any(ln.strip().startswith("spot ") and "default false" in ln for ln in lines)
    assert any(ln.strip().startswith("tag ") and "at most 8 characters" in ln for ln in lines)
    assert lines[-1] == "environments: default"
    # the columns of one backend line up
    starts = [ln.index("default ") for ln in lines if ln.startswith("    ") and "[MB]" in ln]
    assert len(set(starts[:2])) == 1


def test_engine_reference_shown_through_the_backends_labels() -> None:
    batch, local = backends_json()["backends"]
    ref = {"execute_host": "slot1@node-3", "cluster_id": 42, "assigned_gpus": ["GPU-a", "GPU-b"],
           "internal_proc": 0}  # fmt: skip
    job = job_json(engine_ref=ref)
    assert engine_text(job, batch) == "cluster 42, on slot1@node-3, GPUs GPU-a,GPU-b"
    assert engine_text(job_json(engine_ref={"cluster_id": 0, "execute_host": None}), batch) == (
        "cluster 0"
    )
    assert engine_text(job, local) == ""  # no labelled key in it
    assert engine_text(job, None) == ""
    lines = format_job(job, batch).splitlines()
    assert "  engine: cluster 42, on slot1@node-3, GPUs GPU-a,GPU-b" in lines
    assert not any("internal_proc" in ln for ln in lines)  # unlabelled keys are not shown
    assert lines[-1] == "  actions: cancel, hold"


@pytest.mark.parametrize(
    ("backend", "state", "engine_ref", "actions"),
    [
        ("batch", "running", {"cluster_id": 1}, ["cancel", "hold"]),
        ("batch", "pending", {}, ["cancel"]),  # not on the engine yet: nothing to hold
        ("batch", "held", {"cluster_id": 1}, ["cancel", "release"]),
        ("batch", "completed", {"cluster_id": 1}, []),
        ("local", "running", {"pid": 7}, ["cancel"]),
        ("local", "failed", {"pid": 7}, []),
    ],
)
def test_actions_follow_capabilities_and_state(backend, state, engine_ref, actions) -> None:
    b = next(x for x in backends_json()["backends"] if x["name"] == backend)
    assert job_actions(job_json(state=state, engine_ref=engine_ref), b) == actions
    shown = format_job(job_json(state=state, engine_ref=engine_ref, backend=backend), b)
    assert shown.splitlines()[-1] == f"  actions: {', '.join(actions) or 'none'}"


class RecordingClient(SwanMLClient):
    """Our own REST client with its transport replaced: canned answers per route, every
    request recorded (the real client methods build the routes)."""

    def __init__(self, jobs: dict[str, dict[str, Any]], backends: dict[str, Any]):
        super().__init__(Server("http://test.invalid/", "t"))
        self._jobs, self._backends = jobs, backends
        self.calls: list[tuple[str, str]] = []
        self.previewed: Any = None  # the body of the last POST jobs/preview

    def request(self, method, path, body=None, query=None):  # type: ignore[override]
        self.calls.append((method, path))
        if path == "backends":
            return json.loads(json.dumps(self._backends))
        if path == "jobs/preview" and method == "POST":
            self.previewed = body
            return {
                "backend": body.get("backend") or "batch",
                "format": "htcondor-submit",
                "text": "request_cpus = 1\nexecutable = /s/swan_job.sh\nqueue\n",
                "resources": {"cpus": 1, **(body.get("resources") or {})},
                "existing_job": None,
            }
        parts = path.split("/")
        if parts[0] == "jobs" and len(parts) >= 2:
            if parts[1] not in self._jobs:
                raise ClientError(f"no job with id {parts[1]!r}", 404)
            job = dict(self._jobs[parts[1]])
            if method == "DELETE":
                job["state"] = "cancelled"
            elif parts[2:] == ["hold"]:
                job["state"] = "held"
            elif parts[2:] == ["release"]:
                job["state"] = "pending"
            return job
        if path == "jobs" and method == "POST":
            return job_json(id="new1", state="pending", resources=body.get("resources"))
        raise AssertionError(f"unexpected request {method} {path}")


def fake_client() -> RecordingClient:
    jobs = {
        "onbatch": job_json(id="onbatch", backend="batch", engine_ref={"cluster_id": 9}),
        "onlocal": job_json(id="onlocal", backend="local", engine_ref={"pid": 7}),
        "gone": job_json(id="gone", backend="retired", engine_ref={"x": 1}),
    }
    return RecordingClient(jobs, backends_json())


@pytest.mark.parametrize("verb", ["hold", "release"])
def test_an_action_the_backend_lacks_is_refused_without_calling_it(verb: str) -> None:
    client = fake_client()
    args = build_parser("swan-ml").parse_args([verb, "onlocal"])
    with pytest.raises(ClientError) as info:
        run_verb(args, client)
    assert str(info.value) == (
        f"cannot {verb} job onlocal: its backend 'Local process' does not support {verb}"
    )
    assert client.calls == [("GET", "jobs/onlocal"), ("GET", "backends")]


def test_cancel_refused_when_the_backend_cannot_cancel() -> None:
    client = fake_client()
    client._backends["backends"][1]["capabilities"]["cancel"] = False
    with pytest.raises(ClientError, match="does not support cancel"):
        run_verb(build_parser("swan-ml").parse_args(["cancel", "onlocal"]), client)
    assert ("DELETE", "jobs/onlocal") not in client.calls


@pytest.mark.parametrize(
    ("verb", "job_id", "call", "state"),
    [
        ("hold", "onbatch", ("POST", "jobs/onbatch/hold"), "held"),
        ("release", "onbatch", ("POST", "jobs/onbatch/release"), "pending"),
        ("cancel", "onlocal", ("DELETE", "jobs/onlocal"), "cancelled"),
        # a backend the server no longer lists: the server decides
        ("hold", "gone", ("POST", "jobs/gone/hold"), "held"),
    ],
)
def test_an_action_the_backend_has_is_called(verb, job_id, call, state) -> None:
    client = fake_client()
    out = run_verb(build_parser("swan-ml").parse_args([verb, job_id]), client)
    assert client.calls[-1] == call and out.data["state"] == state
    assert out.text == progress_line(out.data)


def test_status_text_labels_the_engine_reference_and_lists_actions() -> None:
    client = fake_client()
    out = run_verb(build_parser("swan-ml").parse_args(["status", "onlocal"]), client)
    lines = out.text.splitlines()
    assert "  engine: process 7" in lines and lines[-1] == "  actions: cancel"
    assert out.data["engine_ref"] == {"pid": 7}  # --json keeps the raw reference
    out = run_verb(build_parser("swan-ml").parse_args(["status", "gone"]), client)
    assert not any(ln.startswith(("  engine", "  actions")) for ln in out.text.splitlines())


def test_submit_spec_fetches_the_schema_once_and_only_for_resources() -> None:
    client = fake_client()
    parser = build_parser("swan-ml")
    spec = submit_spec(parser.parse_args(["submit", "nb.ipynb", "-p", "x=1"]), "nb.ipynb", client)
    assert "resources" not in spec and client.calls == []
    args = parser.parse_args(["submit", "nb.ipynb", "--resource", "memory_mb=1GB", "--cpus", "2"])
    assert submit_spec(args, "nb.ipynb", client)["resources"] == {"cpus": 2, "memory_mb": 1024}
    assert client.calls == [("GET", "backends")]
    client.calls.clear()
    with pytest.raises(UsageError, match="unknown resource 'nope'"):
        submit_spec(parser.parse_args(["submit", "x", "--resource", "nope=1"]), "x", client)
    assert client.calls == [("GET", "backends")]  # and no POST
    client.calls.clear()
    with pytest.raises(UsageError, match="memory"):  # malformed: before any request
        submit_spec(parser.parse_args(["submit", "x", "--memory", "lots"]), "x", client)
    assert client.calls == []


# --- submit --dry-run ---------------------------------------------------------------------


def test_dry_run_is_a_submit_option_after_or_before_the_others() -> None:
    parser = build_parser("swan-ml")
    assert parser.parse_args(["submit", "nb.ipynb"]).dry_run is False
    args = parser.parse_args(["--json", "submit", "--dry-run", "nb.ipynb", "--cpus", "2"])
    assert (args.dry_run, args.json, args.cpus) == (True, True, 2)
    assert build_parser("%swan").parse_args(["submit", "--dry-run"]).dry_run is True


def test_dry_run_asks_for_the_preview_and_submits_nothing() -> None:
    client = fake_client()
    args = build_parser("swan-ml").parse_args(["submit", "nb.ipynb", "--dry-run", "--cpus", "1"])
    spec = submit_spec(args, "nb.ipynb", client)
    out = dry_run(args, spec, client)
    # one schema check, one preview, and no POST jobs
    assert client.calls == [("GET", "backends"), ("POST", "jobs/preview")]
    assert client.previewed == {"notebook": "nb.ipynb", "resources": {"cpus": 1}}
    assert out.text == "request_cpus = 1\nexecutable = /s/swan_job.sh\nqueue"
    assert out.data["format"] == "htcondor-submit"  # --json: the whole answer


def test_dry_run_names_the_job_a_resubmission_would_return() -> None:
    client = fake_client()
    client.request = lambda *a, **k: {"text": "x = 1\n", "existing_job": "abc"}  # type: ignore
    args = build_parser("swan-ml").parse_args(["submit", "nb.ipynb", "--dry-run"])
    assert dry_run(args, {"notebook": "nb.ipynb"}, client).text == (
        "x = 1\n# submitting this again would return job abc"
    )


def test_dry_run_with_wait_is_a_usage_error_before_any_request() -> None:
    client = fake_client()
    args = build_parser("swan-ml").parse_args(["submit", "nb.ipynb", "--dry-run", "--wait"])
    with pytest.raises(UsageError, match="--dry-run submits nothing"):
        dry_run(args, {"notebook": "nb.ipynb"}, client)
    assert client.calls == []


@pytest.mark.parametrize("as_json", [False, True])
def test_cli_dry_run_prints_the_preview(tmp_path, capsys, as_json: bool) -> None:
    client = fake_client()
    client._root = str(tmp_path)  # the server root: the notebook path is made relative to it
    (tmp_path / "nb.ipynb").write_text("{}")
    argv = ["submit", str(tmp_path / "nb.ipynb"), "--dry-run"] + ["--json"] * as_json
    assert cli.run(build_parser("swan-ml").parse_args(argv), client) == cli.EXIT_OK
    printed = capsys.readouterr().out
    if as_json:
        assert json.loads(printed)["text"].startswith("request_cpus = 1")
    else:
        assert printed == "request_cpus = 1\nexecutable = /s/swan_job.sh\nqueue\n"
    assert client.calls == [("POST", "jobs/preview")]
    assert client.previewed == {"notebook": "nb.ipynb"}


# --- submit: the check is advice when the pool cannot be asked -------------------------------


class CheckFails(RecordingClient):
    """POST jobs/check fails with `error`; everything else as RecordingClient."""

    def __init__(self, error: ClientError):
        super().__init__(fake_client()._jobs, backends_json())
        self.error = error

    def request(self, method, path, body=None, query=None):  # type: ignore[override]
        if path == "jobs/check":
            self.calls.append((method, path))
            raise self.error
        return super().request(method, path, body, query)


@pytest.mark.parametrize(
    "error",
    [
        ClientError("the collector does not answer", 503),  # the schedd is up
        ClientError("Internal Server Error", 500),
        ClientError("cannot reach the Jupyter server at http://x/: refused", 0),
    ],
)
def test_submit_goes_on_with_a_warning_when_the_pool_cannot_be_checked(
    tmp_path, capsys, error: ClientError
) -> None:
    client = CheckFails(error)
    client._root = str(tmp_path)
    (tmp_path / "nb.ipynb").write_text("{}")
    argv = ["submit", str(tmp_path / "nb.ipynb")]
    assert cli.run(build_parser("swan-ml").parse_args(argv), client) == cli.EXIT_OK
    captured = capsys.readouterr()
    assert captured.err == (
        f"warning: could not check the pool: {error.message}; submitting anyway\n"
    )
    assert captured.out.startswith("submitted new1 ")
    assert client.calls == [("POST", "jobs/check"), ("POST", "jobs")]


def test_a_server_without_check_submits_silently_and_a_bad_body_is_not_submitted(
    tmp_path, capsys
) -> None:
    (tmp_path / "nb.ipynb").write_text("{}")
    argv = ["submit", str(tmp_path / "nb.ipynb")]
    client = CheckFails(ClientError("Not Found", 404))  # an older server
    client._root = str(tmp_path)
    assert cli.run(build_parser("swan-ml").parse_args(argv), client) == cli.EXIT_OK
    assert capsys.readouterr().err == "" and client.calls[-1] == ("POST", "jobs")
    client = CheckFails(ClientError("'parameters' must be an object", 400))
    client._root = str(tmp_path)
    with pytest.raises(ClientError) as info:
        cli.run(build_parser("swan-ml").parse_args(argv), client)
    assert info.value.status == 400 and capsys.readouterr().err == ""
    assert client.calls == [("POST", "jobs/check")]  # nothing submitted


# --- what the submit line says is sent ---------------------------------------------------------


def test_an_input_folder_with_a_link_cycle_is_sized_once(tmp_path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("x" * 100)
    (data / "sub" / "b.csv").write_text("y" * 20)
    # data/sub/loop/sub/loop/...: one cycle only, so that a walk following links again ends
    # (at the kernel's link limit, the files counted dozens of times) instead of hanging
    (data / "sub" / "loop").symlink_to("..")
    (data / "a-link.csv").symlink_to("a.csv")  # a link to a file counts as its target
    assert local_size(str(tmp_path), "data") == (True, 220)
    line = inputs_line({"inputs": ["data"]}, [], lambda: str(tmp_path))
    assert line == "sending 1 input (220 bytes): data/"


@pytest.mark.parametrize(
    ("gpu_type", "text"),
    [
        (
            {"name": "A100-SXM4-40GB", "free": 1, "total": 2, "memory_mb": 47616, "capability": 8},
            "A100-SXM4-40GB: 1 of 2 free, 46.5 GB, cc 8.0",
        ),
        (
            {"name": "T4", "free": 0, "total": 1, "memory_mb": 40960, "capability": 7.5},
            "T4: 0 of 1 free, 40 GB, cc 7.5",
        ),
        ({"name": "tiny", "memory_mb": 512}, "tiny: 0 of 0 free, 512 MB"),
        ({"name": "unknown", "free": 2, "total": 2, "memory_mb": None}, "unknown: 2 of 2 free"),
    ],
)
def test_gpu_models_in_words(gpu_type: dict[str, Any], text: str) -> None:
    assert gpu_type_text(gpu_type) == text
