"""Checks and clean-up of what a model answered: pure functions, unit-tested without a model."""

from __future__ import annotations

import re

_FENCE = re.compile(r"^\s*```(?:markdown|md)?\s*\n(?P<body>.*?)\n```\s*$", re.DOTALL)


def strip_fence(text: str) -> str:
    """Qwen3-VL often wraps a whole page in a ```markdown fence; the page *is* Markdown, so unwrap it."""
    match = _FENCE.match(text)
    return match.group("body") if match else text.strip()


def is_repetition_loop(text: str, *, tail: int = 600, max_period: int = 200) -> bool:
    """True when the answer ends in one unit repeated over and over (a decoding loop, as Chandra and
    DeepSeek-OCR detect): the last ``tail`` characters are periodic with a period of at most
    ``max_period``. Real pages almost never end in 600 characters of exact repetition."""
    if len(text) < tail + max_period:
        return False
    end = text[-tail:]
    for period in range(1, max_period + 1):
        if end == text[-tail - period : -period]:
            return True
    return False
