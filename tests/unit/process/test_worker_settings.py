"""The process engine's background work is configured by GRANARY_PROCESS_* settings."""

from __future__ import annotations

import pytest

from services.common.settings import Settings
from services.process.worker import WorkerSettings


def test_operators_set_the_lease_attempts_and_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRANARY_PROCESS_JOB_LEASE_SECONDS", "20")
    monkeypatch.setenv("GRANARY_PROCESS_JOB_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("GRANARY_PROCESS_JOB_RETRY_BASE_SECONDS", "2.5")
    monkeypatch.setenv("GRANARY_PROCESS_POLL_INTERVAL_SECONDS", "0.5")
    settings = Settings()
    worker = WorkerSettings.from_settings(settings.process, settings.platform.grpc_deadline_seconds)
    assert worker == WorkerSettings(interval_seconds=0.5, max_attempts=5, backoff_seconds=2.5, lease_seconds=20)


def test_by_default_the_lease_follows_the_call_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert WorkerSettings.from_settings(settings.process, 5).lease_seconds == 15
    # An installation that allows slow calls gets a lease they cannot outlive.
    assert WorkerSettings.from_settings(settings.process, 20).lease_seconds == 60


def test_a_lease_shorter_than_a_call_may_last_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Otherwise a call still running when its lease lapses would be made a second time.
    monkeypatch.setenv("GRANARY_PROCESS_JOB_LEASE_SECONDS", "8")
    monkeypatch.setenv("GRANARY_GRPC_DEADLINE_SECONDS", "10")
    settings = Settings()
    refused = r"GRANARY_PROCESS_JOB_LEASE_SECONDS \(8\) must exceed GRANARY_GRPC_DEADLINE_SECONDS \(10\)"
    with pytest.raises(RuntimeError, match=refused):
        WorkerSettings.from_settings(settings.process, settings.platform.grpc_deadline_seconds)
