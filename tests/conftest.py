"""Real dependencies for integration and end-to-end tests.

PostgreSQL and NATS (JetStream) come from the environment (GRANARY_TEST_PG_URL, NATS_URL),
defaulting to the standard local ports. When they cannot be reached the tests that need
them fail under CI=true, and are skipped with the reason on a developer's laptop.
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import urlparse

import asyncpg
import nats
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.common.audit_witness import witness_bucket
from tests.support import BusNamespace

PG_URL = os.environ.get("GRANARY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def require(url: str, default_port: int, what: str) -> None:
    if _reachable(url, default_port):
        return
    message = f"{what} is not reachable at {url}"
    if IN_CI:
        pytest.fail(message + " (CI=true: a missing real dependency fails the run)")
    pytest.skip(message)


@pytest.fixture(scope="session", autouse=True)
def span_exporter() -> InMemorySpanExporter:
    """Every span of every in-process component, for the trace tests.

    Installed before any component sets up tracing, which then keeps this provider.
    """
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture(scope="session")
def pg_url() -> str:
    require(PG_URL, 5432, "PostgreSQL")
    return PG_URL


@pytest.fixture(scope="session")
def nats_url() -> str:
    require(NATS_URL, 4222, "NATS")
    return NATS_URL


def _async_url(database: str) -> str:
    parsed = urlparse(PG_URL)
    return parsed._replace(scheme="postgresql+asyncpg", path=f"/{database}").geturl()


@pytest.fixture
async def new_database(pg_url: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Factory of empty PostgreSQL databases (async SQLAlchemy URLs), dropped afterwards."""
    created: list[str] = []

    async def make() -> str:
        name = f"granary_t_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(pg_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        created.append(name)
        return _async_url(name)

    yield make
    conn = await asyncpg.connect(pg_url)
    try:
        for name in created:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def bus_namespace(nats_url: str) -> AsyncIterator[BusNamespace]:
    """A stream and subject prefix of this test's own, deleted afterwards."""
    tag = uuid.uuid4().hex[:10]
    namespace = BusNamespace(url=nats_url, stream=f"T_{tag}", subject_prefix=f"t{tag}")
    yield namespace
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        try:
            await js.delete_stream(namespace.stream)
        except Exception:
            pass  # the test never created it
        try:
            await js.delete_key_value(witness_bucket(namespace.stream))
        except Exception:
            pass  # no service of the test witnessed its audit chain
    finally:
        await nc.close()


@pytest.fixture
def platform_env(monkeypatch: pytest.MonkeyPatch, bus_namespace: BusNamespace) -> dict[str, str]:
    """Environment every process of a test shares: secrets, NATS namespace, fast retries."""
    env = {
        "GRANARY_ENV": "dev",
        "GRANARY_JWT_SECRET": secrets.token_urlsafe(48),
        "GRANARY_FIELD_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "GRANARY_NATS_URL": bus_namespace.url,
        "GRANARY_NATS_STREAM": bus_namespace.stream,
        "GRANARY_NATS_SUBJECT_PREFIX": bus_namespace.subject_prefix,
        "GRANARY_RELAY_INTERVAL_SECONDS": "0.1",
        "GRANARY_CONSUMER_BACKOFF_SECONDS": "0.2",
        "GRANARY_CONSUMER_ACK_WAIT_SECONDS": "2",
        "GRANARY_SHUTDOWN_GRACE_SECONDS": "2",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
