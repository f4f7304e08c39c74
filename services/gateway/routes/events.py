"""``GET /api/jobs/{id}/events``: the job's events so far, then live ones, closing after the last."""

from __future__ import annotations

from litestar import get
from litestar.params import Parameter
from litestar.response import ServerSentEvent

from proto.events import TERMINAL_STATUSES
from services.common import jobs as jobs_db
from services.gateway.routes.jobs import load_job
from services.gateway.sse import job_event_stream, parse_last_event_id
from services.gateway.state import Gateway


@get(
    "/api/jobs/{job_id:str}/events",
    summary="Server-sent events of a job (resumable)",
    description=(
        "Event types: accepted, split, page (with that page's Markdown), page_failed, progress, completed, "
        "failed, cancelled. Each message's `id` is its position: reconnect with the `Last-Event-ID` header "
        "(browsers do this on their own) or `?last_event_id=` to get exactly the events after it. Comments "
        "are sent as keep-alives; the stream closes after the terminal event."
    ),
    tags=["jobs"],
)
async def job_events(
    gw: Gateway,
    job_id: str,
    last_event_id_header: str | None = Parameter(header="Last-Event-ID", default=None),
    last_event_id: str | None = Parameter(query="last_event_id", default=None),
) -> ServerSentEvent:
    job = await load_job(gw, job_id)

    async def job_has_ended() -> bool:
        row = await jobs_db.get_job(gw.pool, job.id)
        return row is None or row.status in TERMINAL_STATUSES

    after = parse_last_event_id(last_event_id_header or last_event_id)
    return ServerSentEvent(
        job_event_stream(gw, job.id, after, job_has_ended),
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


ROUTES = [job_events]
