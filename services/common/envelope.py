"""Building and reading the event envelope (granary.v1.Event)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from granary.v1 import events_pb2

from services.common.clock import new_id, utcnow

MessageT = TypeVar("MessageT", bound=Message)


@dataclass(frozen=True)
class OutgoingEvent:
    id: str
    type: str
    subject: str
    envelope: events_pb2.Event

    def to_bytes(self) -> bytes:
        return self.envelope.SerializeToString(deterministic=True)


def build_event(
    *, event_type: str, source: str, subject: str, data: Message, time: datetime | None = None
) -> OutgoingEvent:
    """Wraps a typed payload; ``event_type`` is ``<service>.<entity>.<verb>``."""
    if event_type.count(".") != 2:
        raise ValueError(f"event type {event_type!r} is not <service>.<entity>.<verb>")
    event_id = new_id()
    stamp = Timestamp()
    stamp.FromDatetime(time or utcnow())
    envelope = events_pb2.Event(
        id=event_id, type=event_type, source=f"granary/{source}", subject=subject, time=stamp, data_version=1
    )
    envelope.data.Pack(data)
    return OutgoingEvent(id=event_id, type=event_type, subject=subject, envelope=envelope)


def parse_event(payload: bytes) -> events_pb2.Event:
    envelope = events_pb2.Event()
    envelope.ParseFromString(payload)
    if not envelope.id or not envelope.type:
        raise ValueError("message is not a granary.v1.Event envelope")
    return envelope


def unpack(envelope: events_pb2.Event, message_type: type[MessageT]) -> MessageT:
    """Decodes the payload, refusing one of another type rather than misreading it."""
    message = message_type()
    if not envelope.data.Unpack(message):
        raise ValueError(f"event {envelope.id} carries {envelope.data.type_url}, not {message_type.__name__}")
    return message
