"""The personal HTCondor pool (create/start/stop), used by `make demo` and the tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "pool.sh"
DEFAULT_DIR = "/var/lib/swan-ml-ext/pool"


def pool_dir() -> Path:
    return Path(os.environ.get("SWAN_ML_POOL_DIR", DEFAULT_DIR))


def client_config() -> Path:
    """The client config that `up` writes and the extension uses by default."""
    return pool_dir() / "client" / "condor_config"


def run(verb: str, *, check: bool = True) -> subprocess.CompletedProcess:
    """Run pool.sh VERB (up, down, status, build); needs root."""
    if verb not in ("up", "down", "status", "build"):
        raise ValueError(f"unknown pool verb {verb!r}")
    return subprocess.run(["bash", str(SCRIPT), verb], check=check, text=True)
