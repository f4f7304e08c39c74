"""2. One big document on an idle system: pagewise against the ideal and against the seed design.

The ideal is ``pages / C × L``: C pages at a time, each taking L. The seed design sends one document's pages
one after another, so it needs ``pages × L`` however large C is; pagewise should be about C times faster,
and the target asks for at least C / 2.
"""

from __future__ import annotations

import asyncio

from bench.baseline import run_baseline
from bench.config import BenchConfig
from bench.documents import coded_pdfs
from bench.harness import BenchEnv
from bench.pipeline import run_documents
from bench.report import Figure, ScenarioResult
from bench.scenarios.throughput import stages

TITLE = "one big document, idle system, against the seed design"


def run(env: BenchEnv, config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult("big", TITLE)
    c, lat, n = config.concurrency, config.latency, config.big_pages
    pdf = coded_pdfs(2000, 1, n)[0]
    with env.fake_model(latency=lat, jitter=config.jitter, max_concurrency=c) as fake:
        with env.system(
            "big",
            {"MODEL_URL": fake.url, "OCR_MAX_IN_FLIGHT": str(c), "OCR_CONCURRENCY": str(c)},
            scale={"ocr": config.ocr_procs, "splitter": config.splitter_procs},
        ) as system:
            asyncio.run(run_documents(system, coded_pdfs(2900, 1, 4)))  # warm-up
            fake.reset()
            run_ = asyncio.run(run_documents(system, [pdf]))
            pagewise_stats = fake.stats()
        fake.reset()
        baseline = asyncio.run(run_baseline([pdf], fake.url, workers=config.baseline_workers))
        baseline_stats = fake.stats()
    pagewise = run_.ended - run_.started
    pages = [p for p in run_.page_times() if p.complete]
    ideal = n / c * lat
    seed = baseline[0].seconds
    speedup = seed / pagewise
    result.add(
        Figure("pagewise: upload → completed", pagewise, "s", f"ideal {ideal:.2f} s", None, 2),
        Figure("ideal / pagewise", 100 * ideal / pagewise, "%", "(100 % = the model limit)", None),
        Figure("seed design (1 job/doc, 2 workers)", seed, "s", f"~ {n * lat:.0f} s (pages × L)", None, 2),
        Figure("speed-up over seed design", speedup, "×", f">= {c / 2:g} (C/2)", speedup >= c / 2),
        Figure("peak model concurrency", pagewise_stats["peak_in_flight"], "", f"<= {c}",
               pagewise_stats["peak_in_flight"] <= c, 0),
    )  # fmt: skip
    result.details = {
        "pages": n,
        "ideal_seconds": ideal,
        "pagewise_seconds": pagewise,
        "baseline_seconds": seed,
        "failed_jobs": run_.failed_jobs,
        "stages": stages(pages, min(p.model_start for p in pages), max(p.result for p in pages)),
        "pagewise_fake_stats": {k: v for k, v in pagewise_stats.items() if k != "by_page"},
        "baseline_fake_stats": {k: v for k, v in baseline_stats.items() if k != "by_page"},
    }
    return result
