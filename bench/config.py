"""Every parameter of a bench run in one frozen value, so a result file can record exactly what was run."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class BenchConfig:
    # the fake model: latency L (s), +/- uniform jitter (s), hard concurrency limit C (429 above it)
    latency: float = 0.5
    jitter: float = 0.025
    concurrency: int = 16
    # 1. throughput: total pages spread over that many documents; OCR processes sharing the global cap
    pages: int = 1024
    docs: int = 64
    ocr_procs: int = 2
    splitter_procs: int = 1
    # 2. one big document, and the seed design's worker count
    big_pages: int = 100
    baseline_workers: int = 2
    # 3. overhead: documents run one after another (latency sample), then many at once (ceiling)
    overhead_docs: int = 4
    overhead_doc_pages: int = 50
    ceiling_pages: int = 480
    ceiling_docs: int = 12
    ceiling_in_flight: int = 32
    # 4. rendering
    render_pages: int = 12
    longest_side: int = 1288
    # 5. upload memory
    upload_mb: int = 500
    rss_interval: float = 0.02
    # 6. SSE fan-out
    watchers: int = 1000
    fanout_jobs: int = 10
    fanout_pages: int = 24
    fanout_latency: float = 0.5
    fanout_concurrency: int = 8
    # run control: JetStream fsync policy of the nats-server we start ("always" is what pagewise ships)
    nats_sync: str = "always"
    # extra environment for every service of every stack, e.g. SPLITTER_CONCURRENCY=4 (to try a setting)
    env: tuple[str, ...] = ()
    profile: bool = False
    keep: bool = False
    results_dir: Path = RESULTS_DIR
    scenarios: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ideal_pages_per_second(self) -> float:
        """The physical limit: C requests in flight, each taking L seconds on average."""
        return self.concurrency / self.latency

    @property
    def service_env(self) -> dict[str, str]:
        return dict(item.split("=", 1) for item in self.env)

    @property
    def pages_per_doc(self) -> int:
        return max(1, math.ceil(self.pages / max(1, self.docs)))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["results_dir"] = str(self.results_dir)
        data["scenarios"] = list(self.scenarios)
        data["env"] = list(self.env)
        return data
