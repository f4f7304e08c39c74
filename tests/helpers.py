"""Client-side helpers shared by the integration and end-to-end tests."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
from httpx_sse import connect_sse

from tests.fakes.pdfs import expected_page_text


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    data: dict[str, Any]


def submit(base_url: str, pdf: bytes, filename: str = "doc.pdf", **fields: str) -> dict[str, Any]:
    response = httpx.post(
        f"{base_url}/api/jobs", files={"file": (filename, pdf, "application/pdf")}, data=fields, timeout=60
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


def follow_events(
    base_url: str,
    job_id: str,
    *,
    last_event_id: int | None = None,
    timeout: float = 120.0,
    stop_after: int | None = None,
) -> list[Event]:
    """Read the job's SSE stream until it closes (after the terminal event) or ``stop_after`` events."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    received: list[Event] = []
    with (
        httpx.Client(timeout=httpx.Timeout(timeout, connect=10)) as client,
        connect_sse(client, "GET", f"{base_url}/api/jobs/{job_id}/events", headers=headers) as source,
    ):
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        for sse in source.iter_sse():
            if not sse.data:
                continue
            received.append(Event(int(sse.id), sse.event, json.loads(sse.data)))
            if stop_after is not None and len(received) >= stop_after:
                break
    return received


def wait_for_status(base_url: str, job_id: str, statuses: set[str], timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{base_url}/api/jobs/{job_id}", timeout=10)
        except httpx.HTTPError:  # a restarting gateway or database is part of some tests
            time.sleep(0.2)
            continue
        if response.status_code == 200:
            job = response.json()
            if job["status"] in statuses:
                return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job.get('status')} after {timeout}s: {job}")


def assert_markdown_has_pages_in_order(markdown: str, doc_id: int, pages: int) -> None:
    """Every page's own text appears exactly once, under its own page marker, in page order."""
    positions = []
    for page_no in range(1, pages + 1):
        text = expected_page_text(doc_id, page_no)
        assert markdown.count(text) == 1, f"page {page_no} text appears {markdown.count(text)} times"
        marker = f"<!-- page {page_no} -->"
        assert markdown.count(marker) == 1, f"marker of page {page_no} appears {markdown.count(marker)} times"
        marker_at = markdown.index(marker)
        text_at = markdown.index(text)
        next_marker = markdown.find(f"<!-- page {page_no + 1} -->")
        assert marker_at < text_at and (next_marker == -1 or text_at < next_marker), (
            f"page {page_no} misplaced"
        )
        positions.append(text_at)
    assert positions == sorted(positions)


async def fetch_rows(database_url: str, query: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url)
    try:
        return [dict(r) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()


def wait_until(
    condition: Any, timeout: float = 60.0, interval: float = 0.05, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"{what} not reached after {timeout}s")


def stream_messages(nats_monitor_url: str, stream: str) -> int:
    """Messages in a stream, from the server's monitoring endpoint (no client connection needed)."""
    data = httpx.get(f"{nats_monitor_url}/jsz", params={"streams": "true"}, timeout=5).json()
    for account in data.get("account_details", []):
        for detail in account.get("stream_detail", []):
            if detail["name"] == stream:
                return int(detail["state"]["messages"])
    return 0


async def stored_objects(nats_url: str, bucket: str = "pagewise") -> list[str]:
    """Names in the JetStream object store (the default storage backend)."""
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(nats_url)
    try:
        store = await nc.jetstream().object_store(bucket)
        try:
            return sorted(info.name for info in await store.list(ignore_deletes=True))
        except NotFoundError:
            return []
    finally:
        await nc.close()
