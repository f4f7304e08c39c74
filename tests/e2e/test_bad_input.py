"""Bad uploads get a clear 4xx JSON error, and nothing of theirs is left behind in storage or Postgres."""

from __future__ import annotations

import time

import httpx
import nats
import pytest

from proto import subjects
from proto.events import JobOptions, JobSubmitted
from services.common.bus import publish
from tests.helpers import fetch_rows, follow_events, stored_objects
from tests.pdf_samples import encrypted_pdf, garbage_pdf, text_pdf, truncated_pdf, zero_page_pdf

pytestmark = pytest.mark.timeout(180)


def post_file(url: str, data: bytes, filename: str = "x.pdf", **fields: str) -> httpx.Response:
    return httpx.post(
        f"{url}/api/jobs", files={"file": (filename, data, "application/pdf")}, data=fields, timeout=30
    )


CASES = [
    ("not a pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 3000, "photo.pdf", 415, "not_pdf"),
    ("text file", b"hello, I am plain text\n" * 10, "notes.pdf", 415, "not_pdf"),
    ("truncated", truncated_pdf(), "cut.pdf", 422, "truncated"),
    ("encrypted", encrypted_pdf(), "secret.pdf", 422, "encrypted"),
    ("zero pages", zero_page_pdf(), "empty.pdf", 422, "no_pages"),
    ("garbage body", garbage_pdf(), "garbage.pdf", 422, "corrupt"),
    ("empty file", b"", "nothing.pdf", 400, "empty_file"),
]


async def test_bad_uploads_get_clear_errors_and_leave_nothing_behind(make_stack, fake_model):
    system = make_stack(env={"MODEL_URL": fake_model.url, "MAX_UPLOAD_MB": "1", "MAX_PAGES": "5"})
    for label, data, filename, status, code in CASES:
        response = post_file(system.url, data, filename)
        assert response.status_code == status, (label, response.text)
        body = response.json()
        assert body["error"] == code and body["status"] == status and body["message"], (label, body)

    too_big = b"%PDF-1.7\n" + b"0" * (2 * 1024 * 1024)
    response = post_file(system.url, too_big)
    assert response.status_code == 413 and response.json()["error"] == "too_large"

    response = post_file(system.url, text_pdf(6))
    assert response.status_code == 422 and response.json()["error"] == "too_many_pages"
    assert "limit is 5" in response.json()["message"]

    response = httpx.post(f"{system.url}/api/jobs", data={"model": "x"}, files={"other": ("a.txt", b"x")})
    assert response.status_code == 400 and response.json()["error"] == "missing_file"

    response = httpx.post(
        f"{system.url}/api/jobs", content=b"{}", headers={"content-type": "application/json"}
    )
    assert response.status_code == 415 and response.json()["error"] == "unsupported_media_type"

    response = post_file(system.url, text_pdf(2), longest_side="huge", dpi="5000", pages="9-3")
    assert response.status_code == 422
    fields = {d["field"] for d in response.json()["details"]}
    assert fields == {"longest_side", "dpi", "pages"}

    response = post_file(system.url, text_pdf(2), pages="5-9")
    assert response.status_code == 422 and "selects no page" in response.json()["message"]

    assert await fetch_rows(system.database_url, "SELECT id FROM jobs") == []
    assert await stored_objects(system.nats.url) == []

    # ...and a good upload afterwards still works
    ok = post_file(system.url, text_pdf(1))
    assert ok.status_code == 202
    uploads = [name for name in await stored_objects(system.nats.url) if name.startswith("uploads/")]
    assert uploads == [f"uploads/{ok.json()['job_id']}.pdf"]


async def test_raw_pdf_body_is_accepted(make_stack, fake_model):
    system = make_stack(env={"MODEL_URL": fake_model.url})
    response = httpx.post(
        f"{system.url}/api/jobs", content=text_pdf(1), headers={"content-type": "application/pdf"}, timeout=30
    )
    assert response.status_code == 202 and response.json()["total_pages"] == 1


async def test_splitter_fails_a_job_whose_stored_file_is_not_a_readable_pdf(make_stack):
    """Defence in depth: a job that reaches the splitter without the gateway's checks (a replay, another
    producer) fails with the splitter's reason, visible in the API and on the SSE stream."""
    system = make_stack(services=("gateway", "splitter", "assembler"))
    job_id = "5b0f4cf4-8b8e-4a53-9f63-6f6d6f1f0a11"
    nc = await nats.connect(system.nats.url)
    try:
        js = nc.jetstream()
        store = await js.object_store("pagewise")
        await store.put(f"uploads/{job_id}.pdf", encrypted_pdf())
        conn_rows = await fetch_rows(
            system.database_url,
            "INSERT INTO jobs (id, filename, upload_key, size_bytes)"
            " VALUES ($1, 'replay.pdf', $2, 10) RETURNING id",
            job_id,
            f"uploads/{job_id}.pdf",
        )
        assert len(conn_rows) == 1
        event = JobSubmitted(
            job_id=job_id,
            upload_key=f"uploads/{job_id}.pdf",
            filename="replay.pdf",
            size_bytes=10,
            options=JobOptions(),
            submitted_at=time.time(),
        )
        await publish(js, subjects.job_submitted(job_id), event, f"{job_id}:submitted")
    finally:
        await nc.close()
    events = follow_events(system.url, job_id, timeout=60)
    assert events[-1].type == "failed" and "password" in events[-1].data["error"]
    job = httpx.get(f"{system.url}/api/jobs/{job_id}").json()
    assert job["status"] == "failed" and "(encrypted)" in job["error"]
