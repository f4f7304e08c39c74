"""Start and stop the real system for a scenario, and make sure nothing outlives the bench.

Reuses ``services.stack`` (the code path of ``make run`` and the tests): one nats-server and one database per
scenario so scenarios never see each other's streams, one Postgres for the whole run (starting the embedded
one costs seconds). The fake model is the test suite's own (``tests.fakes.fake_model``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from services.stack import SERVICES, NatsServer, Postgres, Stack
from tests.fakes.fake_model import FakeModelProcess


@dataclass
class System:
    """A running stack and the servers under it."""

    name: str
    stack: Stack
    nats: NatsServer
    database_url: str

    @property
    def url(self) -> str:
        return self.stack.url

    def pids(self, service: str) -> list[int]:
        return [p.proc.pid for p in self.stack.processes.get(service, []) if p.proc is not None and p.alive]

    def all_pids(self) -> dict[str, list[int]]:
        return {name: self.pids(name) for name in self.stack.processes}

    def log_tail(self, chars: int = 3000) -> str:
        return self.stack.logs()[-chars:]


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class BenchEnv:
    """Owns the work directory and the shared Postgres; hands out systems and fake models that it stops
    again whatever happens (error, Ctrl-C, SIGTERM)."""

    def __init__(
        self, keep: bool = False, nats_sync: str = "always", service_env: dict[str, str] | None = None
    ) -> None:
        self.keep = keep
        self.nats_sync = nats_sync
        self.service_env = service_env or {}
        self.workdir = Path(tempfile.mkdtemp(prefix="pagewise-bench-"))
        self._postgres: Postgres | None = None
        self._previous_term: Any = None

    def __enter__(self) -> BenchEnv:
        # SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, so every ``finally`` below runs.
        self._previous_term = signal.signal(signal.SIGTERM, _raise_interrupt)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._postgres is not None:
                self._postgres.stop()
        finally:
            signal.signal(signal.SIGTERM, self._previous_term or signal.SIG_DFL)
            if self.keep or exc_type is not None:
                print(f"bench logs kept in {self.workdir}")
            else:
                shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def postgres(self) -> Postgres:
        if self._postgres is None:
            self._postgres = Postgres(self.workdir / "pg", os.environ.get("DATABASE_URL")).start()
        return self._postgres

    @contextlib.contextmanager
    def system(
        self,
        name: str,
        env: dict[str, str],
        *,
        scale: dict[str, int] | None = None,
        services: tuple[str, ...] = SERVICES,
    ) -> Iterator[System]:
        """A fresh nats-server and database with the given services running; everything stopped on exit."""
        database = f"bench_{name}_{uuid.uuid4().hex[:8]}"
        base = self.workdir / name
        nats = NatsServer(
            base / "nats", log_path=base / "nats-server.log", sync_interval=self.nats_sync
        ).start()
        stack: Stack | None = None
        try:
            database_url = self.postgres.create_database(database)
            stack = Stack(
                base / "logs",
                nats.url,
                database_url,
                "nats-objects://pagewise",
                extra_env={"LOG_LEVEL": "INFO", **env, **self.service_env},
                scale=scale or {},
            )
            stack.start(services)
            yield System(name, stack, nats, database_url)
        finally:
            if stack is not None:
                stack.stop()
            nats.stop()
            with contextlib.suppress(Exception):
                self.postgres.drop_database(database)

    @contextlib.contextmanager
    def fake_model(self, **options: Any) -> Iterator[FakeModelProcess]:
        """The fake OpenAI-compatible server as its own process (it also exits if the bench dies)."""
        with FakeModelProcess(**options) as fake:
            yield fake
