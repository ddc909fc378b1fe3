"""A small REST client (standard library only) shared by the magics and the CLI.

Server discovery, first match wins:
1. an explicit url/token (``--url/--token``);
2. SWAN_ML_URL / SWAN_ML_TOKEN, which the extension sets for the kernels its server starts;
3. the Jupyter runtime dir's server files (jpserver-*.json) of running servers that answer.

The server's root folder (to turn the user's paths into root-relative ones) comes with the
server when it can: SWAN_ML_ROOT with SWAN_ML_URL, the server file's ``root_dir`` with the
runtime dir; else ``SwanMLClient.root_dir()`` asks ``GET swan-ml-ext/info`` once.
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
    root: str | None = None  # the server's root_dir, when discovery learned it with the url


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
        return Server(
            env_url.rstrip("/") + "/",
            os.environ.get("SWAN_ML_TOKEN", ""),
            os.environ.get("SWAN_ML_ROOT") or None,
        )
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
        server = Server(
            info["url"].rstrip("/") + "/", info.get("token", ""), info.get("root_dir") or None
        )
        if _answers(server):
            return server
    raise ClientError(
        "no Jupyter server with swan-ml-ext found: start one (make demo) or pass --url/--token"
    )


class SwanMLClient:
    def __init__(self, server: Server, timeout: float = 30):
        self.server = server
        self.timeout = timeout
        self._root: str | None = None

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

    def root_dir(self) -> str:
        """The server's root folder (symlinks resolved): from discovery, else asked once."""
        if self._root is None:
            root = self.server.root
            if not root:
                try:
                    info = self.info()
                except ClientError as e:
                    if e.status != 404:
                        raise
                    raise ClientError(
                        f"the server at {self.server.url} does not tell its root folder "
                        "(no swan-ml-ext/info: an older swan-ml-ext?)",
                        e.status,
                    ) from None
                root = info.get("root_dir") if isinstance(info, dict) else None
                if not isinstance(root, str) or not root:
                    raise ClientError(f"the server at {self.server.url} sent no root_dir")
            self._root = os.path.realpath(os.path.expanduser(root))
        return self._root

    # -- verbs ---------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return self.request("GET", "info")

    def backends(self) -> dict[str, Any]:
        return self.request("GET", "backends")

    def submit(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", "jobs", spec)

    def check(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Could any machine ever run this job, and if not why (nothing is submitted)."""
        return self.request("POST", "jobs/check", spec)

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
