"""``/healthz`` (is every dependency reachable) and ``/metrics`` (Prometheus text)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Response, get

from services.gateway.state import Gateway


async def _check(coro: Any) -> bool:
    try:
        await asyncio.wait_for(coro, 3)
        return True
    except Exception:
        return False


@get("/healthz", summary="Health of the gateway and what it depends on", tags=["ops"])
async def healthz(gw: Gateway) -> Response[dict[str, Any]]:
    database, storage = await asyncio.gather(_check(gw.pool.fetchval("SELECT 1")), _check(gw.store.ping()))
    checks = {"nats": gw.nc.is_connected, "database": database, "storage": storage}
    ok = all(checks.values())
    return Response({"ok": ok, **checks}, status_code=200 if ok else 503)


@get("/metrics", summary="Prometheus metrics", media_type="text/plain; version=0.0.4", tags=["ops"])
async def metrics(gw: Gateway) -> str:
    rows = await gw.pool.fetch("SELECT status, count(*) AS n FROM jobs GROUP BY status")
    c = gw.counters
    lines = [
        "# TYPE pagewise_jobs gauge",
        *(f'pagewise_jobs{{status="{r["status"]}"}} {r["n"]}' for r in rows),
        f"pagewise_gateway_uploads_accepted_total {c.uploads_accepted}",
        f"pagewise_gateway_uploads_rejected_total {c.uploads_rejected}",
        f"pagewise_gateway_upload_bytes_total {c.upload_bytes}",
        f"pagewise_gateway_sse_clients {c.sse_clients}",
        f"pagewise_gateway_sse_events_sent_total {c.sse_events_sent}",
        f"pagewise_gateway_events_received_total {gw.hub.events_received}",
    ]
    return "\n".join(lines) + "\n"


ROUTES = [healthz, metrics]
