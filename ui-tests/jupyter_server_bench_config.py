"""JupyterLab for the sidebar benchmark: a job store with 10,000 jobs (bench/list_jobs.py)."""

import sys
from pathlib import Path
from tempfile import mkdtemp

from jupyterlab.galata import configure_jupyter_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from list_jobs import fill  # noqa: E402

from swan_ml_ext import pool  # noqa: E402

configure_jupyter_server(c)  # noqa: F821
c.ServerApp.port = 8878  # noqa: F821
c.ServerApp.ip = "127.0.0.1"  # noqa: F821
c.ServerApp.allow_root = True  # noqa: F821
state = Path(mkdtemp(prefix="swan-ui-bench-"))
fill(state / "jobs.sqlite")
c.SwanMLApp.db_path = str(state / "jobs.sqlite")  # noqa: F821
c.SwanMLApp.staging_dir = str(state / "staging")  # noqa: F821
c.CondorBackend.condor_config = str(pool.client_config())  # noqa: F821
