"""Command line: choose scenarios and parameters, run them, print one table, save the figures."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from bench.config import RESULTS_DIR, BenchConfig
from bench.harness import BenchEnv
from bench.report import ScenarioResult, print_table, write_json
from bench.scenarios import big, fanout, overhead, render, throughput, upload

Scenario = Callable[[BenchEnv, BenchConfig], ScenarioResult]

SCENARIOS: dict[str, Scenario] = {
    "throughput": throughput.run,
    "big": big.run,
    "overhead": overhead.run,
    "render": render.run,
    "upload": upload.run,
    "fanout": fanout.run,
}


def build_parser() -> argparse.ArgumentParser:
    d = BenchConfig()
    p = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").strip())
    p.add_argument("scenario", nargs="*", choices=[*SCENARIOS, []], help="scenarios to run (default: all)")
    p.add_argument("--only", action="append", default=[], choices=list(SCENARIOS), help="same as positional")
    g = p.add_argument_group("fake model")
    g.add_argument("--latency", type=float, default=d.latency, help="L: seconds per model call")
    g.add_argument("--jitter", type=float, default=d.jitter, help="+/- uniform seconds around L")
    g.add_argument(
        "--concurrency", type=int, default=d.concurrency, help="C: the model's hard limit (429 above)"
    )
    g = p.add_argument_group("1. throughput")
    g.add_argument("--pages", type=int, default=d.pages, help="total pages")
    g.add_argument("--docs", type=int, default=d.docs, help="documents they are spread over")
    g.add_argument("--ocr-procs", type=int, default=d.ocr_procs, help="OCR processes sharing the global cap")
    g.add_argument("--splitter-procs", type=int, default=d.splitter_procs, help="splitter processes")
    g = p.add_argument_group("2. one big document")
    g.add_argument("--big-pages", type=int, default=d.big_pages)
    g.add_argument(
        "--baseline-workers", type=int, default=d.baseline_workers, help="jobs at a time (seed design)"
    )
    g = p.add_argument_group("3. overhead")
    g.add_argument(
        "--overhead-docs", type=int, default=d.overhead_docs, help="documents run one after another"
    )
    g.add_argument("--overhead-doc-pages", type=int, default=d.overhead_doc_pages)
    g.add_argument("--ceiling-pages", type=int, default=d.ceiling_pages, help="pages for the ceiling run")
    g.add_argument("--ceiling-docs", type=int, default=d.ceiling_docs)
    g.add_argument(
        "--ceiling-in-flight", type=int, default=d.ceiling_in_flight, help="OCR_MAX_IN_FLIGHT there"
    )
    g = p.add_argument_group("4. rendering")
    g.add_argument("--render-pages", type=int, default=d.render_pages, help="pages per document measured")
    g.add_argument("--longest-side", type=int, default=d.longest_side)
    g = p.add_argument_group("5. upload memory")
    g.add_argument("--upload-mb", type=int, default=d.upload_mb)
    g = p.add_argument_group("6. SSE fan-out")
    g.add_argument("--watchers", type=int, default=d.watchers)
    g.add_argument("--fanout-jobs", type=int, default=d.fanout_jobs)
    g.add_argument("--fanout-pages", type=int, default=d.fanout_pages, help="pages per watched job")
    g.add_argument("--fanout-latency", type=float, default=d.fanout_latency)
    g.add_argument("--fanout-concurrency", type=int, default=d.fanout_concurrency)
    g = p.add_argument_group("run")
    g.add_argument("--nats-sync", default=d.nats_sync, help="JetStream sync_interval (always, or e.g. 2m)")
    g.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="extra service setting")
    g.add_argument("--profile", action="store_true", help="py-spy the services during overhead and fan-out")
    g.add_argument("--keep", action="store_true", help="keep the work directory (service logs)")
    g.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return p


def config_from(args: argparse.Namespace) -> BenchConfig:
    chosen = [s for s in SCENARIOS if s in {*args.scenario, *args.only}] or list(SCENARIOS)
    fields = {k: v for k, v in vars(args).items() if k not in ("scenario", "only", "env")}
    bad = [item for item in args.env if "=" not in item]
    if bad:
        raise SystemExit(f"--env wants KEY=VALUE, got {bad}")
    return BenchConfig(**fields, env=tuple(args.env), scenarios=tuple(chosen))


def main(argv: list[str] | None = None) -> int:
    config = config_from(build_parser().parse_args(argv))
    console = Console(width=max(110, Console().width))
    started = dt.datetime.now().astimezone()
    results: list[ScenarioResult] = []
    interrupted = False
    busy = os.getloadavg()[0]
    if busy > 0.5 * (os.cpu_count() or 1):
        console.print(
            f"[yellow]load average {busy:.1f} on {os.cpu_count()} cores before the bench starts: other work"
            " is running, and every figure below will be slower than this machine can do[/yellow]"
        )
    with BenchEnv(keep=config.keep, nats_sync=config.nats_sync, service_env=config.service_env) as env:
        for name in config.scenarios:
            console.rule(f"[bold]{name}")
            t0 = time.monotonic()
            load = os.getloadavg()
            try:
                result = SCENARIOS[name](env, config)
            except KeyboardInterrupt:
                interrupted = True
                console.print("[red]interrupted[/red]")
                break
            except Exception as exc:
                traceback.print_exc()
                result = ScenarioResult(name, name, error=f"{type(exc).__name__}: {exc}")
            result.seconds = time.monotonic() - t0
            result.details["load_average_before"] = load
            results.append(result)
            print_table([result], console)
    if results:
        print_table(results, console)
        path = write_json(results, config, started)
        console.print(f"figures written to {path} and {path.parent / 'latest.json'}")
    if interrupted:
        return 130
    return 1 if any(r.error for r in results) else 0
