"""Engines behind the job service: one module per engine."""

from .base import Backend, BackendStatus, Logs

__all__ = ["Backend", "BackendStatus", "Logs"]
