"""CPU seconds per role (each service, nats-server, Postgres, the fake model, the bench itself) over a window.

On a 2-core machine every process of the system competes for the same cores, so "where did the CPU go,
per page" explains a throughput ceiling better than any single profile.
"""

from __future__ import annotations

import os
from collections import defaultdict

import psutil

ROLES = ("gateway", "splitter", "ocr", "assembler")


def role_of(proc: psutil.Process) -> str | None:
    try:
        cmd = " ".join(proc.cmdline())
        name = proc.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    for role in ROLES:
        if f"services.{role}" in cmd:
            return role
    if "fake_model" in cmd:
        return "fake-model"
    if "nats-server" in name or "nats-server" in cmd:
        return "nats-server"
    if "postgres" in name or "postgres" in cmd:
        return "postgres"
    if "py-spy" in name:
        return "py-spy"
    return None


def _cpu(proc: psutil.Process) -> float:
    try:
        times = proc.cpu_times()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return 0.0
    return float(times.user + times.system)


class CpuMeter:
    """``start()`` then ``stop()``: CPU seconds per role in between (processes that ended are lost)."""

    def __init__(self) -> None:
        self._start: dict[int, tuple[str, float]] = {}
        self._self_start = 0.0

    def _processes(self) -> list[tuple[psutil.Process, str]]:
        found: list[tuple[psutil.Process, str]] = []
        for proc in psutil.Process(os.getpid()).children(recursive=True):
            role = role_of(proc)
            if role:
                found.append((proc, role))
        # the embedded Postgres is started by pgserver, not as our child
        for proc in psutil.process_iter(["name"]):
            if proc.info["name"] and proc.info["name"].startswith("postgres"):
                found.append((proc, "postgres"))
        return found

    def start(self) -> CpuMeter:
        self._start = {p.pid: (role, _cpu(p)) for p, role in self._processes()}
        self._self_start = _cpu(psutil.Process(os.getpid()))
        return self

    def stop(self) -> dict[str, float]:
        spent: dict[str, float] = defaultdict(float)
        for proc, role in self._processes():
            before = self._start.get(proc.pid, (role, 0.0))[1]
            spent[role] += max(0.0, _cpu(proc) - before)
        spent["bench"] = _cpu(psutil.Process(os.getpid())) - self._self_start
        return {k: round(v, 2) for k, v in sorted(spent.items(), key=lambda kv: -kv[1])}
