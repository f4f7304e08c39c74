"""Fixtures that start real servers: nats-server (JetStream), PostgreSQL, an S3 server (moto), the fake
model, and the pagewise services as their own processes. Started once per session where they can be
shared; each stack gets its own nats-server and database so tests never see each other's jobs."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from services.stack import NatsServer, Postgres, Stack, free_port, wait_for_port
from tests.fakes.fake_model import FakeModelProcess

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pagewise")


@pytest.fixture(scope="session")
def postgres(session_dir: Path) -> Iterator[Postgres]:
    pg = Postgres(session_dir / "pg", os.environ.get("DATABASE_URL")).start()
    yield pg
    pg.stop()


@pytest.fixture(scope="session")
def s3_url(session_dir: Path) -> Iterator[str]:
    """moto in server mode: a real S3 HTTP endpoint the minio SDK talks to (no MinIO binary here)."""
    port = free_port()
    moto = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    assert moto, "moto[server] is a dev dependency"
    log = (session_dir / "moto.log").open("wb")
    proc = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=30, proc=proc)
        yield f"s3://testing:testing@127.0.0.1:{port}/pagewise?secure=0"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        log.close()


@pytest.fixture(scope="session")
def fake_model() -> Iterator[FakeModelProcess]:
    """Shared fake Qwen3-VL server; tests that change its behaviour use ``fresh_fake_model`` instead."""
    with FakeModelProcess(latency=0.05, jitter=0.01, max_concurrency=32) as fake:
        yield fake


@pytest.fixture
def fresh_fake_model() -> Iterator[Callable[..., FakeModelProcess]]:
    started: list[FakeModelProcess] = []

    def start(**options: Any) -> FakeModelProcess:
        fake = FakeModelProcess(**options).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


class RunningStack:
    """A stack plus the servers under it, with handles tests use to inject faults."""

    def __init__(self, stack: Stack, nats: NatsServer, postgres: Postgres, database: str) -> None:
        self.stack = stack
        self.nats = nats
        self.postgres = postgres
        self.database = database

    @property
    def url(self) -> str:
        return self.stack.url

    @property
    def database_url(self) -> str:
        return self.stack.database_url


@pytest.fixture
def make_stack(
    request: pytest.FixtureRequest, session_dir: Path, postgres: Postgres
) -> Iterator[Callable[..., RunningStack]]:
    """``make_stack(env={...}, scale={...}, storage_url=...)`` → a running system on fresh NATS + database."""
    running: list[RunningStack] = []

    def start(
        *,
        env: dict[str, str] | None = None,
        scale: dict[str, int] | None = None,
        storage_url: str = "nats-objects://pagewise",
        services: tuple[str, ...] = ("gateway", "splitter", "ocr", "assembler"),
    ) -> RunningStack:
        name = f"t_{uuid.uuid4().hex[:12]}"
        base = session_dir / name
        nats = NatsServer(base / "nats", log_path=base / "nats-server.log").start()
        database_url = postgres.create_database(name)
        stack = Stack(
            base / "logs",
            nats.url,
            database_url,
            storage_url,
            extra_env={"LOG_LEVEL": "INFO", "SSE_KEEPALIVE": "1", **(env or {})},
            scale=scale or {},
        )
        handle = RunningStack(stack, nats, postgres, name)
        running.append(handle)
        stack.start(services)
        return handle

    yield start
    failed = getattr(request.node, "rep_call", None)
    for handle in running:
        handle.stack.stop()
        if failed is not None and failed.failed:
            print(handle.stack.logs())
        handle.nats.stop()
        with contextlib.suppress(Exception):
            handle.postgres.drop_database(handle.database)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
