"""Parameter sweeps, the pure part: a request's `sweep` and `collect` checked and turned into
points, the `-p name=v1,v2` / `range(...)` form of the magics and the CLI, and the results
table as CSV (the table itself: jobs/sweep_rows.py). No tornado, no engines, no store.

A sweep is a grid, `{"lr": [0.01, 0.02], "seed": [1, 2, 3]}` (the cartesian product, first
key slowest: lr=0.01 with seeds 1, 2, 3, then lr=0.02 ...), or explicit points,
`[{"lr": 0.01, "seed": 1}, ...]`, kept in the order given. Every explicit point names the same
parameters: the table has one column per parameter with a value in every row, and a misspelled
key cannot quietly make a point that runs with the notebook's default (shared values go in the
body's `parameters`). A value repeated in a grid list, or a point given twice, is refused too.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import keyword
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .model import InvalidRequest, SwanMLError, TooLarge
from .spec import Limits, check_json, human_bytes, parse_parameters

DEFAULT_MAX_POINTS = 1000  # SwanMLApp's traits set the real ones
DEFAULT_MAX_TOTAL_BYTES = 64 * 1024**2
MAX_COLLECT = 50
MAX_NAME_CHARS = 100


@dataclass(frozen=True)
class Sweep:
    """A checked sweep. `points` hold the swept values only (name -> value, `keys` order);
    a job's parameters are the body's `parameters` with its point on top (job_parameters)."""

    keys: tuple[str, ...]
    points: list[dict[str, Any]]
    collect: list[str]
    grid: dict[str, list[Any]] | None = None  # the grid as given; None for explicit points

    def job_parameters(self, fixed: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return [{**(fixed or {}), **p} for p in self.points]


def parse_sweep(
    raw: Any,
    collect: Any = None,
    *,
    fixed: Mapping[str, Any] | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    max_parameters_bytes: int = Limits.max_parameters_bytes,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
) -> Sweep:
    """A request's `sweep` (grid or explicit points) and `collect`, checked. `fixed` is the
    body's own `parameters` (already parsed): a swept name may not also be fixed, every point
    with them must fit max_parameters_bytes, and all points' parameters together (each point's
    job stores its own) max_total_bytes. InvalidRequest (TooLarge for a size) names the
    field."""
    if raw is None:
        raise InvalidRequest(
            "'sweep' is missing: give a grid of name: [values] or a list of points"
        )
    check_json(raw, "sweep")
    if isinstance(raw, dict):
        keys, points, grid = _grid(raw, max_points)
    elif isinstance(raw, list):
        keys, points = _explicit(raw, max_points)
        grid = None
    else:
        raise InvalidRequest(
            "'sweep' must be a grid {name: [values]} or a list of points [{name: value}],"
            f" got {_show(raw)}"
        )
    overlap = [k for k in keys if k in (fixed or {})]
    if overlap:
        raise InvalidRequest(
            f"parameter {overlap[0]!r} is both in 'parameters' and in 'sweep': give it in one"
        )
    names = parse_collect(collect)
    sweep = Sweep(tuple(keys), points, names, grid)
    _check_total(keys, points, fixed, max_total_bytes)
    for i, params in enumerate(sweep.job_parameters(fixed)):
        try:
            parse_parameters(params, max_parameters_bytes)
        except SwanMLError as e:
            raise type(e)(f"sweep point {i + 1} ({_point_text(points[i])}): {e.message}") from None
    return sweep


def _check_total(
    keys: list[str],
    points: list[dict[str, Any]],
    fixed: Mapping[str, Any] | None,
    max_total_bytes: int,
) -> None:
    """All points' parameters as JSON (each point's job stores its own), measured before any
    point's is built: a large fixed value times many points is refused without writing it
    that many times. Exact, from each key's and each value's size once: a point's JSON is
    '{' + '"key": value' joined by ', ' + '}', and {**fixed, **point} (the names differ) is
    as long as fixed's JSON and the point's together."""
    fixed_bytes = _json_bytes(fixed) if fixed else 0
    base = sum(_json_bytes(k) + 4 for k in keys)  # '"k": ' and ', ' (or the braces)
    sizes: dict[int, int] = {}  # id(value) -> its bytes: a grid's points share their values
    total = 0
    for point in points:
        total += fixed_bytes + base
        for value in point.values():
            n = sizes.get(id(value))
            if n is None:
                n = sizes[id(value)] = _json_bytes(value)
            total += n
    if total > max_total_bytes:
        raise TooLarge(
            f"the sweep's parameters are {human_bytes(total)} as JSON in all ({len(points):,}"
            f" points, each job storing its own); the limit is {human_bytes(max_total_bytes)}"
            " (SwanMLApp.max_sweep_parameters_bytes): pass large values as an input file"
        )


def _json_bytes(value: Any) -> int:
    """As parse_parameters measures: JSON, UTF-8 bytes."""
    return len(json.dumps(value, ensure_ascii=False).encode())


def parse_collect(raw: Any) -> list[str]:
    """`collect`: up to MAX_COLLECT distinct Python identifiers (not keywords)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidRequest(f"'collect' must be a list of variable names, got {_show(raw)}")
    if len(raw) > MAX_COLLECT:
        raise InvalidRequest(f"'collect' has {len(raw):,} names; the limit is {MAX_COLLECT}")
    for i, name in enumerate(raw):
        if not isinstance(name, str):
            raise InvalidRequest(f"collect[{i}] must be a variable name, got {_show(name)}")
        _check_name(name, f"collect[{i}] ({_show(name, 60)})")
        if name in raw[:i]:
            raise InvalidRequest(f"collect[{i}] repeats {name!r}")
    return list(raw)


def _check_name(name: str, where: str) -> None:
    if len(name) > MAX_NAME_CHARS:
        raise InvalidRequest(f"{where} is {len(name):,} characters; the limit is {MAX_NAME_CHARS}")
    if not name.isidentifier() or keyword.iskeyword(name):
        raise InvalidRequest(f"{where} is not a Python variable name")


def _grid(raw: dict[str, Any], max_points: int) -> tuple[list[str], list[dict[str, Any]], Any]:
    if not raw:
        raise InvalidRequest("'sweep' is an empty grid: give at least one name: [values]")
    for key, values in raw.items():
        _check_name(key, f"sweep key {_show(key, 60)}")
        if not isinstance(values, list):
            raise InvalidRequest(f"sweep.{key} must be a list of values, got {_show(values)}")
        if not values:
            raise InvalidRequest(f"sweep.{key} is an empty list: give at least one value")
    count = math.prod(len(v) for v in raw.values())
    _check_count(count, max_points)
    for key, values in raw.items():
        seen: dict[str, int] = {}
        for i, value in enumerate(values):
            text = _value_text(value, f"sweep.{key}[{i}]")
            if text in seen:
                raise InvalidRequest(f"sweep.{key}[{i}] repeats sweep.{key}[{seen[text]}]: {text}")
            seen[text] = i
    keys = list(raw)
    points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*raw.values())]
    return keys, points, {k: list(v) for k, v in raw.items()}


def _explicit(raw: list[Any], max_points: int) -> tuple[list[str], list[dict[str, Any]]]:
    if not raw:
        raise InvalidRequest("'sweep' is an empty list of points: give at least one")
    _check_count(len(raw), max_points)
    keys: list[str] = []
    seen: dict[str, int] = {}
    for i, point in enumerate(raw):
        if not isinstance(point, dict):
            raise InvalidRequest(f"sweep[{i}] must be an object of name: value, got {_show(point)}")
        if not point:
            raise InvalidRequest(f"sweep[{i}] is an empty point: give name: value")
        if i == 0:
            keys = list(point)
            for key in keys:
                _check_name(key, f"sweep[0] key {_show(key, 60)}")
        elif set(point) != set(keys):
            raise InvalidRequest(
                f"sweep[{i}] gives {', '.join(sorted(point))[:300]} but sweep[0] gives"
                f" {', '.join(sorted(keys))[:300]}: every point must give the same parameters"
                " (shared values go in 'parameters')"
            )
        text = json.dumps(
            [_value_text(point[k], f"sweep[{i}].{k}") for k in keys], ensure_ascii=False
        )
        if text in seen:
            raise InvalidRequest(f"sweep[{i}] repeats sweep[{seen[text]}]")
        seen[text] = i
    return keys, [{k: p[k] for k in keys} for p in raw]


def _check_count(count: int, max_points: int) -> None:
    if count > max_points:
        raise InvalidRequest(f"the sweep has {count:,} points; the limit is {max_points:,}")


def _value_text(value: Any, where: str) -> str:
    """The value's canonical JSON (how duplicates are found); NaN and infinities refused."""
    try:
        return json.dumps(value, allow_nan=False, sort_keys=True, ensure_ascii=False)
    except ValueError:
        raise InvalidRequest(
            f"{where} is not a finite number: NaN and Infinity are not JSON"
        ) from None


def _point_text(point: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_show(v, 40)}" for k, v in point.items())[:200]


def _show(value: Any, n: int = 100) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except ValueError:
        text = repr(value)
    return text if len(text) <= n else text[: n - 1] + "…"


# The magic / CLI form: -p lr=0.01,0.02,0.05 -p seed=range(3) -p layers=[64,32],[128,64]
_RANGE = re.compile(r"range\((-?\d+)(?:,(-?\d+)(?:,(-?\d+))?)?\)")


def grid_from_options(
    items: Iterable[str],
    parse_value: Callable[[str], Any],
    *,
    max_points: int = DEFAULT_MAX_POINTS,
) -> dict[str, list[Any]]:
    """`name=v1,v2,...` items (the magics' and the CLI's -p) as a grid, in the order given.
    Values are split at commas outside brackets and quotes (`[1,2]` and `"a,b"` are one value)
    and typed by parse_value (the -p rules); `range(a[,b[,c]])` (integers) adds its values; a
    single value is a one-value list. InvalidRequest names the option; parse_value's own
    errors pass through."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        if "=" not in item:
            raise InvalidRequest(f"-p {item[:100]!r} must look like name=value1,value2,...")
        key, _, text = item.partition("=")
        key = key.strip()
        _check_name(key, f"-p name {key[:100]!r}")
        if key in grid:
            raise InvalidRequest(f"-p {key} is given twice: list its values in one, {key}=a,b")
        pieces = _split_top_level(text)
        values: list[Any] = []
        for piece in pieces:
            if not piece.strip() and len(pieces) > 1:
                raise InvalidRequest(
                    f"-p {key}: an empty value between commas (a string with a comma is quoted:"
                    " '\"a,b\"')"
                )
            if re.match(r"\s*range\s*\(", piece):
                values.extend(_range(key, piece, max_points))
            else:
                values.append(parse_value(piece))
            if len(values) > max_points:
                raise InvalidRequest(f"-p {key} has over {max_points:,} values (the points limit)")
        grid[key] = values
    return grid


def _split_top_level(text: str) -> list[str]:
    pieces, start, depth, quoted, escaped = [], 0, 0, False, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif quoted:
            escaped, quoted = ch == "\\", ch != '"'
        elif ch == '"':
            quoted = True
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            pieces.append(text[start:i])
            start = i + 1
    pieces.append(text[start:])
    return pieces


def _range(key: str, piece: str, max_points: int) -> list[int]:
    m = _RANGE.fullmatch(re.sub(r"\s+", "", piece))
    if not m:
        raise InvalidRequest(
            f"-p {key}: {piece.strip()[:100]!r} must be range(stop), range(start, stop) or"
            " range(start, stop, step) of integers"
        )
    a, b, c = (int(g) if g is not None else None for g in m.groups())
    if c == 0:
        raise InvalidRequest(f"-p {key}: {piece.strip()!r} has a step of 0")
    r = range(a) if b is None else range(a, b, 1 if c is None else c)
    try:
        n = len(r)
    except OverflowError:
        n = max_points + 1
    if n == 0:
        raise InvalidRequest(f"-p {key}: {piece.strip()!r} is empty")
    if n > max_points:
        raise InvalidRequest(
            f"-p {key}: {piece.strip()!r} has {n:,} values; the limit is {max_points:,} points"
        )
    return list(r)


# The results table as CSV
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def to_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """A results table (GET sweeps/{id}: column labels, rows keyed by label) as CSV (RFC 4180,
    header of labels). Safe to open in a spreadsheet: a text cell starting with = + - @ tab or
    CR gets a leading ' (numbers are written as numbers, so -0.5 stays a number). null is
    empty, true/false lower case, lists and objects as JSON."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_cell(c) for c in columns])
    writer.writerows([_cell(row.get(c)) for c in columns] for row in rows)
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return "'" + text if text.startswith(_FORMULA_START) else text
