"""Fault injection for restart tests: the HTCondor backend of a server that gets SIGKILLed in
the middle of a submission (loaded with --SwanMLApp.condor_backend_class)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from swan_ml_ext.backends.condor import CondorBackend


class KillDuringSubmitBackend(CondorBackend):
    """SWAN_ML_TEST_KILL = "before": killed after the job is stored, before the schedd has it;
    "after": killed after the schedd accepted and spooled it, before its cluster id is stored."""

    def submit(self, job: Any, staged: Path, environment: Any) -> dict[str, Any]:
        when = os.environ.get("SWAN_ML_TEST_KILL")
        if when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        ref = super().submit(job, staged, environment)
        if when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return ref
