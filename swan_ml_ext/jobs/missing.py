"""A failed job's error, explained when it is a file the job was not sent.

The runner names the failing cell and the error ("cell 2 [3] raised FileNotFoundError: [Errno 2]
No such file or directory: 'data/events.csv'"). When the path (relative: the job ran in a
folder that stands for the notebook's) exists in the workspace next to the notebook but no
input sent it, the message says so and what to add. Pure apart from stat calls."""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from .inputs import covering_input, destination

# Errors that mean "this path is not there" (their subclasses print their own names).
FILE_ERRORS = frozenset(
    {"FileNotFoundError", "OSError", "IOError", "NotADirectoryError", "IsADirectoryError"}
)
_WHERE = re.compile(r"^(cell \d+|cell index \d+|the setup cell)\b")
_QUOTED = re.compile(r"'([^'\n]{1,4096})'|\"([^\"\n]{1,4096})\"")
_ERROR_NAME = re.compile(r"\b(\w*(?:Error|Exception))\b")
MAX_CANDIDATES = 50


@dataclass
class Missing:
    """What a failed job lacked: the message to show and the inputs to add (root-relative)."""

    message: str
    suggested_inputs: list[str]


def explain_missing(
    root: str | os.PathLike[str],
    notebook_rel: str,
    inputs: list[str],
    result: dict[str, Any],
    takes_inputs: bool = True,
) -> Missing | None:
    """The explanation of a failed run (the runner's result.json) when it failed on a
    relative path that exists in the workspace, relative to the notebook's folder, but was
    not where the job looked; None otherwise. `takes_inputs`: the backend can send inputs."""
    message = str(result.get("message") or "")
    ename = str(result.get("ename") or "")
    if not ename:
        m = _ERROR_NAME.search(message)
        ename = m.group(1) if m else ""
    if result.get("status") != "failed" or ename not in FILE_ERRORS:
        return None
    where_m = _WHERE.match(message)
    where = where_m.group(1) if where_m else "the notebook"
    text = str(result.get("evalue") or "") or message
    root_text = os.path.realpath(root)
    nb_dir = PurePosixPath(notebook_rel).parent
    for written in _candidates(text):
        rel = _in_workspace(root_text, nb_dir, written)
        if rel is None:
            continue
        sent = covering_input(inputs, rel)
        if sent is not None:
            arrived = destination(notebook_rel, sent)
            if sent != rel:  # a folder: the file lies where the folder's content lies
                inside = PurePosixPath(rel).relative_to(sent).as_posix()
                arrived = f"{arrived}/{inside}" if arrived else inside
            if posixpath.normpath(written) == arrived:
                continue  # it was there: the failure is something else
            return Missing(
                f"{where}: {written!r} was sent with the job but arrives as {arrived!r} (inputs"
                " from outside the notebook's folder arrive next to it by their name): read it"
                f" as {arrived!r}, or move it into the notebook's folder",
                [],
            )
        return Missing(_not_sent(where, written, rel, nb_dir, takes_inputs), [rel])
    return None


def _not_sent(where: str, written: str, rel: str, nb_dir: PurePosixPath, takes: bool) -> str:
    head = f"{where}: {written!r} exists in your workspace but was not sent with the job"
    if not takes:
        return (
            f"{head} — this backend sends no input files: use one that does, or read the"
            " file from a shared filesystem"
        )
    parent = posixpath.dirname(posixpath.normpath(written))
    folder = PurePosixPath(rel).parent
    if parent and parent not in (".", "..") and (folder == nb_dir or nb_dir in folder.parents):
        return f"{head} — add it (or {parent + '/'!r}) to the inputs"
    return f"{head} — add it to the inputs"


def _candidates(text: str) -> list[str]:
    """Relative paths an error message names: quoted ones first, then bare words that look
    like paths ('Failed to open file data/x.root')."""
    found: list[str] = []
    for m in _QUOTED.finditer(text):
        found.append(m.group(1) or m.group(2))
    for word in text.split():
        w = word.strip("'\"`,;:()[]{}<>")
        w = w[:-1] if w.endswith(".") and w.count(".") > 1 else w
        if "/" in w or "." in w.strip("."):
            found.append(w)
    seen: set[str] = set()
    out = []
    for f in found:
        if f and not f.startswith(("/", "~")) and "://" not in f and "\x00" not in f:
            if f not in seen:
                seen.add(f)
                out.append(f)
    return out[:MAX_CANDIDATES]


def _in_workspace(root_text: str, nb_dir: PurePosixPath, written: str) -> str | None:
    """The root-relative real path of `written` (relative to the notebook's folder) when it
    is an existing file or folder inside the root."""
    rel = posixpath.normpath(posixpath.join(str(nb_dir), written))
    if rel in (".", "..") or rel.startswith("../"):
        return None
    try:
        real = os.path.realpath(os.path.join(root_text, rel))
        if not os.path.exists(real):
            return None
    except (OSError, ValueError):
        return None
    prefix = root_text.rstrip("/") + "/"
    return real[len(prefix) :] if real.startswith(prefix) else None
