"""Every service's migrations run from empty on SQLite and PostgreSQL and match its models."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

import pytest

from services.common.migrations import downgrade, schema_differences, upgrade, upgrade_async
from services.common.settings import SERVICE_NAMES

pytestmark = pytest.mark.integration


def _metadata(service: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"services.{service}.models").Base.metadata


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_migrations_from_empty_on_sqlite(service: str, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / (service + '.db')}"
    await upgrade_async(service, url)
    assert await schema_differences(url, _metadata(service)) == []
    await upgrade_async(service, url)  # rerunning is a no-op, as `granary migrate` promises


@pytest.mark.parametrize("service", SERVICE_NAMES)
async def test_migrations_from_empty_on_postgresql_and_back(service: str, new_database) -> None:  # type: ignore[no-untyped-def]
    url = await new_database()
    await upgrade_async(service, url)
    assert await schema_differences(url, _metadata(service)) == []
    await asyncio.to_thread(downgrade, service, url, "base")
    differences = await schema_differences(url, _metadata(service))
    assert differences, "after downgrading to base the tables must be gone"
    await asyncio.to_thread(upgrade, service, url)
    assert await schema_differences(url, _metadata(service)) == []
