"""Which files and folders a notebook reads, guessed from its code without running it.

The string literals of the code cells (read with `ast`; a cell that does not parse is read
with the tokenizer; IPython magics and shell lines are blanked first) that name a file or
folder existing under the server root, relative to the notebook's folder (as the kernel sees
them) or to the root, are proposed as inputs. `glob('data/*.root')`, `'data/run_%d.csv'` and
`'data/{}.csv'` propose their folder, `data/`. f-strings are left alone (their value is not
known), so are paths outside the root, URLs, and paths a cell only writes
(`df.to_csv('out.csv')`, `open('log.txt', 'w')`). Absolute paths under one of the
environment's shared prefixes (e.g. /eos, /cvmfs) are reported as read in place: they are
never sent, and never looked at here (a shared filesystem may be slow or absent here).

A bare word (no '/' and no file suffix, e.g. 'data') names a folder only where the code uses
it as a path: in a call such as open(), glob(), listdir(), Path(), read_*() or load*(). So
does a pattern for the notebook's own folder, which must also have a suffix: `glob('*.csv')`
proposes the matching files, `'*' * 40` or `sep='*'` nothing.

Bounded work: at most MAX_CELLS code cells of at most MAX_CELL_CHARS each, literals of at
most MAX_LITERAL_CHARS, MAX_LOOKUPS distinct paths looked up, folders walked up to
`max_files` files.
"""

from __future__ import annotations

import ast
import io
import os
import posixpath
import re
import shlex
import stat
import tokenize
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path, PurePosixPath
from typing import Any

from .inputs import InputPlan, shared_prefix_of, walk_folder
from .model import InvalidRequest

MAX_CELLS = 2000
MAX_CELL_CHARS = 100_000
MAX_LITERAL_CHARS = 4096
MAX_LOOKUPS = 5000
MAX_PROPOSED = 200
MAX_GLOB_FILES = 100

# Cell magics whose body is Python (others, e.g. %%bash, are read with the tokenizer).
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "swan", "spark", "debug"})
# Cell magics whose body is no program that reads files.
SKIPPED_CELL_MAGICS = frozenset({"writefile", "file", "html", "markdown", "latex", "svg"})
# Calls that write their path argument (the names of the function or method).
WRITERS = frozenset(
    {
        "savefig", "save", "savez", "savez_compressed", "savetxt", "dump", "write", "write_text",
        "write_bytes", "mkdir", "makedirs", "rmtree", "remove", "unlink", "rmdir", "touch",
        "to_csv", "to_parquet", "to_hdf", "to_json", "to_pickle", "to_feather", "to_excel",
        "to_netcdf", "to_zarr", "to_sql", "to_html", "to_latex", "to_markdown", "to_string",
        "SummaryWriter", "ModelCheckpoint", "recreate", "Snapshot",
    }
)  # fmt: skip
# Calls that take a path to read (besides names starting with read/load/open).
READERS = frozenset(
    {
        "glob", "iglob", "listdir", "scandir", "walk", "Path", "PurePath", "PosixPath",
        "exists", "isdir", "isfile", "chdir", "stat", "getsize", "File", "TFile", "RDataFrame",
        "TChain", "Add", "fromfile", "genfromtxt", "imread", "copy", "copyfile", "copytree",
        "ImageFolder", "DatasetFolder", "dataset", "ParquetDataset", "exec_file", "run",
    }
)  # fmt: skip
_GLOB = re.compile(r"[*?\[]|\{[^}]*\}|%[-+ #0-9.]*[sdifgexXr]")
_MAGIC_ASSIGN = re.compile(r"^\s*[\w.,\t ()\[\]]+=\s*[!%]")
_HELP = re.compile(r"^\s*(\?{1,2}[\w.]+|[\w.]+\?{1,2})\s*$")
# An open mode that writes ('w', 'a+', 'xb'), or ROOT's.
_WRITE_MODE = re.compile(r"^(?=[rwxabtU+]{1,4}$).*[wax]|^(RECREATE|NEW|CREATE|UPDATE)$", re.I)
_PATH_MAGICS = ("%run ", "%load ")
# Any line that is not Python: a magic, a shell line, a help request.
_ANY_MAGIC = re.compile(
    r"^\s*[%!]|^\s*[\w.,\t ()\[\]]+=\s*[!%]|^\s*(\?{1,2}[\w.]+|[\w.]+\?{1,2})\s*$", re.M
)


def detect_inputs(
    root: str | Path,
    notebook_rel: str,
    notebook_json: dict[str, Any],
    shared_prefixes: Iterable[str] = (),
    *,
    max_files: int = 10_000,
    exclude: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Proposed inputs of the notebook at `notebook_rel` (root-relative), from its JSON.
    Each: {"path": root-relative (absolute for one read in place), "kind": "file"|"folder",
    "bytes": int, "files": int, "in_place": bool, "cell": 1-based index among all cells (as a
    failed job names them)}; a folder's bytes/files stop counting after max_files + 1 files;
    "problem": why sending it would be refused, where it would. Nothing under another
    proposed folder, nothing under `exclude` (root-relative folders, e.g. the jobs' output
    folder), never the notebook's folder or one above it. Never raises on a notebook's code."""
    root_p = Path(root).resolve()
    finder = _Finder(root_p, notebook_rel, tuple(shared_prefixes), tuple(exclude))
    cells = notebook_json.get("cells") if isinstance(notebook_json, dict) else None
    code_cells = 0
    for index, cell in enumerate(cells if isinstance(cells, list) else []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        code_cells += 1
        if code_cells > MAX_CELLS or finder.lookups >= MAX_LOOKUPS:
            break
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(s for s in source if isinstance(s, str))
        if not isinstance(source, str) or len(source) > MAX_CELL_CHARS:
            continue
        for text, strong in literals(source, finder.interesting):
            finder.consider(text, strong, index + 1)
    return finder.proposals(max_files)


# -- reading a cell ---------------------------------------------------------------------------
# A comment, or a string literal with its prefix (a cheap first look: the syntax tree decides).
_LITERAL = re.compile(
    r"#[^\n]*"  # a comment
    r"|(?:(?<!\w)(?P<prefix>[rRbBuUfF]{1,2}))?"
    r"(?P<body>'''(?:[^\\]|\\.)*?'''|\"\"\"(?:[^\\]|\\.)*?\"\"\""
    r"|'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\")",
    re.S,
)


def literals(
    source: str, interesting: Callable[[str], bool] = lambda text: True
) -> Iterator[tuple[str, bool]]:
    """(string literal, used as a path?) of one cell's code, f-strings left out. Only the
    statements holding a literal that `interesting` accepts are read in the syntax tree
    (a cell without one is not parsed)."""
    if "'" not in source and '"' not in source and "%" not in source and "!" not in source:
        return
    code, extra = _strip_magics(source)
    yield from extra
    if code is None or ("'" not in code and '"' not in code):
        return
    lines = _interesting_lines(code, interesting)
    if not lines:
        return
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        yield from _tokens(code)
        return
    finder = _Literals()
    try:
        for stmt in tree.body:
            end = getattr(stmt, "end_lineno", None) or stmt.lineno
            if any(stmt.lineno <= n <= end for n in lines):
                finder.visit(stmt)
    except RecursionError:
        pass
    yield from finder.found


def _interesting_lines(code: str, interesting: Callable[[str], bool]) -> set[int]:
    """The line numbers (1-based) where a literal `interesting` accepts starts."""
    found: set[int] = set()
    line, pos = 1, 0
    for m in _LITERAL.finditer(code):
        body, prefix = m.group("body"), (m.group("prefix") or "").lower()
        if body is None or "f" in prefix or "b" in prefix:
            continue
        q = 3 if body[:3] in ("'''", '"""') else 1
        if interesting(body[q:-q]):
            line, pos = line + code.count("\n", pos, m.start()), m.start()
            found.add(line)
    return found


def _strip_magics(source: str) -> tuple[str | None, list[tuple[str, bool]]]:
    """The cell as Python (None: not Python), magics and shell lines blanked (their indent
    kept, as `pass`), and the paths that `%run` and shell lines name."""
    extra: list[tuple[str, bool]] = []
    if not _ANY_MAGIC.search(source):
        return source, extra
    lines = source.split("\n")
    first = lines[0].lstrip()
    tokenize_only = False
    if first.startswith("%%"):
        magic = first[2:].split(None, 1)[0] if first[2:].strip() else ""
        if magic in SKIPPED_CELL_MAGICS:
            return None, extra
        tokenize_only = magic not in PYTHON_CELL_MAGICS
        lines[0] = ""
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if not stripped.startswith(("%", "!")) and not _MAGIC_ASSIGN.match(line):
            if _HELP.match(line):  # obj? / ??obj: help
                lines[i] = line[: len(line) - len(stripped)] + "pass"
            continue
        body = stripped if stripped[0] in "%!" else stripped.split("=", 1)[1].lstrip()
        runs = body.startswith(_PATH_MAGICS)
        if runs or body.startswith("!"):
            words = body[5:] if runs else body[1:]
            try:
                args = shlex.split(words)
            except ValueError:
                args = words.split()
            extra.extend((a, runs) for a in args if not a.startswith("-"))
        lines[i] = line[: len(line) - len(stripped)] + "pass"
    code = "\n".join(lines)
    if tokenize_only:
        extra.extend(_tokens(code))
        return None, extra
    return code, extra


def _tokens(code: str) -> Iterator[tuple[str, bool]]:
    """String literals by the tokenizer, up to the first place it cannot read."""
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.STRING:
                prefix = tok.string[: len(tok.string) - len(tok.string.lstrip("rRbBuUfF"))]
                if "f" in prefix.lower() or "b" in prefix.lower():
                    continue
                try:
                    value = ast.literal_eval(tok.string)
                except (ValueError, SyntaxError, MemoryError, RecursionError):
                    continue
                if isinstance(value, str):
                    yield value, False
    except (tokenize.TokenError, SyntaxError, ValueError):
        return


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _const_str(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


class _Literals(ast.NodeVisitor):
    """Collects (literal, used as a path) from a cell's syntax tree."""

    def __init__(self) -> None:
        self.found: list[tuple[str, bool]] = []
        self.role: dict[int, str] = {}  # id(node) -> "path" | "write"

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        return  # an f-string: its value is not known

    def visit_Call(self, node: ast.Call) -> None:
        name = _call_name(node)
        args = list(node.args) + [k.value for k in node.keywords]
        # What the call does with its path: a writer's name, or a mode that writes
        # (open(p, 'w'), Path(p).open('a'), h5py.File(p, 'w'), TFile(p, 'RECREATE')).
        mode = node.args[1] if len(node.args) > 1 else None
        if isinstance(node.func, ast.Attribute) and name == "open" and node.args:
            mode = node.args[0] if _is_mode(node.args[0]) else mode
        for k in node.keywords:
            if k.arg == "mode":
                mode = k.value
        if name in WRITERS or (mode is not None and _is_mode(mode, writes=True)):
            targets = args + ([node.func.value] if isinstance(node.func, ast.Attribute) else [])
            for a in targets:  # everything in a written path is written
                for n in ast.walk(a):
                    self.role[id(n)] = "write"
        elif name in READERS or name.startswith(("read", "load", "open", "Read", "Load")):
            for a in args:
                self.role.setdefault(id(a), "path")
        if name == "join" and node.args and all(_const_str(a) is not None for a in node.args):
            if self.role.get(id(node)) != "write":
                self.found.append((posixpath.join(*(_const_str(a) or "" for a in node.args)), True))
            for a in node.args:  # parts of that path, not paths of their own
                self.role.setdefault(id(a), "part")
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        # Path('data') / 'events.csv' / ...: one path
        if isinstance(node.op, ast.Div) and self.role.get(id(node)) not in ("write", "part"):
            parts = _path_parts(node)
            if parts:
                self.found.append((posixpath.join(*parts), True))
                for n in ast.walk(node):  # parts of that path, not paths of their own
                    self.role.setdefault(id(n), "part")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            role = self.role.get(id(node), "")
            if role in ("", "path"):
                self.found.append((node.value, role == "path"))


def _is_mode(node: ast.AST, writes: bool = False) -> bool:
    """A constant open mode ('r', 'wb', 'RECREATE'); with `writes`, one that writes."""
    text = _const_str(node)
    if text is None:
        return False
    if writes:
        return bool(_WRITE_MODE.search(text))
    return bool(re.fullmatch(r"[rwxabtU+]{1,4}|RECREATE|NEW|CREATE|UPDATE|READ", text, re.I))


def _path_parts(node: ast.AST) -> list[str] | None:
    """['data', 'events.csv'] for Path('data') / 'events.csv'; None when a part is unknown."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left, right = _path_parts(node.left), _const_str(node.right)
        return left + [right] if left is not None and right is not None else None
    if isinstance(node, ast.Call) and _call_name(node) in ("Path", "PurePath", "PosixPath"):
        parts = [_const_str(a) for a in node.args]
        return [p for p in parts if p is not None] if parts and None not in parts else None
    return None


# -- looking paths up -------------------------------------------------------------------------
class _Finder:
    def __init__(
        self, root: Path, notebook_rel: str, prefixes: tuple[str, ...], exclude: tuple[str, ...]
    ):
        self.root = root
        self.root_text = str(root)
        self.notebook_rel = notebook_rel
        self.nb_dir = PurePosixPath(notebook_rel).parent
        self.prefixes = prefixes
        self.exclude = tuple(PurePosixPath(e.strip("/")) for e in exclude if e.strip("/"))
        self.cache: dict[str, list[tuple[str, str, bool, bool]]] = {}
        self.lookups = 0
        # path -> (kind, in_place, cell); first cell wins
        self.found: dict[str, tuple[str, bool, int]] = {}

    def interesting(self, text: str) -> bool:
        """Could the literal name something to propose (whatever its use)?"""
        return bool(self._resolve(text))

    def consider(self, text: str, strong: bool, cell: int) -> None:
        """Propose what the literal names; `strong`: the code uses it as a path."""
        for path, kind, in_place, only_strong in self._resolve(text):
            if (strong or not only_strong) and len(self.found) < MAX_PROPOSED:
                self.found.setdefault(path, (kind, in_place, cell))

    def _resolve(self, text: str) -> list[tuple[str, str, bool, bool]]:
        """(path, kind, in place, proposed only where used as a path) of what a literal
        names, looked up once per literal."""
        hit = self.cache.get(text)
        if hit is None:
            hit = self._names(text.strip()) if self.lookups < MAX_LOOKUPS else []
            self.cache[text] = hit
        return hit

    def _names(self, text: str) -> list[tuple[str, str, bool, bool]]:
        if not text or len(text) > MAX_LITERAL_CHARS or "\n" in text or "\x00" in text:
            return []
        if "://" in text or text.startswith("~") or "\\" in text:
            return []
        while text.startswith("./"):
            text = text[2:]
        glob = _GLOB.search(text)
        if glob:  # 'data/*.root', 'data/run_%d.csv', 'data/{}.csv': their folder
            head = text[: glob.start()]
            if "/" in head:
                found = self._lookup(head.rsplit("/", 1)[0] + "/")
                return [(*found, False)] if found and found[1] == "folder" else []
            if "*" in text and not any(c in text for c in "/?[{%") and _has_suffix(text):
                return self._glob_here(text)  # '*.csv': the matching files next to it
            return []  # '*' alone ('*' * 40, sep='*') is no file pattern
        found = self._lookup(text)
        if found is None:
            return []
        # A bare word ('data', 'v1.0'): a path only where the code uses it as one.
        bare = "/" not in text and not (found[1] == "file" and _has_suffix(text))
        return [(*found, bare)]

    def _lookup(self, text: str) -> tuple[str, str, bool] | None:
        """(path, kind, in place) of an existing file or folder the path names, relative to
        the notebook's folder first, then to the root; a shared absolute path as it is."""
        if text.startswith("/"):
            if not shared_prefix_of(text, self.prefixes):
                return None  # other absolute paths do not exist on the worker
            kind = "folder" if text.endswith("/") else "file"
            return posixpath.normpath(text), kind, True
        bases = [self.nb_dir] if str(self.nb_dir) == "." else [self.nb_dir, PurePosixPath(".")]
        for base in bases:
            rel = posixpath.normpath(posixpath.join(str(base), text))
            if rel == ".." or rel.startswith("../"):
                continue  # outside the root: never
            found = self._stat(rel)
            if found is not None:
                return (*found, False) if self._allowed(found[0]) else None
        return None

    def _allowed(self, rel: str) -> bool:
        p = PurePosixPath(rel)
        if rel == self.notebook_rel or p == self.nb_dir or p in self.nb_dir.parents:
            return False  # the notebook travels anyway; a folder holding it is not an input
        return not any(p == e or e in p.parents for e in self.exclude)

    def _glob_here(self, pattern: str) -> list[tuple[str, str, bool, bool]]:
        """The files next to the notebook that a pattern ('*.csv') matches, proposed only
        where the code uses it as a path; at most MAX_GLOB_FILES of them, one folder read
        ('**', a walk of the whole tree, is refused)."""
        if "**" in pattern:
            return []
        folder = self.root / self.nb_dir
        try:
            matches = sorted(islice(folder.glob(pattern), MAX_GLOB_FILES))
        except (OSError, ValueError, NotImplementedError):
            return []
        found = [self._lookup(m.name) for m in matches]
        return [(*f, True) for f in found if f is not None and f[1] == "file"]

    def _stat(self, rel: str) -> tuple[str, str] | None:
        """(root-relative real path, kind) of an existing file or folder inside the root."""
        self.lookups += 1
        try:
            path = os.path.join(self.root_text, rel)
            st = os.stat(path)  # most literals name nothing: one system call says so
            real = os.path.realpath(path)
        except (OSError, ValueError):
            return None
        if real == self.root_text:
            return ".", "folder"
        if not real.startswith(self.root_text.rstrip("/") + "/"):
            return None  # a link out of the root
        kind = "folder" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else ""
        if not kind:
            return None
        return real[len(self.root_text.rstrip("/")) + 1 :], kind

    def proposals(self, max_files: int) -> list[dict[str, Any]]:
        kept: dict[PurePosixPath, dict[str, Any]] = {}
        # Shortest first: a folder comes before what it holds (which it covers: the folder
        # keeps the first cell that named any of it).
        for path in sorted(self.found, key=lambda p: (len(PurePosixPath(p).parts), p)):
            kind, in_place, cell = self.found[path]
            p = PurePosixPath(path)
            above = next((kept[f] for f in p.parents if f in kept), None)
            if above is not None:
                above["cell"] = min(above["cell"], cell)
                continue
            kept[p] = {
                "path": path, "kind": kind, "bytes": 0, "files": 0, "in_place": in_place,
                "cell": cell,
            }  # fmt: skip
        for item in kept.values():
            if not item["in_place"]:
                self._measure(item, max_files)
        return sorted(kept.values(), key=lambda d: (d["cell"], d["path"]))

    def _measure(self, item: dict[str, Any], max_files: int) -> None:
        full = self.root / item["path"]
        if item["kind"] == "file":
            try:
                item["bytes"], item["files"] = full.stat().st_size, 1
            except OSError:
                pass
            return
        plan = InputPlan()
        try:
            walk_folder(self.root, full, "", item["path"], plan, max_files, self.prefixes, {full})
        except InvalidRequest as e:
            item["problem"] = e.message
        item["bytes"], item["files"] = plan.bytes, plan.count + (1 if plan.truncated else 0)


def _has_suffix(text: str) -> bool:
    """'events.csv', 'cfg.yaml': a name with a file suffix (not '.', '..', '.hidden', 'v1.')."""
    name = text.rsplit("/", 1)[-1]
    stem, dot, suffix = name.rpartition(".")
    return bool(dot and stem and suffix and len(suffix) <= 12 and suffix.replace("_", "").isalnum())
