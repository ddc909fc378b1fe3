"""The monitor: one asyncio task per backend, each making ONE batched engine query per
interval for that backend's active jobs. A slow or stuck engine holds up only its own jobs:
its lock, its task, its timeout; fetching outputs runs in tasks of its own, outside locks."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import anyio
from anyio import to_thread

from ..backends.base import Backend
from .model import BackendUnavailable, Job, Update
from .service import JobService


class Monitor:
    def __init__(
        self,
        service: JobService,
        interval: float,
        log: logging.Logger | None = None,
        engine_timeout: float = 60.0,
    ):
        self.service = service
        self.log = log or logging.getLogger(__name__)
        self.watchers = {
            name: BackendWatcher(name, backend, service, interval, engine_timeout, self.log)
            for name, backend in service.backends.items()
        }
        service.wake = self.wake

    @property
    def unavailable(self) -> dict[str, str]:
        """backend -> why, while its engine is down."""
        return self.service.unavailable

    def wake(self) -> None:
        for w in self.watchers.values():
            w.wake.set()

    def start(self) -> None:
        for w in self.watchers.values():
            w.start()

    async def stop(self) -> None:
        await asyncio.gather(*(w.stop() for w in self.watchers.values()))

    async def tick(self) -> None:
        """One pass over every backend, its output fetches included (tests, benchmarks)."""
        for w in self.watchers.values():
            await w.tick()
            await w.drain()


class BackendWatcher:
    def __init__(
        self,
        name: str,
        backend: Backend,
        service: JobService,
        interval: float,
        engine_timeout: float,
        log: logging.Logger,
    ):
        self.name, self.backend, self.service = name, backend, service
        self.interval, self.engine_timeout, self.log = interval, engine_timeout, log
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._fetches: set[asyncio.Task[None]] = set()
        self._engine_busy = False  # a poll that timed out may still run in its thread
        # The backend's active jobs, kept between passes (the pass updates them in place) and
        # read again from the store only when something else wrote one (service.generation).
        self._active: dict[str, Job] = {}
        self._generation = -1

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"swan-ml-monitor-{self.name}"
            )

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._fetches) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._task = None

    async def drain(self) -> None:
        while self._fetches:
            await asyncio.gather(*list(self._fetches), return_exceptions=True)

    async def _run(self) -> None:
        # The first pass reconciles every non-final job with its engine (server start).
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep monitoring; the next pass may succeed
                self.log.exception("swan-ml monitor pass for %s failed", self.name)
            try:
                await asyncio.wait_for(self.wake.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
            self.wake.clear()

    async def tick(self) -> None:
        service = self.service
        async with service.locks[self.name]:
            active = await self._active_jobs()
            for job in service.interrupted(active):
                try:
                    await service.recover(job)
                except BackendUnavailable as e:
                    await self._mark_unavailable(e.message, [job])
            # Not polled: jobs being submitted now, and those whose outputs are being fetched.
            active = [j for j in active if j.engine_ref and j.id not in service.finishing]
            if not active:
                return
            try:
                updates = await self._poll(active)
            except BackendUnavailable as e:
                await self._mark_unavailable(e.message, active)
                return
            if service.unavailable.pop(self.name, None) is not None:
                self.log.info("swan-ml: %s backend reachable again", self.name)
            done: list[tuple[Job, Update]] = []
            for job_id, update in updates.items():
                job = self._active.get(job_id)
                if job is not None and await service.apply(job, update):
                    done.append((job, update))
                if job is not None and job.state.final:
                    del self._active[job_id]
        for job, update in done:
            if job.id not in service.finishing:
                service.finishing.add(job.id)
                self._spawn(service.finish(job.id, update))

    async def _active_jobs(self) -> list[Job]:
        generation = self.service.generation[self.name]
        if generation != self._generation:
            jobs = await to_thread.run_sync(self.service.store.active, self.name)
            self._active = {j.id: j for j in jobs}
            self._generation = generation
        return list(self._active.values())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._fetches.add(task)
        task.add_done_callback(self._fetch_done)

    def _fetch_done(self, task: asyncio.Task[None]) -> None:
        self._fetches.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("swan-ml: fetching outputs failed", exc_info=task.exception())

    async def _poll(self, active: list[Job]) -> dict[str, Update]:
        """The engine query, bounded in time. A query that overran keeps its thread until the
        engine answers; no second one is started meanwhile."""
        if self._engine_busy:
            raise BackendUnavailable(
                f"the {self.name} engine has not answered a query for over"
                f" {self.engine_timeout:g} s"
            )
        self.backend.polls += 1
        self._engine_busy = True

        def poll() -> dict[str, Update]:
            try:
                return self.backend.poll(active)
            finally:
                self._engine_busy = False

        try:
            with anyio.fail_after(self.engine_timeout):
                return await to_thread.run_sync(poll, abandon_on_cancel=True)
        except TimeoutError:
            raise BackendUnavailable(
                f"the {self.name} engine did not answer within {self.engine_timeout:g} s"
            ) from None

    async def _mark_unavailable(self, why: str, active: list[Job]) -> None:
        """Jobs keep their last state; their message says why we cannot see them."""
        if self.service.unavailable.get(self.name) != why:
            self.log.warning("swan-ml: %s backend unavailable: %s", self.name, why)
        self.service.unavailable[self.name] = why
        for job in active:
            msg = f"engine unreachable, last known state kept: {why}"
            if job.message != msg:
                job.message = msg
                await to_thread.run_sync(self.service.store.update, job)
