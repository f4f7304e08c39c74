"""Drive a running system with documents and collect what happened: a shared step of several scenarios."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench.client import Submitted, upload_all
from bench.harness import System
from bench.streams import ConsumerSampler, JobWatcher, PageTimes, Timeline, connect, timeline


@dataclass
class Run:
    submitted: list[Submitted]
    timeline: Timeline
    started: float  # epoch seconds: the first upload began
    ended: float  # epoch seconds: the last terminal event arrived
    failed_jobs: list[str]
    sampler: ConsumerSampler | None = None

    @property
    def job_ids(self) -> list[str]:
        return [s.job_id for s in self.submitted]

    @property
    def pages(self) -> int:
        return sum(s.total_pages for s in self.submitted)

    def page_times(self) -> list[PageTimes]:
        ids = set(self.job_ids)
        return [p for (job, _), p in self.timeline.pages.items() if job in ids]


async def run_documents(
    system: System, pdfs: Sequence[bytes], *, parallel: int = 4, within: float = 300
) -> Run:
    """Upload ``pdfs``, wait until every job ended, then read the streams for per-page timestamps."""
    nc = await connect(system.nats.url)
    try:
        watcher = await JobWatcher(nc).start()
        sampler = ConsumerSampler(nc.jetstream()).start()
        started = time.time()
        submitted = await upload_all(system.url, pdfs, parallel=parallel)
        ids = [s.job_id for s in submitted]
        await watcher.wait(ids, within)
        ended = max(watcher.ended[j][1] for j in ids)
        await watcher.stop()
        await sampler.stop()
        tl = await timeline(nc.jetstream())
        return Run(submitted, tl, started, ended, watcher.failures(ids), sampler)
    finally:
        await nc.close()
