"""A small REST client (standard library only) shared by the magics and the CLI.

Server discovery, first match wins:
1. an explicit url/token (``--url/--token``);
2. SWAN_ML_URL / SWAN_ML_TOKEN, which the extension sets for the kernels its server starts;
3. the Jupyter runtime dir's server files (jpserver-*.json) of running servers that answer.
"""

from __future__ import annotations

import glob
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any


class ClientError(Exception):
    """One clear line for the user; status is the HTTP status (0: no server)."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Server:
    url: str  # ends with '/'
    token: str


def _runtime_dir() -> str:
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        return jupyter_runtime_dir()
    except ImportError:
        return os.path.join(os.path.expanduser("~"), ".local", "share", "jupyter", "runtime")


def _answers(server: Server) -> bool:
    try:
        SwanMLClient(server, timeout=2).request("GET", "backends")
        return True
    except ClientError:
        return False


def discover(url: str | None = None, token: str | None = None) -> Server:
    if url:
        return Server(url.rstrip("/") + "/", token or os.environ.get("SWAN_ML_TOKEN", ""))
    env_url = os.environ.get("SWAN_ML_URL")
    if env_url:
        return Server(env_url.rstrip("/") + "/", os.environ.get("SWAN_ML_TOKEN", ""))
    files = sorted(
        glob.glob(os.path.join(_runtime_dir(), "jpserver-*.json")),
        key=os.path.getmtime,
        reverse=True,
    )
    for path in files:
        try:
            with open(path) as f:
                info = json.load(f)
        except (OSError, ValueError):
            continue
        server = Server(info["url"].rstrip("/") + "/", info.get("token", ""))
        if _answers(server):
            return server
    raise ClientError(
        "no Jupyter server with swan-ml-ext found: start one (make demo) or pass --url/--token"
    )


class SwanMLClient:
    def __init__(self, server: Server, timeout: float = 30):
        self.server = server
        self.timeout = timeout

    @classmethod
    def connect(cls, url: str | None = None, token: str | None = None) -> SwanMLClient:
        return cls(discover(url, token))

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        url = self.server.url + "swan-ml-ext/" + path
        if query:
            url += "?" + urllib.parse.urlencode(
                {k: v for k, v in query.items() if v is not None}, doseq=True
            )
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.server.token:
            req.add_header("Authorization", f"token {self.server.token}")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                message = json.loads(raw).get("message") or e.reason
            except (ValueError, AttributeError):
                message = raw.decode(errors="replace")[:200] or str(e.reason)
            if e.code == 404 and "swan-ml-ext/jobs/" not in url:
                message = f"{message} (is swan-ml-ext enabled on {self.server.url}?)"
            raise ClientError(message, e.code) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise ClientError(
                f"cannot reach the Jupyter server at {self.server.url}: {reason}"
            ) from None

    # -- verbs ---------------------------------------------------------------------------
    def backends(self) -> dict[str, Any]:
        return self.request("GET", "backends")

    def submit(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "jobs", spec)

    def jobs(self, **query: Any) -> dict[str, Any]:
        return self.request("GET", "jobs", query=query)

    def job(self, job_id: str) -> dict[str, Any]:
        return self.request("GET", f"jobs/{urllib.parse.quote(job_id, safe='')}")

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.request("DELETE", f"jobs/{urllib.parse.quote(job_id, safe='')}")

    def hold(self, job_id: str) -> dict[str, Any]:
        return self.request("POST", f"jobs/{urllib.parse.quote(job_id, safe='')}/hold")

    def release(self, job_id: str) -> dict[str, Any]:
        return self.request("POST", f"jobs/{urllib.parse.quote(job_id, safe='')}/release")

    def logs(self, job_id: str, tail: int | None = None) -> dict[str, Any]:
        return self.request(
            "GET", f"jobs/{urllib.parse.quote(job_id, safe='')}/logs", query={"tail": tail}
        )

    def open_url(self, path: str) -> str:
        """A browser link to a workspace file in JupyterLab (no token in it)."""
        return self.server.url + "lab/tree/" + urllib.parse.quote(path)
