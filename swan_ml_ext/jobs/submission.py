"""What a submission is checked against beyond its fields: its idempotency key, and what a
preview shows for a backend that does not describe its engine request."""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

from ..backends.base import Backend
from .model import Job, Sweep, Unprocessable

Submitted = TypeVar("Submitted", Job, Sweep)


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
