"""Many SSE watchers in one process, cheap enough that the client is not what gets measured.

Each watcher is a bare ``asyncio.Protocol`` speaking HTTP/1.1: no HTTP client library, no SSE parser, no
per-event task. On every read it takes the clock once and records the ``id:`` (the event's PW_EVENTS
sequence number) of each complete line, so the receive time is the moment the bytes reached this process.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

READY_MARK = b"pagewise job events"  # the comment the gateway sends once its JetStream consumer exists


@dataclass
class Watcher(asyncio.Protocol):
    request: bytes
    received: list[tuple[int, float]] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    status_ok: bool | None = None
    _buffer: bytes = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        lines = (self._buffer + data).split(b"\n")
        self._buffer = lines.pop()
        for line in lines:
            if line.startswith(b"id:"):
                self.received.append((int(line[3:].strip()), now))
            elif self.status_ok is None and line.startswith(b"HTTP/1.1"):
                self.status_ok = line.split(b" ")[1] == b"200"
            elif not self.ready.is_set() and READY_MARK in line:
                self.ready.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.ready.set()  # a watcher that failed must not hold up the others
        self.closed.set()


async def open_watchers(
    host: str, port: int, job_ids: list[str], per_job: int, parallel: int = 64
) -> list[tuple[str, Watcher]]:
    """``per_job`` watchers on each job, connected ``parallel`` at a time; returns once all are subscribed."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(parallel)

    async def one(job_id: str) -> tuple[str, Watcher]:
        request = (
            f"GET /api/jobs/{job_id}/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
        ).encode()
        async with gate:
            _, watcher = await loop.create_connection(lambda: Watcher(request), host, port)
            await asyncio.wait_for(watcher.ready.wait(), 60)
        return job_id, watcher

    return list(await asyncio.gather(*(one(j) for j in job_ids for _ in range(per_job))))
