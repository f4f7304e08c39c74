"""What a job's events say about its progress, and the ways of showing it.

The state is computed from the events alone (server timestamps, not arrival times), so a stream that is
replayed from the start after ``watch`` or a reconnect shows the true rate and ETA instead of a burst.
Displays: live rich bars when stderr is a terminal, one plain line per milestone when it is not (CI logs,
pipes: no cursor codes), and nothing at all for ``--json``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TextColumn
from rich.table import Column
from rich.text import Text

from services.client.api import Event

STATUS_STYLES = {
    "uploading": "cyan",
    "pending": "yellow",
    "processing": "blue",
    "reconnecting": "magenta",
    "completed": "green",
    "failed": "red",
    "cancelled": "red",
    "rejected": "red",
    "error": "red",
}


@dataclass
class JobProgress:
    """One file's job as the events describe it."""

    name: str
    job_id: str | None = None
    status: str = "uploading"
    total: int | None = None
    done: int = 0
    failed: int = 0
    error: str | None = None
    started_at: float | None = None  # server clock: when splitting began (or the job was accepted)
    rate: float | None = None  # pages per second, from server timestamps
    eta: float | None = None  # seconds left as of the last progress event...
    eta_received: float = 0.0  # ...which arrived at this local monotonic time
    reconnecting: bool = False

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def ended(self) -> bool:
        return self.status in ("completed", "failed", "cancelled", "rejected", "error")

    def apply(self, event: Event) -> None:
        """Fold one SSE event into the state (unknown event types are ignored: the API may grow)."""
        data = event.data
        self.reconnecting = False
        if event.type == "accepted":
            self.status = "pending"
            self.started_at = self.started_at or _float(data.get("at"))
        elif event.type == "split":
            self.status = "processing"
            self.total = int(data.get("total_pages") or 0) or self.total
            self.started_at = _float(data.get("at")) or self.started_at
        elif event.type == "progress":
            self._apply_progress(data)
        elif event.type == "completed":
            self.status = "completed"
            self.done = int(data.get("pages_done") or self.done)
            self.failed = int(data.get("pages_failed") or self.failed)
        elif event.type in ("failed", "cancelled"):
            self.status = event.type
            self.error = data.get("error") or self.error

    def _apply_progress(self, data: dict[str, object]) -> None:
        self.status = "processing"
        self.done = int(str(data.get("done", self.done)))
        self.failed = int(str(data.get("failed", self.failed)))
        self.total = int(str(data.get("total") or 0)) or self.total
        at = _float(data.get("at"))
        if at is not None and self.started_at is not None and at > self.started_at:
            self.rate = self.finished / (at - self.started_at)
        estimate = _float(data.get("estimated_completion"))
        self.eta = max(0.0, estimate - at) if estimate is not None and at is not None else None
        self.eta_received = time.monotonic()

    def eta_now(self) -> float | None:
        """Seconds left now: the server's estimate counted down locally between events."""
        if self.eta is None or self.status != "processing":
            return None
        return max(0.0, self.eta - (time.monotonic() - self.eta_received))

    def status_text(self) -> str:
        if self.reconnecting:
            return "reconnecting"
        if self.status == "completed" and self.failed:
            return f"completed, {self.failed} page(s) failed"
        if self.status in ("failed", "rejected", "cancelled", "error") and self.error:
            return f"{self.status}: {self.error}"
        return self.status


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def format_seconds(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Display(Protocol):
    """Where progress goes; each command picks one by ``--json`` and whether stderr is a terminal."""

    def add(self, job: JobProgress) -> None: ...

    def update(self, job: JobProgress) -> None: ...

    def close(self) -> None: ...


class NoDisplay:
    """``--json``: stdout carries only the JSON, stderr only errors."""

    def add(self, job: JobProgress) -> None:
        pass

    def update(self, job: JobProgress) -> None:
        pass

    def close(self) -> None:
        pass


class LineDisplay:
    """Not a terminal: a line when a job starts, ends or loses the gateway, never per page."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.seen: dict[int, tuple[str, bool, str | None]] = {}

    def add(self, job: JobProgress) -> None:
        self.seen[id(job)] = (job.status, job.reconnecting, job.job_id)

    def update(self, job: JobProgress) -> None:
        before = self.seen.get(id(job))
        now = (job.status, job.reconnecting, job.job_id)
        self.seen[id(job)] = now
        if before == now or job.job_id is None:  # upload errors are reported by the command itself
            return
        if job.job_id and (before is None or before[2] != job.job_id):
            pages = f", {job.total} page(s)" if job.total else ""
            self._line(f"{job.name}: job {job.job_id} accepted{pages}")
        elif job.reconnecting:
            self._line(f"{job.name}: lost the gateway, reconnecting")
        elif job.ended:
            total = job.total if job.total is not None else "?"
            self._line(f"{job.name}: {job.status_text()} ({job.done}/{total} pages)")

    def _line(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        pass


class PagesColumn(ProgressColumn):
    """``done/total`` pages; ``?`` until the splitter has counted them."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task: Task) -> Text:
        job: JobProgress = task.fields["job"]
        total = "?" if job.total is None else str(job.total)
        return Text(f"{job.finished}/{total} pages", style="progress.download")


class RateColumn(ProgressColumn):
    """Pages per second over the whole job so far (server timestamps: stable, replay-safe)."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task: Task) -> Text:
        job: JobProgress = task.fields["job"]
        return Text(f"{job.rate:.2f} p/s" if job.rate else "- p/s", style="progress.data.speed")


class EtaColumn(ProgressColumn):
    """Time left, from the server's estimate, counting down between events."""

    max_refresh = 0.5

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task: Task) -> Text:
        job: JobProgress = task.fields["job"]
        eta = job.eta_now()
        text = f"ETA {format_seconds(eta)}" if eta is not None else "ETA -:--"
        return Text(text, style="progress.remaining")


class StatusColumn(ProgressColumn):
    """The job's state; long error texts are cut here (the command prints them whole at the end)."""

    def __init__(self, max_width: int) -> None:
        super().__init__(table_column=Column(no_wrap=True, overflow="ellipsis", max_width=max_width))

    def render(self, task: Task) -> Text:
        job: JobProgress = task.fields["job"]
        return Text(
            job.status_text(), style=STATUS_STYLES.get(job.status, ""), no_wrap=True, overflow="ellipsis"
        )


class BarDisplay:
    """A terminal: one live rich bar per file."""

    FIXED_WIDTH = 11 + 9 + 8 + 5  # "12/12 pages", "12.34 p/s", "ETA 0:12" and the gaps between columns

    def __init__(self, console: Console) -> None:
        # Sized once from the terminal width so the bar, not the numbers, gives way on a narrow terminal.
        name_width = status_width = max(12, console.width // 5)
        bar_width = max(10, min(40, console.width - self.FIXED_WIDTH - name_width - status_width))
        self.progress = Progress(
            TextColumn(
                "{task.description}",
                style="bold",
                table_column=Column(no_wrap=True, overflow="ellipsis", max_width=name_width),
            ),
            BarColumn(bar_width=bar_width),
            PagesColumn(),
            RateColumn(),
            EtaColumn(),
            StatusColumn(status_width),
            console=console,
            refresh_per_second=8,
        )
        self.tasks: dict[int, TaskID] = {}
        self.progress.start()

    def add(self, job: JobProgress) -> None:
        task = self.progress.add_task(job.name, total=job.total, completed=job.finished, job=job)
        self.tasks[id(job)] = task

    def update(self, job: JobProgress) -> None:
        task = self.tasks.get(id(job))
        if task is None:
            return
        total = job.total
        if job.ended and total is None:  # never split (rejected, failed early): an empty bar, not a pulse
            total = max(1, job.finished)
        self.progress.update(task, total=total, completed=job.finished)
        if job.ended:
            self.progress.stop_task(task)

    def close(self) -> None:
        self.progress.stop()


def make_display(json_output: bool, console: Console | None = None) -> Display:
    """Bars only where a person watches a terminal; see the module docstring."""
    if json_output:
        return NoDisplay()
    console = console or Console(file=sys.stderr)
    if console.is_terminal:
        return BarDisplay(console)
    return LineDisplay(console)
