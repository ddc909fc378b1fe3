"""/swan-ml-ext/sweeps, /swan-ml-ext/sweeps/{id} (?format=csv) and sweeps/{id}/resubmit."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..jobs.model import InvalidRequest
from ..jobs.sweeps import SweepService
from .base import SwanMLHandler


class SweepHandlerBase(SwanMLHandler):
    @property
    def sweeps(self) -> SweepService:
        return self.settings["swan_ml_ext_sweeps"]


class SweepsHandler(SweepHandlerBase):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        page = await self.sweeps.list_page(
            limit=self.int_arg("limit", 25, 1, 500) or 25,
            page_token=self.get_query_argument("page_token", None, strip=False),
        )
        self.reply(page)

    @web.authenticated
    @authorized
    async def post(self) -> None:
        owner = self.owner
        sweep, created = await self.sweeps.submit(self.json_body(), owner=owner)
        self.reply(sweep, status=201 if created else 200)


class SweepHandler(SweepHandlerBase):
    @web.authenticated
    @authorized
    async def get(self, sweep_id: str) -> None:
        fmt = self.get_query_argument("format", "json")
        if fmt == "csv":
            text, filename = await self.sweeps.get_csv(sweep_id)
            self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
            self.finish(text, set_content_type="text/csv; charset=utf-8")
        elif fmt == "json":
            self.reply_text(await self.sweeps.get_json(sweep_id))
        else:
            raise InvalidRequest(f"'format' must be json or csv, got {fmt[:40]!r}")

    @web.authenticated
    @authorized
    async def delete(self, sweep_id: str) -> None:
        self.reply(await self.sweeps.cancel(sweep_id))


class SweepResubmitHandler(SweepHandlerBase):
    @web.authenticated
    @authorized
    async def post(self, sweep_id: str) -> None:
        self.reply(await self.sweeps.resubmit(sweep_id))
