"""Customer search on 100,000 parties and a 10,000-row spreadsheet import, on real PostgreSQL.

Creates a fresh database, migrates it, bulk-loads N parties (encrypted ID numbers and phones,
keyed hashes, region codes of the demo county, tags), then times the search use case (name
prefix, exact ID number, exact phone, region subtree, tag; first page of 50) and one
``import_parties`` of an M-row CSV (dry run, then commit). Prints p50/p99 per query kind,
rows/s for the import and peak Python memory. Needs GRANARY_TEST_PG_URL (default: local).

    .venv/bin/python bench/customer_bench.py [--parties 100000] [--rows 10000] [--queries 200]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import time
import tracemalloc
import uuid
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlparse

import asyncpg
from sqlalchemy import insert
from stdnum.cn import ric

from services.common.crypto import FieldCipher
from services.common.db import create_engine, session_factory
from services.common.identity import Caller
from services.common.migrations import upgrade_async
from services.customer import service
from services.customer.domain.identity import mask_id_number, mask_mobile
from services.customer.models import BranchRow, PartyRow, PartyTagRow

PG_URL = os.environ.get("GRANARY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
VILLAGES = ["330726001201", "330726101201", "330726101202", "330726102201", "330726102202", "330726103201"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "建国秀英卫东海燕志强桂兰明华丽娟春梅德胜"


def resident_id(n: int) -> str:
    # One birth date per thousand numbers, the sequence inside it: unique for any n.
    birth = (date(1950, 1, 1) + timedelta(days=(n // 1000) * 3)).strftime("%Y%m%d")
    body = f"330726{birth}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def person(n: int) -> tuple[str, str, str]:
    name = SURNAMES[n % len(SURNAMES)] + GIVEN[(n // 7) % len(GIVEN)] + GIVEN[(n // 3) % len(GIVEN)]
    return name, resident_id(n), f"+86138{n:08d}"


async def new_database() -> str:
    name = f"bench_customer_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlparse(PG_URL)._replace(scheme="postgresql+asyncpg", path=f"/{name}").geturl()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def main(parties: int, rows: int, queries: int) -> None:
    tracemalloc.start()
    url = await new_database()
    await upgrade_async("customer", url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    cipher = FieldCipher(base64.b64encode(os.urandom(32)).decode())
    branch_id = str(uuid.uuid4())
    caller = Caller(user_id="bench", username="bench", roles=frozenset({"admin"}), branch_id=branch_id)

    def uow() -> service.CustomerUnitOfWork:
        return service.CustomerUnitOfWork(sessions, source="customer")

    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(insert(BranchRow), [{"id": branch_id, "code": "B", "name": "支行", "created_at": now}])
    started = time.perf_counter()
    batch = 5000
    for start in range(0, parties, batch):
        party_rows, tag_rows = [], []
        for n in range(start, min(start + batch, parties)):
            name, number, mobile = person(n)
            pid = str(uuid.uuid4())
            party_rows.append(
                {
                    "id": pid,
                    "kind": "person",
                    "name": name,
                    "id_type": "RESIDENT_ID",
                    "id_number_cipher": cipher.encrypt(number, context=service.ID_NUMBER_CONTEXT),
                    "id_number_index": cipher.blind_index(number, context=service.ID_NUMBER_CONTEXT),
                    "id_number_masked": mask_id_number(number),
                    "mobile_cipher": cipher.encrypt(mobile, context=service.MOBILE_CONTEXT),
                    "mobile_index": cipher.blind_index(mobile, context=service.MOBILE_CONTEXT),
                    "mobile_masked": mask_mobile(mobile),
                    "birth_date": None,
                    "gender": "",
                    "warnings": [],
                    "branch_id": branch_id,
                    "managing_officer_id": f"officer{n % 40}",
                    "created_by": "bench",
                    "created_at": now,
                    "region_code": VILLAGES[n % len(VILLAGES)],
                    "stage": "prospect",
                }
            )
            if n % 10 == 0:
                tag_rows.append({"party_id": pid, "tag": "种植大户"})
        async with engine.begin() as conn:
            await conn.execute(insert(PartyRow), party_rows)
            if tag_rows:
                await conn.execute(insert(PartyTagRow), tag_rows)
    load_s = time.perf_counter() - started
    print(f"loaded {parties} parties in {load_s:.1f} s ({parties / load_s:.0f}/s)")

    rng = random.Random(7)
    kinds = {
        "name_prefix": lambda: service.PartyQuery(
            name_prefix=SURNAMES[rng.randrange(len(SURNAMES))] + GIVEN[rng.randrange(len(GIVEN))]
        ),
        "id_number": lambda: service.PartyQuery(id_number=person(rng.randrange(parties))[1]),
        "mobile": lambda: service.PartyQuery(mobile=person(rng.randrange(parties))[2]),
        "region_subtree": lambda: service.PartyQuery(region_code="330726101000"),
        "tag": lambda: service.PartyQuery(tag="种植大户"),
    }
    for kind, make in kinds.items():
        timings: list[float] = []
        for _ in range(queries):
            t0 = time.perf_counter()
            await service.search_parties(uow=uow(), cipher=cipher, caller=caller, query=make(), limit=50, token="")
            timings.append(time.perf_counter() - t0)
        print(f"search {kind:15s} p50 {pct(timings, 0.5):7.2f} ms  p99 {pct(timings, 0.99):7.2f} ms")

    lines = ["姓名,身份证号,手机号,区划代码"]
    for n in range(parties, parties + rows):
        name, number, mobile = person(n)
        lines.append(f"{name},{number},{mobile[3:]},{VILLAGES[n % len(VILLAGES)]}")
    content = ("\n".join(lines) + "\n").encode("utf-8-sig")
    for dry in (True, False):
        t0 = time.perf_counter()
        outcome = await service.import_parties(
            uow=uow(),
            cipher=cipher,
            caller=caller,
            file_name="bench.csv",
            content=content,
            dry_run=dry,
            valid_rows_only=True,
            mapping={},
        )
        elapsed = time.perf_counter() - t0
        print(
            f"import {'dry run' if dry else 'commit '} {rows} rows in {elapsed:.2f} s ({rows / elapsed:.0f} rows/s): "
            f"{outcome.status}, created {outcome.created}, errors {len(outcome.errors)}, "
            f"duplicates {outcome.duplicates}"
        )
    _, peak = tracemalloc.get_traced_memory()
    print(f"peak Python memory {peak / 2**20:.1f} MiB")
    await engine.dispose()
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{urlparse(url).path.lstrip("/")}"')
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--parties", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.parties, args.rows, args.queries))
