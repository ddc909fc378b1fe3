"""Spark from Lab: profiles (profiles.py, conf.py), the in-kernel session (kernel.py), the
`%swan spark ...` verbs (magics.py), and the server side (registry, poller, UI route).

Nothing here imports pyspark at import time: the server never needs it, and kernels import it
only when they connect.
"""
