"""Runs the engine's loops side by side in the server's event loop.

Each loop is a `step` coroutine that looks at the database, does one bounded batch of work and
says whether there may be more. Steps are idempotent and safe to cancel at any await (no
transaction is ever held across an await), so stopping simply cancels the tasks and a restart
converges again. Inbound events `poke` a loop to run now instead of waiting for its interval.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from bot.errors import reference_id

log = logging.getLogger("calbot.engine")

Step = Callable[[], Awaitable[bool]]
# A step longer than this holds up everything else in the process (Slack acks included): say so.
SLOW_STEP_SECONDS = 0.1


@dataclass
class Loop:
    name: str
    step: Step                 # returns True when it did work and may have more to do
    interval: float            # seconds between idle runs
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    failures: int = 0


class Engine:
    def __init__(self, metrics=None) -> None:
        self.loops: dict[str, Loop] = {}
        self.metrics = metrics
        self._tasks: list[asyncio.Task] = []
        self._stopping = False

    def add(self, name: str, step: Step, interval: float) -> None:
        self.loops[name] = Loop(name, step, interval)

    def poke(self, name: str) -> None:
        """Ask loop `name` to run as soon as possible (no-op if unknown)."""
        loop = self.loops.get(name)
        if loop is not None:
            loop.wake.set()

    async def run_once(self, name: str) -> bool:
        """Run one step of a loop now (for tests and `calbot check`)."""
        return await self.loops[name].step()

    async def settle(self, names: list[str] | None = None, max_rounds: int = 50) -> None:
        """Run the named loops (all by default) until none has more to do. For tests."""
        names = names or list(self.loops)
        for _ in range(max_rounds):
            busy = False
            for name in names:
                busy = (await self.loops[name].step()) or busy
            if not busy:
                return

    async def start(self) -> None:
        self._stopping = False
        for loop in self.loops.values():
            self._tasks.append(asyncio.create_task(self._run(loop), name=f"engine:{loop.name}"))

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run(self, loop: Loop) -> None:
        while not self._stopping:
            started = time.perf_counter()
            try:
                more = await loop.step()
                loop.failures = 0
                result = "work" if more else "idle"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a loop must never die: log, back off, try again
                loop.failures += 1
                more = False
                result = "error"
                log.error("loop %s failed: %s", loop.name, exc, exc_info=exc,
                          extra={"ref": reference_id(), "loop": loop.name, "failures": loop.failures})
            took = time.perf_counter() - started
            if took > SLOW_STEP_SECONDS:
                log.warning("loop %s step took %.0f ms", loop.name, took * 1000,
                            extra={"loop": loop.name, "ms": round(took * 1000)})
            if self.metrics is not None:
                self.metrics.loop_runs.labels(loop.name, result).inc()
                self.metrics.loop_seconds.labels(loop.name).observe(took)
            if more:
                await asyncio.sleep(0)  # let requests in between batches
                continue
            delay = loop.interval
            if loop.failures:
                delay = min(300.0, loop.interval * (2 ** min(loop.failures, 8))) * random.uniform(0.5, 1.0)
            try:
                await asyncio.wait_for(loop.wake.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass
            loop.wake.clear()
