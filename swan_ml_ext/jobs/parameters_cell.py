"""What a notebook's `parameters`-tagged cell declares, to warn about parameters it does not
(a typo such as `lr2` would otherwise only show as an unused variable in the job). Pure: the
notebook JSON in, words out; the cell is parsed, never run."""

from __future__ import annotations

import ast
import re
from typing import Any

TAG = "parameters"  # papermill's tag
_ASSIGNED = re.compile(r"^([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)", re.MULTILINE)


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _tags(cell: dict[str, Any]) -> list[Any]:
    meta = cell.get("metadata")
    tags = meta.get("tags") if isinstance(meta, dict) else None
    return tags if isinstance(tags, list) else []


def declared_names(source: str) -> set[str]:
    """Names assigned at the top level of a cell (`x = 1`, `x: int = 1`, `a, b = 1, 2`);
    a cell Python cannot parse (magics) is read line by line."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(_ASSIGNED.findall(source))
    names: set[str] = set()
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name):
                    names.add(sub.id)
    return names


def parameter_warnings(notebook: dict[str, Any], parameters: dict[str, Any]) -> list[str]:
    """One line per parameter the notebook's parameters cell does not declare."""
    if not parameters:
        return []
    cells = [c for c in notebook.get("cells", []) if isinstance(c, dict)]
    tagged = [c for c in cells if c.get("cell_type") == "code" and TAG in _tags(c)]
    if not tagged:
        return [
            "the notebook has no cell tagged 'parameters': the parameters are set in a cell"
            " added at the top, before the notebook's own code"
        ]
    names: set[str] = set()
    for cell in tagged:
        names |= declared_names(_source(cell))
    return [
        f"parameter '{name}' is not in the notebook's parameters cell"
        for name in parameters
        if name not in names
    ]
