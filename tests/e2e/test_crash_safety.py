"""Any process can die at any moment (SIGKILL, no goodbye), the bus and the database can restart, and no
page is lost or doubled: every job still completes with every page exactly once, in order."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.fakes.pdfs import make_coded_pdf
from tests.helpers import (
    assert_markdown_has_pages_in_order,
    fetch_rows,
    follow_events,
    stream_messages,
    submit,
    wait_for_status,
    wait_until,
)

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def assert_job_exactly_once(system, job_id: str, doc_id: int, pages: int) -> None:
    job = wait_for_status(system.url, job_id, {"completed", "failed"}, timeout=180)
    assert job["status"] == "completed", job
    assert (job["pages_done"], job["pages_failed"]) == (pages, 0)
    markdown = httpx.get(f"{system.url}/api/jobs/{job_id}/result").text
    assert_markdown_has_pages_in_order(markdown, doc_id, pages)
    events = follow_events(system.url, job_id, timeout=30)
    page_events = [e.data["page_no"] for e in events if e.type == "page"]
    assert sorted(page_events) == list(range(1, pages + 1)), "each page event once"
    assert [e.type for e in events].count("completed") == 1


async def test_ocr_killed_in_the_middle_of_a_model_call(make_stack, fresh_fake_model):
    fake = fresh_fake_model(latency=1.5, jitter=0.1, max_concurrency=3)
    system = make_stack(env={"MODEL_URL": fake.url, "OCR_MAX_IN_FLIGHT": "3", "OCR_ACK_WAIT": "2"})
    job_id = submit(system.url, make_coded_pdf(400, 6))["job_id"]
    wait_until(lambda: fake.stats()["in_flight"] > 0, what="a model call in flight")
    system.stack.processes["ocr"][0].kill()
    killed_while = fake.stats()["completed"]
    assert killed_while < 6
    system.stack.start_service("ocr")
    assert_job_exactly_once(system, job_id, 400, 6)
    assert fake.stats()["completed"] >= 6


async def test_splitter_killed_in_the_middle_of_a_50_page_document(make_stack, fresh_fake_model):
    fake = fresh_fake_model(latency=0.05, max_concurrency=8)
    system = make_stack(env={"MODEL_URL": fake.url, "SPLITTER_ACK_WAIT": "2"})
    job_id = submit(system.url, make_coded_pdf(401, 50))["job_id"]
    wait_until(lambda: stream_messages(system.nats.monitor_url, "PW_PAGES") >= 8, what="some pages rendered")
    system.stack.processes["splitter"][0].kill()
    rendered_before_kill = stream_messages(system.nats.monitor_url, "PW_PAGES")
    assert rendered_before_kill < 50, "the kill came too late to test anything"
    system.stack.start_service("splitter")
    assert_job_exactly_once(system, job_id, 401, 50)
    # the restarted splitter rendered the document again; the stream kept one message per page
    assert stream_messages(system.nats.monitor_url, "PW_PAGES") == 50


async def test_assembler_killed_between_pages(make_stack, fresh_fake_model):
    fake = fresh_fake_model(latency=0.3, max_concurrency=2)
    system = make_stack(env={"MODEL_URL": fake.url, "OCR_MAX_IN_FLIGHT": "2", "ASSEMBLER_ACK_WAIT": "2"})
    job_id = submit(system.url, make_coded_pdf(402, 12))["job_id"]

    async def recorded() -> int:
        rows = await fetch_rows(
            system.database_url, "SELECT count(*) AS n FROM pages WHERE job_id = $1", job_id
        )
        return int(rows[0]["n"])

    deadline = time.monotonic() + 60
    while await recorded() < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    system.stack.processes["assembler"][0].kill()
    assert await recorded() < 12
    time.sleep(2.0)  # results keep arriving while nobody assembles them
    system.stack.start_service("assembler")
    assert_job_exactly_once(system, job_id, 402, 12)


async def test_nats_server_restart_in_the_middle_of_a_job(make_stack, fresh_fake_model):
    fake = fresh_fake_model(latency=0.4, max_concurrency=2)
    system = make_stack(env={"MODEL_URL": fake.url, "OCR_MAX_IN_FLIGHT": "2", "OCR_ACK_WAIT": "3"})
    job_id = submit(system.url, make_coded_pdf(403, 14))["job_id"]
    live: list = []
    watcher = threading.Thread(target=lambda: live.extend(follow_events(system.url, job_id, timeout=120)))
    watcher.start()
    wait_until(lambda: fake.stats()["completed"] >= 3, what="some pages recognized")
    system.nats.restart(down_for=1.0)  # same port, same store directory
    assert fake.stats()["completed"] < 14
    assert_job_exactly_once(system, job_id, 403, 14)
    watcher.join(60)
    # an SSE client connected through the restart saw every event once, in order, up to the end
    assert [e.id for e in live] == [e.id for e in follow_events(system.url, job_id, timeout=30)]


async def test_postgres_restart_in_the_middle_of_a_job(make_stack, fresh_fake_model, postgres):
    if not postgres.embedded:
        pytest.skip("restarting Postgres needs the embedded server (DATABASE_URL points elsewhere)")
    fake = fresh_fake_model(latency=0.3, max_concurrency=2)
    system = make_stack(env={"MODEL_URL": fake.url, "OCR_MAX_IN_FLIGHT": "2"})
    job_id = submit(system.url, make_coded_pdf(404, 12))["job_id"]
    wait_until(lambda: fake.stats()["completed"] >= 3, what="some pages recognized")
    postgres.restart(down_for=1.5)  # pages are recognized meanwhile; their results wait in the stream
    assert_job_exactly_once(system, job_id, 404, 12)


async def test_a_document_the_splitter_dies_on_fails_the_job_instead_of_hanging(make_stack, fresh_fake_model):
    """A splitter that dies on a document on its last delivery (here: its only one) would leave the job
    pending forever. The max-deliveries advisory turns it into a failed job with the reason."""
    fake = fresh_fake_model(latency=0.5, max_concurrency=4)
    system = make_stack(
        env={
            "MODEL_URL": fake.url,
            "OCR_MAX_IN_FLIGHT": "2",
            "SPLITTER_MAX_DELIVER": "1",
            "SPLITTER_ACK_WAIT": "1",
        }
    )
    doomed = submit(system.url, make_coded_pdf(405, 60))["job_id"]
    wait_until(lambda: stream_messages(system.nats.monitor_url, "PW_PAGES") >= 2, what="splitting started")
    system.stack.processes["splitter"][0].kill()
    job = wait_for_status(system.url, doomed, {"failed"}, timeout=60)
    assert "split_crashed" in job["error"] and "crashed on it" in job["error"]
    events = follow_events(system.url, doomed, timeout=30)
    assert events[-1].type == "failed"
    # the failed job's rendered pages are not sent to the model any more
    time.sleep(1.5)
    model_requests = fake.stats()["requests_total"]
    time.sleep(1.5)
    assert fake.stats()["requests_total"] == model_requests


async def test_a_page_no_ocr_worker_finishes_becomes_a_dead_letter(make_stack, fresh_fake_model):
    """The same advisory path turns a page whose every delivery died with its worker into a failed page,
    listed by the dead-letter API, instead of a job that never ends."""
    fake = fresh_fake_model(latency=5.0, max_concurrency=4)
    system = make_stack(
        env={"MODEL_URL": fake.url, "OCR_MAX_IN_FLIGHT": "2", "OCR_MAX_DELIVER": "1", "OCR_ACK_WAIT": "1"}
    )
    job_id = submit(system.url, make_coded_pdf(406, 2))["job_id"]
    wait_until(lambda: fake.stats()["in_flight"] >= 2, what="both pages at the model")
    system.stack.processes["ocr"][0].kill()
    system.stack.start_service("ocr")
    job = wait_for_status(system.url, job_id, {"completed", "failed"}, timeout=60)
    assert job["status"] == "failed" and job["pages_failed"] == 2
    failures = httpx.get(f"{system.url}/api/failures").json()["failures"]
    assert sorted(f["page_no"] for f in failures if f["job_id"] == job_id) == [1, 2]
    assert all("no OCR worker finished this page" in f["error"] for f in failures)
