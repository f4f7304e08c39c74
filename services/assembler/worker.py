"""The assembler loop body: decode a result, apply it to the ledger. Retries are the pull loop's job."""

from __future__ import annotations

from nats.aio.msg import Msg

from proto import events
from services.assembler.ledger import Ledger


class ResultHandler:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def handle(self, msg: Msg) -> None:
        # A Postgres or NATS error raises: the pull loop naks with backoff and the result comes back, so a
        # database restart delays pages but never loses one.
        await self.ledger.apply(events.result_decoder.decode(msg.data))
