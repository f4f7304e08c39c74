"""The bench as a user of the HTTP API: uploads, with the time each one started."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx


@dataclass(frozen=True, slots=True)
class Submitted:
    job_id: str
    total_pages: int
    started: float  # epoch seconds when the upload began
    accepted: float  # epoch seconds when the 202 arrived


async def upload(client: httpx.AsyncClient, base_url: str, pdf: bytes, filename: str) -> Submitted:
    started = time.time()
    response = await client.post(
        f"{base_url}/api/jobs", files={"file": (filename, pdf, "application/pdf")}, timeout=120
    )
    if response.status_code != 202:
        raise RuntimeError(f"upload of {filename} answered {response.status_code}: {response.text[:300]}")
    body = response.json()
    return Submitted(body["job_id"], int(body["total_pages"]), started, time.time())


async def upload_all(base_url: str, pdfs: Sequence[bytes], parallel: int = 4) -> list[Submitted]:
    """Upload in order with ``parallel`` uploads at once (a handful of users, not a thundering herd)."""
    gate = asyncio.Semaphore(parallel)
    async with httpx.AsyncClient() as client:

        async def one(index: int, pdf: bytes) -> Submitted:
            async with gate:
                return await upload(client, base_url, pdf, f"bench-{index:04d}.pdf")

        return list(await asyncio.gather(*(one(i, pdf) for i, pdf in enumerate(pdfs))))
