"""The shared CLI/magic verbs: value typing, parameters, memory sizes, the parser, formatting."""

from __future__ import annotations

from typing import Any

import pytest

from swan_ml_ext.commands import (
    UsageError,
    build_parser,
    format_job,
    format_jobs,
    parse_memory,
    parse_param,
    parse_value,
    progress_line,
    spec_from_args,
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
    assert '  engine_ref: {"cluster_id": 42}' in lines
    assert "  executed notebook: out/train-a1b2c3/train.ipynb" in lines
    assert not any(line.startswith("  finished_at") for line in lines)  # None is left out


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400", "[1, NaN]"])
def test_parse_value_refuses_non_finite_numbers(text):
    with pytest.raises(UsageError):
        parse_value(text)


def test_parse_param_refuses_python_keywords():
    with pytest.raises(UsageError):
        parse_param("class=1")
