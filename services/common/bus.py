"""The connection to NATS JetStream and the one stream that holds every Granary event."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from services.common.settings import PlatformSettings

log = logging.getLogger(__name__)


def nats_servers(url: str) -> list[str]:
    """The servers of a comma-separated NATS URL setting (GRANARY_NATS_URL)."""
    return [s.strip() for s in url.split(",") if s.strip()]

class EventBus:
    """Owns one NATS connection per process; relays, consumers and tools share it."""

    def __init__(
        self, *, url: str, stream: str, duplicate_window_seconds: int, name: str, subject_prefix: str = "granary"
    ) -> None:
        self.url = url
        self.stream = stream
        self.subject_prefix = subject_prefix
        self._duplicate_window = float(duplicate_window_seconds)
        self._name = name
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None

    @classmethod
    def from_settings(cls, platform: PlatformSettings, name: str) -> EventBus:
        return cls(
            url=platform.nats_url,
            stream=platform.nats_stream,
            duplicate_window_seconds=platform.nats_duplicate_window_seconds,
            subject_prefix=platform.nats_subject_prefix,
            name=name,
        )

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("the event bus is not connected")
        return self._js

    @property
    def is_connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def connect(self) -> None:
        self._nc = await nats.connect(
            servers=nats_servers(self.url),
            name=f"granary-{self._name}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            connect_timeout=5,
            allow_reconnect=True,
        )
        self._js = self._nc.jetstream()
        await self.ensure_stream()

    async def ensure_stream(self) -> None:
        try:
            await self.js.stream_info(self.stream)
        except NotFoundError:
            await self.js.add_stream(
                StreamConfig(
                    name=self.stream,
                    subjects=[f"{self.subject_prefix}.>"],
                    storage=StorageType.FILE,
                    duplicate_window=self._duplicate_window,
                )
            )
            log.info("created JetStream stream %s", self.stream)

    def subject_for(self, event_type: str) -> str:
        """``customer.party.created`` is published on ``granary.customer.party.created``."""
        return f"{self.subject_prefix}.{event_type}"

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        """Publishes and waits for the stream's ack; a duplicate Nats-Msg-Id is stored once."""
        await self.js.publish(subject, payload, stream=self.stream, headers=headers, timeout=5)

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()
        self._nc = None
        self._js = None
