"""What travels with a job, as submit says it: the inputs the server detected in the
notebook's code (POST jobs/check or jobs/preview: detected_inputs) added to the user's own
--input paths, and one line saying what is sent and how much."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any, TextIO

from .client import SwanMLClient
from .jobs.inputs import SKIPPED_FOLDERS, covering_input
from .jobs.spec import human_bytes
from .options_commands import find_backend


def detected_to_send(spec: dict[str, Any], detected: Any) -> list[dict[str, Any]]:
    """The detected inputs (a check or preview answer's detected_inputs) that submit adds:
    those to send (not read in place, no problem) that the spec's inputs do not send yet."""
    given = list(spec.get("inputs") or [])
    return [
        d
        for d in (detected if isinstance(detected, list) else [])
        if isinstance(d, dict)
        and isinstance(d.get("path"), str)
        and not d.get("in_place")
        and not d.get("problem")
        and covering_input(given, d["path"]) is None
    ]


def takes_inputs(client: SwanMLClient, backend: str | None) -> bool:
    """The backend sends input files (its capabilities["inputs"], GET backends); a backend
    the server does not list, or one that does not say, is left to the server."""
    b = find_backend(client.backends(), backend)
    return b is None or (b.get("capabilities") or {}).get("inputs", True) is not False


def add_detected(
    args: argparse.Namespace,
    spec: dict[str, Any],
    answer: dict[str, Any],
    client: SwanMLClient,
    out: TextIO,
) -> list[dict[str, Any]]:
    """Unless --no-detect: the inputs the server detected in the notebook (`answer`: POST
    jobs/check or jobs/preview), added to spec["inputs"] and returned; none for a backend
    that sends no input files (the check's warnings say so). What is read in place, and what
    cannot be sent, is said on `out`."""
    if getattr(args, "no_detect", False):
        return []
    detected = answer.get("detected_inputs") if isinstance(answer, dict) else None
    for d in detected if isinstance(detected, list) else []:
        if isinstance(d, dict) and d.get("in_place"):
            print(f"read in place: {d.get('path')} (a shared filesystem; not sent)", file=out)
        elif isinstance(d, dict) and d.get("problem"):
            print(f"not sent: {d.get('path')}: {d['problem']}", file=out)
    added = detected_to_send(spec, detected)
    if not added or not takes_inputs(client, spec.get("backend")):
        return []
    spec["inputs"] = [*(spec.get("inputs") or []), *(d["path"] for d in added)]
    return added


def local_size(root: str, rel: str) -> tuple[bool, int]:
    """(a folder?, its bytes) of a root-relative input as this machine sees it (the user's
    --input; Jupyter's checkpoints left out, as the server leaves them out). A link to a file
    counts as its target; links to folders are not followed (a link cycle would never end),
    the server sizes what it sends anyway."""
    full = os.path.join(root, rel)
    if not os.path.isdir(full):
        try:
            return False, os.stat(full).st_size
        except OSError:
            return False, 0
    total = 0
    for folder, dirs, files in os.walk(full, followlinks=False):
        dirs[:] = [d for d in dirs if d not in SKIPPED_FOLDERS]
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return True, total


def inputs_line(spec: dict[str, Any], added: list[dict[str, Any]], root: Callable[[], str]) -> str:
    """'sending 2 inputs (1.2 MB): ana/data/, cfg.yaml' ('' when nothing is sent): detected
    ones sized by the server, the user's own here (`root`: the server's root folder)."""
    inputs = [p for p in spec.get("inputs") or [] if isinstance(p, str)]
    if not inputs:
        return ""
    known = {d["path"]: d for d in added}
    names, total = [], 0
    for rel in inputs:
        d = known.get(rel)
        folder, size = (
            (d.get("kind") == "folder", int(d.get("bytes") or 0)) if d else local_size(root(), rel)
        )
        names.append(f"{rel}/" if folder else rel)
        total += size
    n = len(inputs)
    return f"sending {n} input{'s' * (n != 1)} ({human_bytes(total)}): {', '.join(names)}"


def say_inputs(
    spec: dict[str, Any], added: list[dict[str, Any]], client: SwanMLClient, out: TextIO
) -> None:
    line = inputs_line(spec, added, client.root_dir)
    if line:
        print(line, file=out)


def detected_lines(detected: Any) -> list[str]:
    """A check answer's detected_inputs in lines (none: no line)."""
    items = [d for d in (detected if isinstance(detected, list) else []) if isinstance(d, dict)]
    if not items:
        return []
    lines = ["the notebook reads (submit sends these unless --no-detect):"]
    for d in items:
        cell = f"cell {d.get('cell')}"
        if d.get("in_place"):
            lines.append(f"  {d.get('path')}: read in place ({cell})")
            continue
        folder = d.get("kind") == "folder"
        name = f"{d.get('path')}/" if folder else str(d.get("path"))
        files = int(d.get("files") or 0)
        size = human_bytes(int(d.get("bytes") or 0))
        what = f"{files:,} file{'s' * (files != 1)}, {size}" if folder else size
        problem = f" — not sent: {d['problem']}" if d.get("problem") else ""
        lines.append(f"  {name}: {what} ({cell}){problem}")
    return lines
