"""6. Fan-out: many SSE watchers on running jobs; delay from an event's publication to every watcher.

Jobs are uploaded and split with the OCR service stopped; the watchers connect (each replays its job's
history so far); then OCR starts and the jobs produce their page, progress and completed events. Only events
*published after the last watcher subscribed* are counted. Publication time is the event's PW_EVENTS
timestamp (looked up by the SSE ``id``); receive time is taken in the watcher's ``data_received``. Per event,
"every watcher" is the slowest of its job's watchers; the per-delivery distribution is given too.

Two controls tell where a delay comes from: a core NATS subscription in the bench (the floor: the server
itself) and a JetStream ordered consumer on every job event with a callback, as the gateway's event hub reads
them (the NATS client path without HTTP). The bench's own CPU use is reported, to tell a slow client from a
slow gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlsplit

from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy

from bench.client import upload_all
from bench.config import BenchConfig
from bench.cpu import CpuMeter
from bench.documents import coded_pdfs
from bench.harness import BenchEnv, System
from bench.profiling import Profiler
from bench.report import Figure, ScenarioResult
from bench.stats import percentile, summary
from bench.streams import JobWatcher, connect, read_stream
from bench.watchers import open_watchers
from proto import streams, subjects

TITLE = "SSE fan-out: many watchers on running jobs"


async def measure(system: System, config: BenchConfig, profiler: Profiler) -> dict[str, object]:
    per_job = max(1, config.watchers // config.fanout_jobs)
    pdfs = coded_pdfs(5000, config.fanout_jobs, config.fanout_pages)
    nc = await connect(system.nats.url)
    try:
        ends = await JobWatcher(nc).start()
        direct: list[tuple[str, bytes, float]] = []  # the control: NATS straight to the bench, no gateway

        async def on_direct(msg: Msg) -> None:
            direct.append((msg.subject, msg.data, time.time()))

        await nc.subscribe(f"{subjects.EVENTS}.>", cb=on_direct)
        submitted = await upload_all(system.url, pdfs, parallel=4)
        ids = [s.job_id for s in submitted]
        # second control: the gateway hub's way of reading events (one ordered consumer, a callback), in the
        # bench, without HTTP: separates the NATS client path from Litestar/uvicorn
        ordered: list[tuple[int, float]] = []

        async def on_ordered(msg: Msg) -> None:
            ordered.append((msg.metadata.sequence.stream, time.time()))

        hub = await nc.jetstream().subscribe(
            f"{subjects.EVENTS}.>",
            stream=streams.EVENTS_STREAM,
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
            cb=on_ordered,
        )
        url = urlsplit(system.url)
        connect_started = time.time()
        watchers = await open_watchers(url.hostname or "127.0.0.1", url.port or 80, ids, per_job)
        ready_at = time.time()
        system.stack.start_service("ocr")  # now the jobs produce their page events
        for name, pids in system.all_pids().items():
            if name == "gateway":
                profiler.start("gateway", pids[0])
        meter = CpuMeter().start()
        await ends.wait(ids, within=600)
        await asyncio.wait_for(asyncio.gather(*(w.closed.wait() for _, w in watchers)), 60)
        window_end = time.time()
        cpu = meter.stop()
        with contextlib.suppress(Exception):
            await hub.unsubscribe()
        stored = {m.seq: m for m in await read_stream(nc.jetstream(), "PW_EVENTS", "pw.events.>")}
    finally:
        await nc.close()
    deliveries: list[float] = []
    slowest: dict[int, float] = {}
    missing = ended_early = 0
    by_content = {(m.subject, m.data): m.ts for m in stored.values() if m.ts >= ready_at}
    nats_direct = [
        1e3 * (t - by_content[(subj, data)]) for subj, data, t in direct if (subj, data) in by_content
    ]
    ordered_ms = [
        1e3 * (t - stored[seq].ts) for seq, t in ordered if seq in stored and stored[seq].ts >= ready_at
    ]
    for job_id, watcher in watchers:
        seen = {seq for seq, _ in watcher.received}
        for seq, received in watcher.received:
            event = stored.get(seq)
            if event is None or event.ts < ready_at:
                continue
            delay = 1e3 * (received - event.ts)
            deliveries.append(delay)
            slowest[seq] = max(slowest.get(seq, 0.0), delay)
        missing += sum(
            1
            for s in stored.values()
            if s.ts >= ready_at and f".{job_id}." in s.subject and s.seq not in seen
        )
        terminal = [s.seq for s in stored.values() if s.subject == f"{subjects.EVENTS}.{job_id}.completed"]
        if terminal and terminal[0] not in seen:
            ended_early += 1  # the gateway closed this stream before its terminal event
    window = window_end - ready_at
    return {
        "watchers": len(watchers),
        "jobs": len(ids),
        "watchers_per_job": per_job,
        "connect_seconds": ready_at - connect_started,
        "window_seconds": window,
        "events_measured": len(slowest),
        "deliveries_measured": len(deliveries),
        "deliveries_per_second": len(deliveries) / window if window > 0 else 0.0,
        "missing_deliveries": missing,
        "streams_closed_before_terminal_event": ended_early,
        "bad_status": sum(1 for _, w in watchers if w.status_ok is False),
        "every_watcher_ms": summary(list(slowest.values())),
        "nats_direct_ms": summary(nats_direct),
        "ordered_consumer_ms": summary(ordered_ms),
        "per_delivery_ms": summary(deliveries),
        "cpu_seconds": cpu,
        "bench_cpu_share_of_one_core": cpu.get("bench", 0.0) / window if window > 0 else 0.0,
        "gateway_cpu_share_of_one_core": cpu.get("gateway", 0.0) / window if window > 0 else 0.0,
        "_every": list(slowest.values()),
        "_each": deliveries,
    }


def run(env: BenchEnv, config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult("fanout", TITLE)
    profiler = Profiler(config.results_dir / "profiles" / "fanout", enabled=config.profile)
    c = config.fanout_concurrency
    with (
        env.fake_model(latency=config.fanout_latency, jitter=config.jitter, max_concurrency=c) as fake,
        env.system(
            "fanout",
            {"MODEL_URL": fake.url, "OCR_MAX_IN_FLIGHT": str(c), "OCR_CONCURRENCY": str(c)},
            services=("gateway", "splitter", "assembler"),  # OCR starts once every watcher is in place
        ) as system,
    ):
        try:
            data = asyncio.run(measure(system, config, profiler))
        finally:
            profiles = profiler.stop()
    every: list[float] = data.pop("_every")  # type: ignore[assignment]
    each: list[float] = data.pop("_each")  # type: ignore[assignment]
    direct: dict[str, float] = data["nats_direct_ms"]  # type: ignore[assignment]
    ordered: dict[str, float] = data["ordered_consumer_ms"]  # type: ignore[assignment]
    watchers, missing = int(data["watchers"]), int(data["missing_deliveries"])  # type: ignore[call-overload]
    rate, client = float(data["deliveries_per_second"]), float(data["bench_cpu_share_of_one_core"])  # type: ignore[arg-type]
    p50, p99 = percentile(every, 50), percentile(every, 99)
    result.add(
        Figure("watchers", watchers, "", digits=0),
        Figure("delay to every watcher p50", p50, "ms"),
        Figure("delay to every watcher p99", p99, "ms", "< 100 ms", p99 < 100),
        Figure("delay per delivery p50", percentile(each, 50), "ms", f"p99 {percentile(each, 99):.1f} ms"),
        Figure("control: core NATS → bench, p99", direct.get("p99", float("nan")), "ms", "(the floor)"),
        Figure("control: ordered consumer → bench, p99", ordered.get("p99", float("nan")), "ms", "(no HTTP)"),
        Figure("deliveries/s", rate, "/s"),
        Figure("missed deliveries", missing, "", "0", missing == 0, 0),
        Figure("bench client CPU (1 core = 100 %)", 100 * client, "%", "≪ 100 % = not client-bound"),
    )
    result.details = {**data, "profiles": profiles}
    gateway = float(data["gateway_cpu_share_of_one_core"])  # type: ignore[arg-type]
    result.notes.append(
        f"the gateway adds {p99 - ordered.get('p99', 0.0):.0f} ms at p99 to the NATS read alone (no HTTP);"
        f" it used {100 * gateway:.0f} % of a core for {rate:.0f} deliveries/s"
        f" ({1e3 * gateway / max(rate, 1e-9):.2f} ms of CPU per delivery)"
    )
    return result
