"""What the verbs show: a job in a line, in lines, in a table (text and HTML), the backends
(their resources, capabilities and GPUs), and following a job or its logs until it ends."""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from .client import SwanMLClient
from .jobs.spec import human_bytes
from .options_commands import RESOURCE_FLAGS, schema_fields

FINAL = {"completed", "failed", "cancelled"}
STATE_COLOURS = {
    "pending": "#9e9e9e",
    "running": "#1976d2",
    "held": "#f57c00",
    "completed": "#388e3c",
    "failed": "#d32f2f",
    "cancelled": "#616161",
}


@dataclass
class Output:
    """What a verb produced: data for --json, text for terminals, HTML for notebooks."""

    data: Any
    text: str
    html: str | None = None


# --- one job ---------------------------------------------------------------------------------
def progress_line(job: dict[str, Any]) -> str:
    prog = job.get("progress") or {}
    cells = ""
    if prog.get("cells_total"):
        cells = f" cell {prog.get('cells_done', 0)}/{prog['cells_total']}"
    msg = f" — {job['message']}" if job.get("message") else ""
    return f"{job['id']} {job['name']}: {job['state']}{cells}{msg}"


def engine_text(job: dict[str, Any], backend: dict[str, Any] | None) -> str:
    """The job's engine reference as its backend labels it: 'label value', in the labels'
    order; keys without a label, and empty values, are not shown."""
    ref = job.get("engine_ref") or {}
    parts = []
    for item in (backend or {}).get("engine_ref_labels") or []:
        value = ref.get(item.get("key"))
        if value is None or value == "" or value == [] or value == {}:
            continue
        if isinstance(value, list):
            value = ",".join(map(str, value))
        elif isinstance(value, dict):
            value = json.dumps(value)
        parts.append(f"{item.get('label') or item.get('key')} {value}")
    return ", ".join(parts)


def job_actions(job: dict[str, Any], backend: dict[str, Any]) -> list[str]:
    """The actions this job's backend can take on it now (the server may still refuse one in
    a race, e.g. a job that finishes in between)."""
    caps = backend.get("capabilities") or {}
    state = job["state"]
    if state in FINAL:
        return []
    actions = []
    if caps.get("cancel"):
        actions.append("cancel")
    if caps.get("hold") and state != "held" and job.get("engine_ref"):
        actions.append("hold")
    if caps.get("release") and state == "held":
        actions.append("release")
    return actions


def format_job(job: dict[str, Any], backend: dict[str, Any] | None = None) -> str:
    """A job in lines; with its backend (from GET backends): the engine reference as the
    backend labels it, and the actions that backend can take on the job now."""
    lines = [progress_line(job)]
    for key in ("notebook", "backend", "environment", "created_at", "started_at", "finished_at"):
        if job.get(key):
            lines.append(f"  {key}: {job[key]}")
    for key in ("parameters", "resources"):
        if job.get(key):
            lines.append(f"  {key}: {json.dumps(job[key])}")
    if job.get("inputs"):
        lines.append(f"  inputs: {', '.join(job['inputs'])}")
    suggested = (job.get("outputs") or {}).get("suggested_inputs")
    if suggested:
        lines.append(f"  suggested inputs: {', '.join(suggested)} (the job failed without them)")
    engine = engine_text(job, backend)
    if engine:
        lines.append(f"  engine: {engine}")
    if (job.get("outputs") or {}).get("notebook"):
        lines.append(f"  executed notebook: {job['outputs']['notebook']}")
    if backend is not None:
        lines.append(f"  actions: {', '.join(job_actions(job, backend)) or 'none'}")
    return "\n".join(lines)


# --- following: a job (or a sweep) until it ends, logs as they grow ---------------------------
def poll(
    fetch: Callable[[], dict[str, Any]],
    line: Callable[[dict[str, Any]], str],
    show: Callable[[dict[str, Any]], None],
    interval: float = 1.0,
) -> dict[str, Any]:
    """`fetch()` every `interval` seconds until its answer's state is final, which is
    returned; `show` gets each answer whose `line` differs from the one shown before."""
    last = None
    while True:
        item = fetch()
        text = line(item)
        if text != last:
            show(item)
            last = text
        if item["state"] in FINAL:
            return item
        time.sleep(interval)


def wait(
    client: SwanMLClient,
    job_id: str,
    on_change: Callable[[dict[str, Any]], None],
    interval: float = 1.0,
) -> dict[str, Any]:
    """Follow a job until it ends; `on_change` gets it each time its progress line changes."""
    return poll(lambda: client.job(job_id), progress_line, on_change, interval)


def follow_logs(client: SwanMLClient, job_id: str, out: TextIO, tail: int | None) -> None:
    """Print logs as they grow until the job ends (live tail while running, files after)."""
    shown = ""
    while True:
        data = client.logs(job_id, tail=tail)
        text = data["stdout"] + (data["stderr"] if not data["live"] else "")
        if text.startswith(shown):
            out.write(text[len(shown) :])
        else:  # the live tail window moved: print what is new at its end
            overlap = _overlap(shown, text)
            out.write(text[overlap:])
        out.flush()
        shown = text
        if data["state"] in FINAL and not data["live"]:
            return
        time.sleep(1.0)


def _overlap(old: str, new: str) -> int:
    for size in range(min(len(old), len(new)), 0, -1):
        if old.endswith(new[:size]):
            return size
    return 0


# --- job lists -------------------------------------------------------------------------------
def format_jobs(jobs: list[dict[str, Any]]) -> str:
    if not jobs:
        return "no jobs"
    rows = [("ID", "NAME", "BACKEND", "STATE", "PROGRESS", "CREATED", "MESSAGE")]
    for j in jobs:
        prog = j.get("progress") or {}
        cells = (
            f"{prog.get('cells_done', 0)}/{prog['cells_total']}" if prog.get("cells_total") else "-"
        )
        rows.append(
            (
                j["id"],
                j["name"][:30],
                j["backend"],
                j["state"],
                cells,
                j["created_at"][:19].replace("T", " "),
                (j.get("message") or "")[:60],
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows
    )


def jobs_html(jobs: list[dict[str, Any]], client: SwanMLClient) -> str:
    rows = []
    for j in jobs:
        prog = j.get("progress") or {}
        cells = (
            f"{prog.get('cells_done', 0)}/{prog['cells_total']}" if prog.get("cells_total") else ""
        )
        colour = STATE_COLOURS.get(j["state"], "#000")
        nb = (j.get("outputs") or {}).get("notebook")
        link = (
            f'<a href="{html.escape(client.open_url(nb))}" target="_blank">open</a>' if nb else ""
        )
        rows.append(
            "<tr>"
            f"<td><code>{html.escape(j['id'])}</code></td><td>{html.escape(j['name'])}</td>"
            f"<td>{html.escape(j['backend'])}</td>"
            f'<td><span style="color:{colour};font-weight:600">{html.escape(j["state"])}'
            f"</span></td><td>{cells}</td>"
            f"<td>{html.escape(j['created_at'][:19].replace('T', ' '))}</td>"
            f"<td>{html.escape(j.get('message') or '')}</td><td>{link}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("id", "name", "backend", "state", "cells", "created", "message", "")
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


# --- backends --------------------------------------------------------------------------------
def _limits(field_: dict[str, Any]) -> str:
    lo, hi = field_.get("minimum"), field_.get("maximum")
    parts = []
    if lo is not None and hi is not None:
        parts.append(f"{lo}..{hi}")
    elif lo is not None:
        parts.append(f">= {lo}")
    elif hi is not None:
        parts.append(f"<= {hi}")
    if "exclusiveMinimum" in field_:
        parts.append(f"> {field_['exclusiveMinimum']}")
    if "exclusiveMaximum" in field_:
        parts.append(f"< {field_['exclusiveMaximum']}")
    if field_.get("enum"):
        parts.append("one of " + "|".join(map(str, field_["enum"])))
    if "minLength" in field_:
        parts.append(f"at least {field_['minLength']} characters")
    if "maxLength" in field_:
        parts.append(f"at most {field_['maxLength']} characters")
    return ", ".join(parts)


def format_resource_fields(backend: dict[str, Any]) -> list[str]:
    """One aligned line per field of the backend's resource_schema: key, title [unit],
    default, limits, and the flag that sets it where there is one."""
    flags = {key: option for option, _, key in RESOURCE_FLAGS}
    rows = []
    for key, f in schema_fields(backend).items():
        unit = f" [{f['x-unit']}]" if f.get("x-unit") else ""
        default = f.get("default")
        shown = "unset" if default is None else json.dumps(default)
        title = f"{f.get('title') or key}{unit}"
        rows.append((key, title, f"default {shown}", _limits(f), flags.get(key, "")))
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "    " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in rows
    ]


def gpu_type_text(t: dict[str, Any]) -> str:
    """One GPU model of a pool: 'A100-SXM4-40GB: 1 of 2 free, 46.5 GB, cc 8.0'."""
    parts = [f"{t.get('free', 0)} of {t.get('total', 0)} free"]
    mb = t.get("memory_mb")
    if isinstance(mb, (int, float)) and mb > 0:
        parts.append(human_bytes(int(mb * 1024 * 1024)))
    cc = t.get("capability")
    if isinstance(cc, (int, float)) and cc > 0:
        parts.append(f"cc {float(cc):.1f}" if float(cc) * 10 % 1 == 0 else f"cc {cc:g}")
    return f"{t.get('name')}: {', '.join(parts)}"


def format_backends(data: dict[str, Any]) -> str:
    lines = []
    for b in data["backends"]:
        title = f" ({b['title']})" if b.get("title") and b["title"] != b["name"] else ""
        default = " [default]" if b["name"] == data.get("default_backend") else ""
        if b["available"]:
            r = b.get("resources", {})
            gpus = f", GPUs free {r['gpus_free']}/{r['gpus_total']}" if "gpus_total" in r else ""
            lines.append(f"{b['name']}{title}{default}: available{gpus}")
            lines.extend(f"  {gpu_type_text(t)}" for t in r.get("gpu_types") or [])
        else:
            lines.append(f"{b['name']}{title}{default}: unavailable — {b.get('reason', '')}")
        caps = b.get("capabilities")
        if isinstance(caps, dict):
            has = [c for c, v in caps.items() if v]
            lacks = [c for c, v in caps.items() if not v]
            text = ", ".join(has) or "none"
            lines.append(f"  capabilities: {text}" + (f" (not: {', '.join(lacks)})" * bool(lacks)))
        fields = format_resource_fields(b)
        if fields:
            lines.append("  resources (--resource KEY=VALUE, or the flag):")
            lines.extend(fields)
    envs = ", ".join(e["name"] for e in data.get("environments", []))
    lines.append(f"environments: {envs}")
    return "\n".join(lines)
