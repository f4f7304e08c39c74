"""Circuit breaker: when the model server is down, stop sending it pages (each attempt would burn one of the
page's deliveries) and probe it instead; resume on our own when it answers again.

One probe loop per process, however many slots are waiting: a dead server gets one ``GET /models`` per
probe interval, not one per page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("pagewise.ocr.breaker")


class CircuitBreaker:
    def __init__(
        self, probe: Callable[[], Awaitable[bool]], *, threshold: int, probe_interval: float
    ) -> None:
        self._probe = probe
        self._threshold = threshold
        self._probe_interval = probe_interval
        self._consecutive_failures = 0
        self._closed = asyncio.Event()
        self._closed.set()
        self._prober: asyncio.Task[None] | None = None
        self.times_opened = 0

    @property
    def is_open(self) -> bool:
        return not self._closed.is_set()

    def record_success(self) -> None:
        self._consecutive_failures = 0

    def record_unavailable(self) -> None:
        self._consecutive_failures += 1
        if not self.is_open and self._consecutive_failures >= self._threshold:
            self._closed.clear()
            self.times_opened += 1
            log.warning(
                "model server unavailable %d times in a row: pausing pulls", self._consecutive_failures
            )
            self._prober = asyncio.create_task(self._probe_until_back())

    async def _probe_until_back(self) -> None:
        while True:
            await asyncio.sleep(self._probe_interval)
            with contextlib.suppress(Exception):
                if await self._probe():
                    break
        log.warning("model server answers again: resuming pulls")
        self._consecutive_failures = 0
        self._closed.set()

    async def wait_until_closed(self) -> None:
        await self._closed.wait()
