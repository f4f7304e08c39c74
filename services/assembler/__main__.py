"""``python -m services.assembler``"""

from __future__ import annotations

import asyncio

from proto import streams
from services.assembler.dead_letters import DeadLetterHandler
from services.assembler.ledger import Ledger
from services.assembler.settings import AssemblerSettings
from services.assembler.worker import ResultHandler
from services.common.bus import connect, ensure_consumer, ensure_streams
from services.common.cancellations import Cancellations
from services.common.db import create_pool, migrate
from services.common.logs import configure_logging
from services.common.pull import PullWorker
from services.common.runtime import prometheus, run_until_signalled, run_worker_until, serve_health
from services.common.settings import load_settings
from services.common.storage import open_store


async def main(stop: asyncio.Event) -> None:
    settings = load_settings(AssemblerSettings)
    log = configure_logging("assembler", settings.log_level)
    pool = await create_pool(settings.database_url, max_size=settings.assembler_concurrency + 2)
    await migrate(pool)
    nc = await connect(settings.nats_url, "pagewise-assembler")
    js = nc.jetstream()
    await ensure_streams(js, settings.stream_max_age_days)
    await ensure_consumer(
        js,
        streams.RESULTS_STREAM,
        streams.assembler_consumer(ack_wait=settings.assembler_ack_wait, max_ack_pending=1000),
    )
    await ensure_consumer(js, streams.ADVISORIES_STREAM, streams.dead_letter_consumer())
    store = await open_store(settings.storage_url, js)
    ledger = Ledger(pool, js, store, settings.failed_page_policy, await Cancellations.open(js))
    worker = PullWorker(
        nc,
        js,
        stream=streams.RESULTS_STREAM,
        durable=streams.ASSEMBLER_CONSUMER,
        handler=ResultHandler(ledger).handle,
        concurrency=settings.assembler_concurrency,
        log=log,
    )

    dead_letters = DeadLetterHandler(js)
    dead_letter_worker = PullWorker(
        nc,
        js,
        stream=streams.ADVISORIES_STREAM,
        durable=streams.DEAD_LETTER_CONSUMER,
        handler=dead_letters.handle,
        concurrency=1,
        log=log,
    )

    async def probe() -> dict[str, object]:
        try:
            await pool.fetchval("SELECT 1")
            db = True
        except Exception:
            db = False
        return {"ok": db and nc.is_connected, "nats": nc.is_connected, "database": db}

    def metrics() -> str:
        return prometheus(
            "pagewise_assembler",
            {
                "results_applied_total": ledger.results_applied,
                "jobs_finished_total": ledger.jobs_finished,
                "dead_letters_total": dead_letters.dead_letters,
            },
        )

    health = await serve_health(settings.health_port, probe, metrics)
    log.info("assembler ready (policy %s)", settings.failed_page_policy)
    try:
        await asyncio.gather(
            run_worker_until(stop, worker, drain_timeout=10.0),
            run_worker_until(stop, dead_letter_worker, drain_timeout=5.0),
        )
    finally:
        if health:
            health.close()
        await nc.drain()
        await pool.close()


if __name__ == "__main__":
    run_until_signalled(main)
