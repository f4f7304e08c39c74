"""Circuit breaker: when the model server is down, stop pulling pages (each pull would burn one of the
page's delivery attempts) and probe the server instead; resume on our own when it answers again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("pagewise.ocr.breaker")


class CircuitBreaker:
    def __init__(self, probe: Callable[[], Awaitable[bool]], *, threshold: int, probe_interval: float) -> None:
        self._probe = probe
        self._threshold = threshold
        self._probe_interval = probe_interval
        self._consecutive_failures = 0
        self.is_open = False
        self.times_opened = 0

    def record_success(self) -> None:
        self._consecutive_failures = 0

    def record_unavailable(self) -> None:
        self._consecutive_failures += 1
        if not self.is_open and self._consecutive_failures >= self._threshold:
            self.is_open = True
            self.times_opened += 1
            log.warning("model server unavailable %d times in a row: pausing pulls", self._consecutive_failures)

    async def wait_until_closed(self) -> None:
        while self.is_open:
            if await self._probe():
                log.warning("model server answers again: resuming pulls")
                self.is_open = False
                self._consecutive_failures = 0
                return
            await asyncio.sleep(self._probe_interval)
