"""The ``pagewise`` client commands, run as real subprocesses against a running stack.

What scripts rely on is checked as a script sees it: exit codes, stdout that parses (``--json``, NDJSON,
plain ids and paths), messages on stderr, and no terminal control codes when output is not a terminal.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from services.cli import main as pagewise_main
from services.client.api import EXIT_UNREACHABLE, Api, Unreachable
from tests.fakes.pdfs import make_coded_pdf
from tests.helpers import assert_markdown_has_pages_in_order

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[2]


def cli(url: str, *args: str, timeout: float = 90, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_argv(url, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=cli_env(**env),
    )


def cli_argv(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", "--url", url, *args]


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR")}
    return {**env, "COLUMNS": "120", **extra}


def write_pdf(folder: Path, name: str, doc_id: int, pages: int) -> Path:
    path = folder / name
    path.write_bytes(make_coded_pdf(doc_id, pages))
    return path


def cli_all(calls: dict[str, tuple[str, ...]], **env: str) -> dict[str, subprocess.CompletedProcess[str]]:
    """Independent invocations at once: each is mostly interpreter start-up, so this saves most of it."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return dict(zip(calls, pool.map(lambda a: cli(*a, **env), calls.values()), strict=True))


def no_control_codes(text: str) -> bool:
    return "\x1b[" not in text


def test_submit_wait_json_watch_status_result_and_jobs(make_stack, fake_model, tmp_path):
    system = make_stack(env={"MODEL_URL": fake_model.url})
    url, out = system.url, tmp_path / "out"
    first, second = write_pdf(tmp_path, "first.pdf", 500, 5), write_pdf(tmp_path, "second.pdf", 501, 3)
    third = write_pdf(tmp_path, "third.pdf", 502, 4)
    bogus = tmp_path / "notes.pdf"
    bogus.write_bytes(b"plain text, not a PDF\n" * 20)
    refusal = httpx.post(f"{url}/api/jobs", files={"file": ("notes.pdf", bogus.read_bytes())}).json()

    runs = cli_all(
        {
            "two": (url, "submit", str(first), str(second), "--wait", "--out", str(out)),
            "bogus": (url, "submit", str(bogus), "--wait", "--out", str(out)),
            "no wait": (url, "submit", str(third), "--json", "--pages", "2-4"),
            "wait json": (url, "submit", str(first), "--wait", "--json", "--out", str(tmp_path / "json")),
        }
    )
    tty = cli(url, "submit", str(second), "--wait", "--out", str(tmp_path / "tty"), FORCE_COLOR="1")

    # two files at once, followed live, each written as <stem>.md with every page in order
    two = runs["two"]
    assert two.returncode == 0, two.stderr
    assert two.stdout.split() == [str(out / "first.md"), str(out / "second.md")]
    assert_markdown_has_pages_in_order((out / "first.md").read_text(), 500, 5)
    assert_markdown_has_pages_in_order((out / "second.md").read_text(), 501, 3)
    assert no_control_codes(two.stdout + two.stderr), "no bars or colours when not a terminal"

    # a file the gateway refuses: exit 2 with the gateway's own message
    bad = runs["bogus"]
    assert bad.returncode == 2 and refusal["message"] in bad.stderr and bad.stdout == ""

    # --wait --json: stdout is one JSON document and nothing else
    assert runs["wait json"].returncode == 0, runs["wait json"].stderr
    [record] = json.loads(runs["wait json"].stdout)
    assert record["status"] == "completed" and record["exit_code"] == 0 and record["pages_done"] == 5
    assert_markdown_has_pages_in_order(Path(record["output"]).read_text(), 500, 5)

    # a terminal gets live bars (on stderr; stdout keeps only the path)
    assert tty.returncode == 0, tty.stderr
    assert tty.stdout.strip() == str(tmp_path / "tty" / "second.md")
    assert "second.pdf" in tty.stderr and "3/3 pages" in tty.stderr and "completed" in tty.stderr

    # without --wait: the job's record at once; then follow it as NDJSON
    assert runs["no wait"].returncode == 0, runs["no wait"].stderr
    [record] = json.loads(runs["no wait"].stdout)
    job_id = record["job_id"]
    assert record["file"] == str(third) and record["total_pages"] == 3 and record["output"] is None
    watch = cli(url, "watch", job_id, "--json")
    assert watch.returncode == 0, watch.stderr
    events = [json.loads(line) for line in watch.stdout.splitlines()]
    assert events[0]["event"] == "accepted" and events[-1]["event"] == "completed"
    assert [e["id"] for e in events] == sorted({e["id"] for e in events})
    assert sorted(e["data"]["page_no"] for e in events if e["event"] == "page") == [2, 3, 4]

    saved = tmp_path / "third.md"
    runs = cli_all(
        {
            "status json": (url, "status", job_id, "--json"),
            "status": (url, "status", job_id),
            "result out": (url, "result", job_id, "--out", str(saved)),
            "result": (url, "result", job_id),
            "jobs json": (url, "jobs", "--json"),
            "jobs": (url, "jobs", "--status", "completed", "--limit", "2"),
        }
    )
    assert all(r.returncode == 0 for r in runs.values()), {k: r.stderr for k, r in runs.items()}
    status = json.loads(runs["status json"].stdout)
    assert (status["status"], status["pages_done"], status["total_pages"]) == ("completed", 3, 3)
    assert "completed" in runs["status"].stdout and "third.pdf" in runs["status"].stdout
    markdown = saved.read_text()
    assert "[pagewise doc 00502 page 00001]" not in markdown and "[pagewise doc 00502 page 00004]" in markdown
    assert runs["result"].stdout == markdown
    listed = json.loads(runs["jobs json"].stdout)["jobs"]
    assert len(listed) == 5 and job_id in {j["job_id"] for j in listed}
    rows = [line.split("\t") for line in runs["jobs"].stdout.splitlines()]
    assert len(rows) == 2 and all(r[1] == "completed" for r in rows)


def test_unfinished_result_cancel_and_a_gateway_restart_mid_job(make_stack, fresh_fake_model, tmp_path):
    slow = fresh_fake_model(latency=2.0, max_concurrency=16)
    system = make_stack(env={"MODEL_URL": slow.url})

    run = cli(system.url, "submit", str(write_pdf(tmp_path, "slow.pdf", 510, 30)))
    assert run.returncode == 0, run.stderr
    job_id = run.stdout.strip()
    assert str(uuid.UUID(job_id)) == job_id, "without --json, stdout is just the id"

    run = cli(system.url, "result", job_id)
    assert run.returncode == 1 and "the job is" in run.stderr and run.stdout == ""

    run = cli(system.url, "cancel", job_id)
    assert run.returncode == 0 and "cancelled" in run.stdout, run.stderr
    runs = cli_all(
        {
            "status": (system.url, "status", job_id, "--json"),
            "cancel again": (system.url, "cancel", job_id),
            "watch": (system.url, "watch", job_id),
            "unknown": (system.url, "status", str(uuid.uuid4())),
        }
    )
    assert json.loads(runs["status"].stdout)["status"] == "cancelled"
    assert runs["cancel again"].returncode == 1 and "already ended" in runs["cancel again"].stderr
    assert runs["watch"].returncode == 1 and "cancelled" in runs["watch"].stdout
    assert runs["unknown"].returncode == 2 and "no job" in runs["unknown"].stderr

    # the gateway dies and comes back while `submit --wait` follows a job: it must carry on to the end
    big = write_pdf(tmp_path, "big.pdf", 511, 16)
    proc = subprocess.Popen(
        cli_argv(system.url, "submit", str(big), "--wait", "--out", str(tmp_path / "out")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=cli_env(),
    )
    try:
        wait_until_processing(system.url, "big.pdf")
        gateway = system.stack.processes["gateway"][-1]
        gateway.kill()
        time.sleep(1.0)
        system.stack.start_service("gateway")
        system.stack.wait_healthy()
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "reconnecting" in stderr, "the stream really was cut"
    assert stdout.strip() == str(tmp_path / "out" / "big.md")
    assert_markdown_has_pages_in_order((tmp_path / "out" / "big.md").read_text(), 511, 16)


def wait_until_processing(url: str, filename: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = httpx.get(f"{url}/api/jobs", params={"status": "processing"}, timeout=5).json()["jobs"]
        if any(j["filename"] == filename for j in jobs):
            return
        time.sleep(0.05)
    raise AssertionError(f"{filename} never started processing")


def test_input_errors_exit_2_and_an_unreachable_gateway_exits_3(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"  # bound but never listening: connections are refused
    pdf = write_pdf(tmp_path, "doc.pdf", 520, 1)

    run = cli(url, "submit", str(pdf), "--wait", "--out", str(tmp_path))
    assert run.returncode == 3 and "cannot reach the gateway" in run.stderr and run.stdout == ""

    # the rest in-process: the same entry point, without an interpreter start-up each
    def main(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = pagewise_main(["--url", url, *args])
        except SystemExit as exc:  # argparse's own usage errors and --help
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    assert main("status", str(uuid.uuid4()))[0] == 3
    code, out, _ = main("watch", str(uuid.uuid4()), "--json")
    assert code == 3 and out == ""
    code, _, err = main("submit", str(tmp_path / "missing.pdf"), str(pdf))
    assert code == 2 and "no such file" in err
    assert main("submit", str(pdf), "--out", str(tmp_path))[0] == 2, "--out without --wait writes nothing"
    assert main("jobs", "--status", "bogus")[0] == 2
    assert main("jobs", "--limit", "0")[0] == 2
    assert pagewise_main(["--url", "ftp://example", "status", "x"]) == 2
    code, out, _ = main("submit", "--help")
    assert code == 0 and "exit codes" in out


# ----------------------------------------------------------------------------------------------------------
# resuming the event stream, against a scripted gateway (in-process, fast, exact about the headers sent)

JOB = "00000000-0000-4000-8000-000000000001"


def sse_message(event_id: int, kind: str, **data: object) -> bytes:
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()


class ScriptedGateway:
    """Each connection to the events URL plays the next script: chunks to send, an exception to break the
    stream with, or an exception instead of connecting. Records the Last-Event-ID each one carried."""

    def __init__(
        self, *connections: list[bytes | Exception] | Exception, job_status: str = "processing"
    ) -> None:
        self.connections = list(connections)
        self.job_status = job_status
        self.last_event_ids: list[str | None] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.endswith("/events"):
            return httpx.Response(200, json={"job_id": JOB, "status": self.job_status, "error": "boom"})
        self.last_event_ids.append(request.headers.get("last-event-id"))
        script = self.connections.pop(0)
        if isinstance(script, Exception):
            raise script

        async def body():
            for chunk in script:
                if isinstance(chunk, Exception):
                    raise chunk
                yield chunk

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())


async def collect(gateway: ScriptedGateway, retry_for: float = 10.0) -> list[tuple[int, str]]:
    async with Api("http://gateway.test", transport=httpx.MockTransport(gateway)) as api:
        return [(e.id, e.type) async for e in api.events(JOB, retry_for=retry_for)]


def cut(message: str = "connection reset") -> Exception:
    return httpx.ReadError(message)


async def test_a_dropped_stream_resumes_after_the_last_event_id():
    gateway = ScriptedGateway(
        [sse_message(1, "accepted"), sse_message(2, "split", total_pages=2), sse_message(3, "page"), cut()],
        httpx.ConnectError("refused"),  # the gateway is restarting
        [sse_message(4, "page"), sse_message(5, "completed")],
    )
    events = await collect(gateway)
    assert [i for i, _ in events] == [1, 2, 3, 4, 5] and events[-1] == (5, "completed")
    assert gateway.last_event_ids == [None, "3", "3"]


async def test_a_gateway_that_cannot_resume_is_replayed_from_the_start_without_repeats():
    gateway = ScriptedGateway(
        [sse_message(1, "accepted"), sse_message(2, "split", total_pages=1), cut()],
        [cut("resume is broken")],  # accepted, then breaks before its first event
        [
            sse_message(1, "accepted"),
            sse_message(2, "split"),
            sse_message(3, "page"),
            sse_message(4, "completed"),
        ],
    )
    events = await collect(gateway)
    assert [i for i, _ in events] == [1, 2, 3, 4]
    assert gateway.last_event_ids == [None, "2", None]


async def test_a_stream_that_ends_without_a_terminal_event_ends_with_the_jobs_status():
    gateway = ScriptedGateway([sse_message(7, "accepted")], job_status="failed")
    assert await collect(gateway) == [(7, "accepted"), (7, "failed")]


async def test_following_gives_up_after_retry_for_seconds_without_a_gateway():
    gateway = ScriptedGateway(*[httpx.ConnectError("refused") for _ in range(50)])
    started = time.monotonic()
    with pytest.raises(Unreachable) as raised:
        await collect(gateway, retry_for=1.0)
    assert raised.value.exit_code == EXIT_UNREACHABLE and 1.0 <= time.monotonic() - started < 5


def test_rerun_reprocesses_without_uploading_again(make_stack, fake_model, tmp_path):
    system = make_stack(env={"MODEL_URL": fake_model.url})
    source = write_pdf(tmp_path, "source.pdf", 510, 4)
    first = cli(system.url, "submit", str(source), "--wait", "--json", "--out", str(tmp_path))
    assert first.returncode == 0, first.stderr
    [record] = json.loads(first.stdout)
    rerun = cli(
        system.url, "rerun", record["job_id"], "--model", "qwen3-vl-other", "--pages", "2-3", "--wait"
    )
    assert rerun.returncode == 0, rerun.stderr
    new_id = rerun.stdout.split()[0]
    assert new_id != record["job_id"] and "completed (2/2 pages)" in rerun.stdout
    pages = httpx.get(f"{system.url}/api/jobs/{new_id}/pages").json()["pages"]
    assert [p["page_no"] for p in pages] == [2, 3] and {p["model"] for p in pages} == {"qwen3-vl-other"}
    unknown = cli(system.url, "rerun", "00000000-0000-0000-0000-000000000000")
    assert unknown.returncode == 2
