"""Work that ran out of deliveries without an answer (a worker that crashed on it every time, or was killed
during its last attempt) would otherwise leave its job waiting forever. NATS publishes a max-deliveries
advisory naming the message's stream sequence; ``PW_ADVISORIES`` keeps them, and this handler turns each
into the failure the worker would have published, with the same dedupe id — so if the worker did publish,
the stream drops this copy."""

from __future__ import annotations

import logging

import msgspec
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from proto import events, streams, subjects
from proto.events import JobRejected
from services.common.bus import publish, publish_page_failed

log = logging.getLogger("pagewise.assembler.dead_letters")


class MaxDeliveriesAdvisory(msgspec.Struct, frozen=True):
    stream: str
    consumer: str
    stream_seq: int
    deliveries: int


advisory_decoder = msgspec.json.Decoder(MaxDeliveriesAdvisory)


class DeadLetterHandler:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self.dead_letters = 0

    async def handle(self, msg: Msg) -> None:
        advisory = advisory_decoder.decode(msg.data)
        try:
            original = await self.js.get_msg(advisory.stream, advisory.stream_seq)
        except NotFoundError:
            log.warning("dead letter %s#%d is gone from its stream", advisory.stream, advisory.stream_seq)
            return
        assert original.data is not None
        self.dead_letters += 1
        if advisory.stream == streams.PAGES_STREAM:
            page = events.page_rendered_decoder.decode(original.data)
            error = (
                f"no OCR worker finished this page in {advisory.deliveries} deliveries"
                " (workers crashed on it)"
            )
            log.warning("job %s page %d: %s", page.job_id, page.page_no, error)
            await publish_page_failed(self.js, page, error, advisory.deliveries, retryable=True)
        elif advisory.stream == streams.JOBS_STREAM:
            job = events.job_submitted_decoder.decode(original.data)
            reason = (
                f"the splitter did not finish this document in {advisory.deliveries} attempts"
                " (it crashed on it)"
            )
            log.warning("job %s: %s", job.job_id, reason)
            await publish(
                self.js,
                subjects.result("rejected", job.job_id),
                JobRejected(job_id=job.job_id, code="split_crashed", reason=reason),
                subjects.job_msg_id(job.job_id, "rejected"),
            )
