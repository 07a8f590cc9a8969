"""The audit chain's head, witnessed outside the service's database.

A hash chain shows an entry that was altered, removed or reordered, but not the newest entries
cut off its end: the shorter chain is still consistent, and so is a chain whose hashes were all
recomputed by someone who can write the table. So every service's leader records its chain head
(last seq, its hash, entry count, when) in a NATS JetStream key-value bucket, a system with its
own administrators, and verification checks that the chain still holds the witnessed entry.

The witness only moves forward: a head that does not extend the witnessed one is refused (and
logged), so a truncated table cannot overwrite the proof that it was longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import nats
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.common.audit import ChainReport, verify_chain
from services.common.bus import nats_servers
from services.common.clock import as_utc, utcnow
from services.common.leader import LeaderLock
from services.common.messaging_schema import audit_log
from services.common.settings import PlatformSettings

log = logging.getLogger(__name__)

# Earlier heads stay readable (`nats kv history`) for an investigation; 64 is JetStream's maximum.
WITNESS_HISTORY = 64
# A verification must answer even when NATS does not.
READ_TIMEOUT_SECONDS = 3.0


def witness_bucket(stream: str) -> str:
    """One bucket per installation, named after its event stream (bucket names allow [A-Za-z0-9_-])."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", stream) + "_AUDIT_HEADS"


@dataclass(frozen=True)
class ChainHead:
    """The newest entry of a chain and how many entries it has."""

    seq: int
    hash: str
    entries: int


@dataclass(frozen=True)
class WitnessedHead:
    seq: int
    hash: str
    entries: int
    witnessed_at: datetime

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "seq": self.seq,
                "hash": self.hash,
                "entries": self.entries,
                "witnessed_at": as_utc(self.witnessed_at).isoformat(timespec="microseconds"),
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> WitnessedHead:
        raw = json.loads(data)
        return cls(
            seq=int(raw["seq"]),
            hash=str(raw["hash"]),
            entries=int(raw["entries"]),
            witnessed_at=datetime.fromisoformat(raw["witnessed_at"]),
        )


class WitnessStatus(StrEnum):
    MATCHES = "matches"
    NOT_WITNESSED = "not_witnessed"
    TRUNCATED = "truncated"
    REWRITTEN = "rewritten"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class WitnessCheck:
    status: WitnessStatus
    detail: str
    head: WitnessedHead | None = None

    @property
    def mismatch(self) -> bool:
        """The chain lost or changed an entry that was witnessed."""
        return self.status in (WitnessStatus.TRUNCATED, WitnessStatus.REWRITTEN)


def _when(head: WitnessedHead) -> str:
    return as_utc(head.witnessed_at).isoformat(timespec="seconds")


def compare_with_witness(
    witnessed: WitnessedHead | None, *, last_seq: int | None, entries: int, hash_at_witnessed_seq: str | None
) -> WitnessCheck:
    """Does the chain (its last seq, entry count, the hash it holds at the witnessed seq) still
    contain the witnessed head? Growth after the witness is fine; anything shorter or different is not."""
    if witnessed is None:
        return WitnessCheck(WitnessStatus.NOT_WITNESSED, "not witnessed yet")
    short = f"seq {witnessed.seq} (hash {witnessed.hash[:12]}…)"
    if last_seq is None or last_seq < witnessed.seq:
        ends = "the chain is empty" if last_seq is None else f"the chain ends at seq {last_seq}"
        return WitnessCheck(
            WitnessStatus.TRUNCATED, f"truncated: {ends}, but {short} was witnessed at {_when(witnessed)}", witnessed
        )
    if hash_at_witnessed_seq is None:
        return WitnessCheck(
            WitnessStatus.TRUNCATED,
            f"truncated: the chain has no entry at seq {witnessed.seq}, but {short} was witnessed at "
            f"{_when(witnessed)} (entries cut and new ones appended)",
            witnessed,
        )
    if hash_at_witnessed_seq != witnessed.hash:
        return WitnessCheck(
            WitnessStatus.REWRITTEN,
            f"rewritten: seq {witnessed.seq}'s hash {hash_at_witnessed_seq[:12]}… differs from the one witnessed "
            f"at {_when(witnessed)} ({witnessed.hash[:12]}…)",
            witnessed,
        )
    if entries < witnessed.entries:
        return WitnessCheck(
            WitnessStatus.TRUNCATED,
            f"truncated: the chain has {entries} entries, but {witnessed.entries} were witnessed at "
            f"{_when(witnessed)}",
            witnessed,
        )
    return WitnessCheck(
        WitnessStatus.MATCHES, f"holds {short}, witnessed at {_when(witnessed)}", witnessed
    )


async def chain_head(engine: AsyncEngine) -> ChainHead | None:
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1))
        ).first()
        if row is None:
            return None
        count = (await conn.execute(select(func.count()).select_from(audit_log))).scalar_one()
    return ChainHead(seq=row.seq, hash=row.hash, entries=count)


async def _chain_against(engine: AsyncEngine, witnessed: WitnessedHead | None) -> tuple[ChainHead | None, WitnessCheck]:
    """The chain's head and its comparison with the witness, judged on that same head."""
    head = await chain_head(engine)
    at_seq: str | None = None
    if witnessed is not None:
        async with engine.connect() as conn:
            at_seq = await conn.scalar(select(audit_log.c.hash).where(audit_log.c.seq == witnessed.seq))
    check = compare_with_witness(
        witnessed,
        last_seq=head.seq if head else None,
        entries=head.entries if head else 0,
        hash_at_witnessed_seq=at_seq,
    )
    return head, check


async def check_chain_against(engine: AsyncEngine, witnessed: WitnessedHead | None) -> WitnessCheck:
    return (await _chain_against(engine, witnessed))[1]


class AuditWitness:
    """Reads and moves one service's witnessed head in the installation's bucket."""

    def __init__(self, js: JetStreamContext, *, bucket: str, service: str) -> None:
        self._js = js
        self.bucket = bucket
        self.service = service
        self._kv: KeyValue | None = None
        # The background job and a direct call must not race for the same revision.
        self._lock = asyncio.Lock()

    async def _bucket(self, *, create: bool) -> KeyValue | None:
        """The bucket; created only when there is a head to write, so verifying creates nothing."""
        if self._kv is None:
            try:
                self._kv = await self._js.key_value(self.bucket)
            except BucketNotFoundError:
                if not create:
                    return None
                self._kv = await self._js.create_key_value(
                    KeyValueConfig(
                        bucket=self.bucket,
                        description="Granary: each service's witnessed audit chain head",
                        history=WITNESS_HISTORY,
                        storage=StorageType.FILE,
                    )
                )
                log.info("created the audit witness bucket %s", self.bucket)
        return self._kv

    async def _entry(self, *, create: bool) -> tuple[WitnessedHead | None, int]:
        """The witnessed head and its revision (0: none)."""
        kv = await self._bucket(create=create)
        if kv is None:
            return None, 0
        try:
            entry = await kv.get(self.service)
        except KeyNotFoundError:  # never witnessed, or purged by a NATS administrator
            return None, 0
        if entry.value is None:
            return None, 0
        return WitnessedHead.from_json(entry.value), entry.revision or 0

    async def read(self) -> WitnessedHead | None:
        """The latest witnessed head; raises when NATS does not answer."""
        head, _ = await asyncio.wait_for(self._entry(create=False), timeout=READ_TIMEOUT_SECONDS)
        return head

    async def publish(self, engine: AsyncEngine) -> WitnessedHead | None:
        """Records the chain's head when it moved past the witnessed one; returns what is witnessed now.

        Refuses (and logs an error) when the chain no longer holds the witnessed head.
        """
        async with self._lock:
            for _ in range(3):
                witnessed, revision = await self._entry(create=False)
                # The head published is the one just checked: a cut between two reads is a mismatch.
                head, check = await _chain_against(engine, witnessed)
                if check.mismatch:
                    log.error("audit witness of %s not moved: %s", self.service, check.detail)
                    return witnessed
                if head is None or (witnessed is not None and witnessed.seq == head.seq):
                    return witnessed  # nothing to anchor, or nothing new
                new = WitnessedHead(seq=head.seq, hash=head.hash, entries=head.entries, witnessed_at=utcnow())
                kv = await self._bucket(create=True)
                assert kv is not None
                try:
                    if revision:
                        await kv.update(self.service, new.to_json(), last=revision)
                    else:
                        await kv.create(self.service, new.to_json())
                except KeyWrongLastSequenceError:
                    continue  # another replica moved it meanwhile: look again
                except Exception:
                    self._kv = None  # e.g. the bucket was deleted: look it up (or create it) next round
                    raise
                return new
        log.warning("audit witness of %s kept changing under us; trying again later", self.service)
        return None


class WitnessJob:
    """The background job: the leader publishes its chain head every interval and at clean shutdown."""

    def __init__(self, witness: AuditWitness, engine: AsyncEngine, *, interval_seconds: float) -> None:
        self._witness = witness
        self._engine = engine
        self._interval = interval_seconds
        self._leader = LeaderLock(engine, f"granary-audit-witness:{witness.service}")

    async def _publish_if_leader(self) -> None:
        try:
            if await self._leader.is_leader():
                await self._witness.publish(self._engine)
        except Exception:
            log.warning("could not publish the audit witness of %s; retrying", self._witness.service, exc_info=True)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                await self._publish_if_leader()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._interval)
            # Whatever was appended since the last round is anchored before the process goes.
            await self._publish_if_leader()
        finally:
            await self._leader.release()


@dataclass(frozen=True)
class AuditVerdict:
    """The chain recomputed, and compared with its witnessed head."""

    chain: ChainReport
    witness: WitnessCheck

    @property
    def intact(self) -> bool:
        return self.chain.intact and not self.witness.mismatch

    @property
    def reason(self) -> str:
        if not self.chain.intact:
            return self.chain.reason
        return self.witness.detail if self.witness.mismatch else self.chain.reason


async def verify_audit(engine: AsyncEngine, witness: AuditWitness | None) -> AuditVerdict:
    """Recomputes the chain and checks it against the witnessed head; ``None``: no witness to ask."""
    # The witness is read before the chain: a head witnessed after our read of the table could
    # name an entry we have not seen and look like a truncation.
    if witness is None:
        check = WitnessCheck(WitnessStatus.UNAVAILABLE, "could not be read: NATS unreachable")
        witnessed = None
    else:
        try:
            witnessed = await witness.read()
        except Exception as exc:
            log.warning("could not read the audit witness of %s", witness.service, exc_info=True)
            check = WitnessCheck(WitnessStatus.UNAVAILABLE, f"could not be read: {type(exc).__name__} {exc}".strip())
            witness = None
    report = await verify_chain(engine)
    if witness is not None:
        check = await check_chain_against(engine, witnessed)
    return AuditVerdict(chain=report, witness=check)


async def _quiet(exc: Exception) -> None:
    """The verdict says the witness could not be read; a traceback per attempt adds nothing."""


@contextlib.asynccontextmanager
async def witness_reader(platform: PlatformSettings, service: str) -> AsyncIterator[AuditWitness | None]:
    """A short-lived, read-only witness for a command-line check; ``None`` when NATS is unreachable."""
    try:
        nc = await nats.connect(
            servers=nats_servers(platform.nats_url),
            name="granary-audit-verify",
            allow_reconnect=False,
            connect_timeout=READ_TIMEOUT_SECONDS,
            # Without these the client retries its first connect for two minutes.
            max_reconnect_attempts=1,
            reconnect_time_wait=0.2,
            error_cb=_quiet,
        )
    except Exception:
        log.debug("NATS unreachable for the audit witness", exc_info=True)
        yield None
        return
    try:
        yield AuditWitness(nc.jetstream(), bucket=witness_bucket(platform.nats_stream), service=service)
    finally:
        await nc.close()
