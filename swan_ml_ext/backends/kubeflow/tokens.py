"""Where the remote KFP's bearer token comes from, first match:

1. the `token` setting (explicit config);
2. the `token_file` setting: a file read again whenever it changes (tokens expire: whoever
   renews it just rewrites the file);
3. the file kfp's own ServiceAccountTokenVolumeCredentials reads: $KF_PIPELINES_SA_TOKEN_PATH,
   else /var/run/secrets/kubeflow/pipelines/token when it exists (a pod with a projected KFP
   token), also read again whenever it changes;
4. an OAuth2 Token Exchange (RFC 8693) endpoint an admin configures (`token_exchange_url`):
   the user's own token (from `subject_token_file`, e.g. SWAN's OAuth token
   file, or the environment variable named by `subject_token_env`) is
   exchanged for one the KFP accepts, cached until shortly before it expires.
No source: no Authorization header (e.g. a port-forwarded single-user KFP).

Tokens are never logged and never put in a message: every text that comes from a server
passes through redact() with the secrets known here. Nothing is written to disk.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from ...jobs.model import BackendUnavailable

KFP_SA_TOKEN_ENV = "KF_PIPELINES_SA_TOKEN_PATH"  # kfp.client.KF_PIPELINES_SA_TOKEN_ENV
KFP_SA_TOKEN_PATH = "/var/run/secrets/kubeflow/pipelines/token"  # its default
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
EXCHANGE_TIMEOUT_S = 15.0
MAX_SERVER_TEXT = 300  # characters of a server's own error text quoted in a message


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every known secret replaced (servers sometimes echo what they refuse)."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "[redacted]")
    return text


def server_text(raw: Any, secrets: list[str]) -> str:
    """A server's error body, in words: its JSON message/error fields, else its text; redacted
    and clipped."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    text = str(raw or "").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        parts = [
            str(doc[k])
            for k in ("error", "error_description", "message")
            if isinstance(doc.get(k), (str, int)) and str(doc[k])
        ]
        text = ": ".join(dict.fromkeys(parts)) or text
    text = " ".join(redact(text, secrets).split())
    return text if len(text) <= MAX_SERVER_TEXT else text[: MAX_SERVER_TEXT - 1] + "…"


class FileToken:
    """A token in a file, read again when the file changes (inode, size or mtime: a renewed
    token is usually written to a new file and renamed, or rewritten in place)."""

    def __init__(self, path: str, origin: str):
        self.path = Path(os.path.expanduser(path))
        self.origin = origin  # where the path came from, for messages
        self._key: tuple[int, int, int] | None = None
        self._token = ""
        self.reads = 0  # times the file was read (tests)

    def read(self) -> str:
        try:
            st = self.path.stat()
            key = (st.st_ino, st.st_size, st.st_mtime_ns)
            if key != self._key:
                token = self.path.read_text().strip()
                self.reads += 1
                self._key, self._token = key, token
        except OSError as e:
            self._key = None
            raise BackendUnavailable(
                f"the KFP token file {self.path} ({self.origin}) cannot be read: {e.strerror or e}"
            ) from None
        if not self._token:
            raise BackendUnavailable(f"the KFP token file {self.path} ({self.origin}) is empty")
        return self._token


@dataclass
class _Exchanged:
    token: str
    refresh_at: float  # monotonic time after which it is exchanged again (inf: until refused)


class TokenProvider:
    """The bearer token for the KFP API, from the backend's settings (read when asked, so a
    changed setting applies at the next request). Thread-safe: the monitor's poll and a user's
    submit may ask at the same time."""

    def __init__(self, backend: Any, clock: Any = time.monotonic):
        self.backend = backend
        self._clock = clock
        self._lock = threading.Lock()  # the caches below
        self._exchange_lock = threading.Lock()  # one exchange at a time
        self._files: dict[tuple[str, str], FileToken] = {}
        self._exchanged: _Exchanged | None = None
        self.exchanges = 0  # token exchange requests made (tests, benchmarks)

    def _setting(self, name: str, default: Any = "") -> Any:
        value = getattr(self.backend, name, default)
        return default if value is None else value

    def _file(self, path: str, origin: str) -> FileToken:
        key = (path, origin)
        with self._lock:
            if key not in self._files:
                self._files[key] = FileToken(path, origin)
            return self._files[key]

    # -- which source ----------------------------------------------------------------------
    def source(self) -> tuple[str, str]:
        """(kind, detail): kind in config, file, kfp-env, exchange, none; detail names where
        (a path, a URL), never the token."""
        if self._setting("token"):
            return "config", "KubeflowBackend.token"
        if self._setting("token_file"):
            return "file", str(self._setting("token_file"))
        env_path = os.environ.get(KFP_SA_TOKEN_ENV, "")
        if env_path:
            return "kfp-env", env_path
        if os.path.exists(KFP_SA_TOKEN_PATH):
            return "kfp-env", KFP_SA_TOKEN_PATH
        if self._setting("token_exchange_url"):
            return "exchange", str(self._setting("token_exchange_url"))
        return "none", ""

    def configured(self) -> bool:
        return self.source()[0] != "none"

    def token(self) -> str | None:
        """The token to send now (None: send none). Raises BackendUnavailable with what to do
        when the configured source cannot give one."""
        kind, detail = self.source()
        if kind == "config":
            return str(self._setting("token")).strip()
        if kind == "file":
            return self._file(detail, "KubeflowBackend.token_file").read()
        if kind == "kfp-env":
            origin = f"${KFP_SA_TOKEN_ENV}" if os.environ.get(KFP_SA_TOKEN_ENV) else "kfp default"
            return self._file(detail, origin).read()
        if kind == "exchange":
            return self._exchange(detail)
        return None

    def rejected(self) -> bool:
        """The KFP refused the token we sent. Returns True when asking again may give another
        token (an exchanged one is dropped and exchanged anew)."""
        if self.source()[0] != "exchange":
            return False
        with self._lock:
            had = self._exchanged is not None
            self._exchanged = None
        return had

    def secrets(self) -> list[str]:
        """Every secret this provider knows now, for redact()."""
        found = [str(self._setting("token")), str(self._setting("token_exchange_client_secret"))]
        with self._lock:
            found += [f._token for f in self._files.values()]
            if self._exchanged:
                found.append(self._exchanged.token)
        env = self._setting("subject_token_env")
        if env and os.environ.get(env):
            found.append(os.environ[env])
        return [s for s in found if s]

    def hint(self) -> str:
        """What to do when the KFP refuses the token, in words (names sources, never tokens)."""
        kind, detail = self.source()
        if kind == "config":
            return (
                "set a valid token in the KubeflowBackend.token setting (or use token_file,"
                " which is read again whenever it changes)"
            )
        if kind == "file":
            return f"renew the token in {detail} (the file is read again whenever it changes)"
        if kind == "kfp-env":
            return f"renew the token in {detail} (the file is read again whenever it changes)"
        if kind == "exchange":
            aud = self._setting("token_exchange_audience")
            return (
                f"the token came from the token exchange at {detail}: check that your session's"
                f" own token ({self._subject_origin()}) is current, and ask the admin whether the"
                " exchange issues tokens for this KFP"
                + (f" (audience {aud!r})" if aud else " (no audience is configured)")
            )
        return (
            "no KFP token is configured: set KubeflowBackend.token_file, token, or"
            " token_exchange_url"
        )

    # -- RFC 8693 --------------------------------------------------------------------------
    def _subject_origin(self) -> str:
        path = self._setting("subject_token_file")
        if path:
            return str(path)
        env = self._setting("subject_token_env")
        return f"${env}" if env else "not configured"

    def _subject_token(self, url: str) -> str:
        path = self._setting("subject_token_file")
        if path:
            try:
                origin = "KubeflowBackend.subject_token_file"
                return self._file(str(path), origin).read()
            except BackendUnavailable as e:
                raise BackendUnavailable(
                    f"{e.message}: it holds your own token for the token exchange at {url}"
                ) from None
        env = self._setting("subject_token_env")
        if env:
            value = os.environ.get(env, "").strip()
            if not value:
                raise BackendUnavailable(
                    f"the environment variable {env} (your own token for the token exchange at"
                    f" {url}) is not set or empty"
                )
            return value
        raise BackendUnavailable(
            f"the token exchange at {url} needs your own token: set"
            " KubeflowBackend.subject_token_file or"
            " subject_token_env"
        )

    def _exchange(self, url: str) -> str:
        with self._lock:
            cached = self._exchanged
        if cached and self._clock() < cached.refresh_at:
            return cached.token
        with self._exchange_lock:  # others wait for this exchange and reuse its answer
            with self._lock:
                cached = self._exchanged
            if cached and self._clock() < cached.refresh_at:
                return cached.token
            started = self._clock()
            token, expires_in = self._request_exchange(url)
            if expires_in and expires_in > 0:
                margin = min(60.0, expires_in / 5)
                refresh_at = started + expires_in - margin
            else:
                refresh_at = float("inf")  # no lifetime given: until the KFP refuses it
            with self._lock:
                self._exchanged = _Exchanged(token, refresh_at)
                self.exchanges += 1
            return token

    def _request_exchange(self, url: str) -> tuple[str, float | None]:
        import urllib3

        subject = self._subject_token(url)
        form = {
            "grant_type": TOKEN_EXCHANGE_GRANT,
            "subject_token": subject,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
        }
        for field, setting in (
            ("audience", "token_exchange_audience"),
            ("scope", "token_exchange_scope"),
        ):
            if self._setting(setting):
                form[field] = str(self._setting(setting))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        client_id = str(self._setting("token_exchange_client_id"))
        secret = str(self._setting("token_exchange_client_secret"))
        if client_id and secret:  # RFC 6749 2.3.1: HTTP Basic, each part form-urlencoded
            pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        elif client_id:  # a public client names itself in the body
            form["client_id"] = client_id
        secrets = [subject, secret, str(self._setting("token"))]
        http = urllib3.PoolManager(**_tls_args(self.backend))
        try:
            resp = http.request(
                "POST",
                url,
                body=urlencode(form),
                headers=headers,
                timeout=urllib3.Timeout(connect=5.0, read=EXCHANGE_TIMEOUT_S),
                retries=urllib3.Retry(total=1, read=0, redirect=False),
            )
        except urllib3.exceptions.HTTPError as e:
            reason = getattr(e, "reason", None) or e
            raise BackendUnavailable(
                f"the token exchange at {url} cannot be reached: {redact(str(reason), secrets)}"
            ) from None
        finally:
            http.clear()
        if resp.status != 200:
            what = server_text(resp.data, secrets)
            raise BackendUnavailable(
                f"the token exchange at {url} refused to issue a KFP token: {resp.status}"
                + (f" {what}" if what else "")
                + f"; check that your session's own token ({self._subject_origin()}) is current"
                " and, with the admin, the exchange's client settings"
            )
        try:
            doc = json.loads(resp.data)
            token = doc["access_token"]
            if not isinstance(token, str) or not token:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise BackendUnavailable(
                f"the token exchange at {url} answered without an access_token"
            ) from None
        expires = doc.get("expires_in")
        try:
            expires_in = float(expires) if expires is not None else None
        except (TypeError, ValueError):
            expires_in = None
        return token, expires_in


def _tls_args(backend: Any) -> dict[str, Any]:
    import ssl

    args: dict[str, Any] = {}
    if getattr(backend, "verify_ssl", True) is False:
        args["cert_reqs"] = ssl.CERT_NONE
    else:
        args["cert_reqs"] = ssl.CERT_REQUIRED
        ca = getattr(backend, "ssl_ca_cert", "") or ""
        if ca:
            args["ca_certs"] = ca
        else:
            import certifi

            args["ca_certs"] = certifi.where()
    return args
