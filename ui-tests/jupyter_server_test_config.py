"""JupyterLab for the Galata tests: a throw-away root and job store, the personal pool, and a
second backend of the tests' own (ui_backend.py) with other resource fields and capabilities."""

import sys
from pathlib import Path
from tempfile import mkdtemp

from jupyterlab.galata import configure_jupyter_server

from swan_ml_ext import pool

configure_jupyter_server(c)  # noqa: F821
c.ServerApp.port = 8877  # noqa: F821
c.ServerApp.ip = "127.0.0.1"  # noqa: F821
c.ServerApp.allow_root = True  # noqa: F821
state = Path(mkdtemp(prefix="swan-ui-"))
c.SwanMLApp.db_path = str(state / "jobs.sqlite")  # noqa: F821
c.SwanMLApp.staging_dir = str(state / "staging")  # noqa: F821
c.SwanMLApp.poll_interval = 0.5  # noqa: F821
# The pool has 3 GPUs: the dialog may ask for 4 (the infeasible case of gpu-fit.spec.ts).
c.SwanMLApp.max_gpus = 4  # noqa: F821
c.CondorBackend.condor_config = str(pool.client_config())  # noqa: F821
sys.path.insert(0, str(Path(__file__).resolve().parent))
c.SwanMLApp.backend_classes = {"queue": "ui_backend:QueueBackend"}  # noqa: F821
