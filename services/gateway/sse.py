"""Job events over server-sent events, resumable from any position.

Each SSE message's ``id`` is the event's sequence number in the ``PW_EVENTS`` stream. A client that
reconnects with ``Last-Event-ID: N`` gets an ordered consumer starting at ``N + 1`` filtered to its job:
exactly the events after N, none lost and none repeated, from any gateway replica, across restarts,
because the position lives in JetStream, not in the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable

import nats.errors
from litestar.response import ServerSentEventMessage
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from proto import streams, subjects
from proto.events import TERMINAL_EVENT_TYPES
from services.gateway.state import Gateway


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
    keepalive = gw.settings.sse_keepalive
    # An ordered consumer (ephemeral, in memory, flow-controlled) filtered to this job; nats-py takes the
    # start position only through a ConsumerConfig.
    start = (
        ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after_seq + 1)
        if after_seq > 0
        else ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    )
    sub = await gw.js.subscribe(
        subjects.job_events_filter(job_id),
        stream=streams.EVENTS_STREAM,
        ordered_consumer=True,
        config=start,
        inactive_threshold=30.0,
    )
    gw.counters.sse_clients += 1
    try:
        yield ServerSentEventMessage(comment="pagewise job events", data=None, retry=gw.settings.sse_retry_ms)
        while True:
            try:
                msg = await sub.next_msg(timeout=keepalive)
            except nats.errors.TimeoutError:
                # Nothing new. A job that ended before we subscribed (the client already saw its terminal
                # event) has nothing more to send: close instead of idling forever.
                if sub.pending_msgs == 0 and await job_has_ended():
                    return
                yield ServerSentEventMessage(comment="keep-alive", data=None)
                continue
            kind = msg.subject.rsplit(".", 1)[-1]
            seq = msg.metadata.sequence.stream
            gw.counters.sse_events_sent += 1
            yield ServerSentEventMessage(data=msg.data.decode(), event=kind, id=str(seq))
            if kind in TERMINAL_EVENT_TYPES:
                return
    finally:
        gw.counters.sse_clients -= 1
        # The client went away or the job ended. Unsubscribing must not be cancelled along with the
        # generator (Litestar #3772), so it runs as its own task; the consumer's inactive_threshold
        # removes it from the server even if this never runs.
        gw.spawn(_unsubscribe(gw, sub))


async def _unsubscribe(gw: Gateway, sub: JetStreamContext.PushSubscription) -> None:
    """Stop delivery and delete the ephemeral consumer now, rather than after its inactive threshold: a
    thousand watchers coming and going must not leave a thousand idle consumers on the server."""
    with contextlib.suppress(Exception):
        info = await asyncio.wait_for(sub.consumer_info(), 5)
        await asyncio.wait_for(gw.js.delete_consumer(streams.EVENTS_STREAM, info.name), 5)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(sub.unsubscribe(), 5)
