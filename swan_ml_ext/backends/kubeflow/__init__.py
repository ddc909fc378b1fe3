"""The kubeflow backend: a notebook becomes a compiled KFP v2 pipeline, run embedded with
kfp.local (no KFP host configured) or on a remote KFP server. kfp itself is imported only when
a pipeline is compiled or run (the `kubeflow` extra)."""

from .backend import KubeflowBackend

__all__ = ["KubeflowBackend"]
