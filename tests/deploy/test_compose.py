"""The single-host alternative (deploy/compose.yaml) is consistent with the platform settings."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from services.common.settings import DEFAULT_GRPC_PORTS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"


def load() -> dict:
    assert COMPOSE.is_file(), "deploy/compose.yaml is missing"
    return yaml.safe_load(COMPOSE.read_text())


def test_every_component_runs_locked_down() -> None:
    services = load()["services"]
    for name in (*DEFAULT_GRPC_PORTS, "gateway"):
        svc = services[name]
        assert svc["command"] == ["serve", name]
        assert svc["read_only"] is True and svc["user"].split(":")[0] not in ("0", "root")
        assert svc["cap_drop"] == ["ALL"] and "no-new-privileges:true" in svc["security_opt"]
        assert any(t.startswith("/var/lib/granary") for t in svc["tmpfs"])
        assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "healthcheck" in svc
    assert services["migrate"]["command"] == ["migrate"]


def test_ports_addresses_and_no_literal_secrets() -> None:
    services = load()["services"]
    env = services["credit"]["environment"]
    for name, port in DEFAULT_GRPC_PORTS.items():
        up = name.upper()
        assert env[f"GRANARY_{up}_GRPC_PORT"] == str(port)
        assert env[f"GRANARY_{up}_ADDRESS"] == f"{name}:{port}"
        assert env[f"GRANARY_{up}_GRPC_HOST"] == "0.0.0.0"
        assert f"127.0.0.1:{port}" in " ".join(services[name]["healthcheck"]["test"])
    for key, value in env.items():
        if re.search(r"SECRET|KEY|PASSWORD|DATABASE_URL", key):
            assert "${" in str(value), f"{key} must come from the env file, not the compose file"
    assert services["gateway"]["ports"] == ["127.0.0.1:8000:8000"]
