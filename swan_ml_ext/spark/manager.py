"""What the Spark REST handlers call: profiles, connecting a kernel of this server, stopping a
session, killing a job. Owns the registry and the poller; no tornado handlers here."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

from anyio import to_thread

from ..jobs.model import Conflict, InvalidRequest, SwanMLError
from . import kernels, profiles, rest
from .poller import Poller
from .registry import Registry, Session

DEFAULT_PROFILE = "local"
QUIET_WAIT_S = 5.0  # DELETE of a busy kernel's session: its killed jobs' cell may end by then


class SparkManager:
    def __init__(
        self,
        *,
        site_profiles: dict[str, Any],
        kernel_manager: Any,
        service: Any,
        poll_interval: float,
        connect_timeout: float,
        ui_hosts: list[str],
        emit: Callable[[Session, str], None],
        log: logging.Logger | None = None,
    ):
        self.site_profiles = site_profiles
        profiles.load_profiles(site_profiles)  # a bad site profile stops the server at start
        self.kernel_manager = kernel_manager
        self.service = service
        self.connect_timeout = connect_timeout
        self.log = log or logging.getLogger(__name__)
        self.registry = Registry(ui_hosts, on_change=emit)
        self.poller = Poller(
            self.registry,
            poll_interval,
            kernel_alive=lambda kid: kid in kernel_manager,
            active_jobs=service.store.active if service is not None else None,
            log=self.log,
        )
        self._busy: set[str] = set()  # kernels being connected or looked at
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        self.poller.start()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.poller.stop()

    # -- profiles ---------------------------------------------------------------------------
    def _profiles(self) -> dict[str, Any]:
        try:
            return profiles.load_profiles(self.site_profiles)
        except profiles.SparkConfigError as e:
            raise InvalidRequest(f"SwanMLApp.spark_profiles: {e}") from None

    def profiles_json(self) -> dict[str, Any]:
        found = self._profiles()
        return {
            "profiles": [{**p.to_json(), "name": name} for name, p in found.items()],
            "default": DEFAULT_PROFILE if DEFAULT_PROFILE in found else next(iter(found), ""),
        }

    async def _resolve(self, name: Any, conf: Any) -> Any:
        """The profile with the request's conf, checked (the cluster too): 400 on refusal."""
        if not isinstance(name, str) or not name:
            raise InvalidRequest("'profile' must be a non-empty string (GET spark/profiles)")
        try:
            extra = profiles.parse_conf(conf or {})
            resolved = profiles.resolve(self._profiles(), name, extra)
            await to_thread.run_sync(profiles.check_cluster, resolved)
        except profiles.SparkConfigError as e:
            raise InvalidRequest(str(e)) from None
        return resolved

    # -- sessions ---------------------------------------------------------------------------
    async def connect(self, body: Any) -> tuple[int, dict[str, Any]]:
        """POST spark/sessions: (201, session) after connecting the kernel to a profile, or
        (202, pending) when only the kernel is named: it connected itself, ask it when idle."""
        if not isinstance(body, dict):
            raise InvalidRequest("the request body must be a JSON object")
        unknown = set(body) - {"kernel_id", "profile", "conf"}
        if unknown:
            raise InvalidRequest(f"unknown field(s): {', '.join(sorted(unknown))[:200]}")
        kid, name, conf = body.get("kernel_id"), body.get("profile"), body.get("conf")
        if not isinstance(kid, str) or not kid:
            raise InvalidRequest("'kernel_id' must be a non-empty string")
        if name is not None and (not isinstance(name, str) or not name):
            raise InvalidRequest("'profile' must be a non-empty string")
        if conf is not None and not isinstance(conf, (dict, list)):
            raise InvalidRequest("'conf' must be an object of Spark settings")
        kernel = kernels.kernel_of(self.kernel_manager, kid)
        if name is None and conf is None:
            self._look_later(kid, kernel)
            return 202, {"kernel_id": kid, "status": "pending"}
        resolved = await self._resolve(name, conf)
        existing = self.registry.by_kernel(kid)
        if existing is not None:
            raise Conflict(f"the kernel already has Spark session {existing.id}: stop it first")
        kernels.refuse_busy(kernel)
        if kid in self._busy:
            raise Conflict("this kernel is being connected to Spark already")
        self._busy.add(kid)
        try:
            info = await kernels.run_silent(
                kernel, kernels.connect_code(resolved.to_spec()), self.connect_timeout
            )
        except kernels.KernelTimeout:
            # The connect code is still running there: register what it makes once it is idle
            # (never leave a Spark session running in the kernel that nothing knows about).
            self._busy.discard(kid)
            self._look_later(kid, kernel)
            raise
        except BaseException:
            self._busy.discard(kid)
            raise
        self._busy.discard(kid)
        if info is None:
            raise kernels.KernelError("the kernel has no Spark session after connecting")
        try:
            session = self.registry.register(info, source="kernel", kernel_id=kid, profile=name)
        except SwanMLError:
            await self._stop_in_kernel(kid, kernel)  # refused (e.g. its UI is not loopback)
            raise
        return 201, session.to_json()

    async def _stop_in_kernel(self, kid: str, kernel: Any) -> None:
        """Stop the kernel's Spark session (best effort: logged when the kernel cannot)."""
        try:
            await kernels.run_silent(kernel, kernels.stop_code(), self.connect_timeout)
        except SwanMLError as e:
            self.log.warning("swan-ml: kernel %s: could not stop its Spark session: %s", kid, e)

    def _look_later(self, kid: str, kernel: Any) -> None:
        if kid in self._busy:
            return
        self._busy.add(kid)
        task = asyncio.create_task(self._look(kid, kernel), name=f"swan-ml-ext spark look {kid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _look(self, kid: str, kernel: Any) -> None:
        """Once the kernel is idle, ask it what Spark session it has; register it."""
        try:
            await kernels.wait_idle(kernel, self.connect_timeout)
            if kid not in self.kernel_manager:
                return
            info = await kernels.run_silent(kernel, "", self.connect_timeout)
            if info is not None:
                self.registry.register(info, source="kernel", kernel_id=kid)
            elif (stopped := self.registry.by_kernel(kid)) is not None:
                self.registry.end(stopped.id)  # the kernel stopped its session (magic)
        except SwanMLError as e:
            self.log.info("swan-ml: kernel %s: no Spark session registered: %s", kid, e)
        except Exception:  # never leave the tracked task with an unretrieved exception
            self.log.exception("swan-ml: kernel %s: looking for its Spark session failed", kid)
        finally:
            self._busy.discard(kid)

    async def delete(self, sid: str) -> None:
        """DELETE spark/sessions/{sid}: stop the kernel's Spark session, or cancel the job."""
        session = self.registry.get(sid)
        if not session.active:
            return
        if session.source == "job" and session.job_id:
            job = await self.service.cancel(session.job_id)
            self.log.info("swan-ml: Spark session %s: job %s %s", sid, job.id, job.state.value)
        elif session.kernel_id and session.kernel_id in self.kernel_manager:
            kid = session.kernel_id
            kernel = self.kernel_manager.get_kernel(kid)
            state = getattr(kernel, "execution_state", "idle")
            if state != "dead":  # a dead kernel took its Spark with it: the session just ends
                if state == "busy":
                    await self._quiet(session, kid, kernel)
                await kernels.run_silent(kernel, kernels.stop_code(), self.connect_timeout)
        self.registry.end(sid)

    async def _quiet(self, session: Session, kid: str, kernel: Any) -> None:
        """A busy kernel (most often: a cell waiting on a Spark job) before its Spark stops:
        kill the session's running jobs through its UI, then, if the cell still runs,
        interrupt the kernel (its hook cancels the cell's Spark jobs); bounded waits."""
        try:
            running = [j["job_id"] for j in await rest.jobs(session) if j["status"] == "RUNNING"]
        except SwanMLError as e:
            self.log.info("swan-ml: Spark session %s: listing its jobs: %s", session.id, e)
            running = []
        for job_id in running:
            try:
                await rest.kill(session, job_id)
            except SwanMLError as e:  # it ended meanwhile, or the UI does not answer
                self.log.info("swan-ml: Spark session %s: job %s: %s", session.id, job_id, e)
        try:
            await kernels.wait_idle(kernel, QUIET_WAIT_S)
            return
        except kernels.KernelTimeout:
            pass
        # Interrupt until the cell ends: one SIGINT can be lost (it may land in a hook
        # between cells, or inside a Py4J call whose caller swallows it).
        deadline = time.monotonic() + self.connect_timeout
        while True:
            interrupted = self.kernel_manager.interrupt_kernel(kid)
            if inspect.isawaitable(interrupted):
                await interrupted
            left = deadline - time.monotonic()
            try:
                await kernels.wait_idle(kernel, min(QUIET_WAIT_S, max(left, 0.0)))
                return
            except kernels.KernelTimeout:
                if time.monotonic() >= deadline:
                    raise
                self.log.info("swan-ml: kernel %s still busy: interrupting it again", kid)

    async def kill(self, sid: str, job_id: str) -> dict[str, Any]:
        session = self.registry.get(sid)
        if not (job_id.isascii() and job_id.isdigit() and len(job_id) <= 9):
            raise InvalidRequest(f"job id must be a Spark job number, got {job_id[:40]!r}")
        if not session.active:
            raise Conflict(f"Spark session {sid} has ended")
        await rest.kill(session, int(job_id))
        return {"killed": int(job_id)}
