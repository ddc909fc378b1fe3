"""Tornado handlers, one module per resource."""

from .backends import BackendsHandler, InfoHandler, OpenAPIHandler
from .jobs import (
    JobActionHandler,
    JobHandler,
    JobLogsHandler,
    JobPreviewHandler,
    JobsHandler,
)

JOB_ID = r"(?P<job_id>[^/]+)"


def routes(prefix: str = "/swan-ml-ext") -> list[tuple[str, type]]:
    return [
        (rf"{prefix}/backends", BackendsHandler),
        (rf"{prefix}/info", InfoHandler),
        (rf"{prefix}/openapi.json", OpenAPIHandler),
        (rf"{prefix}/jobs", JobsHandler),
        (rf"{prefix}/jobs/preview", JobPreviewHandler),  # before jobs/{id}: first match wins
        (rf"{prefix}/jobs/{JOB_ID}", JobHandler),
        (rf"{prefix}/jobs/{JOB_ID}/(?P<action>hold|release)", JobActionHandler),
        (rf"{prefix}/jobs/{JOB_ID}/logs", JobLogsHandler),
    ]
