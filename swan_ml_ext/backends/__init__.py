"""Backends, found by name: the built-in ones, those of installed packages (entry-point group
`swan_ml_ext.backends`, name = backend name, value = "module:Class"), and the ones a site
configures in SwanMLApp.backend_classes."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "swan_ml_ext.backends"
BUILTIN = {
    "condor": "swan_ml_ext.backends.condor:CondorBackend",
    "kubeflow": "swan_ml_ext.backends.kubeflow:KubeflowBackend",
    "spark": "swan_ml_ext.backends.spark:SparkBackend",
}


def registered() -> dict[str, str]:
    """Backend name -> import string, built-in first, then installed packages'."""
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def load_class(spec: str | type) -> Any:
    """'package.module:Class' or 'package.module.Class' -> the class."""
    if not isinstance(spec, str):
        return spec
    module, sep, attr = spec.partition(":")
    if not sep:
        module, _, attr = spec.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot load backend class {spec!r}: {e}") from e
