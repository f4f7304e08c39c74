"""Recognition engines: the OpenAI-compatible client (Qwen3-VL on vLLM, SGLang, Ollama) and a local one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ModelError(Exception):
    """A failed recognition attempt. ``retryable`` decides whether another delivery may succeed;
    ``unavailable`` marks errors that say the server itself is down (they feed the circuit breaker)."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        unavailable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.unavailable = unavailable
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Recognition:
    markdown: str
    model: str
    finish_reason: str


class Engine(Protocol):
    name: str

    async def recognize(
        self, image: bytes, media_type: str, *, model: str | None, prompt: str | None, attempt: int
    ) -> Recognition: ...

    async def healthy(self) -> bool: ...

    async def aclose(self) -> None: ...
