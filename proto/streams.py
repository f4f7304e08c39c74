"""JetStream streams and durable consumers: data, created-or-updated by every service at start.

All streams use *limits* retention (not work-queue) so that every message stays readable after it was
acknowledged: that is what makes a stream replayable and SSE history possible.
"""

from __future__ import annotations

from typing import Final

from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from proto import subjects

DAY: Final = 24 * 3600.0
# Long enough to cover every redelivery of a message (ack_wait × max_deliver plus backoff): a page published
# again after a crash inside this window is dropped by the stream, outside it the consumers' idempotent
# upserts still keep it from being counted twice.
DUPLICATE_WINDOW: Final = 30 * 60.0

JOBS_STREAM: Final = "PW_JOBS"
PAGES_STREAM: Final = "PW_PAGES"
RESULTS_STREAM: Final = "PW_RESULTS"
EVENTS_STREAM: Final = "PW_EVENTS"

ADVISORIES_STREAM: Final = "PW_ADVISORIES"

SPLITTER_CONSUMER: Final = "splitter"
OCR_CONSUMER: Final = "ocr"
ASSEMBLER_CONSUMER: Final = "assembler"
DEAD_LETTER_CONSUMER: Final = "dead-letters"

MAX_DELIVERIES_ADVISORY: Final = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"


def max_deliveries_subject(stream: str, consumer: str) -> str:
    return f"{MAX_DELIVERIES_ADVISORY}.{stream}.{consumer}"


def stream_configs(max_age_days: float = 7.0) -> list[StreamConfig]:
    max_age = max_age_days * DAY
    common = dict(
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=max_age,
        duplicate_window=DUPLICATE_WINDOW,
        num_replicas=1,
    )
    return [
        StreamConfig(
            name=JOBS_STREAM,
            subjects=[f"{subjects.JOBS_SUBMITTED}.>"],
            description="one message per uploaded document (gateway → splitter)",
            **common,  # type: ignore[arg-type]
        ),
        StreamConfig(
            name=PAGES_STREAM,
            subjects=[f"{subjects.PAGES_RENDERED}.>"],
            description="one message per rendered page (splitter → ocr)",
            **common,  # type: ignore[arg-type]
        ),
        StreamConfig(
            name=RESULTS_STREAM,
            subjects=[f"{subjects.RESULTS}.>"],
            description="split/rejected notices and page results (splitter, ocr → assembler)",
            **common,  # type: ignore[arg-type]
        ),
        StreamConfig(
            name=EVENTS_STREAM,
            subjects=[f"{subjects.EVENTS}.>"],
            description="client-facing job events, streamed over SSE (gateway, assembler → clients)",
            **common,  # type: ignore[arg-type]
        ),
        StreamConfig(
            name=ADVISORIES_STREAM,
            subjects=[
                max_deliveries_subject(JOBS_STREAM, SPLITTER_CONSUMER),
                max_deliveries_subject(PAGES_STREAM, OCR_CONSUMER),
            ],
            description="max-deliveries advisories: work a worker took and never finished (crashed on it)",
            **common,  # type: ignore[arg-type]
        ),
    ]


def splitter_consumer(*, ack_wait: float, max_deliver: int, max_ack_pending: int) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=SPLITTER_CONSUMER,
        filter_subject=f"{subjects.JOBS_SUBMITTED}.>",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=max_deliver,
        max_ack_pending=max_ack_pending,
        description="renders uploaded documents into pages",
    )


def ocr_consumer(*, ack_wait: float, max_deliver: int, max_in_flight: int) -> ConsumerConfig:
    """``max_ack_pending`` applies across every subscriber bound to the consumer: it is the global cap on
    pages in flight to the model, whatever the number of OCR processes (NATS docs, consumers.md)."""
    return ConsumerConfig(
        durable_name=OCR_CONSUMER,
        filter_subject=f"{subjects.PAGES_RENDERED}.>",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=max_deliver,
        max_ack_pending=max_in_flight,
        description="recognizes page images with the vision-language model",
    )


def assembler_consumer(*, ack_wait: float, max_ack_pending: int) -> ConsumerConfig:
    # No max_deliver: a result must never be dropped because Postgres was down for a while.
    return ConsumerConfig(
        durable_name=ASSEMBLER_CONSUMER,
        filter_subject=f"{subjects.RESULTS}.>",
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=-1,
        max_ack_pending=max_ack_pending,
        description="records page results in order and publishes job progress",
    )


def dead_letter_consumer() -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=DEAD_LETTER_CONSUMER,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=30.0,
        max_deliver=-1,
        max_ack_pending=100,
        description="turns messages that ran out of deliveries into failed pages or jobs",
    )
