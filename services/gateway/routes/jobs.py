"""``/api/jobs``: submit, inspect, fetch results, cancel."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import time
import uuid
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.params import Parameter

from proto import subjects
from proto.events import AcceptedEvent, CancelledEvent, JobOptions, JobSubmitted
from services.common import jobs as jobs_db
from services.common.bus import publish
from services.common.pdf import DocumentError
from services.common.storage import delete_page_images, upload_key
from services.gateway.errors import ApiError
from services.gateway.options import check_page_range, parse_options
from services.gateway.schemas import JobAccepted, JobList, JobView, PageList, PageView
from services.gateway.state import Gateway
from services.gateway.upload import ReceivedUpload, receive_upload

DOCUMENT_ERROR_STATUS = {"not_pdf": 415}


def _parse_uuid(job_id: str) -> str:
    try:
        return str(uuid.UUID(job_id))
    except ValueError:
        raise ApiError(404, "not_found", f"no job {job_id!r}") from None


async def load_job(gw: Gateway, job_id: str) -> jobs_db.JobRow:
    job = await jobs_db.get_job(gw.pool, _parse_uuid(job_id))
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id!r}")
    return job


async def accept_upload(
    gw: Gateway,
    request: Request[Any, Any, Any],
    query_fields: dict[str, str],
    allowed_strategies: frozenset[str] | None = None,
) -> JobAccepted:
    """Receive → validate → store → record → publish. Nothing is written before the file is known to be a
    readable PDF, and whatever was written is removed again if a later step fails."""
    upload: ReceivedUpload | None = None
    try:
        upload = await receive_upload(
            request.stream(),
            request.headers.get("content-type", ""),
            directory=gw.settings.upload_tmp_dir or None,
            max_bytes=gw.settings.max_upload_bytes,
        )
        fields = {**query_fields, **upload.fields}
        if allowed_strategies is not None:
            strategy = fields.pop("strategy", None)
            if strategy and strategy not in allowed_strategies:
                raise ApiError(
                    422, "invalid_options", f"strategy {strategy!r} is not supported (use 'qwen3-vl')"
                )
        options = parse_options(fields)
        try:
            page_count = await gw.count_pages(upload.path)
        except DocumentError as exc:
            raise ApiError(DOCUMENT_ERROR_STATUS.get(exc.code, 422), exc.code, exc.message) from exc
        total = check_page_range(options, page_count, gw.settings.max_pages)
        accepted = await submit(gw, upload, options, total)
        gw.counters.uploads_accepted += 1
        gw.counters.upload_bytes += upload.size
        return accepted
    except ApiError:
        gw.counters.uploads_rejected += 1
        raise
    finally:
        if upload is not None:
            upload.discard()


async def submit(gw: Gateway, upload: ReceivedUpload, options: JobOptions, total_pages: int) -> JobAccepted:
    job_id = str(uuid.uuid4())
    key = upload_key(job_id)
    try:
        await gw.store.put_file(key, upload.path, "application/pdf")
    except Exception as exc:
        raise ApiError(
            503, "unavailable", f"the upload could not be stored, nothing was kept: {exc!r}"
        ) from exc
    try:
        await record_job(gw, job_id, key, upload.filename, upload.size, options)
    except ApiError:
        with contextlib.suppress(Exception):
            await gw.store.delete(key)
        raise
    return JobAccepted.pending(job_id, upload.filename, upload.size, total_pages)


async def record_job(
    gw: Gateway,
    job_id: str,
    key: str,
    filename: str,
    size: int,
    options: JobOptions,
    parent_job_id: str | None = None,
) -> None:
    """Insert the job row, then publish it; a job that cannot be published leaves no row behind."""
    recorded = False
    try:
        await jobs_db.insert_job(
            gw.pool,
            job_id=job_id,
            filename=filename,
            upload_key=key,
            size_bytes=size,
            options=options,
            parent_job_id=parent_job_id,
        )
        recorded = True
        await publish_job(gw, job_id, key, filename, size, options)
    except Exception as exc:
        if recorded:
            with contextlib.suppress(Exception):
                await gw.pool.execute("DELETE FROM jobs WHERE id = $1", job_id)
        raise ApiError(
            503, "unavailable", f"the job could not be recorded, nothing was kept: {exc!r}"
        ) from exc


async def publish_job(
    gw: Gateway, job_id: str, key: str, filename: str, size: int, options: JobOptions
) -> None:
    now = time.time()
    await publish(
        gw.js,
        subjects.job_event(job_id, "accepted"),
        AcceptedEvent(job_id=job_id, filename=filename, size_bytes=size, at=now),
        subjects.job_msg_id(job_id, "accepted"),
    )
    await publish(
        gw.js,
        subjects.job_submitted(job_id),
        JobSubmitted(
            job_id=job_id,
            upload_key=key,
            filename=filename,
            size_bytes=size,
            options=options,
            submitted_at=now,
        ),
        subjects.job_msg_id(job_id, "submitted"),
    )


@post(
    "/api/jobs",
    status_code=202,
    summary="Submit a PDF",
    description=(
        "Multipart form with the PDF in field `file` (or a raw `application/pdf` body). Optional fields "
        "(or query parameters): `model`, `prompt`, `longest_side` (256-4096 px), `dpi` (36-600), "
        "`pages` ('5', '3-10', '4-'). Answers at once with the job's URLs; follow "
        "`events_url` (SSE) for progress. Errors: 400 no/empty file, 413 too large, 415 not a PDF, "
        "422 unreadable/encrypted/empty PDF or bad options, 503 storage or bus unavailable."
    ),
    request_max_body_size=None,
    tags=["jobs"],
)
async def create_job(gw: Gateway, request: Request[Any, Any, Any]) -> JobAccepted:
    return await accept_upload(gw, request, dict(request.query_params))


def _encode_cursor(job: jobs_db.JobRow) -> str:
    return base64.urlsafe_b64encode(f"{job.created_at!r}|{job.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        ts, job_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return dt.datetime.fromtimestamp(float(ts), dt.UTC), str(uuid.UUID(job_id))
    except Exception:
        raise ApiError(400, "bad_cursor", "the cursor is not one this API gave out") from None


class RerunRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Options for the new run; each one left out is taken from the job being rerun."""

    model: str | None = None
    prompt: str | None = None
    longest_side: int | None = None
    dpi: float | None = None
    pages: str | None = None


def _inherited_fields(options: dict[str, Any]) -> dict[str, str]:
    fields = {
        k: str(options[k]) for k in ("model", "prompt", "longest_side", "dpi") if options.get(k) is not None
    }
    if options.get("first_page"):
        fields["pages"] = f"{options['first_page']}-{options.get('last_page') or ''}"
    return fields


@post(
    "/api/jobs/{job_id:str}/rerun",
    status_code=202,
    summary="Process an uploaded document again (new model, prompt or options), without re-uploading",
    description=(
        "JSON body with any of `model`, `prompt`, `longest_side`, `dpi`, `pages`; the rest is taken from the "
        "original job. The new job records `parent_job_id`. 410 when the upload is no longer stored."
    ),
    tags=["jobs"],
)
async def rerun_job(gw: Gateway, job_id: str, data: RerunRequest | None = None) -> JobAccepted:
    parent = await load_job(gw, job_id)
    given = {k: str(v) for k, v in msgspec.structs.asdict(data).items() if v is not None} if data else {}
    options = parse_options({**_inherited_fields(parent.options), **given})
    if not await gw.store.exists(parent.upload_key):
        raise ApiError(410, "upload_gone", "the original upload is no longer stored; upload the file again")
    total = parent.total_pages or 0
    if parent.document_pages:
        total = check_page_range(options, parent.document_pages, gw.settings.max_pages)
    new_id = str(uuid.uuid4())
    await record_job(gw, new_id, parent.upload_key, parent.filename, parent.size_bytes, options, parent.id)
    return JobAccepted.pending(new_id, parent.filename, parent.size_bytes, total)


@get("/api/jobs", summary="List jobs, newest first", tags=["jobs"])
async def list_jobs(
    gw: Gateway,
    status: str | None = Parameter(
        default=None, description="pending, processing, completed, failed, cancelled"
    ),
    limit: int = Parameter(default=50, ge=1, le=500),
    cursor: str | None = Parameter(default=None, description="next_cursor of the previous page"),
) -> JobList:
    if status and status not in ("pending", "processing", "completed", "failed", "cancelled"):
        raise ApiError(422, "invalid_request", f"unknown status {status!r}")
    before = _decode_cursor(cursor) if cursor else None
    rows = await jobs_db.list_jobs(gw.pool, status=status, limit=limit + 1, before=before)
    page, more = rows[:limit], len(rows) > limit
    return JobList(jobs=[JobView.of(r) for r in page], next_cursor=_encode_cursor(page[-1]) if more else None)


@get("/api/jobs/{job_id:str}", summary="A job's status and page counts", tags=["jobs"])
async def get_job(gw: Gateway, job_id: str) -> JobView:
    return JobView.of(await load_job(gw, job_id))


@get(
    "/api/jobs/{job_id:str}/pages", summary="Per-page status, attempts, duration and Markdown", tags=["jobs"]
)
async def get_pages(gw: Gateway, job_id: str) -> PageList:
    job = await load_job(gw, job_id)
    pages = await jobs_db.list_pages(gw.pool, job.id)
    return PageList(
        job_id=job.id, status=job.status, total_pages=job.total_pages, pages=[PageView.of(p) for p in pages]
    )


@get(
    "/api/jobs/{job_id:str}/result",
    summary="The document's Markdown (409 until the job completed)",
    description="`?format=json` returns the pages as JSON instead.",
    tags=["jobs"],
)
async def get_result(gw: Gateway, job_id: str, format: str = "markdown") -> Response[Any]:
    job = await load_job(gw, job_id)
    if job.status != "completed":
        raise ApiError(
            409,
            "not_finished" if job.status in ("pending", "processing") else f"job_{job.status}",
            f"the job is {job.status}" + (f": {job.error}" if job.error else ""),
            job_status=job.status,
        )
    if format == "json":
        pages = await jobs_db.list_pages(gw.pool, job.id)
        return Response(
            PageList(
                job_id=job.id,
                status=job.status,
                total_pages=job.total_pages,
                pages=[PageView.of(p) for p in pages],
            )
        )
    markdown = await jobs_db.get_markdown(gw.pool, job.id) or ""
    stem = job.filename.rsplit(".", 1)[0] or "document"
    return Response(
        markdown,
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f"inline; filename*=UTF-8''{_quote(stem)}.md"},
    )


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


@delete(
    "/api/jobs/{job_id:str}",
    status_code=200,
    summary="Cancel a job",
    description="Pages not yet sent to the model are skipped; the job ends `cancelled`. 409 if it had ended.",
    tags=["jobs"],
)
async def cancel_job(gw: Gateway, job_id: str) -> JobView:
    job = await load_job(gw, job_id)
    cancelled = await jobs_db.cancel_job(gw.pool, job.id)
    if cancelled is None:
        raise ApiError(409, "already_finished", f"the job already ended {job.status}", job_status=job.status)
    await gw.cancellations.cancel(job.id)
    await publish(
        gw.js,
        subjects.job_event(job.id, "cancelled"),
        CancelledEvent(job_id=job.id, at=time.time()),
        subjects.job_msg_id(job.id, "terminal"),
    )
    first_page = int(cancelled.options.get("first_page") or 1)
    pages = range(first_page, first_page + (cancelled.total_pages or 0))
    # the selected pages are contiguous; the upload stays, so the job can be rerun
    gw.spawn(delete_page_images(gw.store, job.id, pages))
    return JobView.of(cancelled)


ROUTES = [create_job, rerun_job, list_jobs, get_job, get_pages, get_result, cancel_job]
