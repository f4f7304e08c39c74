from __future__ import annotations

from services.common.settings import CommonSettings


class SplitterSettings(CommonSettings, frozen=True, kw_only=True):
    # documents rendered at once by one splitter process (each renders on its own PDFium thread in turn)
    splitter_concurrency: int = 2
    splitter_ack_wait: float = 60.0
    splitter_max_deliver: int = 3
    max_pages: int = 2000
    render_longest_side: int = 1288
    render_dpi: float = 0.0  # > 0 overrides the longest side
    render_format: str = "jpeg"
    render_jpeg_quality: int = 90
    render_max_pixels: int = 4096 * 32 * 32
