"""What travels with a job: its input files and folders, walked and placed where the notebook
finds them. The worker runs the notebook in a folder that stands for the notebook's own
folder: an input inside that folder keeps its path relative to it (`ana/data/x.csv` of
`ana/read.ipynb` arrives as `data/x.csv`), one from elsewhere arrives by its name.
Pure path logic plus stat calls; no copies (workspace.stage copies what the plan says)."""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .model import InvalidRequest

# Folders Jupyter writes for itself: never part of the data.
SKIPPED_FOLDERS = frozenset({".ipynb_checkpoints"})


@dataclass
class InputPlan:
    """Every file to send: (its real path, where it lands under the job's inputs/)."""

    files: list[tuple[Path, str]] = field(default_factory=list)
    bytes: int = 0
    # True when the walk stopped at the file-count cap: `files` is then a lower bound.
    truncated: bool = False
    _dests: dict[str, tuple[Path, str]] = field(default_factory=dict, repr=False)

    @property
    def count(self) -> int:
        return len(self.files)

    def add(self, src: Path, dest: str, size: int, origin: str) -> None:
        seen = self._dests.get(dest)
        if seen is not None:
            if seen[0] == src:
                return  # the same file twice (e.g. a file and its folder): sent once
            raise InvalidRequest(
                f"'inputs' {seen[1]!r} and {origin!r} would both arrive as {dest!r} next to the"
                " notebook (inputs from outside the notebook's folder arrive by their name):"
                " send one of them, or their common folder"
            )
        self._dests[dest] = (src, origin)
        self.files.append((src, dest))
        self.bytes += size


def shared_prefix_of(path: str, prefixes: Iterable[str]) -> str | None:
    """The shared prefix (e.g. '/eos') an absolute path lies under, lexically (no filesystem
    access: a shared filesystem may be slow or absent here); None for none."""
    if not path.startswith("/"):
        return None
    norm = posixpath.normpath(path)
    for prefix in prefixes:
        p = posixpath.normpath(prefix)
        if norm == p or norm.startswith(p.rstrip("/") + "/"):
            return prefix
    return None


def destination(notebook_rel: str, rel: str) -> str:
    """Where a root-relative input lands in the job's working folder ('' = the folder itself,
    for the notebook's own folder)."""
    nb_dir = PurePosixPath(notebook_rel).parent
    p = PurePosixPath(rel)
    if p == nb_dir:
        return ""
    if nb_dir == PurePosixPath(".") or nb_dir in p.parents:
        return p.relative_to(nb_dir).as_posix()
    return p.name


def covering_input(inputs: Iterable[str], rel: str) -> str | None:
    """The input (a root-relative path) that sends `rel`: the path itself or a folder above it."""
    p = PurePosixPath(rel)
    for i in inputs:
        q = PurePosixPath(i)
        if q == p or q in p.parents or str(q) == ".":
            return i
    return None


def plan_inputs(
    root: Path,
    notebook_rel: str,
    inputs: list[str],
    max_files: int,
    shared_prefixes: Iterable[str] = (),
) -> InputPlan:
    """Walk the (already resolved, root-relative) inputs: every regular file under a folder,
    recursively, links followed while they stay inside the root. A link that leads out of the
    root is refused (400); one that leads nowhere, and what is not a regular file (sockets,
    FIFOs), is left out. Stops after max_files + 1 files (plan.truncated)."""
    plan = InputPlan()
    root = root.resolve()
    nb_dir = PurePosixPath(notebook_rel).parent
    prefixes = tuple(shared_prefixes)
    for rel in inputs:
        p = PurePosixPath(rel)
        if p in nb_dir.parents:
            raise InvalidRequest(
                f"'inputs' {rel!r} holds the notebook's own folder: send the files and folders"
                f" the notebook reads (e.g. {str(nb_dir / 'data')!r}) instead"
            )
        full = root / rel
        dest = destination(notebook_rel, rel)
        if full.is_dir():
            walk_folder(root, full, dest, rel, plan, max_files, prefixes, {full.resolve()})
        elif plan.count >= max_files:
            plan.truncated = True
        else:
            try:
                size = full.stat().st_size
            except OSError as e:
                raise InvalidRequest(
                    f"'inputs' {rel!r} cannot be read: {e.strerror or e}"
                ) from None
            plan.add(full.resolve(), dest, size, rel)
        if plan.truncated:
            break
    return plan


def walk_folder(
    root: Path,
    folder: Path,
    dest: str,
    origin: str,
    plan: InputPlan,
    max_files: int,
    prefixes: tuple[str, ...],
    chain: set[Path],
) -> None:
    """Add the files under `folder` (a real path) to `plan`, landing under `dest`; `origin`
    names the folder in messages; `chain`: the real folders being walked (loops end)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as e:
        raise InvalidRequest(
            f"'inputs' {origin!r}: a folder cannot be read: {e.strerror or e}"
        ) from None
    for entry in entries:
        if plan.truncated:
            return
        name = entry.name
        shown = f"{origin}/{name}" if origin != "." else name
        target = f"{dest}/{name}" if dest else name
        path = Path(entry.path)
        real = path
        if entry.is_symlink():
            try:
                real = path.resolve(strict=True)
            except (OSError, RuntimeError):
                continue  # a link that leads nowhere (or loops): nothing to send
            if real != root and root not in real.parents:
                shared = shared_prefix_of(str(real), prefixes)
                where = (
                    f" (to the shared filesystem {shared}: read it there by its absolute path)"
                    if shared
                    else ""
                )
                raise InvalidRequest(
                    f"'inputs' {shown!r} is a link leading outside the server root{where};"
                    " only files inside the root travel with the job"
                )
        try:
            st = real.stat()
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if name in SKIPPED_FOLDERS:
                continue
            real_dir = real.resolve()
            if real_dir in chain:
                continue  # a link back to a folder being walked: a loop
            walk_folder(root, real, target, shown, plan, max_files, prefixes, chain | {real_dir})
        elif stat.S_ISREG(st.st_mode):
            if plan.count >= max_files:
                plan.truncated = True
                return
            plan.add(real, target, st.st_size, shown)
