"""Talking to a kernel of this server about Spark, through the server's own kernel client
(never through a browser): connect it to a profile, ask what Spark session it has, stop it.
Code runs silently (no output, no history); the answer comes back in user_expressions."""

from __future__ import annotations

import ast
import asyncio
import json
import time
from queue import Empty
from typing import Any

from ..jobs.model import Conflict, InvalidRequest, NotFound, SwanMLError

KERNEL_MODULE = "swan_ml_ext.spark.kernel"
INFO_EXPR = f"__import__({KERNEL_MODULE!r}, fromlist=['info_json']).info_json()"


class KernelTimeout(SwanMLError):
    status = 504


class KernelError(SwanMLError):
    """The code raised in the kernel: `ename: evalue`."""

    status = 422


def kernel_of(kernel_manager: Any, kernel_id: str) -> Any:
    if kernel_id not in kernel_manager:
        raise NotFound(f"no kernel with id {kernel_id[:100]!r}")
    return kernel_manager.get_kernel(kernel_id)


def connect_code(spec: dict[str, Any]) -> str:
    return f"__import__({KERNEL_MODULE!r}, fromlist=['connect']).connect({json.dumps(spec)!r})"


def stop_code() -> str:
    return f"__import__({KERNEL_MODULE!r}, fromlist=['stop']).stop()"


async def run_silent(kernel: Any, code: str, timeout: float) -> dict[str, Any] | None:
    """Run `code` silently in the kernel, then evaluate info_json() there; returns the parsed
    info (None: the kernel has no Spark session). KernelError when the code raised."""
    client = kernel.client()
    client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
    try:
        msg_id = client.execute(
            code,
            silent=True,
            store_history=False,
            allow_stdin=False,
            user_expressions={"info": INFO_EXPR},
        )
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise KernelTimeout(f"the kernel did not answer within {timeout:.0f} s")
            try:
                reply = await client.get_shell_msg(timeout=left)
            except (Empty, TimeoutError, asyncio.TimeoutError):  # jupyter_client: Empty
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                break
    finally:
        client.stop_channels()
    content = reply["content"]
    if content.get("status") != "ok":
        raise KernelError(
            f"{content.get('ename', 'Error')}: {content.get('evalue', '')}".strip()[:2000]
        )
    return _info(content.get("user_expressions", {}).get("info", {}))


def _info(expr: dict[str, Any]) -> dict[str, Any] | None:
    if expr.get("status") != "ok":
        raise KernelError(
            f"{expr.get('ename', 'Error')}: {expr.get('evalue', '')} (is swan_ml_ext installed"
            " in the kernel's environment?)"
        )
    text = expr.get("data", {}).get("text/plain", "None")
    try:
        value = ast.literal_eval(text)  # the repr of the str info_json() returned
        info = json.loads(value) if isinstance(value, str) else value
    except (ValueError, SyntaxError) as e:
        raise KernelError(f"the kernel's Spark info is not JSON: {e}") from None
    if info is not None and not isinstance(info, dict):
        raise KernelError("the kernel's Spark info is not an object")
    return info


async def wait_idle(kernel: Any, timeout: float, poll: float = 0.25) -> None:
    """Until the server sees the kernel idle (execution_state from its iopub watcher; a kernel
    no client has talked to yet stays 'starting': a request just waits for it)."""
    deadline = time.monotonic() + timeout
    while getattr(kernel, "execution_state", "idle") == "busy":
        if time.monotonic() > deadline:
            raise KernelTimeout(f"the kernel stayed busy for {timeout:.0f} s")
        await asyncio.sleep(poll)


def refuse_busy(kernel: Any) -> None:
    state = getattr(kernel, "execution_state", "idle")
    if state == "busy":
        raise Conflict("the kernel is busy: connect Spark when it is idle")
    if state == "dead":
        raise InvalidRequest("the kernel is dead: restart it first")
