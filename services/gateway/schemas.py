"""Response shapes of the public API (msgspec Structs: validated, and documented in the OpenAPI schema)."""

from __future__ import annotations

from typing import Any

import msgspec

from services.common.jobs import JobRow, PageRow


class JobLinks(msgspec.Struct, frozen=True, kw_only=True):
    status_url: str
    events_url: str
    result_url: str
    pages_url: str


def links(job_id: str) -> JobLinks:
    base = f"/api/jobs/{job_id}"
    return JobLinks(
        status_url=base, events_url=f"{base}/events", result_url=f"{base}/result", pages_url=f"{base}/pages"
    )


class JobAccepted(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    status: str
    filename: str
    size_bytes: int
    total_pages: int
    status_url: str
    events_url: str
    result_url: str

    @classmethod
    def pending(cls, job_id: str, filename: str, size_bytes: int, total_pages: int) -> JobAccepted:
        urls = links(job_id)
        return cls(
            job_id=job_id,
            status="pending",
            filename=filename,
            size_bytes=size_bytes,
            total_pages=total_pages,
            status_url=urls.status_url,
            events_url=urls.events_url,
            result_url=urls.result_url,
        )


class JobView(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    status: str
    filename: str
    size_bytes: int
    total_pages: int | None
    pages_done: int
    pages_failed: int
    percentage: float
    error: str | None
    retries: int
    options: dict[str, Any]
    created_at: float
    started_at: float | None
    completed_at: float | None
    estimated_completion: float | None
    parent_job_id: str | None
    links: JobLinks

    @classmethod
    def of(cls, job: JobRow) -> JobView:
        return cls(
            job_id=job.id,
            status=job.status,
            filename=job.filename,
            size_bytes=job.size_bytes,
            total_pages=job.total_pages,
            pages_done=job.pages_done,
            pages_failed=job.pages_failed,
            percentage=job.percentage,
            error=job.error,
            retries=job.retry_count,
            options=job.options,
            created_at=job.created_at,
            started_at=job.started_at,
            completed_at=job.completed_at,
            estimated_completion=job.estimated_completion,
            parent_job_id=job.parent_job_id,
            links=links(job.id),
        )


class JobList(msgspec.Struct, frozen=True, kw_only=True):
    jobs: list[JobView]
    next_cursor: str | None


class PageView(msgspec.Struct, frozen=True, kw_only=True):
    page_no: int
    status: str
    markdown: str | None
    error: str | None
    attempts: int
    duration_ms: float | None
    model: str | None

    @classmethod
    def of(cls, page: PageRow) -> PageView:
        return cls(
            page_no=page.page_no,
            status=page.status,
            markdown=page.markdown,
            error=page.error,
            attempts=page.attempts,
            duration_ms=page.duration_ms,
            model=page.model,
        )


class PageList(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    status: str
    total_pages: int | None
    pages: list[PageView]
