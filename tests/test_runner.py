"""The worker-side runner, run for real as a subprocess with papermill and the python3 kernel.

Each run starts a kernel (~3-5 s), so this file keeps to six runs (what the --collect capture
does with each kind of value is tested in-process, without a kernel).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import swan_ml_ext

RUNNER = Path(swan_ml_ext.__file__).resolve().parent / "runner.py"


def write_notebook(path: Path, *cells: Any) -> Path:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))
    return path


def params_cell(source: str) -> Any:
    return new_code_cell(source, metadata={"tags": ["parameters"]})


def run_runner(
    tmp_path: Path,
    notebook: Path,
    params: dict[str, Any],
    *extra: str,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "params.json").write_text(json.dumps(params))
    env = {k: v for k, v in os.environ.items() if not k.startswith("_CONDOR_")} | (env or {})
    return subprocess.run(
        [
            sys.executable,
            str(RUNNER),
            "--notebook",
            notebook.name,
            "--parameters",
            "params.json",
            "--output",
            "output",
            "--workdir",
            "work",
            "--kernel",
            "python3",
            *extra,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def stream_text(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.output_type == "stream")


def cell_with(nb: Any, fragment: str) -> Any:
    matches = [c for c in nb.cells if fragment in "".join(c.source)]
    assert len(matches) == 1, f"expected one cell containing {fragment!r}"
    return matches[0]


def test_parametrised_notebook_completes_with_outputs_files_and_provenance(
    tmp_path: Path,
) -> None:
    # Given
    notebook = write_notebook(
        tmp_path / "double.ipynb",
        new_markdown_cell("# Doubles x"),
        params_cell("x = 1"),
        new_code_cell("print(x * 2)"),
        new_code_cell(
            "from pathlib import Path\n"
            "Path('made.txt').write_text(f'x was {x}')\n"
            "Path('sub').mkdir()\n"
            "Path('sub/deep.txt').write_text('deep')"
        ),
    )

    # When (other runs on this machine may leave kernel folders of their own: compare)
    kernel_dirs = set(Path(tempfile.gettempdir()).glob("swan-ml-kernel-*"))
    proc = run_runner(
        tmp_path, notebook, {"x": 21}, "--job-id", "job-42", "--environment", "default"
    )

    # Then: exit 0, and the executed notebook shows the parametrised result
    assert proc.returncode == 0, proc.stderr
    # the kernel spoke over private Unix sockets, not unencrypted TCP
    assert "without encryption" not in proc.stderr
    assert set(Path(tempfile.gettempdir()).glob("swan-ml-kernel-*")) <= kernel_dirs
    out = tmp_path / "output"
    executed = nbformat.read(str(out / "notebook.ipynb"), as_version=4)
    assert stream_text(cell_with(executed, "print(x * 2)")) == "42\n"
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "x = 21" in injected[0].source
    # the kernel's output is passed through to the runner's stdout (the job's log)
    assert "42" in proc.stdout

    # files the notebook created are filed under output/files, folders kept
    assert (out / "files" / "made.txt").read_text() == "x was 21"
    assert (out / "files" / "sub" / "deep.txt").read_text() == "deep"
    assert (tmp_path / "work" / "made.txt").exists()  # it ran in the work dir

    # result.json
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "completed"
    assert result["message"] == ""
    assert result["parameters"] == {"x": 21}
    assert result["job_id"] == "job-42"
    assert result["environment"] == "default"
    assert result["execute_host"] == socket.gethostname()
    assert result["started_at"] <= result["finished_at"]

    # provenance in the executed notebook's metadata
    meta = executed.metadata["swan_ml"]
    assert meta["parameters"] == {"x": 21}
    assert meta["status"] == "completed"
    assert meta["job_id"] == "job-42"
    assert meta["execute_host"] == socket.gethostname()
    assert isinstance(meta["started_at"], float) and isinstance(meta["finished_at"], float)
    assert meta["started_at"] <= meta["finished_at"]
    assert meta["started_at"] == result["started_at"]
    assert meta["finished_at"] == result["finished_at"]


def test_failing_cell_is_named_as_the_user_numbers_it(tmp_path: Path) -> None:
    # Given: cell 3 (1-based, counting the parameters cell) divides by zero;
    # papermill injects a cell, so the executed notebook's indices are shifted
    notebook = write_notebook(
        tmp_path / "broken.ipynb",
        params_cell("x = 1"),
        new_code_cell("print('before', x)"),
        new_code_cell("y = x / 0"),
        new_code_cell("print('after')"),
    )

    # When: with variables to collect, one of them defined before the failure
    (tmp_path / "collect.json").write_text('["x", "y"]')
    proc = run_runner(tmp_path, notebook, {"x": 2}, "--collect", "collect.json")

    # Then
    assert proc.returncode == 1, proc.stderr
    out = tmp_path / "output"
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "failed"
    # a failed run reports its error, not collected values
    assert "collected" not in result and "collect_notes" not in result
    assert re.search(r"\bcell 3\b", result["message"]), result["message"]
    assert "ZeroDivisionError" in result["message"]
    assert result["ename"] == "ZeroDivisionError"
    assert "division by zero" in result["evalue"]
    assert result["message"] in proc.stderr

    # the executed notebook is still written, with what ran before the failure
    executed = nbformat.read(str(out / "notebook.ipynb"), as_version=4)
    assert stream_text(cell_with(executed, "print('before', x)")) == "before 2\n"
    failing = cell_with(executed, "y = x / 0")
    errors = [o for o in failing.outputs if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "ZeroDivisionError"
    assert stream_text(cell_with(executed, "print('after')")) == ""  # never ran
    assert executed.metadata["swan_ml"]["status"] == "failed"
    assert executed.metadata["swan_ml"]["message"] == result["message"]
    assert "collected" not in executed.metadata["swan_ml"]


def test_string_parameters_come_through_exactly(tmp_path: Path) -> None:
    # Given: values that break naive quoting in Python, JSON, shells or ClassAds
    params: dict[str, Any] = {
        "quotes": "say \"hi\" and 'bye' \"\"\" '''",
        "newlines": "line1\nline2\r\n\tindented\n",
        "shell": "$(rm -rf /tmp/nothing) `whoami` ${HOME} $PATH; echo pwned | cat && exit 1",
        "backslashes": 'C:\\new\\table \\n \\" \\\\ end\\',
        "unicode": "é ü ß 日本語 🚀 \u200b",
        "braces": "{x} {{y}} %s %(z)s",
        "empty": "",
        "number": 3,
        "ratio": 0.25,
        "flag": False,
        "nothing": None,
        "nested": {"a": ["b", {"c": "d'e\"f"}], "n": 1},
    }
    defaults = "\n".join(f"{name} = 'default'" for name in params)
    notebook = write_notebook(
        tmp_path / "strings.ipynb",
        params_cell(defaults),
        new_code_cell("\n".join(f"print(repr({name}))" for name in params)),
        new_code_cell(
            "import json\n"
            f"json.dump({{n: globals()[n] for n in {list(params)!r}}},"
            " open('seen.json', 'w', encoding='utf-8'))"
        ),
    )

    # When
    proc = run_runner(tmp_path, notebook, params)

    # Then
    assert proc.returncode == 0, proc.stderr
    executed = nbformat.read(str(tmp_path / "output" / "notebook.ipynb"), as_version=4)
    printed = stream_text(cell_with(executed, "print(repr(quotes))"))
    assert printed == "".join(f"{value!r}\n" for value in params.values())
    seen = json.loads((tmp_path / "output" / "files" / "seen.json").read_text(encoding="utf-8"))
    assert seen == params
    assert executed.metadata["swan_ml"]["parameters"] == params


def test_inputs_are_copied_into_the_work_dir(tmp_path: Path) -> None:
    # Given: an inputs folder with nested files
    inputs = tmp_path / "inputs"
    (inputs / "data").mkdir(parents=True)
    (inputs / "data" / "table.csv").write_text("a,b\n1,2\n3,4\n")
    (inputs / "config.json").write_text('{"scale": 10}')
    notebook = write_notebook(
        tmp_path / "reader.ipynb",
        params_cell("column = 'a'"),
        new_code_cell(
            "import csv, json\n"
            "rows = list(csv.DictReader(open('data/table.csv')))\n"
            "scale = json.load(open('config.json'))['scale']\n"
            "total = sum(int(r[column]) for r in rows) * scale\n"
            "print('total', total)\n"
            "open('summary.txt', 'w').write(str(total))"
        ),
    )

    # When
    proc = run_runner(tmp_path, notebook, {"column": "b"}, "--inputs", "inputs")

    # Then: the notebook read the inputs from its working directory
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "output"
    executed = nbformat.read(str(out / "notebook.ipynb"), as_version=4)
    assert stream_text(cell_with(executed, "csv.DictReader")) == "total 60\n"
    assert (tmp_path / "work" / "data" / "table.csv").read_text() == "a,b\n1,2\n3,4\n"
    assert (out / "files" / "summary.txt").read_text() == "60"
    # unchanged inputs are not shipped back as created files
    files = out / "files"
    shipped = sorted(p.relative_to(files).as_posix() for p in files.rglob("*") if p.is_file())
    assert shipped == ["summary.txt"]
    assert json.loads((out / "result.json").read_text())["status"] == "completed"


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"_CONDOR_AssignedGPUs": "10000", "CUDA_VISIBLE_DEVICES": "10000"}, None),
        ({"CUDA_VISIBLE_DEVICES": "-1"}, None),
        ({}, None),
        ({"_CONDOR_AssignedGPUs": "GPU-1,GPU-2"}, "GPU-1,GPU-2"),
        ({"CUDA_VISIBLE_DEVICES": "0"}, "0"),
    ],
)
def test_assigned_gpus_without_the_no_device_value(monkeypatch, env, expected):
    from swan_ml_ext import runner

    for var in ("_CONDOR_AssignedGPUs", "CUDA_VISIBLE_DEVICES"):
        monkeypatch.delenv(var, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert runner._assigned_gpus() == expected


def test_collected_variables_come_back_and_the_notebook_is_not_changed(tmp_path: Path) -> None:
    # Given: a notebook that computes values from its parameters, and one it never defines
    cells = [
        params_cell("lr = 0.1\nseed = 0"),
        new_code_cell(
            "import numpy as np\n"
            "val_loss = lr * 10 + seed\n"
            "history = [1, 2.5, None, 'x']\n"
            "label = f'run-{seed}'\n"
            "best = np.float32(0.5)\n"
            "steps = np.arange(3)\n"
            "pair = (seed, 'a')"
        ),
        new_markdown_cell("## Not JSON"),
        new_code_cell(
            "class Net:\n"
            "    def __repr__(self):\n"
            "        return 'Net(' + 'w' * 300 + ')'\n"
            "model = Net()\n"
            "diverged = float('nan')\n"
            "print('trained')"
        ),
    ]
    notebook = write_notebook(tmp_path / "train.ipynb", *cells)
    original = notebook.read_bytes()
    names = ["val_loss", "history", "label", "best", "steps", "pair", "model", "diverged", "lost"]
    (tmp_path / "collect.json").write_text(json.dumps(names))

    # When
    proc = run_runner(tmp_path, notebook, {"lr": 0.2, "seed": 3}, "--collect", "collect.json")

    # Then: the values, from the same kernel, computed from the parameters
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "output"
    result = json.loads((out / "result.json").read_text())
    assert result["status"] == "completed" and result["message"] == ""
    assert result["collected"] == {
        "val_loss": 5.0,
        "history": [1, 2.5, None, "x"],
        "label": "run-3",
        "best": 0.5,
        "steps": [0, 1, 2],
        "pair": [3, "a"],
        "model": "Net(" + "w" * 196,
        "diverged": "nan",
        "lost": None,
    }
    assert result["collect_notes"] == {
        "model": "kept as its repr (Net), cut to 200 characters",
        "diverged": "kept as its repr (float)",
        "lost": "not defined when the notebook ended",
    }

    # the notebook's text is the user's (plus papermill's parameters cell): no cell added, no
    # trace of the capture; the provenance records the values
    executed = nbformat.read(str(out / "notebook.ipynb"), as_version=4)
    kept = [c for c in executed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    assert [(c.cell_type, c.source) for c in kept] == [(c.cell_type, c.source) for c in cells]
    assert len(executed.cells) == len(cells) + 1
    assert "_swan_ml_collect" not in (out / "notebook.ipynb").read_text()
    assert stream_text(cell_with(executed, "print('trained')")) == "trained\n"
    assert executed.metadata["swan_ml"]["collected"] == result["collected"]
    assert notebook.read_bytes() == original


def test_a_capture_that_hangs_is_interrupted_and_the_run_still_completes(tmp_path: Path) -> None:
    # Given: a variable whose repr never returns
    notebook = write_notebook(
        tmp_path / "slow.ipynb",
        params_cell("n = 1"),
        new_code_cell(
            "import time\n"
            "class Slow:\n"
            "    def __repr__(self):\n"
            "        time.sleep(600)\n"
            "        return 'slow'\n"
            "slow = Slow()"
        ),
    )
    (tmp_path / "collect.json").write_text('["n", "slow"]')

    # When: the capture may take 1 s
    proc = run_runner(
        tmp_path,
        notebook,
        {"n": 2},
        "--collect",
        "collect.json",
        env={"SWAN_ML_COLLECT_TIMEOUT_S": "1"},
    )

    # Then: the notebook ran to the end; nothing came back, and the result says why
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "output" / "result.json").read_text())
    assert result["status"] == "completed"
    assert result["collected"] == {"n": None, "slow": None}
    assert result["collect_notes"] == dict.fromkeys(
        ["n", "slow"], "the kernel did not answer in 1 s"
    )
    assert "[swan-ml] --collect: the kernel did not answer in 1 s" in proc.stderr


def test_the_collect_names_file_must_list_variable_names(tmp_path: Path) -> None:
    notebook = write_notebook(tmp_path / "n.ipynb", new_code_cell("x = 1"))
    (tmp_path / "collect.json").write_text('["x", "not-a-name"]')
    proc = run_runner(tmp_path, notebook, {}, "--collect", "collect.json")
    assert proc.returncode == 2
    assert "--collect needs a JSON list of variable names" in proc.stderr
    assert not (tmp_path / "output").exists()


CUT_LIST = "kept as its repr (list), cut to 200 characters"


class _Net:
    def __repr__(self) -> str:
        return "Net()"


class _BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no")


@pytest.mark.parametrize(
    "value, kept, note",
    [
        (None, None, None),
        (True, True, None),
        (-(2**63), -(2**63), None),
        (2**63, repr(2**63), "kept as its repr (int)"),
        (1.5, 1.5, None),
        (float("inf"), "inf", "kept as its repr (float)"),
        ("é" * 10, "é" * 10, None),
        ("x" * 5000, repr("x" * 5000)[:200], "kept as its repr (str), cut to 200 characters"),
        (list(range(100)), list(range(100)), None),
        (list(range(101)), repr(list(range(101)))[:200], CUT_LIST),
        ((1, (2, [3])), [1, [2, [3]]], None),
        ([1, _Net()], "[1, Net()]", "kept as its repr (list)"),
        ([[0] * 20] * 100, repr([[0] * 20] * 100)[:200], CUT_LIST),
        ({"a": 1}, "{'a': 1}", "kept as its repr (dict)"),
        (_Net(), "Net()", "kept as its repr (_Net)"),
        (_BadRepr(), "<its repr failed: RuntimeError>", "kept as its repr (_BadRepr)"),
    ],
)  # fmt: skip
def test_what_the_capture_keeps_of_each_kind_of_value(value: Any, kept: Any, note: Any) -> None:
    from swan_ml_ext.runner import _swan_ml_collect

    answer = json.loads(_swan_ml_collect(["v"], {"v": value}))
    assert answer["values"] == {"v": kept}
    assert answer["notes"] == ({"v": note} if note else {})


def test_the_capture_takes_numpy_scalars_and_short_arrays_as_numbers_and_lists() -> None:
    np = pytest.importorskip("numpy")
    from swan_ml_ext.runner import _swan_ml_collect

    ns = {
        "f": np.float64(0.25), "i": np.int64(7), "b": np.bool_(True), "zero_d": np.array(3),
        "arr": np.arange(4) / 2, "long": np.arange(101), "grid": np.zeros((2, 2)),
    }  # fmt: skip
    answer = json.loads(_swan_ml_collect(list(ns), ns))
    assert answer["values"] == {
        "f": 0.25, "i": 7, "b": True, "zero_d": 3, "arr": [0.0, 0.5, 1.0, 1.5],
        "long": repr(np.arange(101))[:200], "grid": repr(np.zeros((2, 2))),
    }  # fmt: skip
    assert set(answer["notes"]) == {"long", "grid"}
