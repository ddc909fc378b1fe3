"""Parameter sweeps, the pure part (jobs/sweep.py, the table of jobs/sweep_rows.py): no server,
no engine."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from swan_ml_ext.commands import UsageError, parse_value
from swan_ml_ext.jobs.model import InvalidRequest, Sweep, TooLarge
from swan_ml_ext.jobs.spec import human_bytes
from swan_ml_ext.jobs.sweep import grid_from_options, parse_collect, parse_sweep, to_csv
from swan_ml_ext.jobs.sweep_rows import results_table, sweep_state


def test_a_grid_is_the_cartesian_product_first_key_slowest() -> None:
    # When
    sweep = parse_sweep({"lr": [0.01, 0.02], "seed": [1, 2, 3]}, ["val_loss"])

    # Then
    assert sweep.keys == ("lr", "seed")
    assert sweep.points == [
        {"lr": 0.01, "seed": 1},
        {"lr": 0.01, "seed": 2},
        {"lr": 0.01, "seed": 3},
        {"lr": 0.02, "seed": 1},
        {"lr": 0.02, "seed": 2},
        {"lr": 0.02, "seed": 3},
    ]
    assert sweep.collect == ["val_loss"]
    assert sweep.grid == {"lr": [0.01, 0.02], "seed": [1, 2, 3]}


def test_values_keep_their_json_types_and_fixed_parameters_join_every_point() -> None:
    # Given: 1 and 1.0 and true are different values for the notebook
    grid = {"x": [1, 1.0, True, "1", None, [1, 2], {"a": 1}]}

    # When
    sweep = parse_sweep(grid, fixed={"epochs": 5})

    # Then
    assert [p["x"] for p in sweep.points] == grid["x"]
    assert [type(p["x"]) for p in sweep.points][:3] == [int, float, bool]
    assert sweep.job_parameters({"epochs": 5})[1] == {"epochs": 5, "x": 1.0}
    assert sweep.job_parameters()[0] == {"x": 1}


def test_explicit_points_keep_their_order_and_the_first_points_key_order() -> None:
    # When: the same keys, in another order in the second point
    sweep = parse_sweep([{"lr": 0.1, "seed": 2}, {"seed": 1, "lr": 0.3}])

    # Then
    assert sweep.keys == ("lr", "seed")
    assert sweep.points == [{"lr": 0.1, "seed": 2}, {"lr": 0.3, "seed": 1}]
    assert [list(p) for p in sweep.points] == [["lr", "seed"], ["lr", "seed"]]
    assert sweep.grid is None and sweep.collect == []


def test_the_points_limit_is_inclusive_and_the_message_says_the_count() -> None:
    # a grid of exactly the limit passes; one more point is refused before any point is built
    assert len(parse_sweep({"a": list(range(10)), "b": list(range(5))}, max_points=50).points) == 50
    with pytest.raises(InvalidRequest) as e:
        parse_sweep({"a": list(range(40)), "b": list(range(30))})
    assert e.value.message == "the sweep has 1,200 points; the limit is 1,000"
    with pytest.raises(InvalidRequest) as e:
        parse_sweep([{"a": i} for i in range(4)], max_points=3)
    assert e.value.message == "the sweep has 4 points; the limit is 3"


BAD_SWEEPS: list[tuple[Any, str]] = [
    (None, "'sweep' is missing"),
    ("lr=1,2", "'sweep' must be a grid"),
    (5, "'sweep' must be a grid"),
    ({}, "'sweep' is an empty grid"),
    ([], "'sweep' is an empty list of points"),
    ({"lr": []}, "sweep.lr is an empty list"),
    ({"lr": [0.1], "seed": []}, "sweep.seed is an empty list"),
    ({"lr": 0.1}, "sweep.lr must be a list of values, got 0.1"),
    ({"lr": [1, 2, 1]}, "sweep.lr[2] repeats sweep.lr[0]: 1"),
    ({"lr": [{"a": 1, "b": 2}, {"b": 2, "a": 1}]}, "sweep.lr[1] repeats sweep.lr[0]"),
    ({"lr": [0.1, float("nan")]}, "sweep.lr[1] is not a finite number"),
    ({"lr": [float("inf")]}, "sweep.lr[0] is not a finite number"),
    ({"lr": [[1, float("-inf")]]}, "sweep.lr[0] is not a finite number"),
    ({"lr": [2**70]}, "sweep.lr[0] is an integer outside 64 bits"),
    ({"lr": ["\ud800"]}, "sweep.lr[0] is not valid Unicode"),
    ({"x-y": [1]}, 'sweep key "x-y" is not a Python variable name'),
    ({"class": [1]}, 'sweep key "class" is not a Python variable name'),
    ({"": [1]}, 'sweep key "" is not a Python variable name'),
    ({"a" * 101: [1]}, "is 101 characters; the limit is 100"),
    ([{"lr": 1}, 3], "sweep[1] must be an object of name: value, got 3"),
    ([{}], "sweep[0] is an empty point"),
    ([{"lr": 1}, {"lr": 2, "seed": 1}], "sweep[1] gives lr, seed but sweep[0] gives lr"),
    ([{"lr": 1, "seed": 1}, {"lr": 2}], "every point must give the same parameters"),
    ([{"lr": 1}, {"lr": 2}, {"lr": 1}], "sweep[2] repeats sweep[0]"),
    ([{"lr": float("nan")}], "sweep[0].lr is not a finite number"),
    ([{"lr": 1, "x-y": 2}], 'sweep[0] key "x-y" is not a Python variable name'),
]


@pytest.mark.parametrize("raw, words", BAD_SWEEPS)
def test_bad_sweeps_are_refused_naming_the_field(raw: Any, words: str) -> None:
    with pytest.raises(InvalidRequest) as e:
        parse_sweep(raw)
    assert words in e.value.message
    assert e.value.status == 400


def test_nested_values_are_values() -> None:
    assert parse_sweep({"lr": [[[[1]]]]}).points == [{"lr": [[[1]]]}]


def test_a_swept_parameter_cannot_also_be_fixed() -> None:
    with pytest.raises(InvalidRequest) as e:
        parse_sweep({"lr": [1, 2]}, fixed={"lr": 0.5, "epochs": 3})
    assert (
        e.value.message == "parameter 'lr' is both in 'parameters' and in 'sweep': give it in one"
    )


def test_each_points_parameters_must_fit_the_parameters_limit() -> None:
    # Given: the fixed parameters and the big value fit alone, not together
    fixed = {"blob": "x" * 600}

    # When / Then: TooLarge (413) naming the point
    with pytest.raises(TooLarge) as e:
        parse_sweep({"note": ["small", "y" * 600]}, fixed=fixed, max_parameters_bytes=1000)
    assert e.value.message.startswith('sweep point 2 (note="yyyy')
    assert "the limit is 1000 bytes" in e.value.message
    assert len(parse_sweep({"note": ["small"]}, fixed=fixed, max_parameters_bytes=1000).points) == 1


@pytest.mark.parametrize(
    "raw, words",
    [
        ("val_loss", "'collect' must be a list of variable names"),
        ({"val_loss": 1}, "'collect' must be a list"),
        ([f"v{i}" for i in range(51)], "'collect' has 51 names; the limit is 50"),
        (["val_loss", 3], "collect[1] must be a variable name, got 3"),
        (["val-loss"], 'collect[0] ("val-loss") is not a Python variable name'),
        (["lambda"], 'collect[0] ("lambda") is not a Python variable name'),
        (["1st"], "collect[0]"),
        ([""], "collect[0]"),
        (["a" * 101], "is 101 characters; the limit is 100"),
        (["acc", "loss", "acc"], "collect[2] repeats 'acc'"),
    ],
)
def test_bad_collect_names_are_refused_naming_the_field(raw: Any, words: str) -> None:
    with pytest.raises(InvalidRequest) as e:
        parse_sweep({"lr": [1]}, raw)
    assert words in e.value.message


def test_collect_names_that_are_identifiers_pass() -> None:
    names = ["val_loss", "accuracy", "_private", "ü_score", "a" * 100] + [
        f"m{i}" for i in range(45)
    ]
    assert parse_collect(names) == names
    assert parse_collect(None) == [] and parse_collect([]) == []


# -p name=v1,v2 (the magics and the CLI)


def test_options_become_a_grid_typed_like_p_values() -> None:
    # When
    grid = grid_from_options(
        [
            "lr=0.01,0.02,0.05",
            "seed=range(3)",
            "layers=[64,32],[128,64]",
            'title="a,b",plain',
            "flag=True,false,None",
            "step=range(10, 0, -4),100",
            "epochs=5",
            "spaced=range( 1 , 3 )",
            'cfg={"a": [1, 2]},{"a": []}',
        ],
        parse_value,
    )

    # Then
    assert grid == {
        "lr": [0.01, 0.02, 0.05],
        "seed": [0, 1, 2],
        "layers": [[64, 32], [128, 64]],
        "title": ["a,b", "plain"],
        "flag": [True, False, None],
        "step": [10, 6, 2, 100],
        "epochs": [5],
        "spaced": [1, 2],
        "cfg": [{"a": [1, 2]}, {"a": []}],
    }
    assert list(grid) == [
        "lr",
        "seed",
        "layers",
        "title",
        "flag",
        "step",
        "epochs",
        "spaced",
        "cfg",
    ]
    # ... which is a sweep: 3 * 3 * 2 * 2 * 3 * 4 * 1 * 2 * 2 points
    assert len(parse_sweep(grid, max_points=10_000).points) == 3 * 3 * 2 * 2 * 3 * 4 * 2 * 2


def test_an_escaped_quote_inside_a_quoted_value_does_not_end_it() -> None:
    assert grid_from_options(['s="say \\"a,b\\"",x'], parse_value) == {"s": ['say "a,b"', "x"]}


@pytest.mark.parametrize(
    "item, words",
    [
        ("lr", "-p 'lr' must look like name=value1,value2,..."),
        ("x-y=1,2", "-p name 'x-y' is not a Python variable name"),
        ("for=1", "-p name 'for' is not a Python variable name"),
        ("lr=1,,2", "-p lr: an empty value between commas"),
        ("lr=1,", "-p lr: an empty value between commas"),
        ("seed=range(1.5)", "-p seed: 'range(1.5)' must be range(stop)"),
        ("seed=range()", "must be range(stop)"),
        ("seed=range(1,2,3,4)", "must be range(stop)"),
        ("seed=range(a)", "must be range(stop)"),
        ("seed=range(3)x", "must be range(stop)"),
        ("seed=range(1, 5, 0)", "-p seed: 'range(1, 5, 0)' has a step of 0"),
        ("seed=range(0)", "-p seed: 'range(0)' is empty"),
        ("seed=range(5, 1)", "is empty"),
        ("seed=range(1001)", "-p seed: 'range(1001)' has 1,001 values; the limit is 1,000 points"),
        ("seed=range(1000000000000000)", "has 1,000,000,000,000,000 values"),
        ("seed=range(99999999999999999999999)", "the limit is 1,000 points"),
        ("seed=range(999),1,2", "-p seed has over 1,000 values"),
    ],
)
def test_bad_options_are_refused_naming_the_option(item: str, words: str) -> None:
    with pytest.raises(InvalidRequest) as e:
        grid_from_options(["ok=1", item], parse_value)
    assert words in e.value.message


def test_an_option_given_twice_is_refused() -> None:
    with pytest.raises(InvalidRequest) as e:
        grid_from_options(["lr=1", "seed=1", "lr=2"], parse_value)
    assert e.value.message == "-p lr is given twice: list its values in one, lr=a,b"


def test_the_value_parsers_own_errors_pass_through() -> None:
    with pytest.raises(UsageError, match="not a finite number"):
        grid_from_options(["lr=1,NaN"], parse_value)


def test_all_points_parameters_together_must_fit_their_limit() -> None:
    # Given: a fixed value each point carries, 4 points
    fixed = {"blob": "x" * 1000}
    grid = {"a": [1, 2], "b": ["p", "q"]}
    total = sum(len(json.dumps({**fixed, "a": a, "b": b})) for a in (1, 2) for b in ("p", "q"))

    # When / Then: exactly the total passes, a byte less is TooLarge (413) saying both
    assert len(parse_sweep(grid, fixed=fixed, max_total_bytes=total).points) == 4
    with pytest.raises(TooLarge) as e:
        parse_sweep(grid, fixed=fixed, max_total_bytes=total - 1)
    assert e.value.message.startswith(f"the sweep's parameters are {human_bytes(total)} as JSON")
    assert f"the limit is {human_bytes(total - 1)}" in e.value.message
    # without fixed parameters only the points count
    points_only = sum(len(json.dumps({"a": a, "b": b})) for a in (1, 2) for b in ("p", "q"))
    assert len(parse_sweep(grid, max_total_bytes=points_only).points) == 4


# The results table (the REST shape) and its CSV


def table_of(points: list[dict[str, Any]], collect: list[str] | None = None) -> Sweep:
    return Sweep(
        id="s",
        name="n",
        notebook="a.ipynb",
        backend="b",
        environment="default",
        keys=list(points[0]) if points else [],
        points=points,
        collect=list(collect or []),
        request={},
    )


def result(point: int, state: str, **fields: Any) -> dict[str, Any]:
    """A point's row as the store keeps it (JobStore.sweep_results)."""
    row = {"point": point, "job": f"job-{point}", "state": state, "message": "", "notebook": None}
    return {**row, "collected": None, "collect_notes": None, "finished_at": None, **fields}


def test_the_table_has_parameters_state_collected_values_job_notebook_and_message() -> None:
    # Given: 4 points: completed, failed, running, not submitted yet
    sweep = table_of([{"lr": 0.1, "seed": s} for s in range(4)], ["loss", "acc"])
    error = "cell 3 raised ZeroDivisionError: division by zero"
    results = {
        0: result(0, "completed", notebook="out/a.ipynb", collected={"loss": 0.5, "acc": 0.9}),
        1: result(1, "failed", message=error, notebook="out/b.ipynb", collected={"loss": 1.0}),
        2: result(2, "running"),
    }

    # When
    columns, info, rows = results_table(sweep, results)

    # Then
    assert columns == [
        *("point", "lr", "seed", "state", "loss", "acc"),
        *("job_id", "notebook", "message"),
    ]
    assert [c["kind"] for c in info] == [
        *("point", "parameter", "parameter", "state", "collected", "collected"),
        *("job_id", "notebook", "message"),
    ]
    assert [[row[c] for c in columns] for row in rows] == [
        [0, 0.1, 0, "completed", 0.5, 0.9, "job-0", "out/a.ipynb", ""],
        # a failed point shows its error, and no collected value even if one came
        [1, 0.1, 1, "failed", None, None, "job-1", "out/b.ipynb", error],
        [2, 0.1, 2, "running", None, None, "job-2", None, ""],
        [3, 0.1, 3, None, None, None, None, None, ""],
    ]


def test_collect_notes_of_a_completed_point_are_its_message() -> None:
    notes = {"loss": "not defined when the notebook ended", "model": "kept as its repr (Net)"}
    collected = {"loss": None, "model": "Net(...)"}
    sweep = table_of([{"lr": 1}], ["loss", "model"])
    _, _, rows = results_table(
        sweep, {0: result(0, "completed", collected=collected, collect_notes=notes)}
    )
    assert [rows[0][c] for c in ("loss", "model", "state")] == [None, "Net(...)", "completed"]
    assert rows[0]["message"] == (
        "loss: not defined when the notebook ended; model: kept as its repr (Net)"
    )


def test_column_labels_stay_unique_when_names_collide() -> None:
    # Given: parameters named like the table's own columns, a variable named like a parameter
    sweep = table_of([{"state": "on", "job_id": 1, "lr": 0.1}], ["lr", "message", "acc"])

    # When
    columns, info, rows = results_table(sweep, {})

    # Then
    assert columns == [
        *("point", "state (parameter)", "job_id (parameter)", "lr", "state"),
        *("lr (collected)", "message (collected)", "acc", "job_id", "notebook", "message"),
    ]
    assert len(set(columns)) == len(columns)
    assert [c["name"] for c in info][1:4] == ["state", "job_id", "lr"]
    assert rows[0]["state (parameter)"] == "on" and rows[0]["state"] is None


def test_a_sweeps_state_from_its_points() -> None:
    def state(by_the_user: bool = False, **n: int) -> str:
        counts = {"pending": 0, "running": 0, "held": 0, "completed": 0, "failed": 0}
        return sweep_state({**counts, "cancelled": 0, "total": 4, **n}, by_the_user)

    assert state(pending=4) == "pending"
    assert state(pending=3, completed=1) == "running" and state(held=3, running=1) == "running"
    assert state(completed=4) == "completed"
    assert state(completed=3, failed=1) == "failed"
    assert state(completed=3, cancelled=1) == "cancelled"  # a point cancelled
    assert state(True, failed=1, cancelled=3) == "cancelled"  # the sweep cancelled
    assert state(True, pending=1, cancelled=3) == "running"  # a point still ends


def test_an_empty_table_as_csv() -> None:
    assert to_csv(["point", "state"], []) == "point,state\r\n"


def test_csv_is_spreadsheet_safe_and_reads_back() -> None:
    # Given: text that a spreadsheet would run as a formula, and numbers that must stay numbers
    points = [
        {"name": '=HYPERLINK("http://evil")', "x": -0.5},
        {"name": "+1+2", "x": -3},
        {"name": "-2", "x": 1e-07},
        {"name": "@SUM(A1)", "x": True},
        {"name": "\tTAB", "x": None},
        {"name": "\rCR", "x": [1, "=a"]},
        {"name": 'plain, with "quotes"\nand a newline', "x": {"k": "v"}},
        {"name": "a=b", "x": 2**62},
    ]
    sweep = table_of(points, ["v"])
    columns, _, rows = results_table(sweep, {0: result(0, "completed", collected={"v": "=1+1"})})

    # When
    text = to_csv(columns, rows)
    read = list(csv.reader(io.StringIO(text)))

    # Then
    assert read[0] == ["point", "name", "x", "state", "v", "job_id", "notebook", "message"]
    assert [r[1] for r in read[1:]] == [
        *('\'=HYPERLINK("http://evil")', "'+1+2", "'-2", "'@SUM(A1)", "'\tTAB", "'\rCR"),
        *('plain, with "quotes"\nand a newline', "a=b"),
    ]
    assert [r[2] for r in read[1:]] == [
        *("-0.5", "-3", "1e-07", "true", "", '[1, "=a"]', '{"k": "v"}', str(2**62)),
    ]
    assert read[1][3:5] == ["completed", "'=1+1"]
    assert text.endswith("\r\n") and len(read) == 9


def test_csv_of_a_thousand_points() -> None:
    plan = parse_sweep({"lr": [i / 1000 for i in range(100)], "seed": list(range(10))}, ["loss"])
    sweep = table_of(plan.points, ["loss"])
    results = {i: result(i, "completed", collected={"loss": i * 0.5}) for i in range(1000)}
    read = list(csv.reader(io.StringIO(to_csv(*results_table(sweep, results)[::2]))))
    assert len(read) == 1001
    assert read[1][:5] == ["0", "0.0", "0", "completed", "0.0"]
    assert read[1000][:5] == ["999", "0.099", "9", "completed", "499.5"]
