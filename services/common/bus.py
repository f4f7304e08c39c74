"""NATS connection and idempotent JetStream set-up."""

from __future__ import annotations

import asyncio
import logging

import msgspec
import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, PubAck
from nats.js.errors import BadRequestError, NotFoundError

from proto import events, streams, subjects

log = logging.getLogger("pagewise.bus")


async def connect(url: str, name: str, initial_wait: float = 60.0) -> NATS:
    """Connect and keep reconnecting forever: a restarted nats-server must never end a worker.

    nats-py gives up after 60 attempts by default; we never want that in a long-running service.
    """

    async def on_disconnect() -> None:
        log.warning("disconnected from NATS")

    async def on_reconnect() -> None:
        log.warning("reconnected to NATS")

    async def on_error(exc: Exception) -> None:
        log.debug("NATS error: %r", exc)

    deadline = asyncio.get_running_loop().time() + initial_wait
    while True:
        try:
            return await _connect_once(url, name, on_disconnect, on_reconnect, on_error)
        except Exception as exc:  # nats-py raises several types for "no server yet"
            if asyncio.get_running_loop().time() > deadline:
                raise
            log.warning("waiting for NATS at %s: %r", url, exc)
            await asyncio.sleep(0.5)


async def _connect_once(url: str, name: str, on_disconnect, on_reconnect, on_error) -> NATS:  # type: ignore[no-untyped-def]
    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        allow_reconnect=True,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
    )


async def ensure_streams(js: JetStreamContext, max_age_days: float) -> None:
    """Create each stream, or update it when it exists: several services may race here safely."""
    for config in streams.stream_configs(max_age_days):
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)


async def ensure_consumer(js: JetStreamContext, stream: str, config: ConsumerConfig) -> None:
    """Create-or-update explicitly: ``pull_subscribe`` on an existing durable does not update its
    configuration (nats.py #506), so a changed ``max_ack_pending`` would silently be ignored."""
    assert config.durable_name
    try:
        info = await js.consumer_info(stream, config.durable_name)
    except NotFoundError:
        try:
            await js.add_consumer(stream, config)
            return
        except BadRequestError:
            info = await js.consumer_info(stream, config.durable_name)
    current = info.config
    wanted = {k: v for k, v in config.as_dict().items() if v is not None}
    have = {k: v for k, v in current.as_dict().items() if v is not None}
    if any(have.get(k) != v for k, v in wanted.items()):
        await js.add_consumer(stream, config)  # $JS.API.CONSUMER.CREATE updates an existing durable


async def publish(js: JetStreamContext, subject: str, event: msgspec.Struct, msg_id: str) -> PubAck:
    """Publish with a content-derived dedupe id (``Nats-Msg-Id``): a re-publish after a crash is dropped."""
    return await js.publish(subject, events.encode(event), headers={"Nats-Msg-Id": msg_id}, timeout=10)


async def publish_page_failed(
    js: JetStreamContext, page: events.PageRendered, error: str, attempts: int, *, retryable: bool = False
) -> PubAck:
    """The one way a page is declared failed, by the OCR worker or by the dead-letter handler: both use the
    page's result id, so whichever publishes second is dropped by the stream."""
    return await publish(
        js,
        subjects.result("page_failed", page.job_id),
        events.PageFailed(
            job_id=page.job_id,
            page_no=page.page_no,
            total_pages=page.total_pages,
            error=error,
            attempts=attempts,
            retryable=retryable,
        ),
        subjects.page_msg_id(page.job_id, page.page_no, "result"),
    )
