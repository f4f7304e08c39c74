"""Typed settings read from the environment once, at start.

Each service declares one frozen ``msgspec.Struct``; a field ``nats_url`` is read from ``NATS_URL``.
Values are converted and validated by msgspec, so a typo in an integer fails at start with the variable's
name instead of deep inside a worker.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

import msgspec

T = TypeVar("T", bound=msgspec.Struct)


class SettingsError(ValueError):
    pass


def env_name(field: str) -> str:
    return field.upper()


def load_settings(cls: type[T], environ: Mapping[str, str] | None = None) -> T:
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {}
    for field in msgspec.structs.fields(cls):
        value = env.get(env_name(field.name))
        if value is not None and value != "":
            raw[field.name] = value
    try:
        return msgspec.convert(raw, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"invalid {cls.__name__} from environment: {exc}") from exc


class CommonSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Settings every service shares."""

    nats_url: str = "nats://127.0.0.1:4222"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/pagewise"
    # nats-objects://BUCKET (embedded, JetStream object store) or s3://KEY:SECRET@HOST:PORT/BUCKET?secure=0
    storage_url: str = "nats-objects://pagewise"
    stream_max_age_days: float = 7.0
    log_level: str = "INFO"
    # 0 disables the small health/metrics HTTP listener of worker services
    health_port: int = 0
