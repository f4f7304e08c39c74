"""compose.yaml cannot run here (no Docker engine), so it is checked by parsing: every service, the
settings each one reads, and the dependencies it needs, so the file cannot silently drift from the code."""

from __future__ import annotations

from pathlib import Path

import msgspec
import yaml

from services.assembler.settings import AssemblerSettings
from services.common.settings import CommonSettings, env_name
from services.gateway.settings import GatewaySettings
from services.ocr.settings import OcrSettings
from services.splitter.settings import SplitterSettings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {
    "gateway": GatewaySettings,
    "splitter": SplitterSettings,
    "ocr": OcrSettings,
    "assembler": AssemblerSettings,
}


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_has_the_infrastructure_and_all_four_services():
    services = compose()["services"]
    assert {"nats", "postgres", "minio", "gateway", "splitter", "ocr", "assembler"} <= set(services)
    assert "-js" in services["nats"]["command"], "NATS must run with JetStream"
    assert any("/data" in v for v in services["nats"]["volumes"]), "JetStream needs a persistent volume"


def test_each_service_runs_its_own_module_and_waits_for_its_dependencies():
    services = compose()["services"]
    for name in SETTINGS:
        service = services[name]
        assert service["command"][-1] == f"services.{name}"
        assert (ROOT / "services" / name / "__main__.py").exists()
        depends = service["depends_on"]
        assert {"nats", "postgres", "minio"} <= set(depends)
        assert all(d["condition"] == "service_healthy" for d in depends.values())
        for dependency in depends:
            assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck to wait on"


def test_every_env_var_in_compose_is_a_real_setting_and_the_shared_ones_are_set():
    services = compose()["services"]
    for name, settings_cls in SETTINGS.items():
        env = services[name]["environment"]
        known = {env_name(f.name) for f in msgspec.structs.fields(settings_cls)}
        unknown = set(env) - known
        assert not unknown, f"{name} sets variables its settings do not read: {unknown}"
        for shared in (env_name(f.name) for f in msgspec.structs.fields(CommonSettings)):
            if shared in ("NATS_URL", "DATABASE_URL", "STORAGE_URL"):
                assert shared in env, f"{name} lacks {shared}"
        assert env["STORAGE_URL"].startswith("s3://") and "@minio:9000/" in env["STORAGE_URL"]


def test_ocr_scales_and_carries_the_global_cap():
    ocr = compose()["services"]["ocr"]
    assert "ports" not in ocr and "container_name" not in ocr, "fixed ports/names would block --scale ocr=N"
    assert "OCR_MAX_IN_FLIGHT" in ocr["environment"] and "MODEL_URL" in ocr["environment"]


def test_minio_credentials_match_the_storage_url():
    services = compose()["services"]
    minio_env = services["minio"]["environment"]
    url = services["gateway"]["environment"]["STORAGE_URL"]
    assert f"{minio_env['MINIO_ROOT_USER']}:{minio_env['MINIO_ROOT_PASSWORD']}@" in url


def test_postgres_credentials_match_the_database_url():
    services = compose()["services"]
    pg = services["postgres"]["environment"]
    url = services["gateway"]["environment"]["DATABASE_URL"]
    assert (
        url
        == f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"
    )
