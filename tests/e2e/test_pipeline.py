"""Upload → split → OCR → assemble, every service its own process, on real NATS, Postgres and storage."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.fakes.pdfs import expected_page_text, make_coded_pdf, make_text_pdf
from tests.helpers import (
    assert_markdown_has_pages_in_order,
    fetch_rows,
    follow_events,
    stored_objects,
    submit,
    wait_for_status,
)

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize("backend", ["nats-objects", "s3"])
async def test_multi_page_pdf_becomes_markdown_with_every_page_in_order(
    backend, make_stack, fake_model, s3_url
):
    storage_url = s3_url if backend == "s3" else "nats-objects://pagewise"
    system = make_stack(env={"MODEL_URL": fake_model.url, "OCR_MAX_IN_FLIGHT": "4"}, storage_url=storage_url)
    doc_id, pages = (101 if backend == "s3" else 100), 7
    accepted = submit(system.url, make_coded_pdf(doc_id, pages), filename="report.pdf")
    assert accepted["status"] == "pending" and accepted["total_pages"] == pages
    job_id = accepted["job_id"]

    events = follow_events(system.url, job_id)

    kinds = [e.type for e in events]
    assert kinds[0] == "accepted" and kinds[1] == "split" and kinds[-1] == "completed"
    assert [e.id for e in events] == sorted({e.id for e in events}), "ids strictly increase, none repeated"
    page_events = [e for e in events if e.type == "page"]
    assert sorted(e.data["page_no"] for e in page_events) == list(range(1, pages + 1))
    for event in page_events:
        assert expected_page_text(doc_id, event.data["page_no"]) in event.data["markdown"]
    progress = [e.data for e in events if e.type == "progress"]
    assert [p["done"] for p in progress] == list(range(1, pages + 1))
    assert progress[-1]["percentage"] == 100.0 and progress[-1]["total"] == pages

    result = httpx.get(f"{system.url}/api/jobs/{job_id}/result")
    assert result.status_code == 200 and result.headers["content-type"].startswith("text/markdown")
    assert_markdown_has_pages_in_order(result.text, doc_id, pages)

    job = httpx.get(f"{system.url}/api/jobs/{job_id}").json()
    assert (job["status"], job["pages_done"], job["pages_failed"], job["percentage"]) == (
        "completed",
        pages,
        0,
        100.0,
    )
    rows = await fetch_rows(
        system.database_url,
        "SELECT page_no, status, markdown, attempts FROM pages WHERE job_id = $1 ORDER BY page_no",
        job_id,
    )
    assert [r["page_no"] for r in rows] == list(range(1, pages + 1))
    for row in rows:
        assert row["status"] == "done" and expected_page_text(doc_id, row["page_no"]) in row["markdown"]
    jobs = await fetch_rows(
        system.database_url, "SELECT status, markdown, result_key, started_at, completed_at FROM jobs"
    )
    assert len(jobs) == 1 and jobs[0]["status"] == "completed" and jobs[0]["markdown"] == result.text
    assert (
        jobs[0]["result_key"] == f"results/{job_id}.md" and jobs[0]["completed_at"] >= jobs[0]["started_at"]
    )
    if backend == "nats-objects":
        # page images are temporary: once the job is done only the upload and the result remain
        expected = [f"results/{job_id}.md", f"uploads/{job_id}.pdf"]
        deadline = time.monotonic() + 15
        while await stored_objects(system.nats.url) != expected and time.monotonic() < deadline:
            time.sleep(0.1)
        assert await stored_objects(system.nats.url) == expected


async def test_page_range_processes_only_the_selected_pages(make_stack, fake_model):
    system = make_stack(env={"MODEL_URL": fake_model.url})
    accepted = submit(system.url, make_coded_pdf(102, 6), pages="2-4")
    assert accepted["total_pages"] == 3
    wait_for_status(system.url, accepted["job_id"], {"completed"}, timeout=60)
    markdown = httpx.get(f"{system.url}/api/jobs/{accepted['job_id']}/result").text
    for page_no in range(1, 7):
        assert (expected_page_text(102, page_no) in markdown) == (2 <= page_no <= 4)


async def test_embedded_local_engine_reads_a_real_rendered_page(make_stack):
    """No MODEL_URL: the OCR service uses rapidocr, whose models ship inside its wheel."""
    system = make_stack(env={"MODEL_URL": ""})
    pdf = make_text_pdf(["Hello pagewise", "Markdown from pixels"])
    job_id = submit(system.url, pdf)["job_id"]
    wait_for_status(system.url, job_id, {"completed", "failed"}, timeout=150)
    markdown = httpx.get(f"{system.url}/api/jobs/{job_id}/result").text.lower()
    assert "hello pagewise" in markdown
    assert "markdown from pixels" in markdown


async def test_result_is_409_until_the_job_completes(make_stack, fresh_fake_model):
    slow = fresh_fake_model(latency=2.0, max_concurrency=4)
    system = make_stack(env={"MODEL_URL": slow.url})
    job_id = submit(system.url, make_coded_pdf(103, 1))["job_id"]
    early = httpx.get(f"{system.url}/api/jobs/{job_id}/result")
    assert early.status_code == 409
    assert early.json()["error"] == "not_finished" and early.json()["job_status"] in ("pending", "processing")
    wait_for_status(system.url, job_id, {"completed"}, timeout=60)
    assert httpx.get(f"{system.url}/api/jobs/{job_id}/result").status_code == 200


async def test_sse_resumes_after_any_event_id_with_nothing_lost_or_repeated(make_stack, fresh_fake_model):
    """Reconnecting with Last-Event-ID (header, or query for clients that cannot set headers) gives exactly
    the events after it, including across a restart of the gateway process."""
    fake = fresh_fake_model(latency=0.3, max_concurrency=2)
    system = make_stack(env={"MODEL_URL": fake.url, "OCR_MAX_IN_FLIGHT": "2"})
    job_id = submit(system.url, make_coded_pdf(104, 8))["job_id"]
    first = follow_events(system.url, job_id, stop_after=4)
    gateway = system.stack.processes["gateway"][0]
    gateway.kill()
    system.stack.start_service("gateway")
    system.stack.wait_healthy()
    rest = follow_events(system.url, job_id, last_event_id=first[-1].id)
    full = follow_events(system.url, job_id)
    assert [e.id for e in first + rest] == [e.id for e in full]
    assert full[-1].type == "completed"
    middle = full[len(full) // 2]
    by_query = httpx.get(
        f"{system.url}/api/jobs/{job_id}/events", params={"last_event_id": middle.id}, timeout=30
    ).text
    ids = [int(line[4:]) for line in by_query.splitlines() if line.startswith("id: ")]
    assert ids == [e.id for e in full if e.id > middle.id]
    # a client that already saw the terminal event gets a stream that simply ends
    assert follow_events(system.url, job_id, last_event_id=full[-1].id, timeout=30) == []
