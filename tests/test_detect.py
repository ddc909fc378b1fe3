"""Input detection (jobs/detect.py): what a notebook's code reads, found without running it.
Pure: a workspace in a temporary folder, notebooks as JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from swan_ml_ext.jobs import detect
from swan_ml_ext.jobs.detect import detect_inputs

SHARED = ["/eos", "/cvmfs"]


def nb_json(*cells: str, markdown_first: bool = False) -> dict[str, Any]:
    nb = nbformat.v4.new_notebook()
    if markdown_first:
        nb.cells.append(nbformat.v4.new_markdown_cell("# 'data/events.csv' in prose"))
    nb.cells.extend(nbformat.v4.new_code_cell(c) for c in cells)
    return json.loads(nbformat.writes(nb))


def files(root: Path, *paths: str, size: int = 3) -> None:
    for p in paths:
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_bytes(b"x" * size)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A workspace: the notebook ana/read.ipynb and what lies around it."""
    r = tmp_path / "root"
    files(
        r,
        "ana/read.ipynb",
        "ana/data/events.csv",
        "ana/cfg.yaml",
        "ana/calib/a.json",
        "ana/calib/b.json",
        "ana/helper.py",
        "ana/plots/old.png",
        "ana/out.csv",
        "ana/models/w.h5",
        "ana/notes/n.txt",
        "common/lumi.csv",
        "top.txt",
    )
    (tmp_path / "outside.txt").write_text("secret")
    (r / "ana" / "escape").symlink_to(tmp_path)  # a link out of the root
    return r


def paths(found: list[dict[str, Any]]) -> list[str]:
    return [d["path"] for d in found]


def sent(path: str, cell: int, kind: str = "file", size: int = 3, count: int = 1) -> dict[str, Any]:
    """A proposed input sent with the job: `size` bytes in `count` files, first named in `cell`."""
    return {"path": path, "kind": kind, "bytes": size, "files": count, "in_place": False,
            "cell": cell}  # fmt: skip


def in_place(path: str, cell: int, kind: str = "file") -> dict[str, Any]:
    """A proposed input under a shared prefix: read in place, never looked at."""
    return {"path": path, "kind": kind, "bytes": 0, "files": 0, "in_place": True, "cell": cell}


def test_a_dozen_kinds_of_literals(root: Path) -> None:
    # Given a notebook whose cells name files in every way a notebook does
    nb = nb_json(
        "import pandas as pd\ndf = pd.read_csv('data/events.csv')",  # relative to the notebook
        'cfg = open("./cfg.yaml").read()',  # ./
        "from glob import glob\ncal = glob('calib/*.json')",  # a glob: its folder
        "lumi = pd.read_csv('../common/lumi.csv')",  # the parent folder, inside the root
        "top = open('top.txt').read()",  # relative to the root
        "big = '/eos/user/j/jdoe/big.root'\nlcg = '/cvmfs/sft.cern.ch/lcg/views/'",  # shared
        "run = 7\nf = f'data/run{run}.csv'\ng = f'{run}/cfg.yaml'",  # f-strings: left alone
        "open('../../etc/passwd'); open('/etc/hosts'); open('escape/outside.txt')",  # outside
        "plt.savefig('plots/old.png'); df.to_csv('out.csv'); open('cfg2.yaml', 'w')",  # written
        "%matplotlib inline\n!ls data\nfiles = !ls\n%run helper.py",  # magics, %run
        "from pathlib import Path\nw = Path('models') / 'w.h5'",  # a Path joined
        "label = 'notes'\nurl = 'https://example.org/data/events.csv'",  # a word, a URL
        "def broken(:\n    open('cfg.yaml')",  # does not parse: read with the tokenizer
        markdown_first=True,
    )
    # When inputs are detected
    found = detect_inputs(root, "ana/read.ipynb", nb, SHARED)
    # Then each file or folder the code reads is proposed once, with its size and first cell
    assert found == [
        sent("ana/data/events.csv", 2),
        sent("ana/cfg.yaml", 3),
        sent("ana/calib", 4, "folder", size=6, count=2),
        sent("common/lumi.csv", 5),
        sent("top.txt", 6),
        in_place("/cvmfs/sft.cern.ch/lcg/views", 7, "folder"),
        in_place("/eos/user/j/jdoe/big.root", 7),
        sent("ana/helper.py", 11),
        sent("ana/models/w.h5", 12),
    ]
    # and nothing outside the root, nothing only written, no f-string, no bare word, no URL
    for never in ("outside.txt", "plots", "out.csv", "notes", "data/run", "etc"):
        assert not any(never in p for p in paths(found)), (never, found)


def test_a_file_under_a_proposed_folder_is_covered_by_it(root: Path) -> None:
    # Given a cell that reads a file and a later one that lists its folder
    nb = nb_json("x = open('data/events.csv')", "import os\nnames = os.listdir('data')")
    # Then only the folder is proposed, with the first cell that named any of it
    assert detect_inputs(root, "ana/read.ipynb", nb, SHARED) == [sent("ana/data", 1, "folder")]


@pytest.mark.parametrize(
    "code",
    [
        "glob('data/*.csv')",
        "glob.glob('data/**/*.csv', recursive=True)",
        "name = 'data/run_%d.csv' % 3",
        "name = 'data/run_{}.csv'.format(3)",
        "p = Path('data')",
        "os.listdir('data/')",
        "os.listdir(os.path.join('data', ''))",
    ],
)
def test_patterns_and_folder_paths_propose_the_folder(root: Path, code: str) -> None:
    assert paths(detect_inputs(root, "ana/read.ipynb", nb_json(code), SHARED)) == ["ana/data"]


@pytest.mark.parametrize(
    "code",
    [
        "x = 'data'",  # a bare word, not used as a path
        "print(f'{x}/cfg.yaml')",
        "y = '..'\nz = '.'\nw = './'",  # the notebook's folder and above
        "open('read.ipynb')",  # the notebook itself travels anyway
        "open('/etc/hosts')",  # absolute, not shared
        "open('~/cfg.yaml')",
        "open(b'cfg.yaml')",
        "open('data/nothing.csv')",  # does not exist
        # a '*' that is no file pattern never lists the notebook's folder
        "x = '*'",
        "print('*' * 40)",
        "print('=' * 40)",
        "print('-' * 80)",
        "print(a, b, sep='*')",
        "glob('*')",  # a pattern without a suffix: every file next to the notebook
        "pattern = '*.yaml'",  # a pattern not used as a path
        "glob('**')",  # '**' walks the whole tree: refused
        "glob('**.yaml')",
        "glob('**/*.yaml', recursive=True)",
    ],
)
def test_not_proposed(root: Path, code: str) -> None:
    assert detect_inputs(root, "ana/read.ipynb", nb_json(code), SHARED) == []


def test_a_file_name_is_proposed_wherever_it_appears(root: Path) -> None:
    # Detection proposes, the user decides (the dialog's list is editable): a literal that
    # names an existing file counts even outside a call that reads it
    nb = nb_json("settings = {'config': 'cfg.yaml'}")
    assert paths(detect_inputs(root, "ana/read.ipynb", nb, SHARED)) == ["ana/cfg.yaml"]


def test_shared_paths_are_read_in_place_and_never_looked_at(root: Path) -> None:
    # Given absolute paths under the shared prefixes that do not exist here
    nb = nb_json("a = uproot.open('/eos/experiment/run1/*.root')\nb = open('/cvmfs/x/setup.sh')")
    found = detect_inputs(root, "ana/read.ipynb", nb, SHARED)
    assert found == [
        in_place("/cvmfs/x/setup.sh", 1),
        in_place("/eos/experiment/run1", 1, "folder"),
    ]
    # and without shared prefixes, absolute paths are not proposed at all
    assert detect_inputs(root, "ana/read.ipynb", nb, []) == []
    # a prefix matches whole folder names only
    assert detect_inputs(root, "ana/read.ipynb", nb_json("open('/eosx/a.txt')"), SHARED) == []


def test_a_notebook_at_the_root_never_reaches_above_it(root: Path) -> None:
    files(root, "nb.ipynb")
    nb = nb_json("open('../outside.txt'); open('ana/cfg.yaml'); open('common/../top.txt')")
    assert paths(detect_inputs(root, "nb.ipynb", nb, SHARED)) == ["ana/cfg.yaml", "top.txt"]


def test_excluded_folders_are_not_proposed(root: Path) -> None:
    files(root, "swan-ml-jobs/read-abc/result.csv")
    nb = nb_json("a = open('../swan-ml-jobs/read-abc/result.csv')\nb = open('cfg.yaml')")
    found = detect_inputs(root, "ana/read.ipynb", nb, SHARED, exclude=["swan-ml-jobs"])
    assert paths(found) == ["ana/cfg.yaml"]


def test_a_folder_holding_a_link_out_of_the_root_says_why_it_would_be_refused(
    root: Path,
) -> None:
    (root / "ana" / "data" / "evil").symlink_to(root.parent / "outside.txt")
    found = detect_inputs(root, "ana/read.ipynb", nb_json("glob('data/*')"), SHARED)
    assert paths(found) == ["ana/data"]
    assert "leading outside the server root" in found[0]["problem"]


def test_a_large_folder_is_counted_up_to_the_limit(root: Path) -> None:
    for i in range(12):
        files(root, f"ana/many/f{i:02d}.txt", size=10)
    found = detect_inputs(root, "ana/read.ipynb", nb_json("glob('many/*.txt')"), [], max_files=5)
    # more than the limit: counted to limit + 1 (the submission would be refused)
    assert (found[0]["path"], found[0]["files"]) == ("ana/many", 6)
    found = detect_inputs(root, "ana/read.ipynb", nb_json("glob('many/*.txt')"), [])
    assert (found[0]["files"], found[0]["bytes"]) == (12, 120)


@pytest.mark.parametrize(
    "nb",
    [
        {},
        {"cells": "nope"},
        {"cells": [None, 3, {"cell_type": "code"}, {"cell_type": "code", "source": 5}]},
        {"cells": [{"cell_type": "code", "source": ["open(", 7, "'cfg.yaml')"]}]},
        nb_json("%%bash\ncat 'cfg.yaml'"),
        nb_json("%%writefile data/events.csv\na,b"),
        nb_json("x = '''\nopen('cfg.yaml')\n'''"),
        nb_json("(" * 500 + "'cfg.yaml'" + ")" * 500),
        nb_json("x = 'unterminated"),
        nb_json("obj?\n??obj\nprint('ok')"),
    ],
)
def test_never_crashes_on_odd_notebooks_or_code(root: Path, nb: dict[str, Any]) -> None:
    found = detect_inputs(root, "ana/read.ipynb", nb, SHARED)
    assert all(d["path"] in ("ana/cfg.yaml", "ana/data/events.csv") for d in found), found


def test_shell_lines_and_cell_magics_name_paths_too(root: Path) -> None:
    nb = nb_json("!python helper.py --config cfg.yaml", "%%bash\nwc -l '../top.txt'")
    assert paths(detect_inputs(root, "ana/read.ipynb", nb, SHARED)) == [
        "ana/cfg.yaml",
        "ana/helper.py",
        "top.txt",
    ]


def test_the_work_is_bounded(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the first MAX_CELLS code cells are read, and cells over MAX_CELL_CHARS are skipped
    monkeypatch.setattr(detect, "MAX_CELLS", 3)
    nb = nb_json("a = 1", "b = 2", "open('cfg.yaml')", "open('top.txt')")
    assert paths(detect_inputs(root, "ana/read.ipynb", nb, SHARED)) == ["ana/cfg.yaml"]
    monkeypatch.setattr(detect, "MAX_CELL_CHARS", 100)
    nb = nb_json("open('cfg.yaml')  # " + "x" * 200, "open('top.txt')")
    assert paths(detect_inputs(root, "ana/read.ipynb", nb, SHARED)) == ["top.txt"]
    # a literal longer than a path can be is not looked up
    nb = nb_json(f"open('{'a/' * 3000}cfg.yaml')")
    assert detect_inputs(root, "ana/read.ipynb", nb, SHARED) == []


def test_a_pattern_in_the_notebooks_folder_proposes_its_matches(root: Path) -> None:
    files(root, "ana/other.yaml")
    for code in ("glob('*.yaml')", "glob('./*.yaml')", "open('*.yaml')"):
        assert paths(detect_inputs(root, "ana/read.ipynb", nb_json(code), SHARED)) == [
            "ana/cfg.yaml",
            "ana/other.yaml",
        ]


def test_a_pattern_proposes_a_bounded_number_of_matches(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given more matching files than MAX_GLOB_FILES next to the notebook
    monkeypatch.setattr(detect, "MAX_GLOB_FILES", 3)
    for i in range(8):
        files(root, f"ana/run{i}.yaml")
    globbed: list[str] = []
    taken: list[Path] = []
    real = Path.glob

    def counting(self: Path, pattern: str) -> Iterator[Path]:
        globbed.append(pattern)
        for match in real(self, pattern):
            taken.append(match)
            yield match

    monkeypatch.setattr(Path, "glob", counting)
    # When a cell globs them, and others use '**' (a walk of the whole tree)
    nb = nb_json("glob('*.yaml')", "glob('**')", "glob('**.yaml')")
    found = detect_inputs(root, "ana/read.ipynb", nb, SHARED)
    # Then only that many matches are taken and proposed, and '**' is never globbed
    assert len(found) == 3 and len(taken) == 3
    assert all(p.startswith("ana/") and p.endswith(".yaml") for p in paths(found))
    assert globbed == ["*.yaml"]


def test_joined_paths_are_one_path(root: Path) -> None:
    files(root, "ana/data/sub/deep.csv")
    nb = nb_json("a = Path('data') / 'sub' / 'deep.csv'\nb = os.path.join('..', 'top.txt')")
    assert paths(detect_inputs(root, "ana/read.ipynb", nb, SHARED)) == [
        "ana/data/sub/deep.csv",
        "top.txt",
    ]


def test_links_inside_the_root_are_proposed_by_their_real_path(root: Path) -> None:
    os.symlink(root / "common", root / "ana" / "common-link")
    nb = nb_json("open('common-link/lumi.csv')")
    assert paths(detect_inputs(root, "ana/read.ipynb", nb, SHARED)) == ["common/lumi.csv"]
