"""The web page in a real headless Chromium, against the whole running system.

Why a real browser: the page's promises (drag-and-drop upload, a bar per file, Markdown appearing page by
page) and the progress stream's (a client that reconnects with Last-Event-ID gets exactly the events after
it, across a gateway restart) are only worth something with the browser's own EventSource, which reconnects
on its own terms. The browser is the system's Chromium, driven over the DevTools pipe (``tests/browser.py``);
without one these tests skip and say how to install it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.gateway.routes.web import STATIC_DIR
from tests.browser import SKIP_REASON, Browser, Page, find_chromium
from tests.fakes.pdfs import expected_page_text, make_coded_pdf
from tests.helpers import assert_markdown_has_pages_in_order, follow_events, submit

pytestmark = [
    pytest.mark.browser,
    # decided before any fixture starts a server: without a browser there is nothing to start them for
    pytest.mark.skipif(find_chromium() is None, reason=SKIP_REASON),
    pytest.mark.timeout(150),
]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

# the state of the file card whose name is given, as the user sees it
CARD_JS = """
((name) => {
  const card = [...document.querySelectorAll('#jobs .job')]
    .find((c) => c.querySelector('.job-name').textContent === name);
  if (!card) return null;
  const text = (selector) => card.querySelector(selector).textContent;
  return {
    status: card.dataset.status,
    badge: text('.badge-text'),
    percent: text('.job-percent'),
    progress: text('.job-progress'),
    valuenow: Number(card.querySelector('.bar').getAttribute('aria-valuenow')),
    width: card.querySelector('.bar-fill').style.width,
    error: card.querySelector('.job-error').hidden ? null : text('.job-error'),
    connection: text('.job-connection'),
    download: card.querySelector('.job-download').hidden ? null : card.querySelector('.job-download').href,
  };
})
"""

# every change of any file's bar, in order, recorded by the page itself (polling could miss steps)
RECORD_BARS_JS = """
window.__bars = [];
new MutationObserver((mutations) => {
  for (const m of mutations) {
    const card = m.target.closest('.job');
    window.__bars.push({
      name: card.querySelector('.job-name').textContent,
      status: card.dataset.status,
      value: Number(m.target.getAttribute('aria-valuenow')),
      progress: card.querySelector('.job-progress').textContent,
    });
  }
}).observe(document.getElementById('jobs'),
           {subtree: true, attributes: true, attributeFilter: ['aria-valuenow']});
true
"""

# the Markdown pane: one entry per page section, in the order shown
PAGES_JS = """
[...document.querySelectorAll('#pages article.page')].map((a) => ({
  page: Number(a.dataset.page),
  waiting: a.classList.contains('waiting'),
  text: a.querySelector('.page-body').innerText,
}))
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module (starting it costs a second or two); always closed, even on failure."""
    executable = find_chromium()
    if executable is None:
        pytest.skip(SKIP_REASON)
    chromium = Browser(executable)
    try:
        yield chromium
    finally:
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    tab = browser.new_page()
    try:
        yield tab
    finally:
        tab.close()


def card(page: Page, name: str) -> dict[str, Any] | None:
    return page.evaluate(f"{CARD_JS}({json.dumps(name)})")  # type: ignore[no-any-return]


def wait_card(page: Page, name: str, statuses: set[str], timeout: float = 60.0) -> dict[str, Any]:
    """Wait until the named file's card shows one of ``statuses``; returns what the card shows then."""
    wanted = json.dumps(sorted(statuses))
    return page.wait_for(  # type: ignore[no-any-return]
        f"(() => {{ const c = {CARD_JS}({json.dumps(name)});"
        f" return c && {wanted}.includes(c.status) && c; }})()",
        timeout,
    )


def select(page: Page, name: str) -> None:
    page.evaluate(
        "[...document.querySelectorAll('#jobs .job')]"
        f".find((c) => c.querySelector('.job-name').textContent === {json.dumps(name)})"
        ".querySelector('.job-select').click()"
    )


def shown_pages(page: Page) -> list[dict[str, Any]]:
    return page.evaluate(PAGES_JS)  # type: ignore[no-any-return]


def assert_pages_shown_in_order(page: Page, doc_id: int, pages: int) -> None:
    """Each page section holds its own page's text and no other's, sections in page order."""
    shown = shown_pages(page)
    assert [p["page"] for p in shown] == list(range(1, pages + 1)), shown
    for section in shown:
        assert not section["waiting"], section
        for other in range(1, pages + 1):
            present = expected_page_text(doc_id, other) in section["text"]
            assert present == (other == section["page"]), f"page {other}'s text in section {section}"


def screenshot(page: Page, name: str) -> Path:
    path = page.screenshot(ARTIFACTS / name)
    print(f"\nscreenshot: {path}")
    return path


def test_upload_by_file_dialog_and_by_drop_shows_progress_and_markdown(
    make_stack, fake_model, page, tmp_path
):
    """The issue's walk-through: a PDF in through the page's own upload code (file dialog, then a drop of
    several files), the bar to 100 %, the Markdown read back from the page, a screenshot for the record."""
    system = make_stack(env={"MODEL_URL": fake_model.url, "OCR_MAX_IN_FLIGHT": "4"})
    report, slides, broken = tmp_path / "report.pdf", tmp_path / "slides.pdf", tmp_path / "broken.pdf"
    report.write_bytes(make_coded_pdf(500, 6))
    slides.write_bytes(make_coded_pdf(501, 3))
    broken.write_bytes(b"this is not a PDF, whatever its name says\n" * 50)

    page.goto(f"{system.url}/")
    assert page.evaluate("document.title").startswith("pagewise")
    assert page.evaluate(RECORD_BARS_JS)

    # the file dialog's path: the input gets the file and fires `change`
    page.set_input_files("#file-input", [report])
    done = wait_card(page, "report.pdf", {"completed", "failed"})
    assert done["status"] == "completed", (done, page.diagnostics())
    assert done["badge"] == "completed" and done["percent"] == "100 %" and done["valuenow"] == 100
    assert done["width"] == "100%" and done["progress"].startswith("page 6/6")
    assert done["download"] and done["download"].endswith("/result")

    # the bar moved forward page by page and reached 100 % (uploading has its own bar, not counted here)
    bars = [
        b for b in page.evaluate("window.__bars") if b["name"] == "report.pdf" and b["status"] != "uploading"
    ]
    values = [b["value"] for b in bars]
    assert values == sorted(values) and values[-1] == 100, bars
    assert len(set(values)) >= 3, f"the bar jumped instead of moving page by page: {bars}"

    # the Markdown pane shows the selected (just uploaded) file, each page under its own heading, in order
    assert page.evaluate("document.getElementById('viewer-name').textContent") == "report.pdf"
    assert_pages_shown_in_order(page, 500, 6)
    pane = page.evaluate("document.getElementById('pages').innerText")
    positions = [pane.index(expected_page_text(500, n)) for n in range(1, 7)]
    assert positions == sorted(positions)

    # the download link serves the document's Markdown (fetched by the page itself)
    markdown = page.evaluate("fetch(document.getElementById('viewer-download').href).then((r) => r.text())")
    assert_markdown_has_pages_in_order(markdown, 500, 6)

    # drag-and-drop of several files at once: one good, one the server refuses
    page.drop_files("#dropzone", [slides, broken])
    refused = wait_card(page, "broken.pdf", {"completed", "failed"})
    assert refused["status"] == "failed" and refused["badge"] == "failed"
    assert refused["error"] and "PDF" in refused["error"], refused
    assert wait_card(page, "slides.pdf", {"completed", "failed"})["status"] == "completed"
    names = page.evaluate("[...document.querySelectorAll('#jobs .job-name')].map((n) => n.textContent)")
    assert sorted(names) == ["broken.pdf", "report.pdf", "slides.pdf"], (
        "one card per file, each file sent once"
    )
    select(page, "slides.pdf")
    assert_pages_shown_in_order(page, 501, 3)
    select(page, "report.pdf")
    assert_pages_shown_in_order(page, 500, 6)

    # the Markdown is text in the page, never markup: the source view shows it verbatim
    page.evaluate("document.getElementById('view-source').click()")
    source = page.evaluate("[...document.querySelectorAll('#pages pre.source')].map((p) => p.textContent)")
    assert source == [f"## Page {n}\n\n{expected_page_text(500, n)}" for n in range(1, 7)]
    page.evaluate("document.getElementById('view-rendered').click()")

    shot = screenshot(page, "browser-upload.png")
    assert shot.stat().st_size > 10_000
    assert page.errors == [], page.diagnostics()


def test_browser_eventsource_resumes_across_a_gateway_restart_with_every_event_once(
    make_stack, fresh_fake_model, page
):
    """The browser's own EventSource, not ours: kill the gateway mid-job, start a new one on the same port;
    the page must end up having received every event of the job exactly once, in order."""
    slow = fresh_fake_model(latency=0.8, jitter=0.05, max_concurrency=2)
    system = make_stack(env={"MODEL_URL": slow.url, "OCR_MAX_IN_FLIGHT": "2", "SSE_RETRY_MS": "300"})
    doc_id, pages = 600, 12
    job_id = submit(system.url, make_coded_pdf(doc_id, pages), filename="long-report.pdf")["job_id"]

    page.goto(f"{system.url}/#job={job_id}")
    page.wait_for("window.pagewise.received.some((e) => e.type === 'page')", 30)
    before = page.evaluate("window.pagewise.received")
    assert before[-1]["type"] not in ("completed", "failed", "cancelled"), "the job ended before the restart"
    assert card(page, "long-report.pdf")["status"] == "processing"
    screenshot(page, "browser-progress.png")  # mid-job: blue badge, partial bar, pages still being read

    system.stack.processes["gateway"][0].kill()
    killed_at = time.time()
    # the page noticed: the browser is retrying
    page.wait_for(f"{CARD_JS}('long-report.pdf').connection === 'reconnecting…'", 10)
    time.sleep(1.0)  # the job goes on while no gateway is up: these events must not be lost
    system.stack.start_service("gateway")
    system.stack.wait_healthy()
    back_at = time.time()

    done = wait_card(page, "long-report.pdf", {"completed", "failed", "cancelled"}, timeout=60)
    assert done["status"] == "completed" and done["percent"] == "100 %", (done, page.diagnostics())
    assert done["connection"] == ""

    received = page.evaluate("window.pagewise.received")
    everything = follow_events(system.url, job_id)  # the job's whole history, read afresh from the start
    ids = [e["id"] for e in received]
    assert all(e["job"] == job_id for e in received)
    assert ids == sorted(set(ids)), f"ids must strictly increase, none repeated: {ids}"
    assert [(e["id"], e["type"]) for e in received] == [(e.id, e.type) for e in everything]
    page_events = sorted(e["id"] for e in received if e["type"] == "page")
    assert len(page_events) == pages
    assert sorted(e.data["page_no"] for e in everything if e.type == "page") == list(range(1, pages + 1))

    # the restart really was in the middle: events were published while no gateway was up
    last_before = max(e["id"] for e in before)
    missed = [e for e in everything if e.id > last_before and killed_at <= e.data.get("at", 0) < back_at]
    assert missed, "no event was published while the gateway was down; the test proved nothing"
    # and the browser did the resuming (Last-Event-ID), not the page opening a new EventSource
    assert page.evaluate("[...window.pagewise.state.jobs.values()][0].streams") == 1

    assert_pages_shown_in_order(page, doc_id, pages)
    result = httpx.get(f"{system.url}/api/jobs/{job_id}/result", timeout=10)
    assert_markdown_has_pages_in_order(result.text, doc_id, pages)
    screenshot(page, "browser-resume.png")
    assert page.errors == [], page.diagnostics()


def test_cancel_button_cancels_a_running_job(make_stack, fresh_fake_model, page, tmp_path):
    """Cancel is a DELETE whose outcome also arrives as the stream's last event: the card must settle on
    cancelled whichever comes first, and the page must close the stream instead of reconnecting forever."""
    slow = fresh_fake_model(latency=1.0, jitter=0.05, max_concurrency=1)
    system = make_stack(env={"MODEL_URL": slow.url, "OCR_MAX_IN_FLIGHT": "1"})
    draft = tmp_path / "draft.pdf"
    draft.write_bytes(make_coded_pdf(700, 8))

    page.goto(f"{system.url}/")
    page.set_input_files("#file-input", [draft])
    running = wait_card(page, "draft.pdf", {"processing", "completed", "failed", "cancelled"}, timeout=30)
    assert running["status"] == "processing", running
    page.evaluate("document.querySelector('#jobs .job .job-cancel').click()")

    ended = wait_card(page, "draft.pdf", {"completed", "failed", "cancelled"}, timeout=30)
    assert ended["status"] == "cancelled" and ended["badge"] == "cancelled", (ended, page.diagnostics())
    assert ended["download"] is None
    assert page.evaluate("document.querySelector('#jobs .job .job-cancel').hidden")
    # the stream was closed by the page once the terminal event came (no reconnecting to an ended job)
    job_id = page.wait_for(
        "(() => { const j = [...window.pagewise.state.jobs.values()][0]; return j.es === null && j.id; })()"
    )
    assert httpx.get(f"{system.url}/api/jobs/{job_id}", timeout=10).json()["status"] == "cancelled"
    received = [e for e in page.evaluate("window.pagewise.received") if e["job"] == job_id]
    assert received[-1]["type"] == "cancelled", received
    assert page.errors == [], page.diagnostics()


HOSTILE_MARKDOWN = r"""# Title with <script>window.__pwned = 1</script>

Some **bold**, *emphasis*, `<code>` and <img src=x onerror="window.__pwned = 2">.

[a link](https://example.org/doc) and [a trap](javascript:window.__pwned=3) and ![a chart](http://evil.test/x.png)

- one
- two
  - nested

| name | value |
|------|------:|
| <b>x</b> | 1 |

<table><tr><td onclick="window.__pwned=4">cell<script>window.__pwned=5</script></td>
<td colspan="2" style="color:red">wide<img src=y onerror="window.__pwned=6"></td></tr></table>

```
<script>window.__pwned = 7</script>
```
"""

RENDER_JS = """
(async (text) => {
  const box = document.createElement('div');
  box.appendChild(window.PagewiseMarkdown.render(text));
  document.body.appendChild(box);
  await new Promise((resolve) => setTimeout(resolve, 300));  // time for anything that would fire
  return {
    pwned: window.__pwned ?? null,
    dangerous: box.querySelectorAll(
      'script, img, iframe, object, embed, style, [style], [onclick], [onerror]').length,
    tags: [...box.querySelectorAll('*')].map((e) => e.tagName.toLowerCase()),
    links: [...box.querySelectorAll('a')].map((a) => a.getAttribute('href')),
    colspans: [...box.querySelectorAll('td[colspan]')].map((td) => td.getAttribute('colspan')),
    text: box.textContent,
  };
})
"""


def test_markdown_renderer_never_turns_document_text_into_markup(page):
    """Model output is untrusted: markup in it must come out as text, and only safe elements are built."""
    page.evaluate((STATIC_DIR / "markdown.js").read_text())
    out = page.evaluate(f"{RENDER_JS}({json.dumps(HOSTILE_MARKDOWN)})")
    assert out["pwned"] is None and out["dangerous"] == 0, out
    assert out["links"] == ["https://example.org/doc"], out["links"]
    for tag in ("h1", "strong", "em", "code", "ul", "li", "table", "th", "td", "pre"):
        assert tag in out["tags"], (tag, out["tags"])
    assert out["tags"].count("ul") == 2 and out["colspans"] == ["2"]
    shown_as_text = ("<script>window.__pwned = 1</script>", "<img src=x onerror=", "[image: a chart]", "<b>")
    for shown in shown_as_text:
        assert shown in out["text"], shown
    assert "__pwned=5" not in out["text"], "a script inside an HTML table is dropped, text and all"
