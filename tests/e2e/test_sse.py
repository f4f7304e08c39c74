"""SSE housekeeping: keep-alive comments while nothing happens, one JetStream consumer per gateway however
many watchers, and nothing left behind by clients that go away."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.fakes.pdfs import make_coded_pdf
from tests.helpers import submit, wait_until

pytestmark = pytest.mark.timeout(120)


def consumers_on(monitor_url: str, stream: str) -> int:
    data = httpx.get(f"{monitor_url}/jsz", params={"streams": "true", "consumers": "true"}, timeout=5).json()
    for account in data.get("account_details", []):
        for detail in account.get("stream_detail", []):
            if detail["name"] == stream:
                return len(detail.get("consumer_detail") or [])
    return 0


def sse_clients(base_url: str) -> int:
    for line in httpx.get(f"{base_url}/metrics", timeout=5).text.splitlines():
        if line.startswith("pagewise_gateway_sse_clients "):
            return int(float(line.split()[1]))
    raise AssertionError("metric missing")


async def test_keepalives_flow_and_departed_clients_leave_nothing_behind(make_stack, fresh_fake_model):
    slow = fresh_fake_model(latency=5.0, max_concurrency=2)
    system = make_stack(env={"MODEL_URL": slow.url, "OCR_MAX_IN_FLIGHT": "1", "SSE_KEEPALIVE": "0.5"})
    job_id = submit(system.url, make_coded_pdf(240, 4))["job_id"]
    assert consumers_on(system.nats.monitor_url, "PW_EVENTS") == 1  # the gateway's own

    clients = [httpx.Client(timeout=30) for _ in range(5)]
    streams = [c.stream("GET", f"{system.url}/api/jobs/{job_id}/events") for c in clients]
    responses = [s.__enter__() for s in streams]
    try:
        assert all(r.status_code == 200 for r in responses)
        wait_until(lambda: sse_clients(system.url) == 5, timeout=10, what="5 SSE clients")
        # one shared consumer per gateway process, however many watchers
        assert consumers_on(system.nats.monitor_url, "PW_EVENTS") == 1
        lines: list[str] = []
        deadline = time.monotonic() + 10
        for line in responses[0].iter_lines():
            lines.append(line)
            if line.startswith(": keep-alive") or time.monotonic() > deadline:
                break
        assert ": keep-alive" in lines, lines
        assert "event: accepted" in lines and lines[lines.index("event: accepted") - 1].startswith("id: ")
    finally:
        for stream in streams:
            stream.__exit__(None, None, None)
        for client in clients:
            client.close()
    # the gateway notices at its next write (a keep-alive at the latest) that a client is gone, and cleans up
    wait_until(lambda: sse_clients(system.url) == 0, timeout=15, what="SSE clients gone")
    assert consumers_on(system.nats.monitor_url, "PW_EVENTS") == 1
