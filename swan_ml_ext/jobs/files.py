"""Reading job logs from the end: a 50 MB log costs a tail request a few blocks, not 50 MB."""

from __future__ import annotations

import os
from pathlib import Path

# What one logs answer carries at most, tail or not (the rest stays in the files).
MAX_LOG_BYTES = 4 * 1024 * 1024
_BLOCK = 64 * 1024


def read_tail(path: Path, lines: int | None, max_bytes: int = MAX_LOG_BYTES) -> str:
    """The last `lines` lines of a text file (all of it for None), at most max_bytes from its
    end; '' when the file does not exist. Reads backwards in blocks."""
    if lines == 0:
        return ""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return ""
    with f:
        end = f.seek(0, os.SEEK_END)
        limit = max(0, end - max_bytes)
        pos, chunks, newlines = end, [], 0
        while pos > limit:
            size = min(_BLOCK, pos - limit)
            pos -= size
            f.seek(pos)
            block = f.read(size)
            chunks.append(block)
            newlines += block.count(b"\n")
            # One newline more than wanted: the last line may not end with one.
            if lines is not None and newlines > lines:
                break
        data = b"".join(reversed(chunks))
    if pos > 0:  # started mid-file: drop the partial first line
        cut = data.find(b"\n")
        data = data[cut + 1 :] if cut >= 0 else data
    return last_lines(data.decode("utf-8", errors="replace"), lines)


def last_lines(text: str, lines: int | None) -> str:
    """The last `lines` lines of a text (all of it for None, nothing for 0)."""
    if lines is None:
        return text
    return "".join(text.splitlines(keepends=True)[-lines:]) if lines else ""
