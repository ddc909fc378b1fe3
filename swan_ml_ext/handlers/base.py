"""Thin handlers: parse, authorize, call the service, shape JSON. Errors → JSON in one place."""

from __future__ import annotations

import json
import re
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from ..jobs.model import InvalidRequest, SwanMLError, TooLarge
from ..jobs.service import JobService
from ..jobs.spec import human_bytes

_ASCII_INT = re.compile(r"-?[0-9]{1,18}")  # not str.isdigit(): it takes '²' and '٣'


class SwanMLHandler(ExtensionHandlerMixin, APIHandler):
    auth_resource = "swan_ml_ext"

    @property
    def service(self) -> JobService:
        return self.settings["swan_ml_ext_service"]

    @property
    def owner(self) -> str:
        """Who makes the request (recorded on what it creates)."""
        return getattr(self.current_user, "username", "") or ""

    def json_body(self) -> Any:
        body = self.request.body or b""
        limit = self.service.limits.max_request_bytes
        if len(body) > limit:
            raise TooLarge(
                f"the request body is {human_bytes(len(body))}; the limit is {human_bytes(limit)}"
            )
        try:
            return json.loads(body)
        except RecursionError:
            raise InvalidRequest("the request body is nested too deeply") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise InvalidRequest(f"the request body is not JSON: {str(e)[:200]}") from None

    def int_arg(self, name: str, default: int | None, lo: int, hi: int) -> int | None:
        raw = self.get_query_argument(name, None)
        if raw is None:
            return default
        if not _ASCII_INT.fullmatch(raw):
            raise InvalidRequest(f"'{name}' must be an integer, got {raw[:40]!r}")
        value = int(raw)
        if not lo <= value <= hi:
            raise InvalidRequest(f"'{name}' must be between {lo} and {hi}, got {value}")
        return value

    def allowed_methods(self) -> list[str]:
        return [
            m
            for m in ("GET", "POST", "PUT", "PATCH", "DELETE")
            if getattr(type(self), m.lower()) is not getattr(web.RequestHandler, m.lower())
        ]

    def reply(self, data: Any, status: int = 200) -> None:
        self.reply_text(json.dumps(data), status)

    def reply_text(self, text: str, status: int = 200) -> None:
        """Send JSON that is already serialized."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(text)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if status_code == 405:  # RFC 9110: a 405 says which methods the resource has
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, SwanMLError):
            self.set_status(exc.status)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"message": exc.message}))
            return
        super().write_error(status_code, **kwargs)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, SwanMLError):
            # A caller's mistake or an engine outage, said in the reply: no traceback.
            self.log.info(
                "swan-ml: %s %s -> %s: %s",
                self.request.method,
                self.request.path,
                value.status,
                value.message,
            )
            return
        super().log_exception(typ, value, tb)
