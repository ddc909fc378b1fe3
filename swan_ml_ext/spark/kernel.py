"""The Spark session of a kernel (or batch driver): created from a resolved profile's spec,
tagged per cell, cancelled by "Interrupt kernel".

Runs inside the kernel: imports pyspark lazily and nothing of the server. One session per
kernel; `connect()` puts `spark` (and `sc` for classic) in the user namespace and installs:
- a `pre_run_cell` hook: classic → `sc.setJobGroup("swan-cell-<cell id>", <first line>,
  interruptOnCancel=True)`; Connect → `spark.clearTags(); spark.addTag("swan-cell-<id>")`.
  A cell without an id (a plain client) gets the group/tag `swan-run-<execution count>`.
- a custom exception handler for KeyboardInterrupt (classic: ipykernel's SIGINT handling
  leaves the JVM job running; the handler cancels the cell's job group, Connect interrupts
  the cell's tag), which then shows the traceback as usual and chains any handler that was
  there before. Classic also routes Py4JError through it: an interrupt that lands inside a
  Py4J call may surface as a Py4JNetworkError raised while handling the KeyboardInterrupt.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

CELL_PREFIX = "swan-cell-"


class SparkSessionActive(RuntimeError):
    """connect() while this kernel already has a session of another profile."""


@dataclass
class _Session:
    spec: dict[str, Any]
    spark: Any
    shell: Any = None
    names: dict[str, Any] = field(default_factory=dict)  # what we put in user_ns
    group: str | None = None  # the current cell's job group / tag
    previous_exc: tuple[tuple[type, ...], Any] | None = None  # the handler before ours
    our_handler: Any = None
    saved_env: dict[str, tuple[str | None, str]] = field(default_factory=dict)  # _apply_env's

    @property
    def kind(self) -> str:
        return str(self.spec.get("kind", "classic"))


_active: _Session | None = None


def _get_shell(shell: Any) -> Any:
    if shell is not None:
        return shell
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def connect(spec: dict[str, Any] | str, shell: Any = None) -> dict[str, Any]:
    """Start the session `spec` (ResolvedProfile.to_spec(), or its JSON) describes and hook it
    into the kernel; returns info(). Again with the same profile: the running session's info.
    SparkSessionActive when another profile is connected."""
    global _active
    if isinstance(spec, str):
        spec = json.loads(spec)
    assert isinstance(spec, dict)
    if connected_to(spec.get("profile")):
        return info() or {}
    saved = _apply_env(spec)
    try:
        spark = _create(spec)
    except BaseException:
        _restore_env(saved)
        raise
    session = _Session(spec, spark, _get_shell(shell), saved_env=saved)
    _active = session
    try:
        _install(session)
    except BaseException:
        stop()
        raise
    data = info() or {}
    _write_info_file(data)
    return data


def connected_to(profile: Any) -> bool:
    """True when this kernel's session has `profile`, False when there is none;
    SparkSessionActive when it has another."""
    current = _current()
    if current is None:
        return False
    if current.spec.get("profile") == profile:
        return True
    raise SparkSessionActive(
        f"this kernel is already connected to Spark with profile "
        f"{current.spec.get('profile')!r}: stop it first (%swan spark stop)"
    )


def _apply_env(spec: dict[str, Any]) -> dict[str, tuple[str | None, str]]:
    """Sets the profile's environment (read when Spark starts); returns, per variable it set,
    (the value before, the value set) for _restore_env."""
    changes = {str(k): str(v) for k, v in (spec.get("env") or {}).items()}
    master = str(spec.get("master") or "")
    local = master.startswith(("local", "spark://127.0.0.1", "spark://localhost"))
    if local and "PYSPARK_PYTHON" not in os.environ and "PYSPARK_PYTHON" not in changes:
        changes["PYSPARK_PYTHON"] = sys.executable  # workers run this kernel's interpreter
    saved = {k: (os.environ.get(k), v) for k, v in changes.items()}
    os.environ.update(changes)
    return saved


def _restore_env(saved: dict[str, tuple[str | None, str]]) -> None:
    """Undo _apply_env: each variable back to its value before (or unset), unless something
    else changed it since."""
    for key, (before, ours) in saved.items():
        if os.environ.get(key) != ours:
            continue
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def _create(spec: dict[str, Any]) -> Any:
    from pyspark.sql import SparkSession

    conf = {str(k): str(v) for k, v in (spec.get("conf") or {}).items()}
    if spec.get("kind") == "connect":
        return SparkSession.builder.remote(spec["remote"]).config(map=conf).create()
    from pyspark import SparkContext

    if SparkContext._active_spark_context is not None:
        raise SparkSessionActive(
            "a SparkContext not started by swan is already running in this kernel: "
            "stop it first (spark.stop())"
        )
    return SparkSession.builder.master(spec["master"]).config(map=conf).getOrCreate()


def _install(session: _Session) -> None:
    shell = session.shell
    session.names["spark"] = session.spark
    if session.kind == "classic":
        session.names["sc"] = session.spark.sparkContext
    if shell is None:
        return
    shell.user_ns.update(session.names)
    shell.events.register("pre_run_cell", _pre_run_cell)
    previous = (tuple(shell.custom_exceptions), shell.CustomTB)
    session.previous_exc = previous
    ours: tuple[type, ...] = (KeyboardInterrupt,)
    if session.kind == "classic":  # an interrupt inside a Py4J call can end as a Py4JError
        from py4j.protocol import Py4JError

        ours += (Py4JError,)
    types = previous[0] + tuple(t for t in ours if t not in previous[0])
    shell.set_custom_exc(types, _on_exception)
    session.our_handler = shell.CustomTB


def _pre_run_cell(exec_info: Any = None) -> None:
    session = _current()
    if session is None:
        return
    cell_id = getattr(exec_info, "cell_id", None)
    shell = session.shell
    group = (
        f"{CELL_PREFIX}{cell_id}"
        if cell_id
        else f"swan-run-{getattr(shell, 'execution_count', 0) if shell else 0}"
    )
    session.group = group
    raw = getattr(exec_info, "raw_cell", "") or ""
    first = next((line.strip() for line in raw.splitlines() if line.strip()), "")[:100]
    try:
        if session.kind == "classic":
            session.spark.sparkContext.setJobGroup(group, first, interruptOnCancel=True)
        else:
            session.spark.clearTags()
            session.spark.addTag(group)
    except Exception as e:  # a stopped context: the cell itself will say so
        print(f"swan: could not tag this cell's Spark jobs: {e}", file=sys.stderr)


def _on_exception(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None):
    """IPython's custom handler (bound to the shell): cancel the cell's Spark work on an
    interrupt, then show the exception as IPython would (or hand it to the previous handler)."""
    session = _active
    if session is not None and session.group and _interrupted(value):
        cancel_cell(session.group)
        print("swan: interrupted: this cell's Spark jobs were cancelled", file=sys.stderr)
    previous = session.previous_exc if session is not None else None
    if previous and previous[0] and issubclass(etype, previous[0]):
        return previous[1](etype, value, tb, tb_offset)
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset, running_compiled_code=True)
    return None


def _interrupted(value: BaseException | None) -> bool:
    """A KeyboardInterrupt, or an error raised while handling one (Py4J turns an interrupt
    during a call into "Answer from Java side is empty" when the JVM closes the socket)."""
    seen = 0
    while value is not None and seen < 10:
        if isinstance(value, KeyboardInterrupt):
            return True
        value, seen = value.__cause__ or value.__context__, seen + 1
    return False


def cancel_cell(group: str) -> None:
    """Cancel the Spark jobs of a cell's group (classic) or tag (Connect); never raises."""
    session = _active
    if session is None:
        return
    try:
        if session.kind == "classic":
            session.spark.sparkContext.cancelJobGroup(group)
        else:
            session.spark.interruptTag(group)
    except Exception as e:
        print(f"swan: could not cancel the cell's Spark jobs: {e}", file=sys.stderr)


def session() -> Any:
    """This kernel's SparkSession (None when not connected): for code without IPython."""
    current = _current()
    return current.spark if current is not None else None


def info() -> dict[str, Any] | None:
    """What the server registers: kind, profile, app id/name, UI address, Connect ids."""
    session = _current()
    if session is None:
        return None
    spec, spark = session.spec, session.spark
    out: dict[str, Any] = {
        "kind": session.kind,
        "profile": spec.get("profile"),
        "app_id": None,
        "app_name": "",
        "ui_url": None,
        "session_id": None,
        "user_id": None,
        "master": spec.get("master") or spec.get("remote"),
    }
    if session.kind == "classic":
        sc = spark.sparkContext
        out.update(app_id=sc.applicationId, app_name=sc.appName, master=sc.master)
        out["ui_url"] = _loopback(sc.uiWebUrl)
    else:
        user = getattr(spark.client, "_user_id", None) or ""  # no $USER: the server sees ""
        out.update(session_id=spark.session_id, user_id=user, ui_url=spec.get("ui"))
        from pyspark.errors import PySparkException

        try:
            out["app_id"] = spark.conf.get("spark.app.id")
            out["app_name"] = spark.conf.get("spark.app.name") or ""
        except PySparkException:  # a server that does not tell: the app id stays null
            out["app_id"] = None
    return out


def _loopback(url: str | None) -> str | None:
    """The UI address as the server must reach it: on this machine, on 127.0.0.1, when the
    driver bound it there (spark.driver.bindAddress)."""
    if not url:
        return None
    session = _active
    bind = (session.spec.get("conf") or {}).get("spark.driver.bindAddress") if session else None
    parts = urllib.parse.urlsplit(url)
    if bind in (None, "127.0.0.1", "localhost", "0.0.0.0") and parts.port:
        return f"{parts.scheme}://127.0.0.1:{parts.port}"
    return url.rstrip("/")


def info_json() -> str:
    return json.dumps(info())


def _write_info_file(data: dict[str, Any]) -> None:
    path = os.environ.get("SWAN_SPARK_INFO_FILE")
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".spark-info-")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def stop() -> bool:
    """Stop this kernel's session: hooks removed, `spark`/`sc` removed from the namespace
    (when they are still ours), the environment it set restored, the session stopped. False
    when there was none."""
    session = _active
    if session is None:
        return False
    _forget(session)
    if _alive(session):
        session.spark.stop()
    return True


def _alive(session: _Session) -> bool:
    """False once the user stopped the session themselves (spark.stop())."""
    if session.kind == "classic":
        return getattr(session.spark.sparkContext, "_jsc", None) is not None
    return not session.spark.is_stopped


def _current() -> _Session | None:
    """The session, forgotten (hooks and names removed) when it was stopped behind our back."""
    session = _active
    if session is not None and not _alive(session):
        _forget(session)
        return None
    return session


def _forget(session: _Session) -> None:
    global _active
    if _active is session:
        _active = None
    _restore_env(session.saved_env)
    session.saved_env = {}
    shell = session.shell
    if shell is None:
        return
    try:
        shell.events.unregister("pre_run_cell", _pre_run_cell)
    except ValueError:  # not registered (install failed half-way)
        pass
    if session.previous_exc is not None and shell.CustomTB is session.our_handler:
        types, handler = session.previous_exc
        shell.custom_exceptions, shell.CustomTB = types, handler
    for name, value in session.names.items():
        if shell.user_ns.get(name) is value:
            del shell.user_ns[name]
