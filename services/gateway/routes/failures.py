"""``GET /api/failures``: the dead letters — pages that failed for good, across jobs, newest first — so an
operator can see what the model could not do and why, and rerun those jobs."""

from __future__ import annotations

import msgspec
from litestar import get
from litestar.params import Parameter

from services.gateway.state import Gateway


class FailedPage(msgspec.Struct, frozen=True, kw_only=True):
    job_id: str
    filename: str
    job_status: str
    page_no: int
    error: str | None
    attempts: int
    failed_at: float


class FailureList(msgspec.Struct, frozen=True, kw_only=True):
    failures: list[FailedPage]


@get("/api/failures", summary="Pages that failed for good (dead letters), newest first", tags=["jobs"])
async def list_failures(gw: Gateway, limit: int = Parameter(default=100, ge=1, le=1000)) -> FailureList:
    rows = await gw.pool.fetch(
        "SELECT p.job_id::text AS job_id, j.filename, j.status AS job_status, p.page_no, p.error, p.attempts,"
        " extract(epoch FROM p.updated_at) AS failed_at"
        " FROM pages p JOIN jobs j ON j.id = p.job_id WHERE p.status = 'failed'"
        " ORDER BY p.updated_at DESC, p.job_id, p.page_no LIMIT $1",
        limit,
    )
    return FailureList(failures=[FailedPage(**{**dict(r), "failed_at": float(r["failed_at"])}) for r in rows])


ROUTES = [list_failures]
