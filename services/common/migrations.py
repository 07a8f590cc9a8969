"""Alembic, one chain per service (``services/<name>/migrations``), on SQLite and PostgreSQL.

A service's ``migrations/env.py`` is two lines: it hands its metadata to ``run_env``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command, context
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from services.common import messaging_schema
from services.common.db import create_engine


def alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", f"services.{service}:migrations")
    config.attributes["database_url"] = url
    return config


def upgrade(service: str, url: str, revision: str = "head") -> None:
    """Blocking; call from a thread when an event loop is running (env.py starts its own)."""
    command.upgrade(alembic_config(service, url), revision)


def downgrade(service: str, url: str, revision: str) -> None:
    command.downgrade(alembic_config(service, url), revision)


async def upgrade_async(service: str, url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, service, url, revision)


def run_env(target_metadata: MetaData, *, include_messaging: bool = True) -> None:
    """Body of every service's env.py.

    ``include_messaging=False`` lets autogenerate write a service's own tables only; the
    messaging tables come from ``messaging_schema.create_messaging_tables_v1``.
    """
    url = context.config.attributes["database_url"]
    metadatas = [target_metadata, messaging_schema.metadata] if include_messaging else [target_metadata]

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadatas,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                await conn.run_sync(run)
                await conn.commit()
        finally:
            await engine.dispose()

    asyncio.run(main())


async def schema_differences(url: str, target_metadata: MetaData) -> list[Any]:
    """What the migrated database lacks or has beyond the models (empty when they agree)."""
    engine = create_engine(url)

    def compare(connection: Connection) -> list[Any]:
        ctx = MigrationContext.configure(connection, opts={"compare_type": True})
        # compare_metadata accepts a sequence like target_metadata does; its stub says MetaData.
        return list(compare_metadata(ctx, [target_metadata, messaging_schema.metadata]))  # type: ignore[arg-type]

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()
