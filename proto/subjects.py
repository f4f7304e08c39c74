"""Subject names. Every subject ends in the job id so a consumer or watcher can filter on one job."""

from __future__ import annotations

from typing import Final

PREFIX: Final = "pw"

JOBS_SUBMITTED: Final = f"{PREFIX}.jobs.submitted"
PAGES_RENDERED: Final = f"{PREFIX}.pages.rendered"
RESULTS: Final = f"{PREFIX}.results"
EVENTS: Final = f"{PREFIX}.events"


def job_submitted(job_id: str) -> str:
    return f"{JOBS_SUBMITTED}.{job_id}"


def page_rendered(job_id: str) -> str:
    return f"{PAGES_RENDERED}.{job_id}"


def result(kind: str, job_id: str) -> str:
    """``kind`` is one of ``split``, ``rejected``, ``page``, ``page_failed``."""
    return f"{RESULTS}.{kind}.{job_id}"


def job_event(job_id: str, event_type: str) -> str:
    return f"{EVENTS}.{job_id}.{event_type}"


def job_events_filter(job_id: str) -> str:
    """All client-facing events of one job, in publication order."""
    return f"{EVENTS}.{job_id}.>"


# Dedupe ids (JetStream ``Nats-Msg-Id``): derived from content, never from time or randomness, so that a
# redelivered message that is processed again publishes the same id and the stream drops the copy.
def page_msg_id(job_id: str, page_no: int, stage: str) -> str:
    return f"{job_id}:{page_no}:{stage}"


def job_msg_id(job_id: str, stage: str) -> str:
    return f"{job_id}:{stage}"
