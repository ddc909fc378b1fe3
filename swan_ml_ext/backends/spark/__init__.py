"""The spark backend: a notebook job runs as a Spark driver on this server (client mode), in a
supervised local process, with `spark` made from a Spark profile before its first cell. pyspark
is imported only inside the driver's kernel (the `spark` extra)."""

from .backend import SparkBackend

__all__ = ["SparkBackend"]
