"""``python -m services.gateway``: the HTTP API under uvicorn."""

from __future__ import annotations

import uvicorn

from services.common.logs import configure_logging
from services.common.settings import load_settings
from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings


def main() -> None:
    settings = load_settings(GatewaySettings)
    configure_logging("gateway", settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
