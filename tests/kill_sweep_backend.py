"""Fault injection for the sweep restart test: the HTCondor backend of a server that gets
SIGKILLed right after the schedd accepted and spooled a sweep's batch, before the points'
engine references are stored (loaded with --SwanMLApp.backend_classes)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from swan_ml_ext.backends.condor import CondorBackend


class KillAfterBatchBackend(CondorBackend):
    def submit_many(self, jobs: list[Any], staged: list[Path], environment: Any) -> list[Any]:
        refs = super().submit_many(jobs, staged, environment)
        os.kill(os.getpid(), signal.SIGKILL)
        return refs
