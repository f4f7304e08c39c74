"""1. Throughput: many documents against a model with latency L and a hard limit C.

The figure is pages per second while the model is being used: from the start of the first model call of the
measured run to the publication of the last result (each page's model-call start is its result's stream
timestamp less the call's duration, measured by the OCR worker). A perfect pipeline keeps C calls in flight
for that whole window, so it reaches exactly C / L. The end-to-end rate (first upload to last ``completed``)
is printed beside it: it adds the ramp-up (upload, first render) and the tail (last assembly), which do not
depend on how well the model is fed.
"""

from __future__ import annotations

import asyncio

from bench.config import BenchConfig
from bench.cpu import CpuMeter
from bench.documents import coded_pdfs
from bench.harness import BenchEnv
from bench.pipeline import run_documents
from bench.report import Figure, ScenarioResult
from bench.stats import summary
from bench.streams import PageTimes

TITLE = "throughput: many documents, model with latency L and limit C"


def stages(pages: list[PageTimes], start: float, end: float) -> dict[str, object]:
    """Where a page's time went, to explain a gap to the ideal: is the model waiting for pages (rendering is
    behind), or are pages waiting for the model (slots held by work around the call)?"""
    rendered = sorted(p.rendered for p in pages)
    return {
        "render_rate_pages_per_second": len(rendered) / max(1e-9, rendered[-1] - rendered[0]),
        "rendered_to_model_call_ms": summary([1e3 * (p.model_start - p.rendered) for p in pages]),
        "model_call_ms_seen_by_ocr": summary([p.model_ms for p in pages]),
        "result_to_page_event_ms": summary([1e3 * (p.event - p.result) for p in pages]),
        "window_seconds": end - start,
    }


def run(env: BenchEnv, config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult("throughput", TITLE)
    c, lat = config.concurrency, config.latency
    ideal = config.ideal_pages_per_second
    pdfs = coded_pdfs(1000, config.docs, config.pages_per_doc)
    with (
        env.fake_model(latency=lat, jitter=config.jitter, max_concurrency=c) as fake,
        env.system(
            "throughput",
            {"MODEL_URL": fake.url, "OCR_MAX_IN_FLIGHT": str(c), "OCR_CONCURRENCY": str(c)},
            scale={"ocr": config.ocr_procs, "splitter": config.splitter_procs},
        ) as system,
    ):
        warm = asyncio.run(run_documents(system, coded_pdfs(900, 1, c)))  # connections, imports, caches
        if warm.failed_jobs:
            raise RuntimeError(f"warm-up job failed: {system.log_tail()}")
        fake.reset()
        meter = CpuMeter().start()
        run_ = asyncio.run(
            run_documents(system, pdfs, parallel=4, within=max(300.0, 4 * config.pages / ideal))
        )
        stats = fake.stats()
        cpu = meter.stop()
    pages = [p for p in run_.page_times() if p.complete]
    first_call = min(p.model_start for p in pages)
    last_result = max(p.result for p in pages)
    steady = len(pages) / (last_result - first_call)
    end_to_end = run_.pages / (run_.ended - run_.started)
    result.add(
        Figure("pages", run_.pages, "", digits=0),
        Figure(
            "pages/s (model window)",
            steady,
            "p/s",
            f">= {0.97 * ideal:.1f} (97 % of {ideal:g})",
            steady >= 0.97 * ideal,
        ),
        Figure("ratio to ideal C/L", 100 * steady / ideal, "%", ">= 97 %", steady >= 0.97 * ideal),
        Figure(
            "peak model concurrency", stats["peak_in_flight"], "", f"= {c}", stats["peak_in_flight"] == c, 0
        ),
        Figure(
            "mean model concurrency",
            stats["mean_in_flight"],
            "",
            f"~ {c}",
            stats["mean_in_flight"] >= 0.97 * c,
            2,
        ),
        Figure("429 responses", stats["rejected_429"], "", "0", stats["rejected_429"] == 0, 0),
        Figure("pages/s end to end", end_to_end, "p/s", "(upload → last completed)", None),
    )
    result.details = {
        "ideal_pages_per_second": ideal,
        "documents": len(run_.submitted),
        "failed_jobs": run_.failed_jobs,
        "model_window_seconds": last_result - first_call,
        "end_to_end_seconds": run_.ended - run_.started,
        "fake_stats": {k: v for k, v in stats.items() if k != "by_page"},
        "ocr_processes": config.ocr_procs,
        "splitter_processes": config.splitter_procs,
        "stages": stages(pages, first_call, last_result),
        "ocr_consumer": run_.sampler.shares(c, first_call, last_result) if run_.sampler else {},
        "cpu_seconds": cpu,
        "cpu_ms_per_page": {k: round(1e3 * v / max(1, len(pages)), 2) for k, v in cpu.items()},
        "cpu_cores_busy": round(sum(cpu.values()) / (run_.ended - run_.started), 2),
    }
    if run_.failed_jobs:
        result.notes.append(f"{len(run_.failed_jobs)} jobs did not complete")
    if steady < 0.97 * ideal:
        result.notes.append(diagnose(result.details, c, lat))
    return result


def diagnose(details: dict[str, object], c: int, latency: float) -> str:
    """One sentence on why the model was not kept busy, from the stage times and the consumer samples."""
    stage: dict[str, object] = details["stages"]  # type: ignore[assignment]
    consumer: dict[str, float] = details["ocr_consumer"]  # type: ignore[assignment]
    render_rate = float(stage["render_rate_pages_per_second"])  # type: ignore[arg-type]
    call_ms = float(stage["model_call_ms_seen_by_ocr"]["p50"])  # type: ignore[index]
    starved = consumer.get("ocr_starved_share", 0.0)
    if starved > 0.25:
        return (
            f"rendering is behind: pages were rendered at {render_rate:.1f}/s and the OCR stage had free"
            f" slots and nothing to take {100 * starved:.0f} % of the time (see docs/performance.md)"
        )
    return (
        f"the {c} capped slots were full {100 * consumer.get('ocr_slots_full_share', 0.0):.0f} % of the time,"
        f" but each slot also holds the work around the model call: the OCR worker saw calls of"
        f" {call_ms:.0f} ms (p50) for L = {1e3 * latency:.0f} ms, plus image download, result publication"
        " and ack (see docs/performance.md)"
    )
