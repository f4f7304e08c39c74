"""Opening an untrusted PDF: the checks the gateway (at upload) and the splitter (before rendering) share.

Every failure is a ``DocumentError`` with a stable ``code`` and a message a person can act on.
PDFium is not thread-safe: call ``open_document`` from the one thread that owns PDFium in its process.
"""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium

# PDFium FPDF_GetLastError codes
_ERR_FILE, _ERR_FORMAT, _ERR_PASSWORD, _ERR_SECURITY = 2, 3, 4, 5



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
    """A PDF ends with ``%%EOF`` (a few bytes of trailing junk are common). Without it the file was cut."""
    return b"%%EOF" in tail


def open_document(path: Path) -> pdfium.PdfDocument:
    try:
        with path.open("rb") as fh:
            head = fh.read(1024)
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 2048))
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
        if exc.err_code in (_ERR_PASSWORD, _ERR_SECURITY):
            raise DocumentError("encrypted", "the PDF is password-protected; upload it without a password") from exc
        raise DocumentError("corrupt", f"the PDF cannot be opened: {exc}") from exc
    if len(doc) == 0:
        doc.close()
        raise DocumentError("no_pages", "the PDF has no pages")
    return doc
