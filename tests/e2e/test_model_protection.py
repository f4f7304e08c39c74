"""The model server is protected: a global cap on concurrent calls whatever the number of OCR processes,
and retries that help rather than hurt."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.fakes.pdfs import make_coded_pdf
from tests.helpers import (
    assert_markdown_has_pages_in_order,
    fetch_rows,
    follow_events,
    submit,
    wait_for_status,
    wait_until,
)

pytestmark = pytest.mark.timeout(240)


async def test_peak_model_concurrency_equals_the_cap_across_three_ocr_processes(make_stack, fresh_fake_model):
    cap = 4
    fake = fresh_fake_model(latency=0.4, jitter=0.05, max_concurrency=cap)  # 429 above the cap
    system = make_stack(
        env={"MODEL_URL": fake.url, "OCR_MAX_IN_FLIGHT": str(cap), "OCR_CONCURRENCY": "6"},
        scale={"ocr": 3},
    )
    jobs = [(300 + i, submit(system.url, make_coded_pdf(300 + i, 12))["job_id"]) for i in range(3)]
    for doc_id, job_id in jobs:
        wait_for_status(system.url, job_id, {"completed"}, timeout=120)
        markdown = httpx.get(f"{system.url}/api/jobs/{job_id}/result").text
        assert_markdown_has_pages_in_order(markdown, doc_id, 12)
    stats = fake.stats()
    assert stats["peak_in_flight"] == cap, stats
    assert stats["rejected_429"] == 0, stats
    assert stats["completed"] == 36, "every page went to the model exactly once"
    ocr_logs = [p.log_text() for p in system.stack.processes["ocr"]]
    assert sum("global cap 4, local concurrency 6" in log for log in ocr_logs) == 3


async def test_errors_and_timeouts_are_retried_with_bounded_requests(make_stack, fresh_fake_model):
    cap = 3
    fake = fresh_fake_model(
        latency=0.1,
        jitter=0.02,
        max_concurrency=cap,
        error_rate=0.3,
        timeout_rate=0.1,
        timeout_seconds=30,
        seed=7,
    )
    pages = 20
    system = make_stack(
        env={
            "MODEL_URL": fake.url,
            "OCR_MAX_IN_FLIGHT": str(cap),
            "OCR_TIMEOUT": "1.5",
            "OCR_MAX_DELIVER": "12",
            "OCR_RETRY_BASE": "0.2",
            "OCR_RETRY_CAP": "1.0",
            "OCR_BREAKER_THRESHOLD": "1000",
        }
    )
    job_id = submit(system.url, make_coded_pdf(320, pages))["job_id"]
    job = wait_for_status(system.url, job_id, {"completed", "failed"}, timeout=180)
    assert job["status"] == "completed" and job["pages_done"] == pages and job["pages_failed"] == 0
    assert_markdown_has_pages_in_order(httpx.get(f"{system.url}/api/jobs/{job_id}/result").text, 320, pages)
    stats = fake.stats()
    # each attempt fails with p = 0.4: the expected number of requests is pages / 0.6 ≈ 33; a hot loop
    # (retrying without backoff or re-sending answered pages) would be far above 3 × pages
    assert stats["requests_total"] <= 3 * pages, stats
    assert stats["peak_in_flight"] <= cap and stats["rejected_429"] == 0, stats
    rows = await fetch_rows(
        system.database_url, "SELECT max(attempts) AS most FROM pages WHERE job_id = $1", job_id
    )
    assert rows[0]["most"] > 1, "some page needed more than one attempt"
    assert job["retries"] > 0, "the job's retry count adds up the pages' extra attempts"


async def test_permanent_errors_fail_the_page_at_once_and_the_job_keeps_the_rest(
    make_stack, fresh_fake_model
):
    """A 4xx that will never succeed (vLLM's 404 for an unknown model) fails its page on the first attempt.
    A job whose pages all failed is failed, with the cause on the API and the SSE stream."""
    fake = fresh_fake_model(latency=0.05, max_concurrency=8)
    fake.configure(strict_model=True)
    system = make_stack(env={"MODEL_URL": fake.url, "MODEL_NAME": fake.model, "OCR_MAX_DELIVER": "5"})
    job_id = submit(system.url, make_coded_pdf(330, 2), model="no-such-model")["job_id"]
    events = follow_events(system.url, job_id, timeout=60)
    failures = [e.data for e in events if e.type == "page_failed"]
    assert sorted(f["page_no"] for f in failures) == [1, 2]
    assert all(f["attempts"] == 1 and "404" in f["error"] for f in failures)
    assert events[-1].type == "failed" and "all pages failed" in events[-1].data["error"]
    job = httpx.get(f"{system.url}/api/jobs/{job_id}").json()
    assert job["status"] == "failed" and "does not exist" in job["error"]
    assert fake.stats()["requests_total"] == 2, "no retries of a request that cannot succeed"

    # with the same model the job would have worked: some pages ok, some failed → placeholder policy
    ok_id = submit(system.url, make_coded_pdf(331, 2))["job_id"]
    assert wait_for_status(system.url, ok_id, {"completed"}, timeout=60)["pages_done"] == 2


async def test_cut_off_and_looping_answers_are_failed_attempts_that_get_retried(make_stack, fresh_fake_model):
    fake = fresh_fake_model(latency=0.05, max_concurrency=8, length_rate=0.3, repeat_rate=0.3, seed=3)
    system = make_stack(
        env={"MODEL_URL": fake.url, "OCR_MAX_DELIVER": "15", "OCR_RETRY_BASE": "0.1", "OCR_RETRY_CAP": "0.3"}
    )
    job_id = submit(system.url, make_coded_pdf(332, 8))["job_id"]
    wait_for_status(system.url, job_id, {"completed"}, timeout=120)
    markdown = httpx.get(f"{system.url}/api/jobs/{job_id}/result").text
    assert_markdown_has_pages_in_order(markdown, 332, 8)
    assert "repeat" not in markdown.lower() or markdown.count("\n") < 100
    stats = fake.stats()
    assert stats["truncated_length"] + stats["repeated"] > 0, "the fake did inject bad answers"


async def test_failed_page_policy_fail_fails_the_job(make_stack, fresh_fake_model):
    fake = fresh_fake_model(latency=0.05, max_concurrency=8, error_rate=1.0)
    system = make_stack(
        env={
            "MODEL_URL": fake.url,
            "OCR_MAX_DELIVER": "2",
            "OCR_RETRY_BASE": "0.1",
            "FAILED_PAGE_POLICY": "fail",
        }
    )
    job_id = submit(system.url, make_coded_pdf(333, 1))["job_id"]
    job = wait_for_status(system.url, job_id, {"failed", "completed"}, timeout=60)
    assert job["status"] == "failed" and "HTTP 500" in job["error"] and "after 2 attempts" in job["error"]


async def test_circuit_breaker_stops_pulling_while_the_model_is_down_and_resumes(
    make_stack, fresh_fake_model
):
    """With the model server gone, workers would burn every page's delivery attempts in seconds. The breaker
    stops pulling after a few 'unreachable' errors, probes the server, and resumes when it is back: the job
    completes although the outage lasted longer than all attempts' backoff together."""
    fake = fresh_fake_model(latency=0.2, max_concurrency=4)
    port = fake.port
    system = make_stack(
        env={
            "MODEL_URL": fake.url,
            "OCR_MAX_IN_FLIGHT": "2",
            "OCR_MAX_DELIVER": "4",
            "OCR_RETRY_BASE": "0.1",
            "OCR_RETRY_CAP": "0.3",
            "OCR_BREAKER_THRESHOLD": "2",
            "OCR_BREAKER_PROBE_INTERVAL": "0.3",
        }
    )
    job_id = submit(system.url, make_coded_pdf(334, 16))["job_id"]
    wait_until(lambda: fake.stats()["completed"] >= 2, what="first pages recognized")
    fake.stop()
    time.sleep(6.0)  # down far longer than 4 attempts × 0.3 s backoff
    fresh_fake_model(port=port, latency=0.2, max_concurrency=4)
    job = wait_for_status(system.url, job_id, {"completed", "failed"}, timeout=120)
    assert job["status"] == "completed" and job["pages_failed"] == 0, job
    assert_markdown_has_pages_in_order(httpx.get(f"{system.url}/api/jobs/{job_id}/result").text, 334, 16)
    log = system.stack.processes["ocr"][0].log_text()
    assert "pausing pulls" in log and "resuming pulls" in log
