"""A tiny visual "page code" printed in the top margin of generated test pages.

Why: end-to-end tests run pagewise against a *fake* vision model. For a test
to prove that each page's own image reached the model (and that the answer
landed on the right page), the fake must derive its answer from the pixels it
received. We therefore print a 32-bit value (document id + page number) as a
row of black/white cells on every test page and decode it from the image the
fake server gets.

Layout: two rows of ``COLS`` cells spanning ``X0..X1`` of the page width, the
first row starting at ``Y0`` of the page height, each row ``ROW_H`` high. All
positions are *fractions of the page size*, so the decoder needs nothing but
the image itself: it works at any render size and for any page format or
orientation (the render keeps the page's aspect ratio, and even a slightly
distorted resize keeps fractions intact). Every row starts with black, white
and ends with white, black guard cells; they give the decoder reference black
and white levels and make plain pages (white margin) fail fast. The remaining
48 cells carry the 32-bit value followed by a CRC-16 (CCITT) so random images
practically never decode as a value.

With these constants a cell is at least ~6.9 mm wide and ~5 mm high on A4 or
Letter in either orientation.
"""

from __future__ import annotations

import binascii
import io
from typing import TYPE_CHECKING, Final

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from fpdf import FPDF

__all__ = [
    "COLS",
    "ROWS",
    "decode_code",
    "decode_code_bytes",
    "decode_page_id",
    "draw_code",
    "encode_page_id",
]

COLS: Final = 28
"""Cells per row (including two guard cells at each end)."""
ROWS: Final = 2
"""Rows of cells."""
X0: Final = 0.04
"""Left edge of the code, as a fraction of the page width."""
X1: Final = 0.96
"""Right edge of the code, as a fraction of the page width."""
Y0: Final = 0.015
"""Top edge of the code, as a fraction of the page height."""
ROW_H: Final = 0.024
"""Height of one row, as a fraction of the page height."""
BAND_BOTTOM: Final = Y0 + ROWS * ROW_H
"""Bottom of the code band (fraction of page height); page content must start below."""

_GUARD_BLACK: Final = (0, COLS - 1)
_GUARD_WHITE: Final = (1, COLS - 2)
_DATA_COLS: Final = tuple(c for c in range(COLS) if c not in _GUARD_BLACK + _GUARD_WHITE)
_PAYLOAD_BITS: Final = ROWS * len(_DATA_COLS)  # 48 = 32 value bits + 16 CRC bits
_CRC_INIT: Final = 0x1D0F
_MIN_CONTRAST: Final = 60.0
"""Minimum luminance gap between the guard cells' black and white levels."""
_MARGIN: Final = 0.25
"""Each data cell must lie this fraction of the contrast away from the threshold."""
_JPEG_MIN_PREFIX: Final = 16 * 1024
"""Smallest JPEG prefix tried by :func:`decode_code_bytes`'s fast path."""
_DRAFT_MIN: Final = 200
"""JPEGs are DCT-downscaled at load, but never below this many px per axis, so
cells stay >= ~6 px wide and >= ~5 px high in the decoded image."""


def encode_page_id(doc_id: int, page_no: int) -> int:
    """Pack a document id and a page number (16 bits each) into one code value."""
    if not 0 <= doc_id <= 0xFFFF:
        raise ValueError(f"doc_id must fit in 16 bits, got {doc_id}")
    if not 0 <= page_no <= 0xFFFF:
        raise ValueError(f"page_no must fit in 16 bits, got {page_no}")
    return (doc_id << 16) | page_no


def decode_page_id(value: int) -> tuple[int, int]:
    """Inverse of :func:`encode_page_id`: ``(doc_id, page_no)``."""
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"value must fit in 32 bits, got {value}")
    return value >> 16, value & 0xFFFF


def _payload_bits(value: int) -> list[int]:
    """The 48 data-cell bits (1 = black), most significant first."""
    data = value.to_bytes(4, "big")
    word = (value << 16) | binascii.crc_hqx(data, _CRC_INIT)
    return [(word >> (_PAYLOAD_BITS - 1 - i)) & 1 for i in range(_PAYLOAD_BITS)]


def _cell_rows(value: int) -> list[list[int]]:
    """Full cell matrix (ROWS x COLS, 1 = black) including guards."""
    bits = iter(_payload_bits(value))
    rows: list[list[int]] = []
    for _ in range(ROWS):
        row = [0] * COLS
        for c in _GUARD_BLACK:
            row[c] = 1
        for c in _DATA_COLS:
            row[c] = next(bits)
        rows.append(row)
    return rows


def draw_code(pdf: FPDF, value: int) -> None:
    """Draw ``value`` (32-bit) as the page code on the current page of ``pdf``.

    Uses only fractions of the current page's size, so it works for any
    format/orientation. Runs of adjacent black cells are drawn as one
    rectangle to avoid anti-aliasing seams between them. Page content must
    stay below ``BAND_BOTTOM * pdf.h``.
    """
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"value must fit in 32 bits, got {value}")
    page_w, page_h = pdf.w, pdf.h
    cell_w = (X1 - X0) * page_w / COLS
    row_h = ROW_H * page_h
    with pdf.local_context(fill_color=(255, 255, 255)):
        # White backing so the code also decodes on pages with a background.
        pdf.rect(X0 * page_w, Y0 * page_h, (X1 - X0) * page_w, ROWS * row_h, style="F")
    with pdf.local_context(fill_color=(0, 0, 0)):
        for r, row in enumerate(_cell_rows(value)):
            y = (Y0 + r * ROW_H) * page_h
            c = 0
            while c < COLS:
                if not row[c]:
                    c += 1
                    continue
                start = c
                while c < COLS and row[c]:
                    c += 1
                pdf.rect(X0 * page_w + start * cell_w, y, (c - start) * cell_w, row_h, style="F")


def _band_luma(image: Image.Image) -> tuple[np.ndarray, float, float, float, float]:
    """Crop the code band, return it as a float luma array plus its geometry.

    Returns ``(array, x_offset, y_offset, scale_x, scale_y)`` where pixel
    coordinates in the array are ``(page_fraction * full_size * scale) - offset``.
    """
    full_w, full_h = image.size
    if getattr(image, "format", None) == "JPEG" and getattr(image, "tile", None):
        # Not loaded yet: let libjpeg downscale in the DCT (cheap) instead of
        # decoding every pixel. Mutates ``image`` (it loads at the draft size).
        image.draft("L", (min(full_w, _DRAFT_MIN), min(full_h, _DRAFT_MIN)))
    w, h = image.size
    sx, sy = w / full_w, h / full_h
    left = int(X0 * full_w * sx)
    top = int(Y0 * full_h * sy)
    right = min(w, int(X1 * full_w * sx) + 1)
    bottom = min(h, int((Y0 + ROWS * ROW_H) * full_h * sy) + 1)
    band = image.crop((left, top, right, bottom))
    if band.mode in ("RGBA", "LA", "PA") or (band.mode == "P" and "transparency" in band.info):
        rgba = band.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        band = Image.alpha_composite(white, rgba)
    if band.mode != "L":
        band = band.convert("L")
    return np.asarray(band), float(left), float(top), sx * full_w, sy * full_h


def decode_code(image: Image.Image) -> int | None:
    """Read the page code from a rendered page image, or ``None`` if absent.

    Samples the mean luminance of a small square around every cell centre.
    Returns ``None`` unless the guard cells show a clear black/white contrast,
    every data cell is clearly black or white, and the CRC-16 matches -- so
    plain, blank or photographic pages do not produce a value.

    If ``image`` is a JPEG that has not been loaded yet, it is loaded in
    reduced "draft" mode (fast); pass a fresh ``Image.open`` result, not an
    image you still need at full resolution. Image decoding errors (truncated
    or corrupt data) propagate as ``OSError``.
    """
    arr, left, top, width, height = _band_luma(image)
    bh, bw = arr.shape
    cell_w = (X1 - X0) * width / COLS
    row_h = ROW_H * height
    radius = max(0, int(min(cell_w, row_h) * 0.2))
    offsets = np.arange(-radius, radius + 1)
    cy = np.array([int((Y0 + (r + 0.5) * ROW_H) * height - top) for r in range(ROWS)])
    cx = np.array([int(X0 * width + (c + 0.5) * cell_w - left) for c in range(COLS)])
    yy = np.clip(cy[:, None] + offsets, 0, bh - 1)  # (ROWS, k)
    xx = np.clip(cx[:, None] + offsets, 0, bw - 1)  # (COLS, k)
    # One gather: (ROWS, COLS, k, k) patches around every cell centre.
    means = arr[yy[:, None, :, None], xx[None, :, None, :]].mean(axis=(2, 3))
    black = means[:, list(_GUARD_BLACK)]
    white = means[:, list(_GUARD_WHITE)]
    if float(white.min()) - float(black.max()) < _MIN_CONTRAST:
        return None
    threshold = (float(black.mean()) + float(white.mean())) / 2.0
    margin = _MARGIN * (float(white.mean()) - float(black.mean()))
    data = means[:, list(_DATA_COLS)].reshape(-1)
    if bool((np.abs(data - threshold) < margin).any()):
        return None
    word = 0
    for bit in (data < threshold).tolist():
        word = (word << 1) | int(bit)
    value, crc = word >> 16, word & 0xFFFF
    if binascii.crc_hqx(value.to_bytes(4, "big"), _CRC_INIT) != crc:
        return None
    return value


def decode_code_bytes(data: bytes) -> int | None:
    """Open encoded image bytes (JPEG/PNG/WebP/...) and decode the page code.

    Fast path for baseline JPEG: the code sits in the top ~6 % of the page and
    JPEG is decoded top-down, so first decode only the first quarter of the
    file (with an end-of-image marker appended; libjpeg fills the rest). That
    halves the cost per request in the fake server. The CRC guards against a
    wrong value; if the prefix yields nothing, the whole image is decoded.
    Consequence: damage in the *tail* of a JPEG whose code reads fine goes
    unnoticed. Raises ``PIL.UnidentifiedImageError``/``OSError`` for data
    that is not a decodable image.
    """
    if data[:3] == b"\xff\xd8\xff" and len(data) > 4 * _JPEG_MIN_PREFIX:
        prefix = data[: max(_JPEG_MIN_PREFIX, len(data) // 4)] + b"\xff\xd9"
        try:
            with Image.open(io.BytesIO(prefix)) as image:
                value = decode_code(image)
        except (OSError, ValueError, SyntaxError):
            value = None
        if value is not None:
            return value
    with Image.open(io.BytesIO(data)) as image:
        return decode_code(image)
