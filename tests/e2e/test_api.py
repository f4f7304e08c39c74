"""The API for programs: listing, pages, JSON results, cancel, and the seed project's endpoints."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from tests.fakes.pdfs import expected_page_text, make_coded_pdf
from tests.helpers import follow_events, submit, wait_for_status

pytestmark = pytest.mark.timeout(180)


async def test_list_pages_and_json_result(make_stack, fake_model):
    system = make_stack(env={"MODEL_URL": fake_model.url})
    ids = [submit(system.url, make_coded_pdf(200 + i, 2), filename=f"d{i}.pdf")["job_id"] for i in range(3)]
    for job_id in ids:
        wait_for_status(system.url, job_id, {"completed"}, timeout=60)

    first = httpx.get(f"{system.url}/api/jobs", params={"limit": 2}).json()
    assert [j["job_id"] for j in first["jobs"]] == ids[::-1][:2], "newest first"
    second = httpx.get(f"{system.url}/api/jobs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [j["job_id"] for j in second["jobs"]] == [ids[0]] and second["next_cursor"] is None
    assert len(httpx.get(f"{system.url}/api/jobs", params={"status": "completed"}).json()["jobs"]) == 3
    assert httpx.get(f"{system.url}/api/jobs", params={"status": "failed"}).json()["jobs"] == []
    assert httpx.get(f"{system.url}/api/jobs", params={"status": "bogus"}).status_code == 422
    assert httpx.get(f"{system.url}/api/jobs", params={"cursor": "nope"}).status_code == 400

    pages = httpx.get(f"{system.url}/api/jobs/{ids[1]}/pages").json()
    assert [p["page_no"] for p in pages["pages"]] == [1, 2]
    assert all(p["status"] == "done" and p["attempts"] == 1 and p["duration_ms"] > 0 for p in pages["pages"])
    assert expected_page_text(201, 2) in pages["pages"][1]["markdown"]

    as_json = httpx.get(f"{system.url}/api/jobs/{ids[2]}/result", params={"format": "json"}).json()
    assert expected_page_text(202, 1) in as_json["pages"][0]["markdown"]

    assert httpx.get(f"{system.url}/api/jobs/00000000-0000-0000-0000-000000000000").status_code == 404
    missing = httpx.get(f"{system.url}/api/jobs/not-a-uuid")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


async def test_cancel_skips_remaining_pages_and_ends_the_stream(make_stack, fresh_fake_model):
    slow = fresh_fake_model(latency=1.0, max_concurrency=2)
    system = make_stack(env={"MODEL_URL": slow.url, "OCR_MAX_IN_FLIGHT": "1"})
    job_id = submit(system.url, make_coded_pdf(210, 10))["job_id"]
    wait_for_status(system.url, job_id, {"processing"}, timeout=30)
    response = httpx.delete(f"{system.url}/api/jobs/{job_id}")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert httpx.delete(f"{system.url}/api/jobs/{job_id}").status_code == 409

    events = follow_events(system.url, job_id, timeout=30)
    assert events[-1].type == "cancelled"
    assert [e.type for e in events].count("cancelled") == 1
    requests_at_cancel = slow.stats()["requests_total"]
    wait_for_status(system.url, job_id, {"cancelled"})
    import time

    time.sleep(3.0)  # pages still queued would reach the model within this time if they were not skipped
    assert slow.stats()["requests_total"] <= requests_at_cancel + 1, (
        "pages of a cancelled job reached the model"
    )
    job = httpx.get(f"{system.url}/api/jobs/{job_id}").json()
    assert job["status"] == "cancelled" and job["pages_done"] < 10
    assert httpx.get(f"{system.url}/api/jobs/{job_id}/result").status_code == 409


async def test_seed_frontend_endpoints_keep_their_shapes(make_stack, fake_model):
    system = make_stack(env={"MODEL_URL": fake_model.url})
    response = httpx.post(
        f"{system.url}/api/documents/convert",
        files={"file": ("seed.pdf", make_coded_pdf(220, 3), "application/pdf")},
        data={"strategy": "qwen3-vl"},
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"task_id", "status", "message"} and body["status"] == "pending"

    wait_for_status(system.url, body["task_id"], {"completed"}, timeout=60)
    status = httpx.get(f"{system.url}/api/documents/status/{body['task_id']}").json()
    assert set(status) == {
        "task_id", "status", "task_type", "filename", "progress", "created_at", "started_at",
        "estimated_completion", "result_document_id", "error_message",
    }  # fmt: skip
    assert status["status"] == "completed" and status["filename"] == "seed.pdf"
    assert status["progress"] == {"current_page": 3, "total_pages": 3, "percentage": 100.0}
    assert status["result_document_id"] == body["task_id"] and status["error_message"] is None
    dt.datetime.fromisoformat(status["created_at"])
    dt.datetime.fromisoformat(status["started_at"])

    bad = httpx.post(
        f"{system.url}/api/documents/convert",
        files={"file": ("seed.pdf", make_coded_pdf(221, 1), "application/pdf")},
        data={"strategy": "tesseract"},
    )
    assert bad.status_code == 422 and "qwen3-vl" in bad.json()["message"]
    not_pdf = httpx.post(f"{system.url}/api/documents/convert", files={"file": ("a.pdf", b"hello" * 300)})
    assert not_pdf.status_code == 415


async def test_openapi_documents_every_endpoint(make_stack):
    system = make_stack(services=("gateway",))
    schema = httpx.get(f"{system.url}/docs/openapi.json").json()
    for path in (
        "/api/jobs",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/events",
        "/api/jobs/{job_id}/result",
        "/api/jobs/{job_id}/pages",
        "/api/documents/convert",
        "/api/documents/status/{task_id}",
        "/healthz",
    ):
        assert path in schema["paths"], path
    assert httpx.get(f"{system.url}/docs").status_code == 200
    health = httpx.get(f"{system.url}/healthz").json()
    assert health == {"ok": True, "nats": True, "database": True, "storage": True}
    assert "pagewise_gateway_sse_clients" in httpx.get(f"{system.url}/metrics").text


async def test_rerun_reprocesses_the_stored_upload_with_a_new_model_and_prompt(make_stack, fake_model):
    system = make_stack(env={"MODEL_URL": fake_model.url})
    first = submit(system.url, make_coded_pdf(230, 5), filename="again.pdf", pages="2-4")["job_id"]
    wait_for_status(system.url, first, {"completed"}, timeout=60)

    response = httpx.post(
        f"{system.url}/api/jobs/{first}/rerun", json={"model": "qwen3-vl-next", "prompt": "Transcribe."}
    )
    assert response.status_code == 202, response.text
    rerun = response.json()
    assert rerun["job_id"] != first and rerun["total_pages"] == 3 and rerun["filename"] == "again.pdf"
    job = wait_for_status(system.url, rerun["job_id"], {"completed"}, timeout=60)
    assert job["parent_job_id"] == first
    assert job["options"]["model"] == "qwen3-vl-next" and job["options"]["first_page"] == 2
    pages = httpx.get(f"{system.url}/api/jobs/{rerun['job_id']}/pages").json()["pages"]
    assert [p["page_no"] for p in pages] == [2, 3, 4]
    assert {p["model"] for p in pages} == {"qwen3-vl-next"}, "the new model was asked (the fake echoes it)"
    for page in pages:
        assert expected_page_text(230, page["page_no"]) in page["markdown"]
    # the original job is untouched
    assert {p["model"] for p in httpx.get(f"{system.url}/api/jobs/{first}/pages").json()["pages"]} != {
        "qwen3-vl-next"
    }

    bad = httpx.post(f"{system.url}/api/jobs/{first}/rerun", json={"pages": "9-12"})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_options"
    unknown = httpx.post(f"{system.url}/api/jobs/{first}/rerun", json={"colour": "blue"})
    assert unknown.status_code in (400, 422)
    assert httpx.post(f"{system.url}/api/jobs/{'0' * 8}-0000-0000-0000-{'0' * 12}/rerun").status_code == 404
