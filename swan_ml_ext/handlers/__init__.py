"""Tornado handlers, one module per resource."""

from .backends import BackendsHandler, InfoHandler, OpenAPIHandler
from .gpu import GpuHandler
from .jobs import (
    JobActionHandler,
    JobCheckHandler,
    JobHandler,
    JobLogsHandler,
    JobPreviewHandler,
    JobsHandler,
)
from .spark import (
    SparkKillHandler,
    SparkProfilesHandler,
    SparkSessionHandler,
    SparkSessionPartHandler,
    SparkSessionsHandler,
)
from .sweeps import SweepHandler, SweepResubmitHandler, SweepsHandler

JOB_ID = r"(?P<job_id>[^/]+)"
SID = r"(?P<sid>[^/]+)"
SWEEP_ID = r"(?P<sweep_id>[^/]+)"


def routes(prefix: str = "/swan-ml-ext") -> list[tuple]:
    return _api_routes(prefix) + _spark_ui_routes(prefix)


def _spark_ui_routes(prefix: str) -> list[tuple]:
    """The Spark UI route needs jupyter-server-proxy (the `spark` extra): without it, none."""
    try:
        from ..spark.ui_proxy import SparkUIHandler, drop_set_cookie
    except ImportError:
        return []
    return [
        (
            rf"{prefix}/spark/ui/{SID}/?(?P<path>.*)",
            SparkUIHandler,
            {"rewrite_response": [drop_set_cookie]},
        )
    ]


def _api_routes(prefix: str) -> list[tuple]:
    return [
        (rf"{prefix}/backends", BackendsHandler),
        (rf"{prefix}/info", InfoHandler),
        (rf"{prefix}/gpu", GpuHandler),
        (rf"{prefix}/openapi.json", OpenAPIHandler),
        (rf"{prefix}/jobs", JobsHandler),
        (rf"{prefix}/jobs/preview", JobPreviewHandler),  # before jobs/{id}: first match wins
        (rf"{prefix}/jobs/check", JobCheckHandler),
        (rf"{prefix}/jobs/{JOB_ID}", JobHandler),
        (rf"{prefix}/jobs/{JOB_ID}/(?P<action>hold|release)", JobActionHandler),
        (rf"{prefix}/jobs/{JOB_ID}/logs", JobLogsHandler),
        (rf"{prefix}/sweeps", SweepsHandler),
        (rf"{prefix}/sweeps/{SWEEP_ID}", SweepHandler),
        (rf"{prefix}/sweeps/{SWEEP_ID}/resubmit", SweepResubmitHandler),
        (rf"{prefix}/spark/profiles", SparkProfilesHandler),
        (rf"{prefix}/spark/sessions", SparkSessionsHandler),
        (rf"{prefix}/spark/sessions/{SID}", SparkSessionHandler),
        (
            rf"{prefix}/spark/sessions/{SID}/(?P<part>jobs|stages|executors)",
            SparkSessionPartHandler,
        ),
        (rf"{prefix}/spark/sessions/{SID}/jobs/{JOB_ID}/kill", SparkKillHandler),
    ]
