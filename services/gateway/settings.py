from __future__ import annotations

from services.common.settings import CommonSettings


class GatewaySettings(CommonSettings, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8000
    # Litestar's default body limit is 10 MB; scanned documents are larger. The upload streams to a
    # temporary file, so memory stays bounded whatever this is.
    max_upload_mb: float = 512.0
    max_pages: int = 2000
    sse_keepalive: float = 15.0
    upload_tmp_dir: str = ""  # where uploads spool before they reach storage (default: the system temp dir)
    # seconds a client is told to wait before reconnecting (SSE ``retry:``)
    sse_retry_ms: int = 2000

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)
