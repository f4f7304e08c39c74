"""The assembler's writes. Each result is applied in one transaction holding the job's row lock, so pages
of one job are counted one at a time (by any number of assembler tasks or processes) and exactly one of
them sees the job finish. Client events are published *inside* that transaction so their order on the
stream is the order of the job's life; the terminal event goes out after commit, so a client that reacts to
``completed`` always finds the result in Postgres. Every publish carries a content-derived dedupe id: a
redelivered result re-publishes the same ids and the stream drops the copies."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass

import asyncpg
from nats.js import JetStreamContext

from proto import subjects
from proto.events import (
    CompletedEvent,
    FailedEvent,
    JobEvent,
    JobRejected,
    JobSplit,
    PageEvent,
    PageFailed,
    PageFailedEvent,
    PageRecognized,
    ProgressEvent,
    ResultEvent,
    SplitEvent,
    event_type,
)
from services.assembler.assemble import PageResult, assemble
from services.common.bus import publish
from services.common.cancellations import Cancellations
from services.common.jobs import estimate_completion
from services.common.storage import BlobStore, delete_page_images, result_key


@dataclass(frozen=True, slots=True)
class Published:
    event: JobEvent
    msg_id: str
    # page images to remove once the event is out (the job finished)
    finished_pages: tuple[int, ...] = ()


class Ledger:
    def __init__(
        self,
        pool: asyncpg.Pool,
        js: JetStreamContext,
        store: BlobStore,
        policy: str,
        cancellations: Cancellations,
    ) -> None:
        self.pool = pool
        self.cancellations = cancellations
        self.js = js
        self.store = store
        self.policy = policy
        self.jobs_finished = 0
        self.cleanups: set[asyncio.Task[None]] = set()
        self.results_applied = 0

    async def emit(self, item: Published) -> None:
        job_id = item.event.job_id
        await publish(self.js, subjects.job_event(job_id, event_type(item.event)), item.event, item.msg_id)

    async def apply(self, event: ResultEvent) -> None:
        terminal: Published | None = None
        async with self.pool.acquire() as conn, conn.transaction():
            job = await conn.fetchrow(
                "SELECT status, total_pages, started_at, error, pages_done, pages_failed"
                " FROM jobs WHERE id = $1 FOR UPDATE",
                event.job_id,
            )
            if job is None or job["status"] == "cancelled":
                return  # unknown job (deleted) or cancelled: its stragglers change nothing
            if job["status"] in ("completed", "failed"):
                # finished before, perhaps by a run that crashed before publishing: publish again (deduped)
                terminal = self.terminal_event(event.job_id, job["status"], job["error"], job)
            elif isinstance(event, JobSplit):
                terminal = await self.apply_split(conn, event)
            elif isinstance(event, JobRejected):
                await conn.execute(
                    "UPDATE jobs SET status = 'failed', error = $2, completed_at = now(), updated_at = now()"
                    " WHERE id = $1",
                    event.job_id,
                    f"{event.reason} ({event.code})",
                )
                terminal = Published(
                    FailedEvent(job_id=event.job_id, error=f"{event.reason} ({event.code})", at=time.time()),
                    subjects.job_msg_id(event.job_id, "terminal"),
                )
                # pages rendered before the failure must not go on to the model
                await self.cancellations.cancel(event.job_id)
            else:
                terminal = await self.apply_page(conn, event, job["total_pages"])
        self.results_applied += 1
        if terminal is not None:
            await self.emit(terminal)
            if terminal.finished_pages:
                task = asyncio.create_task(
                    delete_page_images(self.store, event.job_id, terminal.finished_pages)
                )
                self.cleanups.add(task)
                task.add_done_callback(self.cleanups.discard)

    def terminal_event(self, job_id: str, status: str, error: str | None, row: asyncpg.Record) -> Published:
        event: JobEvent
        if status == "completed":
            event = CompletedEvent(
                job_id=job_id,
                result_url=f"/api/jobs/{job_id}/result",
                pages_done=row["pages_done"],
                pages_failed=row["pages_failed"],
                at=time.time(),
            )
        else:
            event = FailedEvent(job_id=job_id, error=error or "failed", at=time.time())
        return Published(event, subjects.job_msg_id(job_id, "terminal"))

    async def apply_split(self, conn: asyncpg.Connection, event: JobSplit) -> Published | None:
        await conn.execute(
            "UPDATE jobs SET total_pages = $2, document_pages = $3, status = 'processing',"
            " started_at = coalesce(started_at, now()), updated_at = now() WHERE id = $1",
            event.job_id,
            event.total_pages,
            event.document_pages,
        )
        await self.emit(
            Published(
                SplitEvent(
                    job_id=event.job_id,
                    total_pages=event.total_pages,
                    page_numbers=event.page_numbers,
                    at=time.time(),
                ),
                subjects.job_msg_id(event.job_id, "split"),
            )
        )
        # results can overtake the split notice (they are applied concurrently): finish here if they did
        return await self.finish_if_complete(conn, event.job_id, event.total_pages)

    async def apply_page(
        self, conn: asyncpg.Connection, event: PageRecognized | PageFailed, known_total: int | None
    ) -> Published | None:
        total = known_total or event.total_pages
        if isinstance(event, PageRecognized):
            await conn.execute(
                "INSERT INTO pages (job_id, page_no, status, markdown, error, attempts, duration_ms, model)"
                " VALUES ($1, $2, 'done', $3, NULL, $4, $5, $6)"
                " ON CONFLICT (job_id, page_no) DO UPDATE SET status = 'done', markdown = EXCLUDED.markdown,"
                " error = NULL, attempts = EXCLUDED.attempts, duration_ms = EXCLUDED.duration_ms,"
                " model = EXCLUDED.model, updated_at = now()",
                event.job_id,
                event.page_no,
                event.markdown,
                event.attempts,
                event.duration_ms,
                event.model,
            )
            page_event: JobEvent = PageEvent(
                job_id=event.job_id,
                page_no=event.page_no,
                markdown=event.markdown,
                attempts=event.attempts,
                duration_ms=event.duration_ms,
                at=time.time(),
            )
        else:
            # a page that is already done never goes back to failed (a late duplicate failure)
            await conn.execute(
                "INSERT INTO pages (job_id, page_no, status, error, attempts)"
                " VALUES ($1, $2, 'failed', $3, $4)"
                " ON CONFLICT (job_id, page_no) DO UPDATE SET status = 'failed', error = EXCLUDED.error,"
                " attempts = EXCLUDED.attempts, updated_at = now() WHERE pages.status <> 'done'",
                event.job_id,
                event.page_no,
                event.error,
                event.attempts,
            )
            page_event = PageFailedEvent(
                job_id=event.job_id,
                page_no=event.page_no,
                error=event.error,
                attempts=event.attempts,
                at=time.time(),
            )
        counts = await conn.fetchrow(
            "SELECT count(*) FILTER (WHERE status = 'done') AS done,"
            " count(*) FILTER (WHERE status = 'failed') AS failed,"
            " coalesce(sum(attempts - 1), 0) AS retries FROM pages WHERE job_id = $1",
            event.job_id,
        )
        assert counts is not None
        done, failed = int(counts["done"]), int(counts["failed"])
        row = await conn.fetchrow(
            "UPDATE jobs SET pages_done = $2, pages_failed = $3, total_pages = coalesce(total_pages, $4),"
            " retry_count = $5,"
            " status = 'processing', started_at = coalesce(started_at, now()), updated_at = now()"
            " WHERE id = $1 RETURNING extract(epoch FROM started_at) AS started",
            event.job_id,
            done,
            failed,
            total,
            int(counts["retries"]),
        )
        assert row is not None
        now = time.time()
        finished = done + failed
        eta = estimate_completion(float(row["started"]), finished, total, now)
        kind = "page" if isinstance(event, PageRecognized) else "page_failed"
        # Both publishes go out on one connection in this order; waiting for their acks together saves one
        # fsync round trip per page.
        await asyncio.gather(
            self.emit(Published(page_event, subjects.page_msg_id(event.job_id, event.page_no, kind))),
            self.emit(
                Published(
                    ProgressEvent(
                        job_id=event.job_id,
                        done=done,
                        failed=failed,
                        total=total,
                        percentage=round(100.0 * finished / total, 1) if total else 0.0,
                        estimated_completion=eta,
                        at=now,
                    ),
                    subjects.page_msg_id(event.job_id, event.page_no, "progress"),
                )
            ),
        )
        if finished < total:
            return None  # reading every page row on every page would make a document quadratic
        return await self.finish_if_complete(conn, event.job_id, total)

    async def finish_if_complete(self, conn: asyncpg.Connection, job_id: str, total: int) -> Published | None:
        rows = await conn.fetch(
            "SELECT page_no, status, markdown, error FROM pages WHERE job_id = $1 ORDER BY page_no", job_id
        )
        if len(rows) < total:
            return None
        outcome = assemble([PageResult(**dict(r)) for r in rows], self.policy)
        key = result_key(job_id)
        await self.store.put_bytes(key, outcome.markdown.encode(), "text/markdown; charset=utf-8")
        record = await conn.fetchrow(
            "UPDATE jobs SET status = $2, markdown = $3, result_key = $4, error = $5, pages_done = $6,"
            " pages_failed = $7, completed_at = now(), updated_at = now() WHERE id = $1"
            " RETURNING pages_done, pages_failed",
            job_id,
            outcome.status,
            outcome.markdown,
            key,
            outcome.error,
            outcome.pages_done,
            outcome.pages_failed,
        )
        assert record is not None
        self.jobs_finished += 1
        terminal = self.terminal_event(job_id, outcome.status, outcome.error, record)
        return dataclasses.replace(terminal, finished_pages=tuple(r["page_no"] for r in rows))
