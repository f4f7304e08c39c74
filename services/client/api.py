"""A small async client for the gateway's HTTP API, with the exit code each failure maps to.

Why its own layer: every command needs the same answers to "what went wrong and what should the shell
see" (a 4xx is the caller's mistake, a refused connection is the gateway's absence), and following a job
must survive a gateway restart, which only works if one place owns the SSE resume logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from httpx_sse import SSEError, aconnect_sse

# Exit codes scripts can rely on (documented in docs/cli.md and in each command's --help).
EXIT_OK = 0
EXIT_JOB_NOT_COMPLETED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130

TERMINAL_EVENTS = frozenset({"completed", "failed", "cancelled"})
TERMINAL_STATUSES = TERMINAL_EVENTS

T = TypeVar("T")


class ClientError(Exception):
    """A failure that ends a command (or one file of it) with ``exit_code`` and ``message`` on stderr."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class Unreachable(ClientError):
    """The gateway could not be reached, or answered 5xx: retrying later may help, fixing the call won't."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_UNREACHABLE)


class ApiError(ClientError):
    """The gateway answered with its JSON error shape ``{error, message, status, ...}``."""

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any]) -> None:
        super().__init__(message, exit_code_for_status(status))
        self.status = status
        self.code = code
        self.body = body

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Read the gateway's error body; a proxy's HTML page or empty body still gives a useful message."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            text = response.text.strip()[:200] or response.reason_phrase
            return cls(response.status_code, "http_error", f"HTTP {response.status_code}: {text}", {})
        message = str(body.get("message") or body.get("detail") or f"HTTP {response.status_code}")
        details = body.get("details")
        if isinstance(details, list) and details:
            parts = [
                f"{d.get('field', '?')}: {d.get('message', d)}" if isinstance(d, dict) else str(d)
                for d in details
            ]
            message = f"{message} ({'; '.join(parts)})"
        return cls(response.status_code, str(body.get("error") or "error"), message, body)


def exit_code_for_status(status: int) -> int:
    """409 means "the job is not in a state for that" (a job outcome, 1); other 4xx are the caller's (2);
    5xx means the gateway cannot serve right now (3, like unreachable)."""
    if status == 409:
        return EXIT_JOB_NOT_COMPLETED
    if 400 <= status < 500:
        return EXIT_USAGE
    return EXIT_UNREACHABLE


@dataclass(frozen=True)
class Event:
    """One SSE message of a job: ``id`` is its stream position, the key for resuming."""

    id: int
    type: str
    data: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.type, "data": self.data}


def _transport_message(base_url: str, exc: Exception) -> str:
    detail = str(exc) or type(exc).__name__
    return f"cannot reach the gateway at {base_url}: {detail}"


class Api:
    """The gateway's endpoints as coroutines; raises :class:`ClientError` subclasses, never httpx errors."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        sse_read_timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,  # tests script the gateway with a MockTransport
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = httpx.Timeout(timeout, connect=10.0)
        # Reading an SSE stream waits for keep-alives (every 15 s by default); a longer silence means the
        # connection is dead even if no FIN/RST arrived, so it is treated like a dropped connection.
        self.sse_timeout = httpx.Timeout(timeout, connect=10.0, read=sse_read_timeout)
        try:
            self.http = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=self.timeout,
                # one SSE stream per file is held open for the whole job: no pool cap, or file 101 would hang
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=20),
                headers={"User-Agent": "pagewise-cli"},
                transport=transport,
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise ClientError(f"bad --url {base_url!r}: {exc}", EXIT_USAGE) from exc

    async def __aenter__(self) -> Api:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    # ------------------------------------------------------------------------------------------------------
    # plain requests

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; map transport failures and non-2xx answers to exit-coded errors."""
        try:
            response = await self.http.request(method, path, **kwargs)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise ClientError(f"bad --url {self.base_url!r}: {exc}", EXIT_USAGE) from exc
        except httpx.TransportError as exc:
            raise Unreachable(_transport_message(self.base_url, exc)) from exc
        if response.is_success:
            return response
        await response.aread()
        raise ApiError.from_response(response)

    async def submit(self, path: Path, fields: dict[str, str]) -> dict[str, Any]:
        """Upload one PDF as multipart; httpx streams the file in chunks, so size does not cost memory."""
        with path.open("rb") as handle:
            response = await self.request(
                "POST", "/api/jobs", files={"file": (path.name, handle, "application/pdf")}, data=fields
            )
        return dict(response.json())

    async def job(self, job_id: str) -> dict[str, Any]:
        return dict((await self.request("GET", job_path(job_id))).json())

    async def rerun(self, job_id: str, options: dict[str, Any]) -> dict[str, Any]:
        return dict((await self.request("POST", f"{job_path(job_id)}/rerun", json=options)).json())

    async def cancel(self, job_id: str) -> dict[str, Any]:
        return dict((await self.request("DELETE", job_path(job_id))).json())

    async def result(self, job_id: str, *, as_json: bool = False) -> bytes:
        """The Markdown exactly as the gateway stored it (bytes: written out without re-encoding)."""
        params = {"format": "json"} if as_json else None
        return (await self.request("GET", f"{job_path(job_id)}/result", params=params)).content

    async def jobs(self, *, status: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
        params: dict[str, str | int] = {"limit": limit}
        if status:
            params["status"] = status
        if cursor:
            params["cursor"] = cursor
        return dict((await self.request("GET", "/api/jobs", params=params)).json())

    # ------------------------------------------------------------------------------------------------------
    # following a job

    async def events(
        self,
        job_id: str,
        *,
        retry_for: float = 120.0,
        on_retry: Callable[[str], None] | None = None,
    ) -> AsyncIterator[Event]:
        """Every event of the job from the start, ending after the terminal one.

        A dropped connection (gateway restart, proxy timeout) is resumed with ``Last-Event-ID``, so no event
        is lost or repeated. Should resuming itself fail (a resumed stream that breaks before its first
        event), the stream is replayed from the start instead and the events already seen are skipped by
        id: slower, equally exact. Only ``retry_for`` seconds without progress give up, with
        :class:`Unreachable`; the job itself keeps running on the server either way.
        """
        cursor = StreamCursor()
        retry = Retrier(retry_for)
        while True:
            try:
                async with contextlib.aclosing(self._connect_once(job_id, cursor, retry)) as stream:
                    async for event in stream:
                        yield event
                        if event.type in TERMINAL_EVENTS:
                            return
                # Closed without a terminal event: the gateway went away cleanly, or the job ended with
                # its terminal event no longer in the stream. The job's status tells which.
                ended = await self._terminal_from_status(job_id, cursor.last_id)
                if ended is not None:
                    yield ended
                    return
                reason = "the event stream closed before the job ended"
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise ClientError(f"bad --url {self.base_url!r}: {exc}", EXIT_USAGE) from exc
            except (httpx.TransportError, SSEError) as exc:
                reason = _transport_message(self.base_url, exc)
            except ClientError as exc:
                if exc.exit_code != EXIT_UNREACHABLE:
                    raise  # 404 and the like: retrying cannot help
                reason = exc.message
            cursor.connection_failed()
            await retry.wait(reason, on_retry)

    async def _connect_once(
        self, job_id: str, cursor: StreamCursor, retry: Retrier
    ) -> AsyncGenerator[Event, None]:
        """One SSE connection: the events after ``cursor`` until the server closes it or it breaks."""
        headers = {"Last-Event-ID": str(cursor.last_id)} if cursor.resume else {}
        async with aconnect_sse(
            self.http, "GET", f"{job_path(job_id)}/events", headers=headers, timeout=self.sse_timeout
        ) as source:
            if not source.response.is_success:
                await source.response.aread()
                raise ApiError.from_response(source.response)
            retry.connected()
            cursor.connected()
            async for sse in source.aiter_sse():
                if sse.retry is not None:
                    retry.server_hint = sse.retry / 1000.0
                if not sse.data:  # the opening comment and keep-alives
                    continue
                event = Event(int(sse.id), sse.event, json.loads(sse.data))
                if not cursor.advance(event.id):
                    continue  # replayed from the start: already seen
                retry.reset()
                yield event

    async def _terminal_from_status(self, job_id: str, last_id: int | None) -> Event | None:
        """A synthetic terminal event from the job's status, for a stream that ended without one."""
        job = await self.job(job_id)
        status = str(job.get("status"))
        if status not in TERMINAL_STATUSES:
            return None
        data = {
            "type": status,
            "job_id": job_id,
            "error": job.get("error"),
            "pages_done": job.get("pages_done"),
            "pages_failed": job.get("pages_failed"),
            "result_url": f"{job_path(job_id)}/result",
        }
        return Event(last_id or 0, status, data)

    async def with_retries(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        retry_for: float,
        on_retry: Callable[[str], None] | None = None,
    ) -> T:
        """Repeat an idempotent request through a gateway restart (never used for uploads)."""
        retry = Retrier(retry_for)
        while True:
            try:
                return await call()
            except Unreachable as exc:
                await retry.wait(exc.message, on_retry)
            except ApiError as exc:
                if exc.exit_code != EXIT_UNREACHABLE:
                    raise
                await retry.wait(exc.message, on_retry)


class StreamCursor:
    """Where the client is in a job's event stream, and whether resuming from there works.

    Ids are stream sequence numbers, so they only grow: an id not above ``last_id`` is a replayed one.
    """

    STABLE_AFTER = 5.0  # a resumed connection alive this long without failing proves resuming works

    def __init__(self) -> None:
        self.last_id: int | None = None
        self.resume_works = True
        self.resumed_at: float | None = None  # when the current resumed connection was answered
        self.got_event = False

    @property
    def resume(self) -> bool:
        return self.last_id is not None and self.resume_works

    def connected(self) -> None:
        self.resumed_at = time.monotonic() if self.resume else None
        self.got_event = False

    def advance(self, event_id: int) -> bool:
        if self.last_id is not None and event_id <= self.last_id:
            return False
        self.last_id = event_id
        self.got_event = True
        return True

    def connection_failed(self) -> None:
        """A resumed stream that was accepted but broke at once, before any event, points at the gateway
        failing to resume: replay from the start from now on."""
        if self.resumed_at is not None and not self.got_event:
            if time.monotonic() - self.resumed_at < self.STABLE_AFTER:
                self.resume_works = False
        self.resumed_at = None


class Retrier:
    """Backoff between reconnects, giving up after ``budget`` seconds without progress.

    Progress is an event, or a connection that stayed up a while (a slow job may send only keep-alives);
    a connection that is accepted and then breaks at once is not, or a broken gateway would be hammered
    forever.
    """

    STABLE_AFTER = 5.0

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.failing_since: float | None = None
        self.connected_at: float | None = None
        self.delay = 0.25
        self.server_hint: float | None = None

    def reset(self) -> None:
        self.failing_since = None
        self.delay = 0.25

    def connected(self) -> None:
        self.connected_at = time.monotonic()

    async def wait(self, reason: str, on_retry: Callable[[str], None] | None) -> None:
        now = time.monotonic()
        if self.connected_at is not None and now - self.connected_at >= self.STABLE_AFTER:
            self.reset()
        self.connected_at = None
        if self.failing_since is None:
            self.failing_since = now
        elif now - self.failing_since > self.budget:
            raise Unreachable(f"{reason} (gave up after {self.budget:g} s of retrying)")
        if on_retry is not None:
            on_retry(reason)
        # Start quickly (a restart takes a second or two), then settle at the server's advertised retry.
        cap = self.server_hint or 2.0
        await asyncio.sleep(min(self.delay, cap))
        self.delay = min(self.delay * 2, cap)


def job_path(job_id: str) -> str:
    """The job's URL path; the id is quoted so a stray ``/`` or ``?`` cannot address another endpoint."""
    return f"/api/jobs/{quote(job_id, safe='')}"
