"""py-spy on the service processes while a scenario runs, boiled down to where the CPU time went.

py-spy samples another process from outside (no code change, no restart), so the profile is of the very
processes being measured. Raw output (collapsed stacks, loadable in speedscope or inferno) is kept next to
the results; the summary lists the functions that were on CPU most often.
"""

from __future__ import annotations

import collections
import contextlib
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass
class Profiler:
    out_dir: Path
    enabled: bool = True
    rate: int = 100
    _procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = field(default_factory=dict)
    missing: bool = False

    def start(self, label: str, pid: int) -> None:
        if not self.enabled:
            return
        binary = py_spy()
        if binary is None:
            self.missing = True
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        out = self.out_dir / f"{label}.txt"
        proc = subprocess.Popen(
            [binary, "record", "--pid", str(pid), "--rate", str(self.rate), "--format", "raw",
             "--output", str(out), "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self._procs[label] = (proc, out)

    def stop(self) -> dict[str, Any]:
        """Stop every recorder (SIGINT makes py-spy write its file) and summarise each profile."""
        summaries: dict[str, Any] = {}
        for label, (proc, out) in self._procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            with contextlib.suppress(OSError):
                summaries[label] = {"file": str(out), **summarise(out.read_text())}
        self._procs.clear()
        if self.missing:
            summaries["note"] = "py-spy not found: pip install py-spy"
        return summaries


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``func (module.py)``; lines differ per sample, files do not."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    parts = file.split("/")
    tail = "/".join(parts[-2:]) if parts[-1] in ("__init__.py", "worker.py", "client.py") else parts[-1]
    return f"{name} ({tail})"


def summarise(raw: str, top: int = 12) -> dict[str, Any]:
    """Self and inclusive shares of the sampled stacks (per cent of on-CPU samples)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")[1:] if f]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def share(counter: collections.Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100.0 * n / total, 1)) for name, n in counter.most_common(top)]

    return {"samples": total, "self": share(own), "inclusive": share(inclusive)} if total else {"samples": 0}
