from __future__ import annotations

from services.common.settings import CommonSettings

DEFAULT_PROMPT = (
    "Convert this document page to Markdown. Transcribe every piece of text exactly as written, in its "
    "original language (Korean, English or mixed): do not translate, summarise or add commentary. Keep the "
    "reading order, headings, lists and emphasis; write tables as Markdown tables and formulas as LaTeX. "
    "Skip page headers, footers and page numbers. Output only the Markdown."
)


class OcrSettings(CommonSettings, frozen=True, kw_only=True):
    # OpenAI-compatible base URL, e.g. http://vllm:8000/v1. Empty: the embedded local engine (rapidocr).
    model_url: str = ""
    model_name: str = "Qwen/Qwen3-VL-8B-Instruct"
    model_api_key: str = ""
    ocr_prompt: str = DEFAULT_PROMPT
    ocr_max_tokens: int = 8000
    ocr_temperature: float = 0.0
    ocr_timeout: float = 300.0
    # The global cap: max_ack_pending of the shared consumer = pages in flight to the model, cluster-wide.
    ocr_max_in_flight: int = 8
    # Calls one process may run at once; above the global cap it only matters when processes are few.
    ocr_concurrency: int = 8
    ocr_ack_wait: float = 30.0
    ocr_max_deliver: int = 6
    ocr_retry_base: float = 1.0
    ocr_retry_cap: float = 60.0
    # circuit breaker: consecutive model-unavailable failures that stop pulling, and the probe interval
    ocr_breaker_threshold: int = 5
    ocr_breaker_probe_interval: float = 2.0
