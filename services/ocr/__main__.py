"""``python -m services.ocr``"""

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
from services.ocr.breaker import CircuitBreaker
from services.ocr.engines import Engine
from services.ocr.engines.local import LocalEngine
from services.ocr.engines.openai_compatible import OpenAICompatibleEngine
from services.ocr.settings import OcrSettings
from services.ocr.worker import PageRecognizer


def build_engine(settings: OcrSettings) -> Engine:
    if not settings.model_url:
        return LocalEngine()
    return OpenAICompatibleEngine(
        settings.model_url,
        model=settings.model_name,
        api_key=settings.model_api_key,
        prompt=settings.ocr_prompt,
        max_tokens=settings.ocr_max_tokens,
        temperature=settings.ocr_temperature,
        timeout=settings.ocr_timeout,
        max_connections=settings.ocr_concurrency,
    )


async def main(stop: asyncio.Event) -> None:
    settings = load_settings(OcrSettings)
    log = configure_logging("ocr", settings.log_level)
    nc = await connect(settings.nats_url, "pagewise-ocr")
    js = nc.jetstream()
    await ensure_streams(js, settings.stream_max_age_days)
    await ensure_consumer(
        js,
        streams.PAGES_STREAM,
        streams.ocr_consumer(
            ack_wait=settings.ocr_ack_wait,
            max_deliver=settings.ocr_max_deliver,
            max_in_flight=settings.ocr_max_in_flight,
        ),
    )
    store = await open_store(settings.storage_url, js)
    engine = build_engine(settings)
    breaker = CircuitBreaker(
        engine.healthy,
        threshold=settings.ocr_breaker_threshold,
        probe_interval=settings.ocr_breaker_probe_interval,
    )
    recognizer = PageRecognizer(settings, js, store, engine, await Cancellations.open(js), breaker)
    worker = PullWorker(
        nc,
        js,
        stream=streams.PAGES_STREAM,
        durable=streams.OCR_CONSUMER,
        handler=recognizer.handle,
        concurrency=settings.ocr_concurrency,
        log=log,
        may_fetch=breaker.wait_until_closed,
    )

    async def probe() -> dict[str, object]:
        model_ok = await engine.healthy()
        return {
            "ok": nc.is_connected,
            "nats": nc.is_connected,
            "model": model_ok,
            "breaker_open": breaker.is_open,
        }

    def metrics() -> str:
        return prometheus(
            "pagewise_ocr",
            {
                **recognizer.counters,
                "model_calls_in_flight": recognizer.model_calls_in_flight,
                "breaker_open": int(breaker.is_open),
                "breaker_opened_total": breaker.times_opened,
            },
        )

    health = await serve_health(settings.health_port, probe, metrics)
    log.info(
        "ocr ready: engine %s, global cap %d, local concurrency %d",
        engine.name,
        settings.ocr_max_in_flight,
        settings.ocr_concurrency,
    )
    try:
        await run_worker_until(stop, worker, drain_timeout=10.0)
    finally:
        if health:
            health.close()
        await engine.aclose()
        await nc.drain()


if __name__ == "__main__":
    run_until_signalled(main)
