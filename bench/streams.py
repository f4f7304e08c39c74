"""Read what the pipeline did from its own streams: a non-invasive source of per-page timestamps.

Every stream keeps its messages (limits retention) and JetStream stamps each one with the time it stored it,
so after a run the bench can tell, per page, when it was rendered (``PW_PAGES``), when its result was
published (``PW_RESULTS``) and when its client event went out (``PW_EVENTS``), without instrumenting a
service. All processes run on this machine, so these times share the bench's wall clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from proto import events, streams, subjects


@dataclass(frozen=True, slots=True)
class Stored:
    subject: str
    seq: int
    ts: float  # epoch seconds at which JetStream stored the message
    data: bytes


async def connect(url: str) -> NATS:
    return await nats.connect(url, name="pagewise-bench", max_reconnect_attempts=3)


async def read_stream(js: JetStreamContext, stream: str, subject: str, idle: float = 10.0) -> list[Stored]:
    """Every message of ``stream`` matching ``subject``, oldest first (an ordered consumer, then gone)."""
    info = await js.stream_info(stream)
    if info.state.messages == 0:
        return []
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
    out: list[Stored] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=idle)
            except nats.errors.TimeoutError:
                break
            meta = msg.metadata
            out.append(Stored(msg.subject, meta.sequence.stream, meta.timestamp.timestamp(), msg.data))
            if meta.num_pending == 0:
                break
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
    return out


@dataclass
class PageTimes:
    """When one page passed each point of the pipeline (epoch seconds) and how long its model call took."""

    job_id: str
    page_no: int
    rendered: float = float("nan")
    result: float = float("nan")
    event: float = float("nan")
    model_ms: float = float("nan")

    @property
    def complete(self) -> bool:
        return all(v == v for v in (self.rendered, self.result, self.event, self.model_ms))

    @property
    def model_start(self) -> float:
        """The start of the model call, from its end (the result's publication) less its duration."""
        return self.result - self.model_ms / 1e3


@dataclass
class JobTimes:
    accepted: float = float("nan")
    completed: float = float("nan")


@dataclass
class Timeline:
    pages: dict[tuple[str, int], PageTimes] = field(default_factory=dict)
    jobs: dict[str, JobTimes] = field(default_factory=dict)
    events: list[Stored] = field(default_factory=list)

    def page(self, job_id: str, page_no: int) -> PageTimes:
        key = (job_id, page_no)
        if key not in self.pages:
            self.pages[key] = PageTimes(job_id, page_no)
        return self.pages[key]

    def job(self, job_id: str) -> JobTimes:
        return self.jobs.setdefault(job_id, JobTimes())


async def timeline(js: JetStreamContext) -> Timeline:
    """Join the three streams into per-page and per-job timestamps."""
    tl = Timeline()
    for m in await read_stream(js, streams.PAGES_STREAM, f"{subjects.PAGES_RENDERED}.>"):
        rendered = events.page_rendered_decoder.decode(m.data)
        tl.page(rendered.job_id, rendered.page_no).rendered = m.ts
    for m in await read_stream(js, streams.RESULTS_STREAM, f"{subjects.RESULTS}.page.>"):
        result = events.result_decoder.decode(m.data)
        if isinstance(result, events.PageRecognized):
            page = tl.page(result.job_id, result.page_no)
            page.result, page.model_ms = m.ts, result.duration_ms
    tl.events = await read_stream(js, streams.EVENTS_STREAM, f"{subjects.EVENTS}.>")
    for m in tl.events:
        _, _, job_id, kind = m.subject.split(".", 3)
        if kind == "page":
            page_event = events.job_event_decoder.decode(m.data)
            assert isinstance(page_event, events.PageEvent)
            tl.page(job_id, page_event.page_no).event = m.ts
        elif kind == "accepted":
            tl.job(job_id).accepted = m.ts
        elif kind == "completed":
            tl.job(job_id).completed = m.ts
    return tl


class JobWatcher:
    """Learns the moment each job ends from a plain NATS subscription to terminal events (no consumer)."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self.ended: dict[str, tuple[str, float]] = {}
        self._changed = asyncio.Event()
        self._subs: list[object] = []

    async def start(self) -> JobWatcher:
        for kind in ("completed", "failed", "cancelled"):
            self._subs.append(await self._nc.subscribe(f"{subjects.EVENTS}.*.{kind}", cb=self._on_event))
        return self

    async def _on_event(self, msg: Msg) -> None:
        _, _, job_id, kind = msg.subject.split(".", 3)
        self.ended.setdefault(job_id, (kind, time.time()))
        self._changed.set()

    async def wait(self, job_ids: Iterable[str], within: float) -> None:
        """Until every job ended; raises TimeoutError naming how many are left."""
        wanted = set(job_ids)
        deadline = time.monotonic() + within
        while not wanted.issubset(self.ended):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(wanted - set(self.ended))} of {len(wanted)} jobs not finished")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))

    def failures(self, job_ids: Iterable[str]) -> list[str]:
        return [j for j in job_ids if self.ended.get(j, ("?", 0.0))[0] != "completed"]

    async def stop(self) -> None:
        for sub in self._subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ConsumerSample:
    at: float
    pending: int  # rendered pages no OCR worker has taken yet
    ack_pending: int  # pages an OCR worker holds (the global cap counts these)


class ConsumerSampler:
    """Polls the OCR consumer while a run goes on: tells a starved OCR stage (nothing pending, free slots:
    the splitter is behind) from a saturated one (all slots held, pages waiting)."""

    def __init__(self, js: JetStreamContext, every: float = 0.2) -> None:
        self._js = js
        self._every = every
        self.samples: list[ConsumerSample] = []
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                info = await self._js.consumer_info(streams.PAGES_STREAM, streams.OCR_CONSUMER)
                self.samples.append(
                    ConsumerSample(time.time(), info.num_pending or 0, info.num_ack_pending or 0)
                )
            await asyncio.sleep(self._every)

    def start(self) -> ConsumerSampler:
        self._task = asyncio.create_task(self._loop())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def shares(self, cap: int, start: float, end: float) -> dict[str, float]:
        """Fractions of the window in which the OCR stage was starved, full, or in between."""
        inside = [s for s in self.samples if start <= s.at <= end]
        if not inside:
            return {}
        n = len(inside)
        starved = sum(1 for s in inside if s.pending == 0 and s.ack_pending < cap)
        full = sum(1 for s in inside if s.ack_pending >= cap)
        return {
            "samples": n,
            "ocr_starved_share": starved / n,
            "ocr_slots_full_share": full / n,
            "mean_ack_pending": sum(s.ack_pending for s in inside) / n,
            "mean_backlog": sum(s.pending for s in inside) / n,
        }
