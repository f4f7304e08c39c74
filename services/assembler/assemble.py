"""Pure assembly: page rows in, the document's Markdown and its outcome out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PageResult:
    page_no: int
    status: str  # done | failed
    markdown: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # completed | failed
    markdown: str
    error: str | None
    pages_done: int
    pages_failed: int


def page_marker(page_no: int) -> str:
    """An HTML comment: invisible when rendered, lets a reader (or a program) find each page."""
    return f"<!-- page {page_no} -->"


def placeholder(page: PageResult) -> str:
    return f"> **[page {page.page_no} could not be recognized: {page.error or 'unknown error'}]**"


def assemble(pages: list[PageResult], policy: str) -> Outcome:
    ordered = sorted(pages, key=lambda p: p.page_no)
    failed = [p for p in ordered if p.status != "done"]
    done = len(ordered) - len(failed)
    parts = []
    for page in ordered:
        body = (page.markdown or "").strip() if page.status == "done" else placeholder(page)
        parts.append(f"{page_marker(page.page_no)}\n\n{body}".rstrip())
    markdown = "\n\n".join(parts) + "\n"
    if not ordered:
        return Outcome("failed", "", "the document produced no pages", 0, 0)
    if failed and (done == 0 or policy == "fail"):
        first = failed[0]
        which = "all" if done == 0 else f"{len(failed)} of {len(ordered)}"
        error = f"{which} pages failed; first: page {first.page_no}: {first.error or 'unknown error'}"
        return Outcome("failed", markdown, error, done, len(failed))
    return Outcome("completed", markdown, None, done, len(failed))
