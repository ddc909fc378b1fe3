"""/swan-ml-ext/backends, /swan-ml-ext/info and /swan-ml-ext/openapi.json."""

from __future__ import annotations

from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import SwanMLHandler

OPENAPI = Path(__file__).resolve().parent.parent / "openapi.yaml"


@cache
def openapi_document() -> dict[str, Any]:
    return yaml.safe_load(OPENAPI.read_text())


class BackendsHandler(SwanMLHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        service = self.service
        self.reply(
            {
                "backends": await service.describe_backends(),
                "default_backend": service.default_backend,
                "default_environment": service.default_environment,
                "environments": [e.to_json() for e in service.environments.values()],
                "limits": asdict(service.limits),
            }
        )


class OpenAPIHandler(SwanMLHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(openapi_document())


class InfoHandler(SwanMLHandler):
    """What a client needs to turn its own paths into root-relative ones."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        from .. import __version__

        self.reply({"root_dir": str(self.service.root_dir), "version": __version__})
