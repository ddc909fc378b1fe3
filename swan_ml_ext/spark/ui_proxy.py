"""GET {base}swan-ml-ext/spark/ui/{sid}/<path>: a registered session's Spark UI, and nothing
else. A jupyter-server-proxy LocalProxyHandler that reaches only the UI port the registry has
for `sid` (never a host or port from the URL), tells Spark its prefix (X-Forwarded-Context,
so every link, the Executors page and the stage task tables work: the path has no 'proxy'
in it, which Spark's JS would take for an app id), and forwards no Jupyter credential
(Authorization, Cookie, X-XSRFToken, the `token`/`_xsrf` query arguments) to Spark, nor the
Referer/Origin (Lab's URLs, which may carry a token; Spark's kill form does not need them).

Same origin by necessity: the route is authenticated by Jupyter's cookie (a browser tab
cannot send a token header), so Spark's pages run with Lab's origin. Spark escapes what its
users' applications put on them (job descriptions are user text); a site that does not
trust what its users' Spark applications render can turn the route off
(SwanMLApp.spark_ui_route = False: the panel and the API work without it).

POST (the UI's kill links) passes through. Spark's forms carry Spark's own CSRF token, not
Jupyter's `_xsrf`, so Jupyter's double-submit check cannot apply here; instead a POST must be
token-authenticated (an API client: no CSRF risk) or come from this origin (its Origin header
names this host; without one, its Referer does: the checks Jupyter itself uses). A
cross-site page can neither pass that nor read the Spark page that holds the CSRF token that
Spark checks in turn. Other verbs are 405; websockets are refused (Spark's UI has none)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from jupyter_server_proxy.handlers import LocalProxyHandler
from tornado import web

from .registry import Registry, Session

PREFIX = "swan-ml-ext/spark/ui"
DROP_HEADERS = (
    "Authorization",
    "Cookie",
    "X-XSRFToken",
    "X-Xsrftoken",
    "X-CSRFToken",
    "Referer",
    "Origin",
)
DROP_QUERY = frozenset({"token", "_xsrf"})


def drop_set_cookie(response: Any) -> None:
    """A proxied service must not set cookies on the Jupyter origin."""
    for name in ("Set-Cookie", "Set-Cookie2"):
        if name in response.headers:
            del response.headers[name]


class SparkUIHandler(LocalProxyHandler):
    auth_resource = "swan_ml_ext"
    session: Session

    @property
    def registry(self) -> Registry:
        return self.settings["swan_ml_ext_spark"].registry

    def _session(self, sid: str) -> Session:
        session = self.registry.find(sid)
        if session is None or not session.active:
            raise web.HTTPError(404, "no active Spark session with this id")
        self.session = session
        return session

    def _get_context_path(self, host: str, port: int) -> str:
        return url_path_join(self.base_url, PREFIX, self.session.id)

    def _rewrite_location_header(
        self, location: str, host: str, port: int, proxied_path: str
    ) -> str:
        """Spark's redirects name our host (the kill form: http://<jupyter host>/jobs/) or a
        bare path: both go under our prefix; a redirect elsewhere stays as it is."""
        parsed = urlparse(location)
        ui = f"{self.session.ui_host}:{self.session.ui_port}"
        if parsed.netloc and parsed.netloc in (self.request.host, ui):
            location = urlunparse(parsed._replace(scheme="", netloc=""))
        if location.startswith(self._get_context_path(host, port) + "/"):
            return location
        return super()._rewrite_location_header(location, host, port, proxied_path)

    def proxy_request_headers(self) -> Any:
        headers = super().proxy_request_headers()
        for name in DROP_HEADERS:
            headers.pop(name, None)
        return headers

    def get_client_uri(self, protocol: str, host: str, port: int, proxied_path: str) -> str:
        query = self.request.query
        if query:
            kept = parse_qsl(query, keep_blank_values=True)
            self.request.query = urlencode([(k, v) for k, v in kept if k not in DROP_QUERY])
        host = self.session.ui_host
        return super().get_client_uri(
            protocol, f"[{host}]" if ":" in host else host, port, proxied_path
        )

    def _check_host_allowlist(self, host: str) -> bool:
        return host == self.session.ui_host

    def check_xsrf_cookie(self) -> None:
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return
        if not hasattr(self, "_jupyter_current_user") or self.token_authenticated:
            return
        # An Origin header (browsers send one with every POST) must name this host; without
        # one, the Referer must (the checks Jupyter uses against cross-site requests).
        has_origin = "Origin" in self.request.headers
        if not (self.check_origin() and (has_origin or self.check_referer())):
            raise web.HTTPError(403, "a Spark UI form must be posted from this server's pages")

    async def _forward(self, sid: str, path: str) -> None:
        session = self._session(sid)
        await super(LocalProxyHandler, self).proxy(session.ui_host, session.ui_port, path)

    @web.authenticated  # ProxyHandler.prepare checks too; said here for jupyter_server's audit
    async def get(self, sid: str, path: str) -> None:  # type: ignore[override]
        await super().get(sid, path)

    @authorized
    async def http_get(self, sid: str, path: str) -> None:  # type: ignore[override]
        if not path:
            self._session(sid)
            self.redirect(url_path_join(self.base_url, PREFIX, sid, "jobs/"))
            return
        await self._forward(sid, path)

    @web.authenticated
    @authorized
    async def head(self, sid: str, path: str) -> None:  # type: ignore[override]
        await self._forward(sid, path)

    @web.authenticated
    @authorized
    async def post(self, sid: str, path: str) -> None:  # type: ignore[override]
        await self._forward(sid, path)

    async def open(self, sid: str, path: str) -> None:  # type: ignore[override]
        raise web.HTTPError(404, "the Spark UI has no websockets")

    @web.authenticated
    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise web.HTTPError(405)

    put = delete = patch = options = _refuse  # type: ignore[assignment]
