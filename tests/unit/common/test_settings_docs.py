"""Every setting is documented where operators look: the README's configuration table."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import PlatformSettings, Settings, settings_table

README = Path(__file__).resolve().parents[3] / "README.md"


def test_every_setting_is_in_the_readme() -> None:
    text = README.read_text()
    missing = [variable for variable, _, _ in settings_table() if f"`{variable}`" not in text]
    assert missing == []


def test_service_settings_have_per_service_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRANARY_VAR_DIR", "/srv/granary")
    monkeypatch.setenv("GRANARY_CREDIT_GRPC_PORT", "6000")
    settings = Settings()
    credit = settings.service("credit")
    assert credit.grpc_port == 6000
    assert credit.address == "127.0.0.1:6000"
    assert credit.database_url == "sqlite+aiosqlite:////srv/granary/credit.db"
    assert settings.service("customer").grpc_port == 50051
    with pytest.raises(KeyError):
        settings.service("billing")


def test_a_weak_signing_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRANARY_JWT_SECRET", "short")
    with pytest.raises(RuntimeError, match="GRANARY_JWT_SECRET"):
        PlatformSettings().require_jwt_secret()
