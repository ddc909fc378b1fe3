"""Before a job is sent: `check` (POST jobs/check: could any machine ever run it, and if not
why), `submit --dry-run` (POST jobs/preview), and `submit` itself, checked first (refused
unless --force when no machine could run it) and sent with what the notebook reads."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, TextIO

from .client import ClientError, SwanMLClient
from .input_commands import add_detected, detected_lines, say_inputs
from .options_commands import UsageError
from .view_commands import Output


class NotFeasible(UsageError):
    """submit refused a job that no machine could ever run (the CLI exits with 2)."""


def check_dry_run(args: argparse.Namespace) -> None:
    """Options that make no sense with --dry-run: a UsageError before anything is sent."""
    if getattr(args, "dry_run", False) and args.wait:
        raise UsageError("--dry-run submits nothing: there is nothing to --wait for")


def dry_run(
    args: argparse.Namespace,
    spec: dict[str, Any],
    client: SwanMLClient,
    out: TextIO | None = None,
) -> Output:
    """`submit --dry-run`: the server's preview of the spec (POST jobs/preview: the same
    checks as a submission, nothing submitted). Text: what would go to the engine; with the
    inputs detected in the notebook added as submit adds them (previewed again then), and
    said on `out` (default stdout)."""
    check_dry_run(args)
    data = client.request("POST", "jobs/preview", spec)
    added = add_detected(args, spec, data, client, out or sys.stdout)
    if added:
        data = client.request("POST", "jobs/preview", spec)
    say_inputs(spec, added, client, out or sys.stdout)
    text = data["text"].rstrip("\n")
    if data.get("existing_job"):
        text += f"\n# submitting this again would return job {data['existing_job']}"
    return Output(data, text)


def format_check(data: dict[str, Any]) -> str:
    """A POST jobs/check answer in words: what will happen, or each reason it cannot run."""
    if data.get("feasible"):
        lines = [f"fits: {data['message']}" if data.get("message") else "fits"]
    else:
        lines = ["no machine could ever run it:", *(f"  {r}" for r in data.get("reasons") or [])]
    lines += detected_lines(data.get("detected_inputs"))
    lines += [f"warning: {w}" for w in data.get("warnings") or []]
    return "\n".join(lines)


def check_job(spec: dict[str, Any], client: SwanMLClient) -> Output:
    """`check`: the server's answer for the spec (the same checks as a submission)."""
    data = client.check(spec)
    return Output(data, format_check(data))


def advice(spec: dict[str, Any], client: SwanMLClient) -> dict[str, Any]:
    """POST jobs/check before a submission, where its answer is advice: a server without
    jobs/check (404), one whose check fails (5xx: e.g. the collector is down while the schedd
    is up) or that does not answer count as feasible, the last two said on stderr, and the
    job is submitted as before (the submission itself says what is wrong, if anything)."""
    try:
        return client.check(spec)
    except ClientError as e:
        if e.status == 404:
            return {"feasible": True}
        if e.status == 0 or e.status >= 500:
            print(
                f"warning: could not check the pool: {e.message}; submitting anyway",
                file=sys.stderr,
            )
            return {"feasible": True}
        raise


def submit_checked(
    args: argparse.Namespace,
    spec: dict[str, Any],
    client: SwanMLClient,
    out: TextIO | None = None,
    send: Callable[[dict[str, Any]], Any] | None = None,
) -> Any:
    """`submit`: POST jobs/check first (its warnings go to stderr; see `advice` when it
    fails); a job that no machine could ever run is refused with the reasons (NotFeasible)
    unless --force; the inputs the check detected in the notebook are added unless
    --no-detect (add_detected), what is sent is said on `out` (default stdout); then
    submitted (`send`, default client.submit: `sweep` posts a sweep of this job)."""
    force, detect = getattr(args, "force", False), not getattr(args, "no_detect", False)
    data: dict[str, Any] = {"feasible": True}
    if detect or not force:
        data = advice(spec, client)
        for warning in data.get("warnings") or []:
            print(f"warning: {warning}", file=sys.stderr)
        if not force and not data.get("feasible", True):
            raise NotFeasible(f"not submitted: {data.get('message')} (--force submits it anyway)")
    added = add_detected(args, spec, data, client, out or sys.stdout)
    say_inputs(spec, added, client, out or sys.stdout)
    try:
        return (send or client.submit)(spec)
    except ClientError as e:
        if not added or e.status not in (400, 413):
            raise
        paths = ", ".join(d["path"] for d in added)
        raise ClientError(
            f"{e.message} (sent because the notebook reads them: {paths};"
            " --no-detect leaves them out)",
            e.status,
        ) from None
