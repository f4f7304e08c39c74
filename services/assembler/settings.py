from __future__ import annotations

from typing import Literal

from services.common.settings import CommonSettings


class AssemblerSettings(CommonSettings, frozen=True, kw_only=True):
    assembler_concurrency: int = 16
    assembler_ack_wait: float = 30.0
    # What a job with some (not all) failed pages becomes: "placeholder" completes it with a visible note
    # in place of each failed page; "fail" fails the whole job. A job whose pages all failed always fails.
    failed_page_policy: Literal["placeholder", "fail"] = "placeholder"
