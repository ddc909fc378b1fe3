"""`%swan spark connect PROFILE [--conf k=v ...]`, `%swan spark status`, `%swan spark stop`.

connect: the site's profiles come from the server (GET spark/profiles; the built-ins when no
server answers), are resolved and checked here (one line on refusal, nothing started), the
session starts in this kernel (kernel.connect), then the server is told to look at this
kernel (POST spark/sessions {"kernel_id"}: 202; a failure only warns: Spark works anyway).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any

from ..client import ClientError, SwanMLClient
from ..commands import UsageError, _Parser
from . import kernel
from .profiles import (
    SparkConfigError,
    check_cluster,
    load_profiles,
    profiles_from_json,
    resolve,
)

SPARK_HELP = """
  spark connect [PROFILE] [--conf spark.k=v ...]   Spark in this kernel (`spark`, `sc`)
  spark status | spark stop                        this kernel's Spark session
"""


def build_parser() -> _Parser:
    p = _Parser(prog="%swan spark", description="This kernel's Spark session.")
    parent = _Parser(add_help=False)  # --url/--token before or after the action
    for q, default in ((p, {}), (parent, {"default": argparse.SUPPRESS})):
        q.add_argument("--url", help="Jupyter server URL (default: discovered)", **default)
        q.add_argument("--token", help="Jupyter server token (default: discovered)", **default)
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    c = sub.add_parser("connect", help="start Spark here from a profile", parents=[parent])
    c.add_argument("profile", nargs="?", help="profile name (default: the server's default)")
    c.add_argument(
        "--conf", action="append", default=[], metavar="KEY=VALUE", help="extra conf; repeatable"
    )
    s = sub.add_parser("status", help="this kernel's session", parents=[parent])
    s.add_argument("--json", action="store_true", help="return the session info")
    sub.add_parser("stop", help="stop this kernel's session", parents=[parent])
    return p


def spark_magic(shell: Any, words: list[str]) -> Any:
    """Run one `%swan spark ...` line; user errors print one line (no traceback)."""
    parser = build_parser()
    try:
        args = parser.parse_args(words)
        if args.action is None:
            parser.print_help()
            return None
        if args.action == "connect":
            return _connect(shell, args)
        if args.action == "status":
            return _status(args)
        return _stop(args)
    except (SparkConfigError, kernel.SparkSessionActive, UsageError, ClientError) as e:
        print(f"swan: {getattr(e, 'message', None) or e}", file=sys.stderr)
        return None


def kernel_id() -> str | None:
    """This kernel's id, from its connection file (kernel-<id>.json), when it is a kernel."""
    try:
        from ipykernel.connect import get_connection_file

        name = os.path.basename(get_connection_file())
    except (ImportError, RuntimeError):
        return None
    m = re.match(r"^kernel-(.+)\.json$", name)
    return m.group(1) if m else None


def _client(args: argparse.Namespace) -> SwanMLClient | None:
    try:
        client = SwanMLClient.connect(args.url, args.token)
    except ClientError as e:
        _warn(f"{e.message}; Spark works here without it, but the Lab panel will not see it")
        return None
    return SwanMLClient(client.server, timeout=10)


def _warn(text: str) -> None:
    print(f"swan: warning: {text}", file=sys.stderr)


def _connect(shell: Any, args: argparse.Namespace) -> None:
    client = _client(args)
    profiles, default = None, "local"
    if client is not None:
        try:
            answer = client.request("GET", "spark/profiles")
            profiles = profiles_from_json(answer["profiles"])
            default = answer.get("default") or default
        except ClientError as e:
            _warn(f"the server's Spark profiles are not available ({e.message}): built-ins used")
    if profiles is None:
        profiles = load_profiles({})
    resolved = resolve(profiles, args.profile or default, args.conf)
    if not kernel.connected_to(resolved.name):  # another profile: SparkSessionActive
        check_cluster(resolved)
    try:
        data = kernel.connect(resolved.to_spec(), shell)
    except kernel.SparkSessionActive:
        raise
    except Exception as e:  # Spark's own refusal (JVM, conf): its first line
        raise UsageError(f"Spark did not start: {_first_line(e)}") from None
    names = "`spark` and `sc`" if data["kind"] == "classic" else "`spark`"
    print(
        f"Spark connected: profile {data['profile']!r} ({data['master']}), "
        f"app {data.get('app_id') or data.get('session_id')}; {names} ready"
    )
    for note in resolved.notes:
        print(f"  note: {note}")
    if client is not None:
        _register(client)
    if data.get("ui_url"):
        print(f"  Spark UI (this machine): {data['ui_url']}/jobs/")


def _first_line(e: Exception) -> str:
    """The line that says what went wrong: a Java exception's own message (Py4J's first line
    only names the call), else the exception's first line."""
    java = getattr(e, "java_exception", None)
    text = str(java) if java is not None else str(e)
    return (text.strip().splitlines() or [type(e).__name__])[0][:500]


def _register(client: SwanMLClient) -> None:
    kid = kernel_id()
    if kid is None:
        _warn("this is not a Jupyter kernel: the server cannot be told about the session")
        return
    try:
        client.request("POST", "spark/sessions", {"kernel_id": kid})
    except ClientError as e:
        _warn(f"the server did not register the session ({e.message}); Spark works anyway")


def _server_session(client: SwanMLClient | None, data: dict[str, Any]) -> dict[str, Any] | None:
    if client is None:
        return None
    kid = kernel_id()
    try:
        sessions = client.request("GET", "spark/sessions").get("sessions") or []
    except ClientError:
        return None
    return next(
        (s for s in sessions if s.get("kernel_id") == kid and s.get("state") == "active"
         and (s.get("app_id") == data.get("app_id") or data.get("kind") == "connect")),
        None,
    )  # fmt: skip


def _status(args: argparse.Namespace) -> Any:
    data = kernel.info()
    if args.json:
        return data
    if data is None:
        print("Spark: not connected (%swan spark connect PROFILE)")
        return None
    lines = [
        f"Spark: profile {data['profile']!r} ({data['kind']}), master {data['master']}",
        f"  application: {data.get('app_name') or '-'} ({data.get('app_id') or '-'})",
    ]
    if data.get("session_id"):
        lines.append(f"  Connect session: {data['session_id']} (user {data.get('user_id')})")
    client = None
    if args.url or os.environ.get("SWAN_ML_URL"):
        try:
            client = SwanMLClient(SwanMLClient.connect(args.url, args.token).server, timeout=5)
        except ClientError:
            client = None
    session = _server_session(client, data)
    if session is not None and client is not None:
        lines.append(f"  Spark UI: {client.server.url}{session['ui_path']}")
    elif data.get("ui_url"):
        lines.append(f"  Spark UI (this machine): {data['ui_url']}/jobs/")
    print("\n".join(lines))
    return None


def _stop(args: argparse.Namespace) -> None:
    """Stop here, then ask the server to look at this kernel again (POST spark/sessions
    {"kernel_id"}: 202): it sees no session once the kernel is idle and ends its record. A
    DELETE cannot do it from here: the server runs kernel.stop() in the kernel, busy now."""
    data = kernel.info()
    if data is None:
        print("Spark: not connected")
        return
    kernel.stop()
    print(f"Spark stopped (profile {data['profile']!r}, app {data.get('app_id') or '-'})")
    if args.url or os.environ.get("SWAN_ML_URL"):
        client = _client(args)
        if client is not None:
            _register(client)
