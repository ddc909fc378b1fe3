"""Log tails are read from the end of the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from swan_ml_ext.jobs import files
from swan_ml_ext.jobs.files import read_tail


@pytest.fixture
def log(tmp_path: Path) -> Path:
    p = tmp_path / "stdout.txt"
    p.write_text("".join(f"line {i}\n" for i in range(200_000)))  # ~2.3 MB
    return p


@pytest.mark.parametrize("n", [0, 1, 20, 5000])
def test_tail_is_the_last_lines(log, n):
    want = "".join(log.read_text().splitlines(keepends=True)[-n:]) if n else ""
    assert read_tail(log, n) == want


def test_tail_reads_only_the_end(log, monkeypatch):
    reads: list[int] = []
    real_open = open

    class Counting:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def seek(self, *a):
            return self.f.seek(*a)

        def read(self, n):
            reads.append(n)
            return self.f.read(n)

    monkeypatch.setattr(files, "open", lambda p, m: Counting(real_open(p, m)), raising=False)
    assert read_tail(log, 20).endswith("line 199999\n")
    assert sum(reads) <= 64 * 1024


def test_no_tail_is_bounded_and_starts_at_a_line(log):
    text = read_tail(log, None, max_bytes=100_000)
    assert len(text) <= 100_000 and text.startswith("line ") and text.endswith("line 199999\n")


def test_last_line_without_newline_and_missing_file(tmp_path):
    p = tmp_path / "f.txt"
    p.write_text("a\nb\nc")
    assert read_tail(p, 2) == "b\nc"
    assert read_tail(tmp_path / "missing.txt", 5) == ""
