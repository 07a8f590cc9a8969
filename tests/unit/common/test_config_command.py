"""`granary config` shows an operator what this process would run with, secrets hidden."""

from __future__ import annotations

import pytest

from services.cli import main
from services.common.settings import settings_table


def test_config_shows_values_in_force_and_hides_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GRANARY_JWT_SECRET", "s3cret-signing-key-that-is-long-enough-000")
    monkeypatch.delenv("GRANARY_FIELD_ENCRYPTION_KEY", raising=False)
    monkeypatch.setenv("GRANARY_CREDIT_DATABASE_URL", "postgresql+asyncpg://granary:pa55word@db.internal:5432/credit")
    monkeypatch.setenv("GRANARY_NOTIFICATION_QUIET_HOURS", "22:00-07:30")
    monkeypatch.delenv("GRANARY_GATEWAY_PORT", raising=False)

    assert main(["config"]) == 0
    lines = {line.split()[0]: line.split(None, 1)[1] for line in capsys.readouterr().out.splitlines()}

    assert lines["GRANARY_JWT_SECRET"] == "(set)"
    assert lines["GRANARY_FIELD_ENCRYPTION_KEY"] == "(not set)  (default)"
    assert lines["GRANARY_CREDIT_DATABASE_URL"] == "postgresql+asyncpg://granary:***@db.internal:5432/credit"
    assert lines["GRANARY_NOTIFICATION_QUIET_HOURS"] == "22:00-07:30"
    assert lines["GRANARY_GATEWAY_PORT"] == "8000  (default)"
    assert lines["GRANARY_PROCESS_GRPC_PORT"].startswith("50055")
    assert "pa55word" not in "".join(lines.values()) and "s3cret" not in "".join(lines.values())


def test_config_defaults_prints_the_documented_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--defaults"]) == 0
    out = capsys.readouterr().out
    assert all(variable in out for variable, _, _ in settings_table())
