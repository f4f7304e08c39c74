"""One subscription per gateway process to every job event, fanned out in memory to the SSE watchers.

A consumer per watcher made the gateway decode every event once per watcher (with JetStream metadata, flow
control and heartbeats each): a thousand watchers saturated it. Here each event arrives once, is turned
into one ``ServerSentEventMessage``, and the same object is put on the queue of every watcher of its job.

History (events published before a watcher arrived, or after a ``Last-Event-ID``) is read straight from the
stream with direct gets; see ``services/gateway/sse.py`` for how the two are stitched without a gap or a
repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from litestar.response import ServerSentEventMessage
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from proto import streams, subjects

log = logging.getLogger("pagewise.gateway.fanout")

# A watcher that falls this far behind is cut off; its client reconnects with Last-Event-ID and catches
# up from the stream, so a slow client costs memory up to here and never blocks the others.
WATCHER_QUEUE_LIMIT = 2000


class EncodedEvent(ServerSentEventMessage):
    """An SSE frame encoded once and written to every watcher of the job as the same bytes."""

    def __init__(self, data: str, event: str, id: str) -> None:
        super().__init__(data=data, event=event, id=id)
        self._frame = super().encode()

    def encode(self) -> bytes:
        return self._frame


@dataclass(frozen=True, slots=True)
class JobEventMessage:
    seq: int
    kind: str
    sse: ServerSentEventMessage


def to_message(subject: str, seq: int, data: bytes) -> JobEventMessage:
    kind = subject.rsplit(".", 1)[-1]
    return JobEventMessage(seq, kind, EncodedEvent(data=data.decode(), event=kind, id=str(seq)))


class WatcherOverflow(Exception):
    pass


class Watcher:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[JobEventMessage | None] = asyncio.Queue(WATCHER_QUEUE_LIMIT)

    def offer(self, message: JobEventMessage) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # the None marks the overflow; there is always room for it after clearing one slot
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class EventHub:
    def __init__(self, nc: NATS, js: JetStreamContext) -> None:
        self._nc = nc
        self._js = js
        self._watchers: dict[str, set[Watcher]] = {}
        self._sub: JetStreamContext.PushSubscription | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._last_seq = 0
        self.events_received = 0
        self.resubscribed = 0

    async def start(self) -> None:
        await self._subscribe()
        self._watchdog = asyncio.create_task(self._resubscribe_after_reconnects())

    async def _subscribe(self) -> None:
        # An in-memory ordered consumer does not survive a server restart: after a reconnect it is created
        # again from the sequence after the last event seen, so nothing published meanwhile is skipped.
        start = (
            ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self._last_seq + 1)
            if self._last_seq
            else ConsumerConfig(deliver_policy=DeliverPolicy.NEW)
        )
        self._sub = await self._js.subscribe(
            f"{subjects.EVENTS}.>",
            stream=streams.EVENTS_STREAM,
            ordered_consumer=True,
            config=start,
            cb=self._on_message,
            pending_msgs_limit=-1,
        )

    async def _resubscribe_after_reconnects(self) -> None:
        seen = self._nc.stats["reconnects"]
        while True:
            await asyncio.sleep(1.0)
            if self._nc.stats["reconnects"] == seen or not self._nc.is_connected:
                continue
            seen = self._nc.stats["reconnects"]
            if self._sub is not None:
                with contextlib.suppress(Exception):
                    await self._sub.unsubscribe()
            try:
                await self._subscribe()
                self.resubscribed += 1
                log.warning(
                    "event hub subscribed again after a reconnect (from sequence %d)", self._last_seq + 1
                )
            except Exception as exc:
                log.warning("event hub could not subscribe again (%r); watchers catch up on keep-alives", exc)
                seen -= 1  # try again on the next tick

    async def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def _on_message(self, msg: Msg) -> None:
        self.events_received += 1
        self._last_seq = max(self._last_seq, msg.metadata.sequence.stream)
        job_id = msg.subject.split(".")[2]
        watchers = self._watchers.get(job_id)
        if not watchers:
            return
        message = to_message(msg.subject, msg.metadata.sequence.stream, msg.data)
        for watcher in watchers:
            watcher.offer(message)

    @contextlib.contextmanager
    def watch(self, job_id: str):  # type: ignore[no-untyped-def]
        watcher = Watcher()
        self._watchers.setdefault(job_id, set()).add(watcher)
        try:
            yield watcher
        finally:
            remaining = self._watchers.get(job_id)
            if remaining is not None:
                remaining.discard(watcher)
                if not remaining:
                    del self._watchers[job_id]

    @property
    def watcher_count(self) -> int:
        return sum(len(w) for w in self._watchers.values())

    async def history(self, job_id: str, after_seq: int) -> AsyncIterator[JobEventMessage]:
        """Stored events of the job with a sequence above ``after_seq``, in order (direct gets)."""
        cursor = after_seq + 1
        subject = subjects.job_events_filter(job_id)
        while True:
            try:
                raw = await self._js.get_msg(streams.EVENTS_STREAM, seq=cursor, subject=subject, next=True)
            except NotFoundError:
                return
            assert raw.seq is not None and raw.subject is not None
            yield to_message(raw.subject, raw.seq, raw.data or b"")
            cursor = raw.seq + 1
