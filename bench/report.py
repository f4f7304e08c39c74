"""What a scenario returns, how it is printed (one table) and how it is saved (JSON under bench/results)."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.config import BenchConfig


@dataclass
class Figure:
    """One measured value with its target. ``ok`` is None for figures reported without a target."""

    name: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None
    digits: int = 1

    def formatted(self) -> str:
        if math.isnan(self.value):
            return "n/a"
        return f"{self.value:,.{self.digits}f} {self.unit}".strip()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": None if math.isnan(self.value) else self.value,
            "unit": self.unit,
            "target": self.target,
            "ok": self.ok,
        }


@dataclass
class ScenarioResult:
    """A scenario's headline figures, the raw details behind them, and notes a reader needs."""

    name: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def add(self, *figures: Figure) -> None:
        self.figures.extend(figures)

    @property
    def missed(self) -> list[Figure]:
        return [f for f in self.figures if f.ok is False]

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "figures": [f.as_dict() for f in self.figures],
            "details": self.details,
            "notes": self.notes,
            "error": self.error,
            "seconds": round(self.seconds, 1),
        }


def machine() -> dict[str, Any]:
    """Enough about the machine to compare two result files honestly."""
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
    }
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as fh:
            info["memory_mb"] = int(fh.readline().split()[1]) // 1024
    except OSError:
        pass
    return info


def print_table(results: list[ScenarioResult], console: Console) -> None:
    table = Table(title="pagewise bench", show_lines=False, header_style="bold")
    table.add_column("scenario")
    table.add_column("figure")
    table.add_column("measured", justify="right")
    table.add_column("target", justify="right")
    table.add_column("", justify="center")
    for result in results:
        if result.error:
            table.add_row(result.name, "[red]error[/red]", result.error[:80], "", "[red]ERR[/red]")
            continue
        for index, figure in enumerate(result.figures):
            mark = {True: "[green]pass[/green]", False: "[red]MISS[/red]", None: ""}[figure.ok]
            table.add_row(
                result.name if index == 0 else "", figure.name, figure.formatted(), figure.target, mark
            )
        table.add_section()
    console.print(table)
    for result in results:
        for note in result.notes:
            console.print(f"[dim]{result.name}:[/dim] {note}")


def write_json(results: list[ScenarioResult], config: BenchConfig, started: dt.datetime) -> Path:
    """``<timestamp>.json`` plus ``latest.json``; a partial run (``--only``) only overwrites what it ran."""
    config.results_dir.mkdir(parents=True, exist_ok=True)
    scenarios: dict[str, Any] = {r.name: r.as_dict() for r in results}
    payload: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "config": config.as_dict(),
        "scenarios": scenarios,
    }
    stamp = started.strftime("%Y%m%dT%H%M%S")
    path = config.results_dir / f"{stamp}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    latest = config.results_dir / "latest.json"
    merged = payload
    if latest.exists() and len(results) < 6:
        try:
            previous = json.loads(latest.read_text())
            merged = {
                **previous,
                **payload,
                "scenarios": {**previous.get("scenarios", {}), **scenarios},
            }
        except (OSError, ValueError):
            merged = payload
    latest.write_text(json.dumps(merged, indent=2, default=str) + "\n")
    return path
