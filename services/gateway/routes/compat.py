"""The seed project's API, served unchanged so its frontend keeps working.

The seed frontend uploads to ``POST /api/documents/convert`` and polls ``GET /api/documents/status/{id}``
every 2 s. Shapes and status names are exactly the seed's; a cancelled job reads as ``failed`` there
because the seed had no such status.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Request, get, post

from services.common.jobs import JobRow
from services.gateway.routes.jobs import accept_upload, load_job
from services.gateway.state import Gateway

SEED_STRATEGIES = frozenset({"qwen3-vl"})


class ConvertAccepted(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    status: str
    message: str


class SeedProgress(msgspec.Struct, frozen=True, kw_only=True):
    current_page: int
    total_pages: int
    percentage: float


class SeedStatus(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    status: str
    task_type: str
    filename: str
    progress: SeedProgress
    created_at: str | None
    started_at: str | None
    estimated_completion: str | None
    result_document_id: str | None
    error_message: str | None


def _iso(ts: float | None) -> str | None:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat() if ts is not None else None


def seed_status(job: JobRow) -> SeedStatus:
    status = {"cancelled": "failed"}.get(job.status, job.status)
    error = job.error or ("cancelled by the user" if job.status == "cancelled" else None)
    return SeedStatus(
        task_id=job.id,
        status=status,
        task_type="document_conversion",
        filename=job.filename,
        progress=SeedProgress(
            current_page=job.pages_finished, total_pages=job.total_pages or 0, percentage=job.percentage
        ),
        created_at=_iso(job.created_at),
        started_at=_iso(job.started_at),
        estimated_completion=_iso(job.estimated_completion),
        result_document_id=job.id if job.status == "completed" else None,
        error_message=error,
    )


@post(
    "/api/documents/convert",
    status_code=200,
    summary="Seed-compatible upload",
    description="Multipart `file` and `strategy` (only `qwen3-vl`). Errors as in POST /api/jobs.",
    request_max_body_size=None,
    tags=["seed compatibility"],
)
async def convert(gw: Gateway, request: Request[Any, Any, Any]) -> ConvertAccepted:
    accepted = await accept_upload(
        gw, request, dict(request.query_params), allowed_strategies=SEED_STRATEGIES
    )
    return ConvertAccepted(
        task_id=accepted.job_id,
        status="pending",
        message=f"{accepted.filename}: {accepted.total_pages} pages queued for conversion",
    )


@get("/api/documents/status/{task_id:str}", summary="Seed-compatible status", tags=["seed compatibility"])
async def status(gw: Gateway, task_id: str) -> SeedStatus:
    return seed_status(await load_job(gw, task_id))


ROUTES = [convert, status]
