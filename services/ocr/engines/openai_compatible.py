"""Qwen3-VL behind an OpenAI-compatible ``/v1/chat/completions`` (vLLM, SGLang, Ollama, LM Studio)."""

from __future__ import annotations

import base64
import contextlib

import httpx
import msgspec

from services.ocr.engines import ModelError, Recognition
from services.ocr.markdown import is_repetition_loop, strip_fence

# Statuses that another attempt may fix: overload (429/503), gateway trouble, and 500 which vLLM answers
# for transient engine errors. Everything else 4xx is our request's fault and will not get better.
_encoder = msgspec.json.Encoder()

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    return None


class OpenAICompatibleEngine:
    name = "openai-compatible"

    def __init__(
        self,
        base_url: str,
        *,
        model: str,
        api_key: str,
        prompt: str,
        max_tokens: int,
        temperature: float,
        timeout: float,
        max_connections: int,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.prompt = prompt
        self.max_tokens = max_tokens
        self.temperature = temperature
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=10.0),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    def request_body(
        self, image: bytes, media_type: str, model: str, prompt: str, attempt: int
    ) -> dict[str, object]:
        data_url = f"data:{media_type};base64,{base64.b64encode(image).decode('ascii')}"
        # olmOCR raises the temperature on each retry so a looping decode takes another path
        temperature = self.temperature + 0.1 * max(0, attempt - 1) if attempt > 1 else self.temperature
        return {
            "model": model,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": data_url}},
                        {"type": "text", "text": prompt},
                    ],
                }
            ],
            "max_tokens": self.max_tokens,
            "temperature": min(temperature, 1.0),
        }

    async def recognize(
        self, image: bytes, media_type: str, *, model: str | None, prompt: str | None, attempt: int
    ) -> Recognition:
        model_name = model or self.model
        body = self.request_body(image, media_type, model_name, prompt or self.prompt, attempt)
        try:
            # msgspec encodes the ~400 KB base64 body several times faster than the stdlib json httpx uses
            response = await self._client.post(
                "/chat/completions",
                content=_encoder.encode(body),
                headers={"Content-Type": "application/json"},
            )
        except httpx.TimeoutException as exc:
            raise ModelError(f"model call timed out ({type(exc).__name__})", retryable=True) from exc
        except httpx.TransportError as exc:
            raise ModelError(f"model server unreachable: {exc!r}", retryable=True, unavailable=True) from exc
        if response.status_code != 200:
            detail = response.text[:300]
            raise ModelError(
                f"model answered HTTP {response.status_code}: {detail}",
                retryable=response.status_code in RETRYABLE_STATUSES,
                unavailable=response.status_code in UNAVAILABLE_STATUSES,
                retry_after=_retry_after(response),
            )
        try:
            payload = response.json()
            choice = payload["choices"][0]
            content = choice["message"]["content"] or ""
            finish_reason = choice.get("finish_reason") or "stop"
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelError(
                f"model answer is not a chat completion: {response.text[:200]}", retryable=True
            ) from exc
        if finish_reason == "length":
            raise ModelError(
                f"answer cut off at max_tokens={self.max_tokens} (finish_reason=length)", retryable=True
            )
        if is_repetition_loop(content):
            raise ModelError("answer is stuck repeating itself (decoding loop)", retryable=True)
        return Recognition(strip_fence(content), str(payload.get("model") or model_name), finish_reason)

    async def healthy(self) -> bool:
        """vLLM answers ``/health`` at the server root and ``/v1/models``; either means it is up."""
        try:
            response = await self._client.get("/models", timeout=5.0)
            return response.status_code == 200
        except httpx.HTTPError:
            return False

    async def aclose(self) -> None:
        await self._client.aclose()
