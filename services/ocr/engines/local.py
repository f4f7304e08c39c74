"""The embedded engine: RapidOCR (PP-OCR models shipped inside its wheel), so ``make run`` converts a real
PDF with no model server and no download. It reads text lines, not layout: Markdown is one paragraph per
block of lines. Its bundled recognition model covers Chinese and English; Korean needs a model server."""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from services.ocr.engines import ModelError, Recognition


def lines_to_markdown(boxes: Any, texts: tuple[str, ...]) -> str:
    """Order lines top-to-bottom, left-to-right, and start a new paragraph where the vertical gap between
    lines is larger than the line height."""
    items = []
    for box, text in zip(boxes, texts, strict=False):
        ys = [float(p[1]) for p in box]
        xs = [float(p[0]) for p in box]
        items.append((min(ys), max(ys), min(xs), text.strip()))
    items.sort(key=lambda item: (round(item[0] / 10), item[2]))
    paragraphs: list[list[str]] = []
    previous_bottom: float | None = None
    for top, bottom, _left, text in items:
        if not text:
            continue
        height = max(1.0, bottom - top)
        if previous_bottom is None or top - previous_bottom > 0.8 * height:
            paragraphs.append([])
        paragraphs[-1].append(text)
        previous_bottom = bottom
    return "\n\n".join(" ".join(lines) for lines in paragraphs)


class LocalEngine:
    name = "local-rapidocr"
    model = "rapidocr"

    def __init__(self) -> None:
        # onnxruntime uses every core itself; one thread of ours avoids oversubscribing a small machine
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rapidocr")
        self._engine: Any = None

    def _recognize_sync(self, image: bytes) -> str:
        import numpy as np
        from PIL import Image

        if self._engine is None:
            from rapidocr import RapidOCR

            self._engine = RapidOCR()
        pixels = np.array(Image.open(io.BytesIO(image)).convert("RGB"))
        result = self._engine(pixels)
        if result.txts is None or result.boxes is None:
            return ""
        return lines_to_markdown(result.boxes, tuple(result.txts))

    async def recognize(
        self, image: bytes, media_type: str, *, model: str | None, prompt: str | None, attempt: int
    ) -> Recognition:
        try:
            markdown = await asyncio.get_running_loop().run_in_executor(
                self._thread, self._recognize_sync, image
            )
        except (OSError, ValueError) as exc:
            raise ModelError(f"local OCR cannot read the page image: {exc}", retryable=False) from exc
        return Recognition(markdown, self.model, "stop")

    async def healthy(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
