"""A STAND-IN for a Kubeflow Pipelines API server — not KFP, and not a mock of kfp.Client.

No KFP server can run on this machine (no Kubernetes, no container engine), so remote KFP is
tested at the HTTP level: kfp.Client (the real one, kfp 2.17.3) talks over real HTTP to this
small local server, which implements just the v2beta1 endpoints kfp.Client calls — healthz,
experiments list/create, runs create/get/list (with the `filter` predicates EQUALS, IN,
IS_SUBSTRING and paging)/terminate — in the JSON shapes the KFP API server uses. It records
every request (method, path, query, headers, body) so tests can assert exactly what was sent,
and lets tests set run states, refuse tokens (401/403) or redirect to a login page. It also
serves a tiny OAuth2 Token Exchange (RFC 8693) endpoint at /oauth/token.

This is the one stand-in DESIGN.md allows ("What we test against"). Runs never execute here.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API = "/apis/v2beta1"
EXCHANGE_PATH = "/oauth/token"
MAX_PAGE = 200  # the KFP API server's maxPageSize
OPS = {1: "EQUALS", 2: "NOT_EQUALS", 8: "IN", 9: "IS_SUBSTRING"}
FINAL = {"SUCCEEDED", "SKIPPED", "FAILED", "CANCELED"}
EPOCH = "1970-01-01T00:00:00Z"  # how KFP writes an unset timestamp


def rfc3339(t: float | None = None) -> str:
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode()).items()}

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[len("Bearer ") :] if auth.startswith("Bearer ") else None


@dataclass
class Exchange:
    """The token-exchange endpoint's behaviour."""

    issue: list[str] = field(default_factory=lambda: ["exchanged-1", "exchanged-2", "exchanged-3"])
    expires_in: int | None = 300
    accepted_subjects: set[str] | None = None  # None: any subject token
    client: tuple[str, str] | None = None  # (id, secret) expected in HTTP Basic; None: any
    issued: int = 0


class KfpStandIn:
    """Start with `with KfpStandIn() as kfp:`; `kfp.url` is the host for kfp.Client."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.runs: dict[str, dict[str, Any]] = {}
        self.experiments: dict[str, dict[str, Any]] = {}
        self.accepted_tokens: set[str] | None = None  # None: no authentication
        self.forbidden_tokens: set[str] = set()  # authenticated, but 403
        self.redirect_to: str | None = None  # answer every API call with 302 to this URL
        self.echo_token_in_errors = True  # like some proxies: tests check it is redacted
        self.multi_user = False
        self.latency_s = 0.0  # added to every answer (benchmarks: a network round trip)
        self.exchange = Exchange()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> KfpStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- what tests use ----------------------------------------------------------------------
    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """Recorded requests, optionally only those with this method and path (no query)."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)
            ]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def add_run(self, state: str = "PENDING", **fields: Any) -> str:
        """A run as if created earlier (for poll tests that need many)."""
        run_id = str(uuid.uuid4())
        now = rfc3339()
        with self._lock:
            self.runs[run_id] = {
                "run_id": run_id,
                "display_name": fields.pop("display_name", f"run {run_id[:8]}"),
                "experiment_id": fields.pop("experiment_id", ""),
                "storage_state": "AVAILABLE",
                "created_at": now,
                "scheduled_at": now,
                "finished_at": EPOCH,
                "state": "PENDING",
                "state_history": [{"update_time": now, "state": "PENDING"}],
                **fields,
            }
        if state != "PENDING":
            self.set_state(run_id, state)
        return run_id

    def set_state(self, run_id: str, state: str, error: str | None = None) -> None:
        """What KFP's persistence agent does when the run's workflow changes."""
        now = rfc3339()
        with self._lock:
            run = self.runs[run_id]
            run["state"] = state
            run["state_history"].append({"update_time": now, "state": state})
            if state in FINAL:
                run["finished_at"] = now
            if error is not None:
                run["error"] = {"code": 2, "message": error}

    # -- the server --------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = -1  # headers and body leave in one write (no Nagle/delayed-ACK stall)
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                rec = Recorded(
                    self.command,
                    parts.path,
                    query,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with standin._lock:
                    standin.requests.append(rec)
                status, doc, headers = standin._answer(rec)
                if standin.latency_s:
                    time.sleep(standin.latency_s)
                data = json.dumps(doc).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

        return Handler

    def _answer(self, r: Recorded) -> tuple[int, Any, dict[str, str]]:
        if r.path == EXCHANGE_PATH and r.method == "POST":
            return self._token_exchange(r)
        if not r.path.startswith(API):
            return 404, _error(5, f"no route {r.path}"), {}
        if self.redirect_to:
            return 302, {}, {"Location": self.redirect_to + "?rd=" + r.path}
        token = r.bearer
        if self.accepted_tokens is not None and token not in self.accepted_tokens:
            said = f" {token}" if token and self.echo_token_in_errors else ""
            return 401, _error(16, f"Unauthenticated: invalid bearer token{said}"), {}
        if token in self.forbidden_tokens:
            return 403, _error(7, "PermissionDenied: no access to the namespace"), {}
        with self._lock:
            return self._route(r)

    def _route(self, r: Recorded) -> tuple[int, Any, dict[str, str]]:
        path = r.path[len(API) :]
        if path == "/healthz" and r.method == "GET":
            return 200, {"multi_user": self.multi_user, "pipeline_store": "database"}, {}
        if path == "/experiments" and r.method == "GET":
            found = [e for e in self.experiments.values() if _matches(e, r.query.get("filter"))]
            ns = r.query.get("namespace")
            if ns:
                found = [e for e in found if e.get("namespace") == ns]
            return 200, ({"experiments": found, "total_size": len(found)} if found else {}), {}
        if path == "/experiments" and r.method == "POST":
            body = r.json or {}
            exp = {
                "experiment_id": str(uuid.uuid4()),
                "display_name": body.get("display_name", ""),
                "description": body.get("description") or "",
                "namespace": body.get("namespace") or "",
                "created_at": rfc3339(),
                "storage_state": "AVAILABLE",
            }
            self.experiments[exp["experiment_id"]] = exp
            return 200, exp, {}
        if path == "/runs" and r.method == "POST":
            return self._create_run(r.json or {})
        if path == "/runs" and r.method == "GET":
            return self._list_runs(r.query)
        if path.startswith("/runs/"):
            rest = path[len("/runs/") :]
            run_id, _, verb = rest.partition(":")
            run = self.runs.get(run_id)
            if run is None:
                return 404, _error(5, f"Failed to get run {run_id}: ResourceNotFoundError"), {}
            if r.method == "GET" and not verb:
                return 200, run, {}
            if r.method == "POST" and verb == "terminate":
                if run["state"] in FINAL:
                    return 400, _error(9, f"run {run_id} is already finished"), {}
                run["state"] = "CANCELING"
                run["state_history"].append({"update_time": rfc3339(), "state": "CANCELING"})
                return 200, {}, {}
        return 404, _error(5, f"no route {r.method} {r.path}"), {}

    def _create_run(self, body: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        if body.get("experiment_id") and body["experiment_id"] not in self.experiments:
            return 404, _error(5, f"experiment {body['experiment_id']} not found"), {}
        if not isinstance(body.get("pipeline_spec"), dict):
            return 400, _error(3, "a run needs pipeline_spec (inline) in this stand-in"), {}
        run_id = str(uuid.uuid4())
        now = rfc3339()
        run = {
            **body,
            "run_id": run_id,
            "storage_state": "AVAILABLE",
            "created_at": now,
            "scheduled_at": now,
            "finished_at": EPOCH,
            "state": "PENDING",
            "state_history": [{"update_time": now, "state": "PENDING"}],
        }
        self.runs[run_id] = run
        return 200, run, {}

    def _list_runs(self, q: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        try:
            found = [run for run in self.runs.values() if _matches(run, q.get("filter"))]
        except ValueError as e:
            return 400, _error(3, f"Invalid filter: {e}"), {}
        ns = q.get("namespace")
        if ns:
            found = [
                run
                for run in found
                if self.experiments.get(run.get("experiment_id"), {}).get("namespace", ns) == ns
            ]
        found.sort(key=lambda run: (run["created_at"], run["run_id"]))
        size = int(q.get("page_size") or 20)
        size = MAX_PAGE if size > MAX_PAGE else size
        start = int(q.get("page_token") or 0)
        page = found[start : start + size]
        doc: dict[str, Any] = {"total_size": len(found)}
        if page:
            doc["runs"] = page
        if start + size < len(found):
            doc["next_page_token"] = str(start + size)
        return 200, doc, {}

    def _token_exchange(self, r: Recorded) -> tuple[int, Any, dict[str, str]]:
        ex = self.exchange
        form = r.form
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange":
            return 400, {"error": "unsupported_grant_type"}, {}
        subject = form.get("subject_token", "")
        if ex.accepted_subjects is not None and subject not in ex.accepted_subjects:
            return (
                400,
                {
                    "error": "invalid_grant",
                    "error_description": f"subject token {subject} is expired or invalid",
                },
                {},
            )
        if ex.client is not None:
            import base64

            expected = base64.b64encode(f"{ex.client[0]}:{ex.client[1]}".encode()).decode()
            if r.headers.get("authorization") != f"Basic {expected}":
                return 401, {"error": "invalid_client"}, {}
        token = ex.issue[min(ex.issued, len(ex.issue) - 1)]
        ex.issued += 1
        doc: dict[str, Any] = {
            "access_token": token,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
        }
        if ex.expires_in is not None:
            doc["expires_in"] = ex.expires_in
        return 200, doc, {}


def _error(code: int, message: str) -> dict[str, Any]:
    """The KFP API server's error body (grpc-gateway)."""
    return {"error": message, "code": code, "message": message, "details": []}


def _matches(obj: dict[str, Any], raw: str | None) -> bool:
    """The KFP filter semantics this stand-in needs: predicates AND-ed; EQUALS, NOT_EQUALS,
    IN, IS_SUBSTRING on string fields (protobuf JSON: camelCase or snake_case names,
    operations by name or number)."""
    if not raw:
        return True
    doc = json.loads(raw)
    for p in doc.get("predicates", []):
        op = p.get("operation", p.get("op"))
        op = OPS.get(op, op) if isinstance(op, int) else op
        key = p.get("key")
        value = obj.get(key)
        if key not in ("run_id", "display_name", "experiment_id", "state", "namespace"):
            raise ValueError(f"unsupported key {key!r}")
        if op == "IN":
            values = (p.get("stringValues") or p.get("string_values") or {}).get("values", [])
            if value not in values:
                return False
        elif op in ("EQUALS", "NOT_EQUALS", "IS_SUBSTRING"):
            want = p.get("stringValue", p.get("string_value"))
            if want is None:
                raise ValueError(f"{op} needs a string value")
            if op == "EQUALS" and value != want:
                return False
            if op == "NOT_EQUALS" and value == want:
                return False
            if op == "IS_SUBSTRING" and want not in str(value or ""):
                return False
        else:
            raise ValueError(f"unsupported operation {op!r}")
    return True
