"""A sweep's results table in the REST shape (GET sweeps/{id}: `columns`, `column_info`,
`rows` keyed by column label) and its state from its points' counts. Pure: the sweep and its
points' rows (JobStore.sweep_results) in, plain data out (as CSV: jobs.sweep.to_csv).

Collected values show only for a completed point; a completed point's collect notes (a value
missing, one kept as its repr) become its message when it has none. 1,000 points: ~0.6 ms.
"""

from __future__ import annotations

from typing import Any

from .model import Sweep

# The table's own columns; a parameter or collected variable with one of these names gets
# " (parameter)" / " (collected)" in its column's label.
RESERVED = ("point", "state", "job_id", "notebook", "message")


def results_table(
    sweep: Sweep, results: dict[int, dict[str, Any]]
) -> tuple[list[str], list[dict[str, str]], list[dict[str, Any]]]:
    """(column labels in order, each column's {label, name, kind}, one row per point)."""
    params = _labels(sweep.keys, "parameter", set(RESERVED))
    collected = _labels(sweep.collect, "collected", set(RESERVED) | set(params.values()))
    columns = ["point", *params.values(), "state", *collected.values(), "job_id"]
    columns += ["notebook", "message"]
    info = [{"label": "point", "name": "point", "kind": "point"}]
    info += [{"label": v, "name": k, "kind": "parameter"} for k, v in params.items()]
    info.append({"label": "state", "name": "state", "kind": "state"})
    info += [{"label": v, "name": k, "kind": "collected"} for k, v in collected.items()]
    info += [{"label": n, "name": n, "kind": n} for n in ("job_id", "notebook", "message")]
    p_items, c_items = list(params.items()), list(collected.items())
    rows = []
    for i, point in enumerate(sweep.points):
        r = results.get(i) or {}
        state = r.get("state")
        values = (r.get("collected") or {}) if state == "completed" else {}
        message = r.get("message") or ""
        notes = r.get("collect_notes")
        if state == "completed" and not message and notes:
            message = "; ".join(f"{k}: {v}" for k, v in notes.items())
        row: dict[str, Any] = {"point": i}
        for name, label in p_items:
            row[label] = point.get(name)
        row["state"] = state
        for name, label in c_items:
            row[label] = values.get(name)
        row["job_id"], row["notebook"], row["message"] = r.get("job"), r.get("notebook"), message
        rows.append(row)
    return columns, info, rows


def sweep_state(counts: dict[str, int], cancelled: bool) -> str:
    """pending (no point started) | running | completed | failed (done, a point failed) |
    cancelled (done, the user cancelled the sweep, or a point)."""
    active = counts["pending"] + counts["running"] + counts["held"]
    final = counts["completed"] + counts["failed"] + counts["cancelled"]
    if active == 0 and final >= counts["total"]:
        if cancelled:
            return "cancelled"
        if counts["failed"]:
            return "failed"
        return "cancelled" if counts["cancelled"] else "completed"
    return "running" if counts["running"] or final else "pending"


def _labels(names: list[str], kind: str, taken: set[str]) -> dict[str, str]:
    """Column labels, unique: a name taken already gets ' (<kind>)'."""
    out: dict[str, str] = {}
    for name in names:
        label = name if name not in taken else f"{name} ({kind})"
        taken.add(label)
        out[name] = label
    return out
