"""``pagewise submit | status | watch | cancel | result | jobs``: the client subcommands.

Conventions every command keeps, so scripts can rely on them: results go to stdout (plain text, or one
JSON document with ``--json``; ``watch --json`` writes one JSON object per line), progress and errors go
to stderr, and the exit code says what happened (see ``EXIT_CODES``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Column, Table

from services.client.api import (
    EXIT_INTERRUPTED,
    EXIT_JOB_NOT_COMPLETED,
    EXIT_OK,
    EXIT_USAGE,
    Api,
    ApiError,
    ClientError,
    Event,
)
from services.client.progress import Display, JobProgress, NoDisplay, format_seconds, make_display

EXIT_CODES = """\
exit codes:
  0    success; for submit --wait and watch: every job completed
  1    a job failed or was cancelled, or is not in a state for the request
       (result of an unfinished job, cancel of a job that already ended)
  2    usage or input error: bad arguments, missing file, unknown job id,
       upload rejected by the gateway (4xx, its message is printed)
  3    gateway unreachable or unavailable (connection refused, timeout, 5xx)
  130  interrupted (Ctrl-C); submitted jobs keep running on the server"""

UPLOAD_CONCURRENCY = 4
"""Files uploaded at once: enough to overlap round trips, few enough not to saturate a link or the gateway."""

UPLOAD_FIELDS = ("model", "prompt", "pages", "dpi", "longest_side")
"""Form fields of ``POST /api/jobs``, each also the ``submit`` option's argparse dest."""

DEFAULT_RETRY_FOR = 120.0
JOB_STATUSES = ("pending", "processing", "completed", "failed", "cancelled")


# ----------------------------------------------------------------------------------------------------------
# command line


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the client subcommands to the ``pagewise`` parser (``services.cli.build_parser`` calls this)."""
    _add_submit(subparsers)
    _add_status(subparsers)
    _add_watch(subparsers)
    _add_cancel(subparsers)
    _add_rerun(subparsers)
    _add_result(subparsers)
    _add_jobs(subparsers)


def _parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str, description: str
) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        name,
        help=summary,
        description=description,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _add_json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"output for machines: {what}; never bars")


def _add_retry_for(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--retry-for",
        type=float,
        default=DEFAULT_RETRY_FOR,
        metavar="SECONDS",
        help="while following a job, keep reconnecting this long when the gateway is gone (default 120)",
    )


def _add_submit(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _parser(
        subparsers,
        "submit",
        "upload PDFs; with --wait follow them live and write the Markdown",
        "Upload each FILE as its own job. Without --wait, print the job ids (one per line) and exit.\n"
        "With --wait, show a live progress bar per file (pages done/total, pages/s, ETA) while they are\n"
        "converted concurrently, then write DIR/<file stem>.md for each completed job and print its path.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="PDF files to convert")
    p.add_argument("--wait", action="store_true", help="follow the jobs to their end and write the Markdown")
    p.add_argument(
        "--out", metavar="DIR", help="folder for the .md files, created if missing (default: current folder)"
    )
    p.add_argument("--model", help="model name to use instead of the server's default")
    p.add_argument("--prompt", help="prompt to use instead of the server's default")
    p.add_argument("--pages", metavar="RANGE", help="pages to convert: '5', '3-10' or '4-' (default: all)")
    p.add_argument("--dpi", help="rendering resolution, 36-600")
    p.add_argument("--longest-side", metavar="PX", help="rendered page's longest side in pixels, 256-4096")
    _add_json(p, "one JSON list, a record per file")
    _add_retry_for(p)
    p.set_defaults(func=cmd_submit)


def _add_status(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _parser(
        subparsers, "status", "show a job's status", "Show a job's status and page counts (exit 0 if found)."
    )
    p.add_argument("job_id", metavar="ID")
    _add_json(p, "the job as JSON, as the API returns it")
    p.set_defaults(func=cmd_status)


def _add_watch(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _parser(
        subparsers,
        "watch",
        "follow a job live until it ends",
        "Follow a job's events until it ends, with a live progress bar. Survives gateway restarts.\n"
        "Exit 0 if the job completed, 1 if it failed or was cancelled.",
    )
    p.add_argument("job_id", metavar="ID")
    _add_json(p, 'each event as one line {"id", "event", "data"} (NDJSON)')
    _add_retry_for(p)
    p.set_defaults(func=cmd_watch)


def _add_cancel(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _parser(
        subparsers,
        "cancel",
        "cancel a job",
        "Cancel a job: pages not yet sent to the model are skipped. Exit 1 if it had already ended.",
    )
    p.add_argument("job_id", metavar="ID")
    _add_json(p, "the cancelled job as JSON")
    p.set_defaults(func=cmd_cancel)


def _add_rerun(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _parser(
        subparsers,
        "rerun",
        "process a stored upload again with new options",
        "Create a new job from a job's stored upload (no re-upload) with a new model, prompt or pages;"
        " options left out are the original job's. Prints the new job id; with --wait, follows it like"
        " `watch`.",
    )
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--model", help="model name for the new run")
    p.add_argument("--prompt", help="OCR prompt for the new run")
    p.add_argument("--pages", help="page range, e.g. 3-10")
    p.add_argument("--wait", action="store_true", help="follow the new job until it ends")
    _add_json(p, "the new job as JSON")
    _add_retry_for(p)
    p.set_defaults(func=cmd_rerun)


def _add_result(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _parser(
        subparsers,
        "result",
        "print or save a completed job's Markdown",
        "Print a completed job's Markdown (or write it to --out). Exit 1 if the job has not completed.",
    )
    p.add_argument("job_id", metavar="ID")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")
    _add_json(p, "the pages as JSON (status, Markdown, errors per page)")
    p.set_defaults(func=cmd_result)


def _add_jobs(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = _parser(subparsers, "jobs", "list jobs, newest first", "List jobs, newest first.")
    p.add_argument("--status", choices=JOB_STATUSES, help="only jobs with this status")
    p.add_argument("--limit", type=int, default=20, help="how many jobs (1-500, default 20)")
    p.add_argument("--cursor", help="continue after a previous listing (its next_cursor)")
    _add_json(p, 'JSON {"jobs": [...], "next_cursor": ...} as the API returns it')
    p.set_defaults(func=cmd_jobs)


# ----------------------------------------------------------------------------------------------------------
# shared plumbing


def error(message: str) -> None:
    """Errors are plain text on stderr: never on stdout, which scripts parse."""
    print(f"pagewise: {message}", file=sys.stderr, flush=True)


def run(main: Callable[[], Awaitable[int]], on_interrupt: Callable[[], None] | None = None) -> int:
    """Run a command's coroutine and turn whatever ends it into the exit code (see ``EXIT_CODES``)."""
    try:
        return asyncio.run(main())  # type: ignore[arg-type]
    except ClientError as exc:
        error(exc.message)
        return exc.exit_code
    except KeyboardInterrupt:
        error("interrupted")
        if on_interrupt is not None:
            on_interrupt()
        return EXIT_INTERRUPTED


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False), flush=True)


def write_atomically(path: Path, data: bytes) -> Path:
    """Write via a temporary file and rename, so a crash never leaves a half-written .md behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


async def follow(
    api: Api,
    job: JobProgress,
    display: Display,
    retry_for: float,
    on_event: Callable[[Event], None] | None = None,
) -> None:
    """Fold the job's live events into ``job`` until it ends, showing "reconnecting" while the gateway is
    away (the API layer resumes the stream exactly where it broke off)."""
    assert job.job_id is not None

    def on_retry(_: str) -> None:
        job.reconnecting = True
        display.update(job)

    async for event in api.events(job.job_id, retry_for=retry_for, on_retry=on_retry):
        job.apply(event)
        display.update(job)
        if on_event is not None:
            on_event(event)


def outcome_exit_code(status: str) -> int:
    return EXIT_OK if status == "completed" else EXIT_JOB_NOT_COMPLETED


# ----------------------------------------------------------------------------------------------------------
# submit


@dataclass
class FileOutcome:
    """What happened to one input file; ``record`` is its ``--json`` form."""

    path: Path
    job: JobProgress
    output: Path | None = None
    exit_code: int = EXIT_OK
    error: str | None = None

    def record(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "job_id": self.job.job_id,
            "status": self.job.status,
            "total_pages": self.job.total,
            "pages_done": self.job.done,
            "pages_failed": self.job.failed,
            "output": str(self.output) if self.output else None,
            "error": self.error or self.job.error,
            "exit_code": self.exit_code,
        }


def upload_fields(args: argparse.Namespace) -> dict[str, str]:
    """Only the options the user set: everything else falls back to the server's settings."""
    return {name: str(getattr(args, name)) for name in UPLOAD_FIELDS if getattr(args, name) is not None}


def check_inputs(paths: list[Path], out_dir: Path | None) -> list[str]:
    """Problems found before uploading anything: a typo must not leave half the batch submitted."""
    problems = [f"{p}: no such file" for p in paths if not p.exists()]
    problems += [f"{p}: not a regular file" for p in paths if p.exists() and not p.is_file()]
    if out_dir is not None:
        if out_dir.exists() and not out_dir.is_dir():
            problems.append(f"--out {out_dir}: not a folder")
        targets: dict[Path, Path] = {}
        for p in paths:
            target = markdown_path(p, out_dir)
            if target in targets and targets[target] != p.resolve():
                problems.append(f"{p} and {targets[target]} would both be written to {target}")
            targets.setdefault(target, p.resolve())
    return problems


def markdown_path(path: Path, out_dir: Path) -> Path:
    return out_dir / f"{path.stem}.md"


def cmd_submit(args: argparse.Namespace) -> int:
    if args.out is not None and not args.wait:
        error("--out needs --wait (without it nothing is written)")
        return EXIT_USAGE
    paths = [Path(f) for f in args.files]
    out_dir = Path(args.out if args.out is not None else ".") if args.wait else None
    problems = check_inputs(paths, out_dir)
    if problems:
        for problem in problems:
            error(problem)
        return EXIT_USAGE
    jobs = [JobProgress(name=p.name) for p in paths]

    def on_interrupt() -> None:
        running = [j.job_id for j in jobs if j.job_id and not j.ended]
        if running:
            error("these jobs keep running on the server: " + " ".join(running))

    return run(lambda: submit_all(args, paths, jobs, out_dir), on_interrupt)


async def submit_all(
    args: argparse.Namespace, paths: list[Path], jobs: list[JobProgress], out_dir: Path | None
) -> int:
    fields = upload_fields(args)
    uploads = asyncio.Semaphore(UPLOAD_CONCURRENCY)
    display = make_display(args.json) if args.wait else NoDisplay()
    async with Api(args.url) as api:
        try:
            for job in jobs:
                display.add(job)
            outcomes = await asyncio.gather(
                *(
                    submit_one(api, path, job, display, uploads, fields, out_dir, args.retry_for)
                    for path, job in zip(paths, jobs, strict=True)
                )
            )
        finally:
            display.close()
    report_submissions(outcomes, args.json, args.wait)
    return max((o.exit_code for o in outcomes), default=EXIT_OK)


async def submit_one(
    api: Api,
    path: Path,
    job: JobProgress,
    display: Display,
    uploads: asyncio.Semaphore,
    fields: dict[str, str],
    out_dir: Path | None,
    retry_for: float,
) -> FileOutcome:
    """Upload one file and, with ``out_dir`` (``--wait``), follow it and write its Markdown. Failures are
    kept in the outcome, not raised: one bad file must not stop the others."""
    outcome = FileOutcome(path, job)
    try:
        async with uploads:
            accepted = await api.submit(path, fields)
        job.job_id = str(accepted["job_id"])
        job.total = accepted.get("total_pages") or None
        job.status = str(accepted.get("status") or "pending")
        display.update(job)
        if out_dir is None:
            return outcome
        await follow(api, job, display, retry_for)
        job_id = job.job_id
        if job.status == "completed":
            markdown = await api.with_retries(lambda: api.result(job_id), retry_for=retry_for)
            outcome.output = write_atomically(markdown_path(path, out_dir), markdown)
        else:
            outcome.exit_code = EXIT_JOB_NOT_COMPLETED
            outcome.error = job.error
    except ClientError as exc:
        if job.job_id is None:
            job.status = "rejected" if isinstance(exc, ApiError) and exc.exit_code == EXIT_USAGE else "error"
            job.error = exc.message
        outcome.exit_code = exc.exit_code
        outcome.error = exc.message
        display.update(job)
    except OSError as exc:  # the upload could not be read, or the .md not written
        outcome.exit_code = EXIT_USAGE
        outcome.error = str(exc)
    return outcome


def report_submissions(outcomes: list[FileOutcome], as_json: bool, waited: bool) -> None:
    """stdout: job ids (no --wait) or written paths (--wait), or the JSON list; problems go to stderr."""
    for o in outcomes:
        if o.job.job_id is None:
            error(f"{o.path}: {o.error}")
        elif o.exit_code != EXIT_OK:
            status = o.job.status if o.job.ended else "not followed to the end"
            detail = f": {o.error}" if o.error else ""
            error(f"{o.path}: job {o.job.job_id} {status}{detail}")
            if not o.job.ended:
                error(f"it keeps running on the server; follow it with: pagewise watch {o.job.job_id}")
        elif o.job.failed:
            error(f"{o.path}: warning: {o.job.failed} page(s) failed; see pagewise status {o.job.job_id}")
    if as_json:
        print_json([o.record() for o in outcomes])
        return
    for o in outcomes:
        if waited and o.output is not None:
            print(o.output, flush=True)
        elif not waited and o.job.job_id is not None:
            print(o.job.job_id, flush=True)


# ----------------------------------------------------------------------------------------------------------
# status, watch, cancel, result, jobs


def cmd_status(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with Api(args.url) as api:
            job = await api.job(args.job_id)
        if args.json:
            print_json(job)
        else:
            print(describe_job(job), flush=True)
        return EXIT_OK

    return run(main)


def describe_job(job: dict[str, Any]) -> str:
    """A person's view of a JobView: only the lines that say something."""
    total = job.get("total_pages")
    lines = [
        ("job", job.get("job_id")),
        ("file", f"{job.get('filename')} ({format_size(int(job.get('size_bytes') or 0))})"),
        ("status", job.get("status")),
        (
            "pages",
            f"{job.get('pages_done', 0)}/{total if total is not None else '?'} done, "
            f"{job.get('pages_failed', 0)} failed ({job.get('percentage', 0.0)}%)",
        ),
    ]
    eta = job.get("estimated_completion")
    if eta:
        lines.append(("eta", format_seconds(max(0.0, float(eta) - time.time()))))
    if job.get("error"):
        lines.append(("error", job["error"]))
    for key in ("created_at", "started_at", "completed_at"):
        if job.get(key):
            lines.append((key.removesuffix("_at"), format_time(float(job[key]))))
    return "\n".join(f"{key:<10}{value}" for key, value in lines)


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def format_time(epoch: float, *, short: bool = False) -> str:
    return time.strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def cmd_watch(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with Api(args.url) as api:
            return await watch_job(api, args.job_id, args)

    return run(main)


async def watch_job(api: Api, job_id: str, args: argparse.Namespace) -> int:
    view = await api.job(job_id)  # an unknown id fails here, before any display starts
    job = JobProgress(name=str(view.get("filename") or job_id), job_id=str(view["job_id"]))
    job.total = view.get("total_pages")
    display = make_display(args.json)
    display.add(job)
    try:
        await follow(api, job, display, args.retry_for, on_event=print_event if args.json else None)
    finally:
        display.close()
    if not args.json:
        total = job.total if job.total is not None else "?"
        print(f"{job.job_id} {job.status_text()} ({job.done}/{total} pages)", flush=True)
    return outcome_exit_code(job.status)


def print_event(event: Event) -> None:
    print(json.dumps(event.as_json(), ensure_ascii=False), flush=True)


def cmd_cancel(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with Api(args.url) as api:
            job = await api.cancel(args.job_id)
        if args.json:
            print_json(job)
        else:
            print(f"{job.get('job_id', args.job_id)} {job.get('status', 'cancelled')}", flush=True)
        return EXIT_OK

    return run(main)


def cmd_rerun(args: argparse.Namespace) -> int:
    async def main() -> int:
        options = {k: getattr(args, k) for k in ("model", "prompt", "pages") if getattr(args, k)}
        async with Api(args.url) as api:
            accepted = await api.rerun(args.job_id, options)
            if args.wait:
                return await watch_job(api, str(accepted["job_id"]), args)
        if args.json:
            print_json(accepted)
        else:
            print(accepted["job_id"], flush=True)
        return EXIT_OK

    return run(main)


def cmd_result(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with Api(args.url) as api:
            data = await api.result(args.job_id, as_json=args.json)
        if args.out:
            write_atomically(Path(args.out), data)
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        return EXIT_OK

    return run(main)


def cmd_jobs(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= 500:
        error("--limit must be between 1 and 500")
        return EXIT_USAGE

    async def main() -> int:
        async with Api(args.url) as api:
            listing = await api.jobs(status=args.status, limit=args.limit, cursor=args.cursor)
        if args.json:
            print_json(listing)
            return EXIT_OK
        print_jobs(listing.get("jobs") or [])
        if listing.get("next_cursor"):
            error(f"more jobs: pagewise jobs --cursor {listing['next_cursor']}")
        return EXIT_OK

    return run(main)


def print_jobs(jobs: list[dict[str, Any]]) -> None:
    """A table for a terminal; tab-separated lines (no header) for pipes, which ``cut`` and ``awk`` read."""
    console = Console()
    terminal = console.is_terminal
    rows = [
        (
            str(j.get("job_id")),
            str(j.get("status")),
            str(j.get("filename")),
            f"{j.get('pages_done', 0)}/{j.get('total_pages') if j.get('total_pages') is not None else '?'}",
            format_time(float(j.get("created_at") or 0), short=terminal),
        )
        for j in jobs
    ]
    if not terminal:
        for row in rows:
            print("\t".join(row))
        sys.stdout.flush()
        return
    # the id is what people copy into the next command: never cut it, cut the file name instead
    table = Table(
        Column("job", no_wrap=True, min_width=36),
        Column("status", no_wrap=True),
        Column("file", overflow="ellipsis", no_wrap=True),
        Column("pages", no_wrap=True),
        Column("created", no_wrap=True),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for row in rows:
        table.add_row(*row)
    console.print(table)
