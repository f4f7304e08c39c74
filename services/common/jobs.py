"""Queries on the ``jobs`` and ``pages`` tables that more than one service (or the CLI/bench) needs.

The assembler's transactional writes live with the assembler (``services/assembler/ledger.py``); the gateway
only inserts jobs and cancels them. Everyone may read.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import asyncpg
import msgspec

from proto.events import JobOptions


def estimate_completion(started_at: float, finished: int, total: int, now: float) -> float | None:
    """Linear estimate from the pages finished so far (the API and the progress events use the same one);
    ``None`` before the first page and after the last."""
    if not 0 < finished < total:
        return None
    rate = finished / max(1e-3, now - started_at)
    return now + (total - finished) / rate


def _ts(value: dt.datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


class JobRow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    filename: str
    status: str
    size_bytes: int
    options: dict[str, Any]
    total_pages: int | None
    document_pages: int | None
    pages_done: int
    pages_failed: int
    error: str | None
    result_key: str | None
    retry_count: int
    parent_job_id: str | None
    upload_key: str
    created_at: float
    started_at: float | None
    completed_at: float | None
    updated_at: float

    @property
    def pages_finished(self) -> int:
        return self.pages_done + self.pages_failed

    @property
    def percentage(self) -> float:
        if not self.total_pages:
            return 100.0 if self.status == "completed" else 0.0
        return round(100.0 * self.pages_finished / self.total_pages, 1)

    @property
    def estimated_completion(self) -> float | None:
        if self.status != "processing" or not self.total_pages or not self.started_at:
            return None
        return estimate_completion(self.started_at, self.pages_finished, self.total_pages, time.time())


class PageRow(msgspec.Struct, frozen=True, kw_only=True):
    page_no: int
    status: str
    markdown: str | None
    error: str | None
    attempts: int
    duration_ms: float | None
    model: str | None
    updated_at: float


JOB_COLUMNS = (
    "id::text AS id, filename, status, size_bytes, options, total_pages, document_pages, pages_done,"
    " pages_failed, error, result_key, retry_count, parent_job_id::text AS parent_job_id, upload_key,"
    " created_at, started_at, completed_at, updated_at"
)


def _job(record: asyncpg.Record) -> JobRow:
    data = dict(record)
    for key in ("created_at", "started_at", "completed_at", "updated_at"):
        data[key] = _ts(data[key])
    return JobRow(**data)


async def insert_job(
    pool: asyncpg.Pool,
    *,
    job_id: str,
    filename: str,
    upload_key: str,
    size_bytes: int,
    options: JobOptions,
    parent_job_id: str | None = None,
) -> JobRow:
    record = await pool.fetchrow(
        f"INSERT INTO jobs (id, filename, upload_key, size_bytes, options, parent_job_id)"
        f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {JOB_COLUMNS}",
        job_id,
        filename,
        upload_key,
        size_bytes,
        msgspec.to_builtins(options),
        parent_job_id,
    )
    assert record is not None
    return _job(record)


async def get_job(pool: asyncpg.Pool, job_id: str) -> JobRow | None:
    record = await pool.fetchrow(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1", job_id)
    return _job(record) if record else None


async def get_markdown(pool: asyncpg.Pool, job_id: str) -> str | None:
    value = await pool.fetchval("SELECT markdown FROM jobs WHERE id = $1", job_id)
    return str(value) if value is not None else None


async def list_jobs(
    pool: asyncpg.Pool,
    *,
    status: str | None,
    limit: int,
    before: tuple[dt.datetime, str] | None,
) -> list[JobRow]:
    """Newest first; ``before`` is the (created_at, id) of the last row of the previous page (keyset)."""
    clauses: list[str] = []
    args: list[Any] = []
    if status:
        args.append(status)
        clauses.append(f"status = ${len(args)}")
    if before:
        args.extend(before)
        clauses.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)}::uuid)")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    args.append(limit)
    records = await pool.fetch(
        f"SELECT {JOB_COLUMNS} FROM jobs {where} ORDER BY created_at DESC, id DESC LIMIT ${len(args)}", *args
    )
    return [_job(r) for r in records]


async def list_pages(pool: asyncpg.Pool, job_id: str) -> list[PageRow]:
    records = await pool.fetch(
        "SELECT page_no, status, markdown, error, attempts, duration_ms, model, updated_at"
        " FROM pages WHERE job_id = $1 ORDER BY page_no",
        job_id,
    )
    return [PageRow(**{**dict(r), "updated_at": r["updated_at"].timestamp()}) for r in records]


async def cancel_job(pool: asyncpg.Pool, job_id: str) -> JobRow | None:
    """Cancel a job that has not ended; ``None`` when it had already ended (or does not exist).

    Serialised with the assembler's finishing transaction by the row lock the UPDATE takes.
    """
    record = await pool.fetchrow(
        f"UPDATE jobs SET status = 'cancelled', completed_at = now(), updated_at = now()"
        f" WHERE id = $1 AND status IN ('pending', 'processing') RETURNING {JOB_COLUMNS}",
        job_id,
    )
    return _job(record) if record else None
