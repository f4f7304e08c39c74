"""Everything a request handler needs, built once at start-up and held by the app (no module globals)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from services.common.cancellations import Cancellations
from services.common.pdf import open_document
from services.common.storage import BlobStore
from services.gateway.fanout import EventHub
from services.gateway.settings import GatewaySettings


@dataclass
class Counters:
    uploads_accepted: int = 0
    uploads_rejected: int = 0
    upload_bytes: int = 0
    sse_clients: int = 0
    sse_events_sent: int = 0


@dataclass
class Gateway:
    settings: GatewaySettings
    nc: NATS
    js: JetStreamContext
    pool: asyncpg.Pool
    store: BlobStore
    cancellations: Cancellations
    hub: EventHub
    counters: Counters = field(default_factory=Counters)
    # PDFium is not thread-safe: every call runs on this one thread
    pdfium_thread: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdfium")
    )
    background: set[asyncio.Task[Any]] = field(default_factory=set)

    async def count_pages(self, path: Path) -> int:
        def inspect() -> int:
            doc = open_document(path)
            try:
                return len(doc)
            finally:
                doc.close()

        return await asyncio.get_running_loop().run_in_executor(self.pdfium_thread, inspect)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run clean-up that must not be cancelled with the request that asked for it."""
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def close(self) -> None:
        await self.hub.stop()
        if self.background:
            await asyncio.wait(self.background, timeout=5)
        with contextlib.suppress(Exception):
            await self.nc.drain()
        await self.pool.close()
        self.pdfium_thread.shutdown(wait=False)
