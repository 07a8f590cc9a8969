"""Event plumbing throughput and latency on the real PostgreSQL and NATS.

Commits N use cases that each record one event, while the outbox relay publishes them and a
durable consumer applies them (inbox + effect + ack). Prints commits/s, events applied/s,
p50/p99 of commit → applied latency and peak memory. Needs GRANARY_TEST_PG_URL / NATS_URL
(defaults: the local PostgreSQL and NATS).

    .venv/bin/python bench/events_bench.py [--events 2000] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
import tracemalloc
import uuid

import asyncpg
import nats
from google.protobuf.wrappers_pb2 import StringValue
from granary.v1 import events_pb2
from sqlalchemy import Column, MetaData, String, Table, insert

from services.common import messaging_schema
from services.common.bus import EventBus
from services.common.consumer import EventConsumer, Subscription
from services.common.db import create_engine, session_factory
from services.common.identity import TokenSigner
from services.common.relay import OutboxRelay
from services.common.uow import UnitOfWork

PG_URL = os.environ.get("GRANARY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
EVENT_TYPE = "bench.thing.happened"

bench_metadata = MetaData()
effects = Table("effects", bench_metadata, Column("event_id", String(36), nullable=False))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def main(total: int, concurrency: int) -> None:
    database = f"granary_bench_{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:8]
    admin = await asyncpg.connect(PG_URL)
    await admin.execute(f'CREATE DATABASE "{database}"')
    url = PG_URL.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{database}"
    engine = create_engine(url)
    bus = EventBus(
        url=NATS_URL, stream=f"BENCH_{tag}", duplicate_window_seconds=120, name="bench", subject_prefix=f"b{tag}"
    )
    stop = asyncio.Event()
    committed_at: dict[str, float] = {}
    applied_at: dict[str, float] = {}
    done = asyncio.Event()
    try:
        async with engine.begin() as conn:
            await conn.run_sync(messaging_schema.metadata.create_all)
            await conn.run_sync(bench_metadata.create_all)
        await bus.connect()
        relay = OutboxRelay(engine=engine, bus=bus, name="bench", interval_seconds=0.05)
        sessions = session_factory(engine)

        def uow() -> UnitOfWork:
            return UnitOfWork(sessions, source="bench", on_commit=relay.wake)

        async def handler(event: events_pb2.Event, unit: UnitOfWork) -> None:
            await unit.session.execute(insert(effects).values(event_id=event.id))

        async def after_commit(event: events_pb2.Event) -> None:
            applied_at[event.id] = time.perf_counter()
            if len(applied_at) >= total:
                done.set()

        signer = TokenSigner("b" * 40)
        consumer = EventConsumer(
            bus=bus,
            uow_factory=uow,
            subscription=Subscription(durable="bench", event_type=EVENT_TYPE, handler=handler),
            caller=lambda: signer.service_caller("bench"),
            max_deliveries=5,
            ack_wait_seconds=30,
            backoff_seconds=0.5,
            after_commit=after_commit,
        )
        tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(consumer.run(stop))]
        tracemalloc.start()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(total):
            queue.put_nowait(n)

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                async with uow() as unit:
                    event_id = unit.record(EVENT_TYPE, f"thing-{n}", StringValue(value="x" * 200))
                    await unit.commit()
                committed_at[event_id] = time.perf_counter()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        commit_seconds = time.perf_counter() - started
        await asyncio.wait_for(done.wait(), timeout=300)
        total_seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        latencies = [(applied_at[i] - committed_at[i]) * 1000 for i in applied_at if i in committed_at]
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print(f"events: {total}, concurrent use cases: {concurrency}")
        print(f"commits/s (use case + outbox row): {total / commit_seconds:,.0f}")
        print(f"events applied/s end to end:       {total / total_seconds:,.0f}")
        print(
            f"commit → applied latency ms: p50 {pct(latencies, 50):.1f}  p99 {pct(latencies, 99):.1f}  "
            f"mean {statistics.mean(latencies):.1f}"
        )
        print(f"peak traced memory: {peak / 1024 / 1024:.1f} MiB")
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await bus.close()
        await engine.dispose()
        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().delete_stream(f"BENCH_{tag}")
        except Exception:
            pass
        await nc.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.concurrency))
