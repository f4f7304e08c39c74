"""Which jobs were cancelled: a JetStream key-value bucket every worker can read in ~0.2 ms.

The gateway writes a key when a job is cancelled; the splitter stops rendering and the OCR workers skip
pages of that job instead of sending them to the model. Postgres stays the record of the job's status.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

BUCKET = "PW_CANCELLED"


class Cancellations:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext, ttl_days: float = 7.0) -> Cancellations:
        try:
            kv = await js.key_value(BUCKET)
        except (BucketNotFoundError, NotFoundError):
            try:
                kv = await js.create_key_value(
                    KeyValueConfig(bucket=BUCKET, ttl=ttl_days * 86400, storage=StorageType.FILE, history=1)
                )
            except Exception:
                kv = await js.key_value(BUCKET)
        return cls(kv)

    async def cancel(self, job_id: str) -> None:
        await self._kv.put(job_id, b"1")

    async def is_cancelled(self, job_id: str) -> bool:
        try:
            entry = await self._kv.get(job_id)
        except (KeyNotFoundError, NotFoundError):
            return False
        return entry is not None and entry.value == b"1"
