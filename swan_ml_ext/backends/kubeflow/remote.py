"""The remote engine: a KFP server reached through kfp.Client (v2beta1 REST API).

Per job: one run of the compiled pipeline (create_run_from_pipeline_package, the IR inline),
followed by the monitor's ONE list-runs call per interval for every tracked run (a filter
`run_id IN [...]`, up to LIST_CHUNK ids a call: the server's largest page), terminated on
cancel. The token comes from tokens.TokenProvider and is read again before every request
(kfp's refresh_api_key_hook), so a renewed token file or a new exchanged token applies at once.

Errors a user can act on: an unreachable server, a refused token (401/403, or a redirect to a
login page) and server errors raise BackendUnavailable with the reason in words and what to
do; jobs keep their state. No message carries a token (server texts pass through redact()).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import kfp
import kfp_server_api
import urllib3
from kfp.client.token_credentials_base import TokenCredentialsBase
from kfp_server_api.exceptions import ApiException

from ...jobs.files import read_tail
from ...jobs.model import BackendUnavailable, Job, JobState, Update
from ..base import BackendStatus, Logs
from .engine import pipeline_arguments
from .runs import find_outputs, local_path, run_name, run_update
from .tokens import TokenProvider, redact, server_text

LIST_CHUNK = 200  # run ids per list call = the KFP API server's largest page (maxPageSize)
STATUS_TTL_S = 5.0  # a healthz answer is reused this long (GET backends)
MISSING_PASSES = 3  # a tracked run absent from this many lists in a row: gone from the server
DEFAULT_TIMEOUT_S = 30.0

# kfp.Client warns at every construction that it needs KFP >= 2.0.0-beta.2; said once here.
warnings.filterwarnings("ignore", message="This client only works with Kubeflow Pipeline")


class KfpRefused(BackendUnavailable):
    """The KFP server answered an HTTP error other than an authentication one."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.http_status = status


class _Bearer(TokenCredentialsBase):
    """kfp's hook, called before every request: the token as the provider has it now."""

    def __init__(self, provider: TokenProvider):
        self.provider = provider

    def refresh_api_key_hook(self, config: Any) -> None:
        token = self.provider.token()
        if not token:  # the source went away since the client was made
            raise BackendUnavailable(f"no KFP token: {self.provider.hint()}")
        config.api_key["authorization"] = token


class _Client(kfp.Client):
    """kfp.Client with nothing a server cannot afford in its constructor: it reads no
    ~/.config/kfp/context.json (our settings are the configuration) and makes no healthz call
    (kfp's retries 5 times, 5 s apart, only to guess a namespace from the pod's service
    account file; ours comes from the namespace setting). Later healthz calls: one attempt."""

    _swan_constructing = True

    def _load_context_setting_or_default(self) -> None:
        self._context_setting = {"namespace": ""}

    def get_kfp_healthz(self, sleep_duration: int = 5) -> Any:
        if self._swan_constructing:
            return kfp_server_api.V2beta1GetHealthzResponse(multi_user=False)
        return self._healthz_api.healthz_service_get_healthz()


class RemoteEngine:
    """KfpEngine over a remote KFP server. Reads the backend's settings: host, namespace,
    experiment, verify_ssl, the token settings (see tokens.py), and, when the backend has
    them, ssl_ca_cert, ui_url, pipeline_root, service_account, request_timeout_s."""

    def __init__(self, backend: Any):
        self.backend = backend
        self.tokens = TokenProvider(backend)
        self._lock = threading.Lock()
        self._client_obj: _Client | None = None
        self._client_token = False  # whether the client was made with a token source
        self._experiment_id: dict[tuple[str, str], str] = {}
        self._status: tuple[float, BackendStatus] | None = None
        self._missing: dict[str, int] = {}  # job id -> lists in a row without its run
        self.list_calls = 0  # list-runs round trips made by poll (tests, benchmarks)

    # -- settings --------------------------------------------------------------------------
    def _setting(self, name: str, default: Any = "") -> Any:
        value = getattr(self.backend, name, default)
        return default if value is None else value

    @property
    def host(self) -> str:
        host = str(self._setting("host")).rstrip("/")
        return host if "://" in host else "https://" + host  # as kfp.Client does

    @property
    def namespace(self) -> str:
        return str(self._setting("namespace"))

    def run_url(self, run_id: str) -> str:
        ui = self._setting("ui_url") or os.environ.get("KF_PIPELINES_UI_ENDPOINT") or self.host
        ui = str(ui).rstrip("/")
        return f"{ui if '://' in ui else 'https://' + ui}/#/runs/details/{run_id}"

    # -- the client --------------------------------------------------------------------------
    def _client(self) -> _Client:
        """The kfp.Client, made again when a token source appears or goes (kfp decides at
        construction whether requests carry a token)."""
        with_token = self.tokens.configured()
        with self._lock:
            if self._client_obj is None or self._client_token != with_token:
                self._client_obj = self._make_client(with_token)
                self._client_token = with_token
            return self._client_obj

    def _make_client(self, with_token: bool) -> _Client:
        ns = self.namespace
        client = _Client(
            host=self.host,
            namespace=ns or "kubeflow",  # (kfp's "not given"; the real one is set below)
            credentials=_Bearer(self.tokens) if with_token else None,
            ssl_ca_cert=self._setting("ssl_ca_cert") or None,
            verify_ssl=bool(self._setting("verify_ssl", True)),
        )
        client._swan_constructing = False
        client._context_setting["namespace"] = ns
        pool = client._run_api.api_client.rest_client.pool_manager  # shared by every kfp API
        # Every request bounded in time (kfp passes timeout=None: no limit), one more try for
        # a failed connect, and no redirect followed: an auth proxy's login page is a refusal.
        timeout = float(self._setting("request_timeout_s", DEFAULT_TIMEOUT_S) or DEFAULT_TIMEOUT_S)
        bounded = urllib3.Timeout(connect=min(10.0, timeout), read=timeout)
        retries = urllib3.Retry(total=1, connect=1, read=0, status=0, redirect=False)
        request = pool.request

        def bounded_request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = bounded
            kwargs.setdefault("retries", retries)
            return request(method, url, *args, **kwargs)

        pool.request = bounded_request
        return client

    def _call(self, fn: Any) -> Any:
        """One kfp operation; failures become BackendUnavailable with the reason in words. A
        refused exchanged token is exchanged again and the operation tried once more."""
        for attempt in range(2):
            try:
                return fn(self._client())
            except ApiException as e:
                if _auth_refused(e):
                    if attempt == 0 and self.tokens.rejected():
                        continue
                    raise BackendUnavailable(self._rejected(e)) from None
                raise self._refused(e) from None
            except urllib3.exceptions.HTTPError as e:
                reason = getattr(e, "reason", None) or e
                raise BackendUnavailable(
                    f"the KFP server {self.host} cannot be reached: {_short(reason)}"
                ) from None
            except (ValueError, TypeError, AttributeError) as e:
                raise BackendUnavailable(
                    f"the KFP server {self.host} gave an answer kfp cannot read"
                    f" ({redact(str(e), self.tokens.secrets())[:300]}); is {self.host} the KFP"
                    " API endpoint?"
                ) from None
        raise AssertionError("unreachable")

    def _rejected(self, e: ApiException) -> str:
        secrets = self.tokens.secrets()
        status = f"{e.status} {e.reason or ''}".strip()
        if 300 <= (e.status or 0) < 400:
            location = (e.headers or {}).get("Location") or (e.headers or {}).get("location")
            where = _no_query(location) if location else "elsewhere"
            status += f", redirected to {where} (a login page?)"
        else:
            text = server_text(e.body, secrets)
            status += f": {text}" if text else ""
        hint = self.tokens.hint()
        if e.status == 403 and self.namespace:
            hint += f"; or your account may have no access to the namespace {self.namespace!r}"
        return f"the KFP token was rejected: {status}; {hint}"

    def _refused(self, e: ApiException) -> KfpRefused:
        secrets = self.tokens.secrets()
        if not e.status:  # kfp_server_api's own: TLS failures
            return KfpRefused(
                f"the KFP server {self.host} cannot be reached: {_short(e.reason)}; check the"
                " verify_ssl and ssl_ca_cert settings",
                0,
            )
        text = server_text(e.body, secrets)
        return KfpRefused(
            f"the KFP server {self.host} answered {e.status} {e.reason or ''}".rstrip()
            + (f": {text}" if text else ""),
            int(e.status),
        )

    # -- KfpEngine ---------------------------------------------------------------------------
    def status(self) -> BackendStatus:
        cached = self._status
        if cached and time.monotonic() - cached[0] < STATUS_TTL_S:
            return cached[1]
        name = getattr(self.backend, "name", "kubeflow")
        resources: dict[str, Any] = {"mode": "remote", "host": self.host}
        try:
            health = self._call(lambda c: c.get_kfp_healthz())
        except BackendUnavailable as e:
            st = BackendStatus(name, False, reason=e.message, resources=resources)
        else:
            resources["multi_user"] = bool(getattr(health, "multi_user", False))
            if self.namespace:
                resources["namespace"] = self.namespace
            st = BackendStatus(name, True, resources=resources)
        self._status = (time.monotonic(), st)
        return st

    def submit(self, job: Job, staged: Path, pipeline: Path) -> dict[str, Any]:
        arguments = pipeline_arguments(job, staged)
        experiment = str(self._setting("experiment"))
        key = (experiment, self.namespace)
        common = {
            "arguments": arguments,
            "run_name": run_name(job),
            "namespace": self.namespace or None,
            "pipeline_root": self._setting("pipeline_root") or None,
            "service_account": self._setting("service_account") or None,
        }

        def create(client: _Client) -> Any:
            known = self._experiment_id.get(key)
            where = {"experiment_id": known} if known else {"experiment_name": experiment or None}
            return client.create_run_from_pipeline_package(str(pipeline), **common, **where)

        try:
            result = self._call(create)
        except KfpRefused as e:
            if e.http_status != 404 or key not in self._experiment_id:
                raise
            self._experiment_id.pop(key, None)  # the experiment was deleted: find or make it
            result = self._call(create)
        info = result.run_info
        if getattr(info, "experiment_id", None):
            self._experiment_id[key] = info.experiment_id
        return {
            "run_id": result.run_id,
            "run_url": self.run_url(result.run_id),
            "experiment": experiment or "Default",  # (kfp's name when none is given)
        }

    def poll(self, jobs: list[Job]) -> dict[str, Update]:
        """ONE list call per LIST_CHUNK tracked runs (filter run_id IN [...]); updates only for
        jobs whose state, message or start differ from what the run says (no work for the
        unchanged ones)."""
        by_run = {j.engine_ref["run_id"]: j for j in jobs if j.engine_ref.get("run_id")}
        if not by_run:
            return {}
        runs: dict[str, Any] = {}
        ids = sorted(by_run)
        for i in range(0, len(ids), LIST_CHUNK):
            chunk = ids[i : i + LIST_CHUNK]
            flt = json.dumps(
                {
                    "predicates": [
                        {"operation": "IN", "key": "run_id", "stringValues": {"values": chunk}}
                    ]
                },
                separators=(",", ":"),
            )
            page = ""
            while True:
                self.list_calls += 1
                if hasattr(self.backend, "engine_queries"):
                    self.backend.engine_queries += 1
                doc = self._call(lambda c, page=page, flt=flt: self._list_runs(c, page, flt))
                for run in doc.get("runs") or []:
                    if isinstance(run, dict) and run.get("run_id"):
                        runs[run["run_id"]] = run
                page = doc.get("next_page_token") or ""
                if not page:
                    break
        updates: dict[str, Update] = {}
        for run_id, job in by_run.items():
            run = runs.get(run_id)
            if run is None:
                misses = self._missing.get(job.id, 0) + 1
                self._missing[job.id] = misses
                if misses >= MISSING_PASSES:
                    update = Update(
                        JobState.FAILED,
                        message=f"the KFP run {run_id} no longer exists on {self.host} (deleted?)",
                        has_outputs=False,
                    )
                else:
                    update = Update(job.state, message=f"the KFP run {run_id} was not found (yet)")
            else:
                self._missing.pop(job.id, None)
                update = run_update(run, job)
            if (
                update.state != job.state
                or update.message != job.message  # (also one the monitor set meanwhile)
                or (update.started_at is not None and job.started_at is None)
            ):
                updates[job.id] = update
        wanted = {j.id for j in jobs}
        for job_id in [k for k in self._missing if k not in wanted]:
            del self._missing[job_id]
        return updates

    def _list_runs(self, client: _Client, page: str, flt: str) -> dict[str, Any]:
        """kfp.Client.list_runs without turning the answer into kfp_server_api models: the
        same request (the generated API under the client), the JSON read as is. Every run
        comes back with its inline pipeline spec and arguments; making models of them cost
        ~100 ms of CPU per pass for 200 runs (timestamps parsed by dateutil), this ~5 ms."""
        resp = client._run_api.run_service_list_runs(
            page_token=page,
            page_size=LIST_CHUNK,
            sort_by="",
            namespace=self.namespace,
            filter=flt,
            _preload_content=False,
        )
        doc = json.loads(resp.data or b"{}")
        if not isinstance(doc, dict):
            raise ValueError("the list of runs is not a JSON object")
        return doc

    def fetch(self, job: Job, staged: Path) -> None:
        """The run's outputs from its pipeline root, when that is a filesystem this server
        mounts; any other artifact store (minio://, s3://, gs://) is said to be unreachable."""
        run_id = job.engine_ref["run_id"]
        run = self._call(lambda c: c.get_run(run_id))
        root = (getattr(run.runtime_config, "pipeline_root", None) or "") or str(
            self._setting("pipeline_root")
        )
        where = root or "the KFP server's default pipeline root"
        local = local_path(root)
        see = f"the outputs stay there; see the run in the KFP UI: {self.run_url(run_id)}"
        if local is None or not local.is_dir():
            why = (
                "only a pipeline root on a filesystem this server mounts (file:// or an absolute"
                " path) can be read"
                if local is None
                else f"{local} does not exist here"
            )
            raise OSError(
                f"the run's artifact store ({where}) cannot be reached from this server: {why};"
                f" {see}"
            )
        outputs = find_outputs(local, run_id)
        if outputs is None:
            raise OSError(f"no outputs of run {run_id} were found under {local}; {see}")
        out = staged / "output"
        out.mkdir(parents=True, exist_ok=True)
        for name, dest in (("notebook", "notebook.ipynb"), ("result", "result.json")):
            if (outputs / name).is_file():
                shutil.copyfile(outputs / name, out / dest)
        if (outputs / "files").is_dir():
            shutil.copytree(outputs / "files", out / "files", dirs_exist_ok=True)

    def cancel(self, job: Job) -> None:
        """Terminate the run (already finished or gone: nothing to do). A job whose submission
        was interrupted has no run id: its runs are found by name."""
        run_ids = [job.engine_ref["run_id"]] if job.engine_ref.get("run_id") else []
        if not run_ids:
            flt = json.dumps(
                {
                    "predicates": [
                        {
                            "operation": "IS_SUBSTRING",
                            "key": "display_name",
                            "stringValue": f"[swan-ml {job.id}]",
                        }
                    ]
                }
            )
            resp = self._call(
                lambda c: c.list_runs(
                    page_size=LIST_CHUNK, namespace=self.namespace or None, filter=flt
                )
            )
            run_ids = [r.run_id for r in resp.runs or []]
        for run_id in run_ids:
            try:
                self._call(lambda c, run_id=run_id: c.terminate_run(run_id))
            except KfpRefused as e:
                if e.http_status not in (400, 404, 409, 412):  # gone, or no longer running
                    raise

    def logs(self, job: Job, staged: Path, tail: int | None) -> Logs:
        stdout = read_tail(staged / "stdout.txt", tail)
        stderr = read_tail(staged / "stderr.txt", tail)
        if not stdout and not stderr and job.engine_ref.get("run_id"):
            url = job.engine_ref.get("run_url") or self.run_url(job.engine_ref["run_id"])
            stdout = (
                "The output of a notebook run on a remote KFP is not streamed here: its live log"
                f" is the run's pod log in the KFP UI: {url}\n"
            )
        return Logs(stdout, stderr, live=False)

    def close(self) -> None:
        with self._lock:
            client, self._client_obj = self._client_obj, None
        if client is not None:
            client._run_api.api_client.rest_client.pool_manager.clear()


def _auth_refused(e: ApiException) -> bool:
    return e.status in (401, 403) or 300 <= (e.status or 0) < 400


def _short(reason: Any) -> str:
    """urllib3's reasons name the connection object first: keep the words."""
    text = str(reason)
    if text.startswith(("<", "HTTPConnection(", "HTTPSConnection(")) and ": " in text:
        text = text.split(": ", 1)[1]
    return " ".join(text.split())[:300]


def _no_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
