"""Pure rendering: a PDF file in, page images out. No I/O beyond reading the file it is given.

PDFium is not thread-safe (MinerU renders under a global lock), so callers run every function here on one
dedicated thread (see ``worker.PageRenderer``); ctypes releases the GIL during PDFium calls, so the event
loop stays responsive while a page renders.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pypdfium2 as pdfium

POINTS_PER_INCH = 72.0


@dataclass(frozen=True, slots=True)
class RenderOptions:
    longest_side: int = 1288
    dpi: float | None = None
    image_format: str = "jpeg"  # jpeg | png | webp
    jpeg_quality: int = 90
    max_pixels: int = 4096 * 32 * 32  # hard ceiling whatever the DPI asked for (hostile page sizes)


@dataclass(frozen=True, slots=True)
class RenderedPage:
    data: bytes
    media_type: str
    extension: str
    width: int
    height: int


def render_scale(width_pt: float, height_pt: float, options: RenderOptions) -> float:
    """Scale factor (pixels per point). The longest side wins unless a DPI is given; either way the pixel
    count is capped so a hostile 200-inch page cannot exhaust memory."""
    if options.dpi:
        scale = options.dpi / POINTS_PER_INCH
    else:
        scale = options.longest_side / max(width_pt, height_pt, 1.0)
    pixels = width_pt * height_pt * scale * scale
    if pixels > options.max_pixels:
        scale *= (options.max_pixels / pixels) ** 0.5
    return scale


def render_page(doc: pdfium.PdfDocument, page_no: int, options: RenderOptions) -> RenderedPage:
    page = doc[page_no - 1]
    try:
        width_pt, height_pt = page.get_size()
        scale = render_scale(width_pt, height_pt, options)
        bitmap = page.render(scale=scale, may_draw_forms=True)
        try:
            image = bitmap.to_pil()
        finally:
            bitmap.close()
    finally:
        page.close()
    return encode_image(image, options)


def encode_image(image, options: RenderOptions) -> RenderedPage:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    fmt = options.image_format.lower()
    if fmt == "png":
        # compress_level 1: a third of the default's encode time for ~10 % more bytes (measured, bench)
        image.save(buf, "PNG", compress_level=1)
        media_type, ext = "image/png", "png"
    elif fmt == "webp":
        image.save(buf, "WEBP", quality=options.jpeg_quality)
        media_type, ext = "image/webp", "webp"
    else:
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(buf, "JPEG", quality=options.jpeg_quality)
        media_type, ext = "image/jpeg", "jpg"
    return RenderedPage(buf.getvalue(), media_type, ext, image.width, image.height)
