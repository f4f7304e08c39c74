"""The one pull loop every worker runs: fetch only as many messages as there are free slots, hand each to
a handler, and turn the handler's outcome into ack / nak / term in one place.

Backpressure is by construction (as in FastStream's concurrent pull subscriber): a busy slot sends no pull
request, so a process never holds more messages than it can work on, and the consumer's
``max_ack_pending`` is shared by every process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext


class RetryLater(Exception):
    """Redeliver this message after ``delay`` seconds (releases its slot while waiting)."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.delay = delay


Handler = Callable[[Msg], Awaitable[None]]


def backoff_delay(
    attempt: int, *, base: float = 1.0, cap: float = 60.0, rng: random.Random | None = None
) -> float:
    """Exponential backoff with full jitter (AWS architecture blog): spreads retries of many pages."""
    r = rng or random
    return r.uniform(0.5, 1.0) * min(cap, base * (2 ** max(0, attempt - 1)))


@contextlib.asynccontextmanager
async def keep_alive(msg: Msg, every: float) -> AsyncIterator[None]:
    """Tell JetStream we are still working (``+WPI``) so a short ``ack_wait`` does not redeliver a long
    model call, while a dead worker's message still comes back within one ``ack_wait``."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):
                await msg.in_progress()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class PullWorker:
    """Runs ``handler`` on messages of one durable pull consumer with at most ``concurrency`` at once.

    Each slot has its own pull subscription and asks for exactly one message when it is free. nats-py's
    ``fetch(batch=n)`` would hold the first message it receives while it waits (up to the fetch timeout)
    for the other ``n - 1``, which under a ``max_ack_pending`` cap are not coming: a slot-per-subscription
    ``fetch(1)`` hands every message to a handler the moment it arrives.
    """

    def __init__(
        self,
        nc: NATS,
        js: JetStreamContext,
        *,
        stream: str,
        durable: str,
        handler: Handler,
        concurrency: int,
        log: logging.Logger,
        fetch_timeout: float = 5.0,
        may_fetch: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._nc = nc
        self._js = js
        self._stream = stream
        self._durable = durable
        self._handler = handler
        self._concurrency = concurrency
        self._log = log
        self._fetch_timeout = fetch_timeout
        self._may_fetch = may_fetch
        self._busy: set[asyncio.Task[None]] = set()
        self.processed = 0

    @property
    def in_flight(self) -> int:
        return len(self._busy)

    async def run(self, stop: asyncio.Event) -> None:
        slots = [asyncio.create_task(self._slot(stop)) for _ in range(self._concurrency)]
        try:
            await asyncio.gather(*slots)
        finally:
            for slot in slots:
                slot.cancel()
            await asyncio.gather(*slots, return_exceptions=True)

    async def _slot(self, stop: asyncio.Event) -> None:
        sub = None
        reconnects = self._nc.stats["reconnects"]
        try:
            while not stop.is_set():
                if self._may_fetch is not None:
                    await self._may_fetch()  # e.g. a circuit breaker holding us while the model is down
                # Pull subscriptions can stop receiving after a server restart (nats.py #504): start a
                # fresh one after every reconnect rather than trust the old inbox.
                if sub is None or self._nc.stats["reconnects"] != reconnects:
                    reconnects = self._nc.stats["reconnects"]
                    if sub is not None:
                        with contextlib.suppress(Exception):
                            await sub.unsubscribe()
                    try:
                        sub = await self._js.pull_subscribe_bind(self._durable, stream=self._stream)
                    except Exception as exc:
                        self._log.warning("cannot bind to %s/%s: %r", self._stream, self._durable, exc)
                        sub = None
                        await asyncio.sleep(1.0)
                        continue
                try:
                    msgs = await sub.fetch(batch=1, timeout=self._fetch_timeout, heartbeat=1.0)
                except nats.errors.TimeoutError:
                    continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._log.warning("fetch failed (%r); re-subscribing", exc)
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
                    sub = None
                    await asyncio.sleep(0.5)
                    continue
                for msg in msgs:
                    # shielded: a graceful stop cancels the fetch loop, not a page half-way through
                    task = asyncio.create_task(self._process(msg))
                    self._busy.add(task)
                    task.add_done_callback(self._busy.discard)
                    await asyncio.shield(task)
        finally:
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 - a deadline for waiting, not for I/O
        """Let in-flight messages finish (graceful stop); what does not finish is redelivered."""
        if self._busy:
            await asyncio.wait(self._busy, timeout=timeout)

    async def _process(self, msg: Msg) -> None:
        try:
            await self._handler(msg)
        except RetryLater as exc:
            self._log.info("retry in %.1fs: %s", exc.delay, exc)
            await self._settle(msg.nak(delay=exc.delay))
        except asyncio.CancelledError:
            raise
        except Exception:
            attempt = msg.metadata.num_delivered if msg.reply else 1
            delay = backoff_delay(attempt)
            self._log.exception("handler failed (delivery %d); retry in %.1fs", attempt, delay)
            await self._settle(msg.nak(delay=delay))
        else:
            await self._settle(msg.ack())
        finally:
            self.processed += 1

    async def _settle(self, op: Awaitable[None]) -> None:
        # An ack lost to a disconnect only means a redelivery, which every handler is idempotent against.
        with contextlib.suppress(Exception):
            await op
