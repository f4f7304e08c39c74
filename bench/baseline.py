"""The seed design, rebuilt as a yardstick: one queue job per whole document, a fixed number of workers
(two), each rendering a document's pages and sending them to the model one after another.

It uses pagewise's own render function and OCR engine (same render settings, same request body, same
fake server), so the only difference measured is the architecture: per-document sequential calls versus
per-page parallel calls under a global cap.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pypdfium2 as pdfium

from services.ocr.engines.openai_compatible import OpenAICompatibleEngine
from services.ocr.settings import OcrSettings
from services.splitter.render import RenderedPage, RenderOptions, render_page


@dataclass(frozen=True)
class BaselineJob:
    index: int
    seconds: float
    pages: int
    markdown_chars: int


def _engine(model_url: str) -> OpenAICompatibleEngine:
    s = OcrSettings()
    return OpenAICompatibleEngine(
        model_url,
        model=s.model_name,
        api_key="",
        prompt=s.ocr_prompt,
        max_tokens=s.ocr_max_tokens,
        temperature=s.ocr_temperature,
        timeout=s.ocr_timeout,
        max_connections=4,
    )


async def run_baseline(pdfs: Sequence[bytes], model_url: str, workers: int = 2) -> list[BaselineJob]:
    """Process ``pdfs`` the seed way; returns each document's time from dequeue to joined Markdown."""
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    for item in enumerate(pdfs):
        queue.put_nowait(item)
    engine = _engine(model_url)
    options = RenderOptions()
    pdfium_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdfium")  # PDFium: one thread
    loop = asyncio.get_running_loop()
    done: list[BaselineJob] = []

    def render(doc: pdfium.PdfDocument, page_no: int) -> RenderedPage:
        return render_page(doc, page_no, options)

    async def worker() -> None:
        while not queue.empty():
            index, pdf = queue.get_nowait()
            started = time.perf_counter()
            doc = await loop.run_in_executor(pdfium_thread, pdfium.PdfDocument, pdf)
            parts: list[str] = []
            try:
                for page_no in range(1, len(doc) + 1):
                    page = await loop.run_in_executor(pdfium_thread, render, doc, page_no)
                    recognition = await engine.recognize(
                        page.data, page.media_type, model=None, prompt=None, attempt=1
                    )
                    parts.append(f"<!-- page {page_no} -->\n\n{recognition.markdown}")
            finally:
                await loop.run_in_executor(pdfium_thread, doc.close)
            markdown = "\n\n".join(parts)
            done.append(BaselineJob(index, time.perf_counter() - started, len(parts), len(markdown)))

    try:
        await asyncio.gather(*(worker() for _ in range(workers)))
    finally:
        await engine.aclose()
        pdfium_thread.shutdown(wait=False)
    return sorted(done, key=lambda j: j.index)
