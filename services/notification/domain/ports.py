"""What the service needs from the outside world, as interfaces (adapters implement them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class TransientError(Exception):
    """Worth retrying later: a timeout, a 5xx, a service that is down."""


class PermanentError(Exception):
    """Retrying cannot help: the gateway refused the message, the party does not exist."""

    def __init__(self, detail: str, code: str = "") -> None:
        super().__init__(f"{code}: {detail}" if code else detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Contact:
    id: str
    name: str
    phone_e164: str
    branch_id: str = ""


@dataclass(frozen=True)
class BirthdayParty:
    """A customer born on a given day who agreed to birthday greetings."""

    party_id: str
    name: str
    managing_officer_id: str
    branch_id: str


class Directory(Protocol):
    """Customer and staff look-ups (the customer service owns the data)."""

    async def party_contact(self, party_id: str) -> Contact: ...

    async def staff_contact(self, staff_id: str) -> Contact: ...

    async def staff_with_role(self, branch_id: str, role: str) -> list[str]: ...

    async def has_consent(self, party_id: str, purpose: str) -> bool: ...

    async def birthday_parties(self, month: int, day: int) -> list[BirthdayParty]:
        """Every party born on month/day with an active birthday-greeting consent."""
        ...


@dataclass(frozen=True)
class FieldTaskOrder:
    request_id: str
    task_type: str
    party_id: str
    assignee_id: str
    branch_id: str
    priority: int
    due_at: datetime
    origin: str


class FieldTasks(Protocol):
    async def create(self, order: FieldTaskOrder) -> str: ...


@dataclass(frozen=True)
class SmsRequest:
    message_id: str
    phone_e164: str
    sign_name: str
    template_code: str
    params: dict[str, str] = field(default_factory=dict)
    text: str = ""


@dataclass(frozen=True)
class SmsResult:
    gateway_message_id: str


class SmsConnector(Protocol):
    """Sends one SMS; raises TransientError or PermanentError (with the gateway's code)."""

    channel: str

    async def send(self, request: SmsRequest) -> SmsResult: ...
