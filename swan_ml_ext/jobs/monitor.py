"""One asyncio task per server: one batched engine query per backend per interval."""

from __future__ import annotations

import asyncio
import logging

from anyio import to_thread

from ..backends.base import Backend
from .model import BackendUnavailable
from .service import JobService
from .store import JobStore


class Monitor:
    def __init__(self, service: JobService, interval: float, log: logging.Logger | None = None):
        self.service = service
        self.interval = interval
        self.log = log or logging.getLogger(__name__)
        self.unavailable: dict[str, str] = {}  # backend -> why, while its engine is down
        self.ticks = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        service.wake = self._wake.set

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="swan-ml-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        # On start this reconciles every non-final job with its engine.
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep monitoring; the next tick may succeed
                self.log.exception("swan-ml monitor tick failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def tick(self) -> None:
        self.ticks += 1
        store = self.service.store
        for name, backend in self.service.backends.items():
            async with self.service.state_lock:
                await self._poll(name, backend, store)

    async def _poll(self, name: str, backend: Backend, store: JobStore) -> None:
        active = await to_thread.run_sync(store.active, name)
        for job in self.service.interrupted(active):
            try:
                await self.service.recover(job)
            except BackendUnavailable as e:
                await self._mark_unavailable(name, e.message, [job])
        # Jobs being submitted right now, and interrupted ones just handled, are not polled.
        active = [j for j in active if j.engine_ref]
        if not active:
            return
        backend.polls += 1
        try:
            updates = await to_thread.run_sync(backend.poll, active)
        except BackendUnavailable as e:
            await self._mark_unavailable(name, e.message, active)
            return
        if self.unavailable.pop(name, None) is not None:
            self.log.info("swan-ml: %s backend reachable again", name)
        for job in active:
            update = updates.get(job.id)
            if update is not None:
                await self.service.apply(job, update)

    async def _mark_unavailable(self, name: str, why: str, active: list) -> None:
        """Jobs keep their last state; their message says why we cannot see them."""
        if self.unavailable.get(name) != why:
            self.log.warning("swan-ml: %s backend unavailable: %s", name, why)
        self.unavailable[name] = why
        for job in active:
            msg = f"engine unreachable, last known state kept: {why}"
            if job.message != msg:
                job.message = msg
                await to_thread.run_sync(self.service.store.update, job)
