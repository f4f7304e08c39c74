"""Process lifecycle shared by the worker services: signals, graceful stop, health/metrics listener."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger("pagewise.runtime")


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)``; SIGTERM/SIGINT set ``stop`` so the service drains instead of dying mid-page."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await main(stop)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(runner())


class PullWorkerLike(Protocol):
    async def run(self, stop: asyncio.Event) -> None: ...

    async def drain(self, timeout: float) -> None: ...  # noqa: ASYNC109


Probe = Callable[[], Awaitable[dict[str, object]]]


async def serve_health(port: int, probe: Probe, metrics: Callable[[], str]) -> asyncio.AbstractServer | None:
    """A tiny HTTP/1.0 listener: ``/healthz`` (JSON, 503 when a check fails) and ``/metrics`` (Prometheus
    text). Workers have no web framework and need none for two read-only endpoints."""
    if port <= 0:
        return None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            path = request_line.split(b" ")[1].decode() if request_line.count(b" ") >= 2 else "/"
            if path.startswith("/metrics"):
                status, ctype, body = 200, "text/plain; version=0.0.4", metrics().encode()
            elif path.startswith("/healthz"):
                result = await probe()
                status = 200 if result.get("ok") else 503
                ctype, body = "application/json", json.dumps(result).encode()
            else:
                status, ctype, body = 404, "application/json", b'{"error":"not found"}'
            writer.write(
                f"HTTP/1.0 {status} {'OK' if status == 200 else 'ERR'}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except Exception as exc:
            log.debug("health request failed: %r", exc)
        finally:
            writer.close()

    return await asyncio.start_server(handle, "0.0.0.0", port)


def prometheus(prefix: str, values: dict[str, float | int]) -> str:
    return "".join(f"{prefix}_{name} {value}\n" for name, value in values.items())


async def run_worker_until(stop: asyncio.Event, worker: PullWorkerLike, drain_timeout: float) -> None:
    """Run a pull worker until ``stop`` is set, then let its in-flight messages finish."""
    task = asyncio.create_task(worker.run(stop))
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        stopped.cancel()
        task.result()  # a crashed loop ends the process loudly; the supervisor restarts it
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await worker.drain(drain_timeout)
