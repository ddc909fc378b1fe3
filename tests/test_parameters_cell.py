"""Warnings about parameters a notebook's parameters cell does not declare (pure)."""

from __future__ import annotations

import nbformat

from swan_ml_ext.jobs.parameters_cell import declared_names, parameter_warnings


def notebook(params: str | None, *code: str) -> dict:
    nb = nbformat.v4.new_notebook()
    if params is not None:
        nb.cells.append(nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}))
    nb.cells.extend(nbformat.v4.new_code_cell(c) for c in code)
    return nb


def test_a_parameter_the_cell_does_not_declare():
    nb = notebook("lr = 0.1\nepochs: int = 3\n", "lr2 = 5")
    assert parameter_warnings(nb, {"lr": 1, "epochs": 2}) == []
    assert parameter_warnings(nb, {"lr2": 0.5}) == [
        "parameter 'lr2' is not in the notebook's parameters cell"
    ]
    assert parameter_warnings(nb, {}) == []


def test_no_parameters_cell():
    (warning,) = parameter_warnings(notebook(None, "x = 1"), {"x": 2})
    assert "no cell tagged 'parameters'" in warning


def test_declared_names():
    assert declared_names("a, (b, c) = 1, (2, 3)\nd += 1\nif True:\n    e = 1\nf == 2") == {
        "a", "b", "c", "d"
    }  # fmt: skip
    # a cell Python cannot parse (a magic) is read line by line
    assert declared_names("%matplotlib inline\nx = 1\ny: float = 2.0\nz == 3") == {"x", "y"}
