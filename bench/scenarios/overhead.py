"""3. Overhead per page with a model that answers at once, and the pipeline's own ceiling.

Per page, from the streams' own timestamps (no instrumentation):

* ``rendered``: PageRendered stored in PW_PAGES (after render, encode and the image's upload to storage);
* ``result``:   PageRecognized stored in PW_RESULTS; its ``duration_ms`` is the model call as timed by the
  OCR worker (request encoding, HTTP, the fake's decoding);
* ``event``:    the ``page`` event stored in PW_EVENTS (after the assembler's transaction).

overhead = (event − rendered) − model call: queueing, delivery, image download, result publication,
database transaction and event publication. Rendering, encoding and the model call are excluded as the issue
asks; the image upload happens before ``rendered`` and is measured apart in the details (``storage_put``).

Documents run one after another for the latency sample (a page waits for nothing but the pipeline), then
many at once for the ceiling (pages/s from the first rendered page to the last page event).
"""

from __future__ import annotations

import asyncio
import os
import time

from bench.config import BenchConfig
from bench.cpu import CpuMeter
from bench.documents import coded_pdfs
from bench.harness import BenchEnv, System
from bench.pipeline import run_documents
from bench.profiling import Profiler
from bench.report import Figure, ScenarioResult
from bench.stats import percentile, summary
from bench.streams import connect

TITLE = "pipeline overhead per page, model answering at once"


async def storage_put_ms(system: System, samples: int = 40) -> dict[str, float]:
    """The splitter's image upload, timed apart: the same store, a page-sized object (260 KB)."""
    from services.common.storage import open_store

    nc = await connect(system.nats.url)
    try:
        store = await open_store("nats-objects://pagewise", nc.jetstream())
        data = os.urandom(260_000)
        times = []
        for i in range(samples):
            started = time.perf_counter()
            await store.put_bytes(f"bench/put-{i:03d}.jpg", data, "image/jpeg")
            times.append(1e3 * (time.perf_counter() - started))
            await store.delete(f"bench/put-{i:03d}.jpg")
        return summary(times)
    finally:
        await nc.close()


def run(env: BenchEnv, config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult("overhead", TITLE)
    cap = config.ceiling_in_flight
    sequential = coded_pdfs(3000, config.overhead_docs, config.overhead_doc_pages)
    per_doc = max(1, config.ceiling_pages // max(1, config.ceiling_docs))
    ceiling_pdfs = coded_pdfs(3100, config.ceiling_docs, per_doc)
    profiler = Profiler(config.results_dir / "profiles" / "overhead", enabled=config.profile)
    with (
        env.fake_model(latency=0.0, jitter=0.0, max_concurrency=0) as fake,
        env.system(
            "overhead",
            {"MODEL_URL": fake.url, "OCR_MAX_IN_FLIGHT": str(cap), "OCR_CONCURRENCY": str(cap)},
            scale={"ocr": config.ocr_procs, "splitter": config.splitter_procs},
        ) as system,
    ):
        asyncio.run(run_documents(system, coded_pdfs(3900, 1, 8)))  # warm-up
        pages = []
        for pdf in sequential:
            pages.extend(asyncio.run(run_documents(system, [pdf])).page_times())
        put = asyncio.run(storage_put_ms(system))
        for name, pids in system.all_pids().items():
            for index, pid in enumerate(pids):
                profiler.start(f"{name}-{index}", pid)
        meter = CpuMeter().start()
        ceiling = asyncio.run(run_documents(system, ceiling_pdfs, parallel=4))
        cpu = meter.stop()
        profiles = profiler.stop()
    pages = [p for p in pages if p.complete]
    overhead = [1e3 * (p.event - p.rendered) - p.model_ms for p in pages]
    ocr_side = [1e3 * (p.result - p.rendered) - p.model_ms for p in pages]
    assembly = [1e3 * (p.event - p.result) for p in pages]
    cpages = [p for p in ceiling.page_times() if p.complete]
    window = max(p.event for p in cpages) - min(p.rendered for p in cpages)
    rate = len(cpages) / window
    p50, p99 = percentile(overhead, 50), percentile(overhead, 99)
    result.add(
        Figure("overhead p50", p50, "ms", "<= 15 ms", p50 <= 15),
        Figure("overhead p99", p99, "ms", "<= 50 ms", p99 <= 50),
        Figure("  of which OCR side p50 (queue, image get, publish)", percentile(ocr_side, 50), "ms"),
        Figure("  of which assembly p50 (transaction, events)", percentile(assembly, 50), "ms"),
        Figure(
            "model call as seen by OCR p50", percentile([p.model_ms for p in pages], 50), "ms", "(excluded)"
        ),
        Figure(
            "pipeline ceiling (model free)",
            rate,
            "p/s",
            f"(reference: C/L = {config.ideal_pages_per_second:g})",
        ),
    )
    result.details = {
        "sample_pages": len(pages),
        "overhead_ms": summary(overhead),
        "ocr_side_ms": summary(ocr_side),
        "assembly_ms": summary(assembly),
        "model_call_ms": summary([p.model_ms for p in pages]),
        "storage_put_ms": put,
        "ceiling": {
            "pages": len(cpages),
            "documents": len(ceiling.submitted),
            "window_seconds": window,
            "pages_per_second": rate,
            "end_to_end_pages_per_second": ceiling.pages / (ceiling.ended - ceiling.started),
            "ocr_max_in_flight": cap,
            "cpu_seconds": cpu,
            "cpu_ms_per_page": {k: round(1e3 * v / max(1, len(cpages)), 2) for k, v in cpu.items()},
            "cpu_cores_busy": round(sum(v for k, v in cpu.items() if k != "py-spy") / window, 2),
        },
        "profiles": profiles,
    }
    return result
