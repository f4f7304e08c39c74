"""Deterministic PDFs made in code: coded pages the fake model can answer, and one very large file.

Coded pages come from the test suite (``tests.fakes.pdfs``): each page carries a machine-readable code
for (document, page), so the fake model's answer proves which page it saw, exactly as in the e2e tests.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np

from tests.fakes.pdfs import make_coded_pdf

Kind = Literal["text", "image"]


def _make(args: tuple[int, int, str]) -> bytes:
    doc_id, pages, kind = args
    return make_coded_pdf(doc_id, pages, kind=kind)


def coded_pdfs(first_doc_id: int, count: int, pages: int, kind: Kind = "text") -> list[bytes]:
    """``count`` documents of ``pages`` pages, ids from ``first_doc_id``; generated on two processes
    because fpdf2 costs ~5 ms per text page and the bench should spend its minutes measuring."""
    jobs = [(first_doc_id + i, pages, kind) for i in range(count)]
    if count * pages < 200:
        return [_make(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=2) as pool:
        return list(pool.map(_make, jobs))


def write_large_pdf(path: Path, size_mb: int, seed: int = 7) -> int:
    """A valid one-page PDF of about ``size_mb`` MB, written in 8 MiB pieces (never held in memory).

    The bulk is one unreferenced stream object of seeded random bytes: incompressible, so nothing on the
    way can shrink it, and unreferenced, so PDFium opens the file without touching it. The cross-reference
    table is exact, which keeps PDFium from scanning the file to rebuild it. Returns the file's size.
    """
    chunk = 8 * 1024 * 1024
    bulk = max(0, size_mb * 1024 * 1024 - 2048)
    offsets: list[int] = []
    rng = np.random.default_rng(seed)
    with path.open("wb") as fh:

        def obj(body: bytes) -> None:
            offsets.append(fh.tell())
            fh.write(f"{len(offsets)} 0 obj\n".encode() + body + b"\nendobj\n")

        fh.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        obj(b"<< /Type /Catalog /Pages 2 0 R >>")
        obj(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
        obj(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << >> >>")
        content = b"0.2 0.4 0.8 rg 72 600 451 170 re f"
        obj(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        offsets.append(fh.tell())
        fh.write(b"5 0 obj\n<< /Length %d >>\nstream\n" % bulk)
        left = bulk
        while left > 0:
            n = min(chunk, left)
            fh.write(rng.bytes(n))
            left -= n
        fh.write(b"\nendstream\nendobj\n")
        xref = fh.tell()
        fh.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1))
        for offset in offsets:
            fh.write(b"%010d 00000 n \n" % offset)
        fh.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(offsets) + 1, xref))
        return fh.tell()


def file_digest(path: Path) -> str:
    """SHA-256 of a file, streamed (recorded so two runs can show they uploaded the same bytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
