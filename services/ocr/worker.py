"""The OCR loop body: page event → image from storage → model → ``PageRecognized`` or ``PageFailed``."""

from __future__ import annotations

import logging
import time

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from proto import events, subjects
from proto.events import PageRecognized, PageRendered
from services.common.bus import publish, publish_page_failed
from services.common.cancellations import Cancellations
from services.common.pull import RetryLater, backoff_delay, keep_alive
from services.common.storage import BlobNotFound, BlobStore
from services.ocr.breaker import CircuitBreaker
from services.ocr.engines import Engine, ModelError
from services.ocr.settings import OcrSettings

log = logging.getLogger("pagewise.ocr")


class PageRecognizer:
    def __init__(
        self,
        settings: OcrSettings,
        js: JetStreamContext,
        store: BlobStore,
        engine: Engine,
        cancellations: Cancellations,
        breaker: CircuitBreaker,
    ) -> None:
        self.settings = settings
        self.js = js
        self.store = store
        self.engine = engine
        self.cancellations = cancellations
        self.breaker = breaker
        self.model_calls_in_flight = 0
        self.counters = {
            "pages_recognized_total": 0,
            "pages_failed_total": 0,
            "pages_skipped_cancelled_total": 0,
            "attempts_retried_total": 0,
            "model_seconds_total": 0.0,
        }

    async def handle(self, msg: Msg) -> None:
        page = events.page_rendered_decoder.decode(msg.data)
        attempt = msg.metadata.num_delivered
        if await self.cancellations.is_cancelled(page.job_id):
            self.counters["pages_skipped_cancelled_total"] += 1
            return
        try:
            image = await self.store.get_bytes(page.image_key)
        except BlobNotFound:
            await self.fail(page, "page image is missing from storage", attempt)
            return
        started = time.perf_counter()
        async with keep_alive(msg, self.settings.ocr_ack_wait / 3):
            while True:
                # While the breaker is open the page waits here, kept alive, instead of failing an attempt.
                await self.breaker.wait_until_closed()
                self.model_calls_in_flight += 1
                call_started = time.perf_counter()
                try:
                    recognition = await self.engine.recognize(
                        image, page.media_type, model=page.model, prompt=page.prompt, attempt=attempt
                    )
                    break
                except ModelError as exc:
                    if exc.unavailable:
                        self.breaker.record_unavailable()
                        if self.breaker.is_open:
                            continue  # not this page's fault: try it again once the server is back
                    if exc.retryable and attempt < self.settings.ocr_max_deliver:
                        self.counters["attempts_retried_total"] += 1
                        delay = (
                            exc.retry_after
                            if exc.retry_after is not None
                            else backoff_delay(
                                attempt, base=self.settings.ocr_retry_base, cap=self.settings.ocr_retry_cap
                            )
                        )
                        raise RetryLater(
                            f"job {page.job_id} page {page.page_no} attempt {attempt}: {exc}", delay
                        ) from exc
                    await self.fail(
                        page, f"{exc} (after {attempt} attempt{'s' if attempt > 1 else ''})", attempt
                    )
                    return
                finally:
                    self.model_calls_in_flight -= 1
                    self.counters["model_seconds_total"] += time.perf_counter() - call_started
        self.breaker.record_success()
        await publish(
            self.js,
            subjects.result("page", page.job_id),
            PageRecognized(
                job_id=page.job_id,
                page_no=page.page_no,
                total_pages=page.total_pages,
                markdown=recognition.markdown,
                model=recognition.model,
                attempts=attempt,
                duration_ms=round(1e3 * (time.perf_counter() - started), 1),
                finish_reason=recognition.finish_reason,
            ),
            subjects.page_msg_id(page.job_id, page.page_no, "result"),
        )
        self.counters["pages_recognized_total"] += 1

    async def fail(self, page: PageRendered, error: str, attempt: int) -> None:
        self.counters["pages_failed_total"] += 1
        log.warning("job %s page %d failed: %s", page.job_id, page.page_no, error)
        await publish_page_failed(self.js, page, error, attempt)
