from __future__ import annotations

import logging
import sys


def configure_logging(service: str, level: str = "INFO") -> logging.Logger:
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s",
    )
    # nats-py logs every reconnect attempt at ERROR; it is noise while a server restarts
    logging.getLogger("nats.aio.client").setLevel(logging.CRITICAL)
    return logging.getLogger(f"pagewise.{service}")
