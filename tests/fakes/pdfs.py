"""Deterministic PDFs for tests and benchmarks, generated with fpdf2.

Why: tests must not depend on checked-in binary fixtures, and the fake model
(see ``fake_model.py``) needs pages that carry a machine-readable page code
(see ``pagecode.py``) so its answer can be traced back to the exact page image
it was sent. Everything here is seeded, so the same arguments give the same
bytes (fixed creation date, seeded prose and images).
"""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final, Literal

import numpy as np
from fpdf import FPDF
from PIL import Image

from tests.fakes.pagecode import BAND_BOTTOM, draw_code, encode_page_id

__all__ = [
    "PAGE_FORMATS",
    "expected_page_text",
    "make_coded_pdf",
    "make_text_pdf",
    "parse_page_format",
    "render_page",
]

PAGE_FORMATS: Final = ("A3", "A4", "Letter", "Legal")
"""Paper names accepted by :func:`parse_page_format` (optionally ``-landscape``)."""

_CREATION_DATE: Final = datetime(2024, 1, 1, tzinfo=UTC)

_WORDS: Final = (
    "the of and to in is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there been one all we their has would when if so no will "
    "more can who its said about into than them some could time these two may then first any "
    "other like our over also new only most paper model page document layout table figure "
    "section chapter result method system value number data study analysis report review "
    "process design network image signal energy market policy region water light river mountain "
    "garden window morning evening history science letter station harbour village careful quiet "
    "bright narrow ancient modern simple complex gentle rapid silent steady golden distant "
    "measure observe describe compare explain consider improve support provide require develop "
    "include"
).split()


def expected_page_text(doc_id: int, page_no: int) -> str:
    """The exact line the fake model answers for page ``page_no`` of ``doc_id``.

    Zero-padded and bracketed so no page's text is a substring of another's
    (page 1 vs page 10, doc 1 vs doc 12). It is also printed as the heading of
    coded text pages, so a real vision model would read it too.
    """
    return f"[pagewise doc {doc_id:05d} page {page_no:05d}]"


def parse_page_format(page_format: str) -> tuple[str, Literal["P", "L"]]:
    """``"A4"``, ``"letter-landscape"``, ``"Letter-portrait"`` -> (fpdf2 name, orientation)."""
    name, _, orient = page_format.strip().partition("-")
    lookup = {f.lower(): f for f in PAGE_FORMATS}
    if name.lower() not in lookup:
        raise ValueError(f"unknown page format {page_format!r}; use one of {PAGE_FORMATS} [-landscape]")
    orient = orient.lower()
    if orient in ("", "portrait", "p"):
        return lookup[name.lower()].lower(), "P"
    if orient in ("landscape", "l"):
        return lookup[name.lower()].lower(), "L"
    raise ValueError(f"unknown orientation in {page_format!r}; use -portrait or -landscape")


def _new_pdf(page_format: str) -> FPDF:
    name, orientation = parse_page_format(page_format)
    pdf = FPDF(orientation=orientation, unit="mm", format=name)
    pdf.set_creation_date(_CREATION_DATE)
    pdf.set_auto_page_break(False)
    pdf.set_margins(15, 15, 15)
    return pdf


def _prose_lines(rng: random.Random, count: int, max_chars: int) -> list[str]:
    """``count`` lines of plausible English-looking prose, each <= ``max_chars``."""
    lines: list[str] = []
    sentence_start = True
    for _ in range(count):
        parts: list[str] = []
        length = 0
        while True:
            word = rng.choice(_WORDS)
            if sentence_start:
                word = word.capitalize()
                sentence_start = False
            if rng.random() < 0.09:
                word += "."
                sentence_start = True
            elif rng.random() < 0.05:
                word += ","
            if length + len(word) + 1 > max_chars:
                break
            parts.append(word)
            length += len(word) + 1
        lines.append(" ".join(parts))
    return lines


@lru_cache(maxsize=4)
def _gradient(width: int, height: int) -> np.ndarray:
    """A smooth RGB gradient (0..140, int16), cached because every image page shares it."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    red = xx / max(1, width - 1)
    green = yy / max(1, height - 1)
    blue = 0.5 + 0.5 * np.sin((xx + yy) / 37.0)
    return (140 * np.stack([red, green, blue], axis=-1)).astype(np.int16)


def _noise_jpeg(seed: int, width: int, height: int) -> bytes:
    """A seeded gradient + blocky + fine-noise raster, JPEG-encoded.

    Already JPEG so fpdf2 embeds it as-is (DCTDecode), which keeps PDF
    generation fast (~35 ms, ~330 KB per page) while making the pages
    expensive to render and to re-encode. Integer arithmetic for speed.
    """
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 116, size=(height // 16 + 1, width // 16 + 1, 3), dtype=np.int16)
    blocky = np.repeat(np.repeat(blocks, 16, axis=0), 16, axis=1)[:height, :width]
    fine = rng.integers(-24, 25, size=(height, width, 1), dtype=np.int16)
    pixels = _gradient(width, height) + blocky + fine
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=80)
    return out.getvalue()


def make_coded_pdf(
    doc_id: int,
    pages: int,
    *,
    kind: Literal["text", "image"] | str = "text",
    page_format: str = "A4",
) -> bytes:
    """A ``pages``-page PDF whose page ``n`` (1-based) carries the code for ``(doc_id, n)``.

    ``kind="text"``: the heading :func:`expected_page_text` plus ~30 lines of
    seeded prose in Helvetica. ``kind="image"``: the same heading plus a large
    seeded noisy raster filling the page (image-heavy rendering/encoding).
    ``page_format``: see :func:`parse_page_format`.
    """
    if kind not in ("text", "image"):
        raise ValueError(f"kind must be 'text' or 'image', got {kind!r}")
    if pages < 1:
        raise ValueError("pages must be >= 1")
    pdf = _new_pdf(page_format)
    for page_no in range(1, pages + 1):
        pdf.add_page()
        draw_code(pdf, encode_page_id(doc_id, page_no))
        top = BAND_BOTTOM * pdf.h + 6
        pdf.set_xy(pdf.l_margin, top)
        pdf.set_font("Helvetica", style="B", size=16)
        pdf.cell(0, 9, expected_page_text(doc_id, page_no), new_x="LMARGIN", new_y="NEXT")
        body_top = pdf.y + 3
        avail_w = pdf.w - pdf.l_margin - pdf.r_margin
        avail_h = pdf.h - body_top - pdf.b_margin
        if kind == "text":
            rng = random.Random(f"pagewise-text:{doc_id}:{page_no}")
            line_h = min(6.0, avail_h / 31)
            pdf.set_font("Helvetica", size=min(11.0, line_h * 1.9))
            # Helvetica averages ~0.5 em per char; 0.5 em at size s pt = s * 0.176 mm.
            max_chars = int(avail_w / (pdf.font_size_pt * 0.5 * 0.3528) * 0.95)
            pdf.set_y(body_top)
            for line in _prose_lines(rng, 30, max_chars):
                pdf.cell(0, line_h, line, new_x="LMARGIN", new_y="NEXT")
        else:
            px_w = 900
            px_h = max(100, int(px_w * avail_h / avail_w))
            data = _noise_jpeg(doc_id * 65536 + page_no, px_w, px_h)
            pdf.image(io.BytesIO(data), x=pdf.l_margin, y=body_top, w=avail_w, h=avail_h)
    return bytes(pdf.output())


def make_text_pdf(lines: list[str], *, page_format: str = "A4", font_size: float = 28) -> bytes:
    """One page of large, clear, black Helvetica lines and no page code.

    For exercising a real local OCR engine, which needs unambiguous glyphs.
    """
    pdf = _new_pdf(page_format)
    pdf.add_page()
    pdf.set_font("Helvetica", size=font_size)
    pdf.set_text_color(0, 0, 0)
    line_h = font_size * 0.3528 * 1.5
    pdf.set_xy(pdf.l_margin, 25)
    for line in lines:
        pdf.cell(0, line_h, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def render_page(
    pdf_bytes: bytes,
    page_index: int,
    *,
    longest_side: int = 1288,
    image_format: Literal["JPEG", "PNG", "WEBP"] | str = "JPEG",
    quality: int = 85,
) -> bytes:
    """Render one page (0-based index) with pypdfium2 and encode it.

    The long side of the result is ``longest_side`` px (aspect preserved).
    Used by tests/benchmarks to build requests for the fake model without
    going through pagewise itself.
    """
    import pypdfium2 as pdfium  # local: only the callers that render need it

    doc = pdfium.PdfDocument(pdf_bytes)
    try:
        page = doc[page_index]
        try:
            width, height = page.get_size()
            bitmap = page.render(scale=longest_side / max(width, height))
            img = bitmap.to_pil().convert("RGB")
        finally:
            page.close()
    finally:
        doc.close()
    out = io.BytesIO()
    fmt = image_format.upper()
    if fmt == "JPEG":
        img.save(out, format="JPEG", quality=quality)
    elif fmt == "WEBP":
        img.save(out, format="WEBP", quality=quality)
    else:
        img.save(out, format=fmt)
    return out.getvalue()
