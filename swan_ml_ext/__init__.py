"""swan_ml_ext: run the current notebook on HTCondor, Kubeflow or Spark from JupyterLab."""

from __future__ import annotations

from typing import Any

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0.0.0+unknown"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "swan-ml-ext"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import SwanMLApp

    return [{"module": "swan_ml_ext", "app": SwanMLApp}]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext swan_ml_ext`: registers %swan and %%swan."""
    from .magics import SwanMagics

    ipython.register_magics(SwanMagics(ipython))
