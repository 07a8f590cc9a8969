"""Events the process service consumes: messages that waiting instances correlate on.

Each subscribed event is a BPMN message of the same name (e.g. a model's message
``fieldtask.task.completed``); its correlation key is the payload's ``business_key``, which
matches the business key an instance was started with. The payload is decoded from the
envelope by its own type, so new message sources need only a line in ``MESSAGE_EVENTS``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from google.protobuf import json_format, symbol_database
from granary.v1 import events_pb2

from services.common.consumer import Guard, Subscription
from services.common.grpc_errors import RemoteError
from services.common.uow import UnitOfWork
from services.process import service
from services.process.operators import OperatorRegistry
from services.process.repository import ProcessRepository
from services.process.service import SpecCache

log = logging.getLogger(__name__)

# (event type, payload field holding the correlation key)
MESSAGE_EVENTS: list[tuple[str, str]] = [
    ("fieldtask.task.completed", "business_key"),
    ("fieldtask.task.expired", "business_key"),
]

# (event type, process key, payload field of the business key, of the branch, of the initiator)
START_EVENTS: list[tuple[str, str, str, str, str]] = [
    ("credit.application.submitted", "credit_sop", "application_id", "branch_id", "managing_officer_id"),
]

# A start event is acted on only while its subject is still in the state the event announced:
# (event type) -> (operator reading the subject, its parameter, the field and value required).
# An application submitted long ago and decided since (e.g. demo data seeded before the models
# were deployed, its events consumed later) starts nothing.
START_GUARDS: dict[str, tuple[str, str, str, str]] = {
    "credit.application.submitted": ("credit.get_application", "application_id", "status", "submitted"),
}

StatusReader = Callable[[str, str], Awaitable[str | None]]


def status_reader(operators: OperatorRegistry) -> StatusReader:
    """Reads the current state of a start event's subject; None when it cannot be read here."""

    async def current(event_type: str, key: str) -> str | None:
        operator, param, field, _ = START_GUARDS[event_type]
        try:
            subject = await operators.call(operator, {param: key}, f"process-start:{event_type}:{key}")
        except LookupError:
            return None  # the installation has no implementation of the operator
        except RemoteError as exc:
            if exc.status == "NOT_FOUND":
                return ""
            raise
        return str((subject or {}).get(field, "") or "")

    return current


def _load_contracts() -> None:
    """Imports every contract module so each payload type is in the default pool.

    (A service process imports only the modules it calls; an event may carry another's type.)
    """
    import importlib
    import pkgutil

    import granary.v1

    for module in pkgutil.iter_modules(granary.v1.__path__):
        if module.name.endswith("_pb2"):
            importlib.import_module(f"granary.v1.{module.name}")


def payload_dict(event: events_pb2.Event) -> dict[str, object]:
    type_name = event.data.type_url.rsplit("/", 1)[-1]
    _load_contracts()
    message_class = symbol_database.Default().GetSymbol(type_name)
    message = message_class()
    event.data.Unpack(message)
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def handler_for(event_type: str, key_field: str, specs: SpecCache) -> Callable[..., object]:
    async def handle(event: events_pb2.Event, uow: UnitOfWork) -> None:
        payload = payload_dict(event)
        key = str(payload.get(key_field, "") or "")
        if not key:
            log.info("%s %s carries no %s; no instance can wait for it", event.type, event.id, key_field)
            return
        view = _Adapter(uow)
        await service.receive_message(
            uow=view,
            specs_cache=specs,
            name=event_type,
            correlation_key=key,  # type: ignore[arg-type]
            payload=payload,
        )

    return handle


def start_guard(event_type: str, key_field: str, current_status: StatusReader | None) -> Guard | None:
    """Whether the start event's subject is still in the state the event announced.

    Runs before the consumer's transaction: reading the subject is a call to its service.
    """
    if event_type not in START_GUARDS:
        return None
    _, _, field, required = START_GUARDS[event_type]

    async def still_so(event: events_pb2.Event) -> bool:
        payload = payload_dict(event)
        key = str(payload.get(key_field, "") or "")
        if not key:
            return True  # the handler says why nothing starts
        announced = str(payload.get(field, "") or required)
        now = await current_status(event.type, key) if current_status is not None else None
        if announced != required or (now is not None and now != required):
            log.info("%s %s: %s is %s now, not %s; no process starts", event.type, event.id, key, now, required)
            return False
        return True

    return still_so


def starter_for(
    process_key: str,
    key_field: str,
    branch_field: str,
    initiator_field: str,
    specs: SpecCache,
) -> Callable[..., object]:
    async def handle(event: events_pb2.Event, uow: UnitOfWork) -> None:
        payload = payload_dict(event)
        key = str(payload.get(key_field, "") or "")
        if not key:
            log.info("%s %s carries no %s; no process starts", event.type, event.id, key_field)
            return
        row = await service.start_for_event(
            uow=_Adapter(uow),  # type: ignore[arg-type]
            specs_cache=specs,
            process_key=process_key,
            business_key=key,
            branch_id=str(payload.get(branch_field, "") or ""),
            initiator_id=str(payload.get(initiator_field, "") or ""),
        )
        if row is not None:
            log.info("%s %s started %s instance %s", event.type, event.id, process_key, row.id)

    return handle


class _Adapter:
    """The consumer's unit of work seen as a ProcessUnitOfWork (same session, same outbox)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    @property
    def processes(self) -> ProcessRepository:
        return ProcessRepository(self._uow.session)

    def record(self, *args: object) -> str:
        return self._uow.record(*args)  # type: ignore[arg-type]

    def audit(self, *args: object, **kwargs: object) -> None:
        self._uow.audit(*args, **kwargs)  # type: ignore[arg-type]


def subscriptions(specs: SpecCache | None = None, operators: OperatorRegistry | None = None) -> list[Subscription]:
    cache = specs or SpecCache()
    current = status_reader(operators) if operators is not None else None
    return [
        Subscription(
            durable=f"process-{event_type.replace('.', '-')}",
            event_type=event_type,
            handler=handler_for(event_type, key_field, cache),  # type: ignore[arg-type]
        )
        for event_type, key_field in MESSAGE_EVENTS
    ] + [
        Subscription(
            durable=f"process-start-{event_type.replace('.', '-')}",
            event_type=event_type,
            handler=starter_for(process_key, key_field, branch_field, initiator_field, cache),  # type: ignore[arg-type]
            guard=start_guard(event_type, key_field, current),
        )
        for event_type, process_key, key_field, branch_field, initiator_field in START_EVENTS
    ]
