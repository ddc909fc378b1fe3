"""/swan-ml-ext/jobs, jobs/preview, jobs/check and jobs/{id}[/hold|/release|/logs]."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import SwanMLHandler

MAX_TAIL = 100_000  # lines; an answer also stops at jobs.files.MAX_LOG_BYTES


class JobsHandler(SwanMLHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        states = [s for arg in self.get_query_arguments("state") for s in arg.split(",") if s]
        page = await self.service.list_json(
            backend=self.get_query_argument("backend", None),
            states=states or None,
            limit=self.int_arg("limit", 25, 1, 500) or 25,
            page_token=self.get_query_argument("page_token", None, strip=False),
        )
        self.reply_text(page)

    @web.authenticated
    @authorized
    async def post(self) -> None:
        job, created = await self.service.submit(self.json_body(), owner=self.owner)
        self.reply(job.to_json(), status=201 if created else 200)


class JobPreviewHandler(SwanMLHandler):
    """POST jobs/preview: the body of POST jobs, checked the same way; answers what would be
    handed to the engine and creates nothing (a POST because it takes the submit body)."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.reply(await self.service.preview(self.json_body(), owner=self.owner))


class JobCheckHandler(SwanMLHandler):
    """POST jobs/check: the body of POST jobs, checked the same way; answers whether any
    machine could ever run the job and if not why, in words. Creates nothing."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.reply(await self.service.check(self.json_body(), owner=self.owner))


class JobHandler(SwanMLHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        self.reply_text(await self.service.get_json(job_id))

    @web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        self.reply((await self.service.cancel(job_id)).to_json())


class JobActionHandler(SwanMLHandler):
    @web.authenticated
    @authorized
    async def post(self, job_id: str, action: str) -> None:
        act = self.service.hold if action == "hold" else self.service.release
        self.reply((await act(job_id)).to_json())


class JobLogsHandler(SwanMLHandler):
    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        tail = self.int_arg("tail", None, 0, MAX_TAIL)
        self.reply(await self.service.logs(job_id, tail))
