"""Event contracts.

Two families travel on the bus:

* **work events** move a job through the pipeline (gateway → splitter → ocr → assembler). Each is consumed
  by exactly one durable consumer and carries everything its consumer needs, so a worker never has to ask
  another service for state.
* **job events** are what clients see over SSE. Only the gateway (``accepted``, ``cancelled``) and the
  assembler (everything else) publish them, so their order per job is the order of the job's life.

Structs are frozen and tagged: decoding validates, and one encoder/decoder per type is reused.
"""

from __future__ import annotations

from typing import Literal

import msgspec

# ----------------------------------------------------------------------------------------------------------
# options a user may set per job


class JobOptions(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Per-job processing options; every field left ``None`` falls back to the service's setting."""

    model: str | None = None
    prompt: str | None = None
    longest_side: int | None = None
    dpi: float | None = None
    first_page: int | None = None
    last_page: int | None = None


# ----------------------------------------------------------------------------------------------------------
# work events


class JobSubmitted(msgspec.Struct, frozen=True, kw_only=True, tag="job.submitted"):
    job_id: str
    upload_key: str
    filename: str
    size_bytes: int
    options: JobOptions = JobOptions()
    submitted_at: float


class JobSplit(msgspec.Struct, frozen=True, kw_only=True, tag="job.split"):
    """The splitter opened the PDF and knows which pages it will render."""

    job_id: str
    total_pages: int
    page_numbers: list[int]
    document_pages: int


class JobRejected(msgspec.Struct, frozen=True, kw_only=True, tag="job.rejected"):
    """The document cannot be processed (encrypted, corrupt, no pages, too many pages...)."""

    job_id: str
    code: str
    reason: str


class PageRendered(msgspec.Struct, frozen=True, kw_only=True, tag="page.rendered"):
    job_id: str
    page_no: int
    total_pages: int
    image_key: str
    media_type: str
    width: int
    height: int
    model: str | None = None
    prompt: str | None = None


class PageRecognized(msgspec.Struct, frozen=True, kw_only=True, tag="page.recognized"):
    job_id: str
    page_no: int
    total_pages: int
    markdown: str
    model: str
    attempts: int
    duration_ms: float
    finish_reason: str = "stop"


class PageFailed(msgspec.Struct, frozen=True, kw_only=True, tag="page.failed"):
    job_id: str
    page_no: int
    total_pages: int
    error: str
    attempts: int
    retryable: bool = False


ResultEvent = JobSplit | JobRejected | PageRecognized | PageFailed
"""Everything the assembler consumes."""


# ----------------------------------------------------------------------------------------------------------
# job events (client facing, streamed over SSE)

JobStatus = Literal["pending", "processing", "completed", "failed", "cancelled"]
TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


class AcceptedEvent(msgspec.Struct, frozen=True, kw_only=True, tag="accepted"):
    job_id: str
    filename: str
    size_bytes: int
    at: float


class SplitEvent(msgspec.Struct, frozen=True, kw_only=True, tag="split"):
    job_id: str
    total_pages: int
    page_numbers: list[int]
    at: float


class PageEvent(msgspec.Struct, frozen=True, kw_only=True, tag="page"):
    job_id: str
    page_no: int
    status: Literal["done"] = "done"
    markdown: str
    attempts: int
    duration_ms: float
    at: float


class PageFailedEvent(msgspec.Struct, frozen=True, kw_only=True, tag="page_failed"):
    job_id: str
    page_no: int
    error: str
    attempts: int
    at: float


class ProgressEvent(msgspec.Struct, frozen=True, kw_only=True, tag="progress"):
    job_id: str
    done: int
    failed: int
    total: int
    percentage: float
    estimated_completion: float | None
    at: float


class CompletedEvent(msgspec.Struct, frozen=True, kw_only=True, tag="completed"):
    job_id: str
    result_url: str
    pages_done: int
    pages_failed: int
    at: float


class FailedEvent(msgspec.Struct, frozen=True, kw_only=True, tag="failed"):
    job_id: str
    error: str
    at: float


class CancelledEvent(msgspec.Struct, frozen=True, kw_only=True, tag="cancelled"):
    job_id: str
    at: float


JobEvent = (
    AcceptedEvent
    | SplitEvent
    | PageEvent
    | PageFailedEvent
    | ProgressEvent
    | CompletedEvent
    | FailedEvent
    | CancelledEvent
)
TERMINAL_EVENT_TYPES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})


def event_type(event: JobEvent) -> str:
    """The SSE ``event:`` name of a job event (its msgspec tag)."""
    return str(type(event).__struct_config__.tag)


# one encoder, one decoder per union: reused, never rebuilt per message
encoder = msgspec.json.Encoder()
job_submitted_decoder = msgspec.json.Decoder(JobSubmitted)
page_rendered_decoder = msgspec.json.Decoder(PageRendered)
result_decoder = msgspec.json.Decoder(ResultEvent)
job_event_decoder = msgspec.json.Decoder(JobEvent)


def encode(event: msgspec.Struct) -> bytes:
    return encoder.encode(event)
