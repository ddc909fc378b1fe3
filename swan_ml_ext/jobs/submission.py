"""What a submission is checked against beyond its fields: its idempotency key, and what a
preview shows for a backend that does not describe its engine request."""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

from ..backends.base import Backend
from .model import InvalidRequest, Job, Sweep, Unprocessable

Submitted = TypeVar("Submitted", Job, Sweep)


def page_before(page_token: str | None) -> int | None:
    """The store sequence a page starts below (None: the first page). ASCII digits only
    ('²'.isdigit() is True) and within SQLite's 64-bit integers."""
    if page_token is None:
        return None
    if not (page_token.isascii() and page_token.isdigit() and len(page_token) <= 18):
        raise InvalidRequest("invalid page_token: use next_page_token of a previous page")
    return int(page_token)


def next_page_token(rows: list[tuple[int, Any]], limit: int) -> str | None:
    """The token of the page after `rows` ((seq, ...) newest first), None after the last."""
    return str(rows[-1][0]) if len(rows) == limit and rows[-1][0] > 1 else None


def body_fingerprint(body: Any) -> str:
    """The same request, whatever its key order or spacing."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def same_request(existing: Submitted, key: str, fingerprint: str) -> Submitted:
    """A retried POST with its key gets its job (or sweep); the key reused for another request
    is refused (as the IETF Idempotency-Key draft says)."""
    if existing.request_hash and existing.request_hash != fingerprint:
        what = "sweep" if isinstance(existing, Sweep) else "job"
        raise Unprocessable(
            f"idempotency_key {key[:100]!r} was already used for a different request"
            f" ({what} {existing.id}); use a new key for a new request"
        )
    return existing


def generic_preview(job: Job, backend: Backend) -> str:
    """For a backend that does not describe its engine request: the job as validated."""
    title = backend.title or backend.name
    shown = {
        "notebook": job.notebook,
        "name": job.name,
        "backend": job.backend,
        "environment": job.environment,
        "kernel_name": job.kernel_name,
        "parameters": job.parameters,
        "resources": job.resources,
        "inputs": job.inputs,
    }
    return (
        f"# The {title} backend does not describe what it hands to its engine.\n"
        "# The job as it would be submitted:\n" + json.dumps(shown, indent=2) + "\n"
    )
