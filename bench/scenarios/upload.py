"""5. Upload memory: a very large PDF streamed into the gateway; peak RSS growth of the gateway process.

The file is written to disk in pieces and sent from a generator, so neither side of the test holds it in
memory; the gateway's resident set is sampled every ``rss_interval`` seconds from before the first byte to
after the answer (which comes once the file is checked, stored and the job recorded). Only the gateway runs:
nothing else should touch a 500 MB document here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil

from bench.config import BenchConfig
from bench.documents import write_large_pdf
from bench.harness import BenchEnv
from bench.report import Figure, ScenarioResult
from bench.stats import percentile

TITLE = "upload memory: a large PDF streamed into the gateway"
BOUNDARY = "pagewise-bench-boundary-7d1e"
TARGET_MB = 64


class RssSampler(threading.Thread):
    """Samples one process's RSS on a thread, so the sampling never waits on the upload."""

    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self.samples.append((time.monotonic(), self.proc.memory_info().rss))
            except psutil.Error:
                return
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def multipart_body(path: Path, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The multipart form, file part read from disk one MiB at a time."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            yield block
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def run(env: BenchEnv, config: BenchConfig) -> ScenarioResult:
    result = ScenarioResult("upload", TITLE)
    path = env.workdir / "large-upload.pdf"
    size = write_large_pdf(path, config.upload_mb)
    try:
        with env.system(
            "upload", {"MAX_UPLOAD_MB": str(config.upload_mb + 64)}, services=("gateway",)
        ) as system:
            pid = system.pids("gateway")[0]
            sampler = RssSampler(pid, config.rss_interval)
            sampler.start()
            time.sleep(1.0)  # the baseline: the idle gateway
            baseline_samples = [rss for _, rss in sampler.samples]
            started = time.monotonic()
            response = httpx.post(
                f"{system.url}/api/jobs",
                content=multipart_body(path),
                headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                timeout=600,
            )
            seconds = time.monotonic() - started
            time.sleep(0.5)
            sampler.stop()
    finally:
        path.unlink(missing_ok=True)
    if response.status_code != 202:
        raise RuntimeError(f"upload answered {response.status_code}: {response.text[:300]}")
    baseline = percentile(baseline_samples, 50)
    during = [rss for t, rss in sampler.samples if t >= started]
    peak = max(during)
    growth_mb = (peak - baseline) / 2**20
    result.add(
        Figure("upload size", size / 2**20, "MiB", digits=0),
        Figure("gateway peak RSS growth", growth_mb, "MiB", f"< {TARGET_MB} MiB", growth_mb < TARGET_MB),
        Figure("gateway RSS before", baseline / 2**20, "MiB"),
        Figure(
            "upload → 202 (check, store, record)",
            seconds,
            "s",
            f"{size / 2**20 / seconds:.0f} MiB/s",
            None,
            2,
        ),
    )
    result.details = {
        "bytes": size,
        "baseline_rss": baseline,
        "peak_rss": peak,
        "samples": len(during),
        "interval_s": config.rss_interval,
        "seconds": seconds,
        "response": response.json(),
    }
    return result
