"""/swan-ml-ext/spark/...: profiles, the live Spark sessions of this server's kernels and
jobs, their jobs/stages/executors (read from the poller's cache: no Spark call per request),
killing a job, stopping a session. The UI itself is served by spark/ui_proxy.py."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..spark.manager import SparkManager
from .base import SwanMLHandler


class SparkHandler(SwanMLHandler):
    @property
    def spark(self) -> SparkManager:
        return self.settings["swan_ml_ext_spark"]


class SparkProfilesHandler(SparkHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(self.spark.profiles_json())


class SparkSessionsHandler(SparkHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply({"sessions": [s.to_json() for s in self.spark.registry.all()]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        status, data = await self.spark.connect(self.json_body())
        self.reply(data, status=status)


class SparkSessionHandler(SparkHandler):
    @web.authenticated
    @authorized
    async def get(self, sid: str) -> None:
        self.reply(self.spark.registry.get(sid).to_json())

    @web.authenticated
    @authorized
    async def delete(self, sid: str) -> None:
        await self.spark.delete(sid)
        self.set_status(204)
        self.finish()


class SparkSessionPartHandler(SparkHandler):
    """GET spark/sessions/{sid}/jobs|stages|executors."""

    @web.authenticated
    @authorized
    async def get(self, sid: str, part: str) -> None:
        session = self.spark.registry.get(sid)
        if part == "jobs":
            self.reply(session.jobs_json())
        else:
            self.reply({part: getattr(session, part)})


class SparkKillHandler(SparkHandler):
    @web.authenticated
    @authorized
    async def post(self, sid: str, job_id: str) -> None:
        self.reply(await self.spark.kill(sid, job_id), status=202)
