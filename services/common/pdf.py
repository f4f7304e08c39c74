"""Opening an untrusted PDF: the checks the gateway (at upload) and the splitter (before rendering) share.

Every failure is a ``DocumentError`` with a stable ``code`` and a message a person can act on.
PDFium is not thread-safe: call ``open_document`` from the one thread that owns PDFium in its process.
"""

from __future__ import annotations

import re
from pathlib import Path

import pypdfium2 as pdfium

_EMPTY_PAGE_TREE = re.compile(rb"/Count\s+0\b")


class DocumentError(Exception):
    """A document that can never be processed: the job fails with ``code`` and a human message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def looks_like_pdf(head: bytes) -> bool:
    """PDF readers accept the header anywhere in the first KiB; so do we."""
    return b"%PDF-" in head[:1024]


def has_eof_marker(tail: bytes) -> bool:
    """A PDF ends with ``%%EOF`` (some trailing junk is common: we look at the last 8 KiB). Without it the
    file was cut off in transfer."""
    return b"%%EOF" in tail


def open_document(path: Path) -> pdfium.PdfDocument:
    try:
        with path.open("rb") as fh:
            head = fh.read(8192)
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 8192))
            tail = fh.read()
    except OSError as exc:
        raise DocumentError("unreadable", f"cannot read the upload: {exc}") from exc
    if not looks_like_pdf(head):
        raise DocumentError("not_pdf", "the file is not a PDF (no %PDF- header)")
    if not has_eof_marker(tail):
        raise DocumentError("truncated", "the PDF is truncated (no %%EOF marker at its end)")
    try:
        doc = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        # FPDF_GetLastError is sticky across loads in one process (a previous encrypted file leaves
        # "password" behind), so the error code alone cannot be trusted: look at the file as well.
        if b"/Encrypt" in head or b"/Encrypt" in tail:
            raise DocumentError(
                "encrypted", "the PDF is password-protected; upload it without a password"
            ) from exc
        if size < 1_000_000 and _EMPTY_PAGE_TREE.search(path.read_bytes()):
            raise DocumentError("no_pages", "the PDF has no pages") from exc
        raise DocumentError("corrupt", "the PDF is damaged and cannot be opened") from exc
    if len(doc) == 0:
        doc.close()
        raise DocumentError("no_pages", "the PDF has no pages")
    return doc


def select_pages(page_count: int, first: int | None, last: int | None, max_pages: int) -> list[int]:
    """1-based page numbers to process; a range past the end is clipped, an empty one is an error."""
    start = max(1, first or 1)
    stop = min(page_count, last or page_count)
    if start > stop:
        raise DocumentError(
            "empty_range", f"page range {first}-{last} selects no page of a {page_count}-page document"
        )
    pages = list(range(start, stop + 1))
    if len(pages) > max_pages:
        raise DocumentError(
            "too_many_pages",
            f"{len(pages)} pages selected; the limit is {max_pages} (set a page range or raise MAX_PAGES)",
        )
    return pages
