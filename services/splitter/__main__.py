"""``python -m services.splitter``"""

from __future__ import annotations

import asyncio

from proto import streams
from services.common.bus import connect, ensure_consumer, ensure_streams
from services.common.cancellations import Cancellations
from services.common.logs import configure_logging
from services.common.pull import PullWorker
from services.common.runtime import prometheus, run_until_signalled, run_worker_until, serve_health
from services.common.settings import load_settings
from services.common.storage import open_store
from services.splitter.settings import SplitterSettings
from services.splitter.worker import PageRenderer, Splitter


async def main(stop: asyncio.Event) -> None:
    settings = load_settings(SplitterSettings)
    log = configure_logging("splitter", settings.log_level)
    nc = await connect(settings.nats_url, "pagewise-splitter")
    js = nc.jetstream()
    await ensure_streams(js, settings.stream_max_age_days)
    await ensure_consumer(
        js,
        streams.JOBS_STREAM,
        streams.splitter_consumer(
            ack_wait=settings.splitter_ack_wait,
            max_deliver=settings.splitter_max_deliver,
            max_ack_pending=1000,
        ),
    )
    store = await open_store(settings.storage_url, js)
    renderer = PageRenderer()
    splitter = Splitter(settings, js, store, await Cancellations.open(js), renderer)
    worker = PullWorker(
        nc,
        js,
        stream=streams.JOBS_STREAM,
        durable=streams.SPLITTER_CONSUMER,
        handler=splitter.handle,
        concurrency=settings.splitter_concurrency,
        log=log,
    )

    async def probe() -> dict[str, object]:
        return {"ok": nc.is_connected, "nats": nc.is_connected}

    def metrics() -> str:
        return prometheus(
            "pagewise_splitter",
            {
                "pages_rendered_total": splitter.pages_rendered,
                "documents_rejected_total": splitter.documents_rejected,
                "documents_in_flight": worker.in_flight,
            },
        )

    health = await serve_health(settings.health_port, probe, metrics)
    log.info("splitter ready (concurrency %d)", settings.splitter_concurrency)
    try:
        await run_worker_until(stop, worker, drain_timeout=settings.splitter_ack_wait)
    finally:
        if health:
            health.close()
        renderer.shutdown()
        await nc.drain()


if __name__ == "__main__":
    run_until_signalled(main)
