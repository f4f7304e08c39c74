"""Job events over server-sent events, resumable from any position.

Each SSE message's ``id`` is the event's sequence number in the ``PW_EVENTS`` stream. A client that
reconnects with ``Last-Event-ID: N`` gets exactly the events of its job after N, none lost and none
repeated, from any gateway replica and across restarts, because the position lives in JetStream.

How history and live events are stitched: the watcher registers with the process's ``EventHub`` first
(live events start queueing), then reads the stored history after N; queued events at or below the last
sequence it sent are dropped. Anything published after registration is in the queue, anything before it
in the history, and duplicates are recognised by sequence. On every keep-alive the stream is also read
again from the last sequence sent, so even an event the hub missed (a consumer reset) arrives within one
keep-alive interval.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable

import nats.errors
from litestar.response import ServerSentEventMessage

from proto.events import TERMINAL_EVENT_TYPES
from services.gateway.fanout import JobEventMessage
from services.gateway.state import Gateway

log = logging.getLogger("pagewise.gateway.sse")


def parse_last_event_id(value: str | None) -> int:
    if not value:
        return 0
    try:
        return max(0, int(value.strip()))
    except ValueError:
        return 0


async def job_event_stream(
    gw: Gateway,
    job_id: str,
    after_seq: int,
    job_has_ended: Callable[[], Awaitable[bool]],
) -> AsyncGenerator[ServerSentEventMessage, None]:
    last_sent = after_seq
    gw.counters.sse_clients += 1
    try:
        with gw.hub.watch(job_id) as watcher:
            yield ServerSentEventMessage(
                comment="pagewise job events", data=None, retry=gw.settings.sse_retry_ms
            )
            batch = await stored_events(gw, job_id, last_sent)
            while True:
                # one way out for every event, whether it came from the stream's history or from the hub
                for message in batch or ():
                    if message.seq <= last_sent:
                        continue
                    last_sent = message.seq
                    gw.counters.sse_events_sent += 1
                    yield message.sse
                    if message.kind in TERMINAL_EVENT_TYPES:
                        return
                try:
                    queued = await asyncio.wait_for(watcher.queue.get(), gw.settings.sse_keepalive)
                except TimeoutError:
                    batch = await stored_events(gw, job_id, last_sent)
                    # A job that ended before we came (the client saw its terminal event) has nothing more
                    # to send: close instead of idling forever.
                    if batch == [] and await job_has_ended():
                        return
                    yield ServerSentEventMessage(comment="keep-alive", data=None)
                    continue
                if queued is None:
                    return  # fell too far behind: the client reconnects with Last-Event-ID
                batch = [queued]
    finally:
        gw.counters.sse_clients -= 1


async def stored_events(gw: Gateway, job_id: str, after_seq: int) -> list[JobEventMessage] | None:
    """The job's events after ``after_seq`` from the stream; ``None`` while NATS cannot be read (it is
    restarting: the client keeps its connection and the next keep-alive tries again)."""
    try:
        return [message async for message in gw.hub.history(job_id, after_seq)]
    except (nats.errors.Error, TimeoutError) as exc:
        log.info("reading the events of job %s failed: %r", job_id, exc)
        return None
