"""The other services the 360° view asks: credit (applications, loans) and fieldtask (open tasks).

Each answer is fetched with no transaction open and a short deadline; a failure becomes
``SourceUnavailable`` so the view is partial, never an error. The RPC names are the agreed
ones (``CreditService/ListPartyCredit``, ``FieldTaskService/ListFieldTasks``); while a
service's contract does not define its request message yet, the request is sent with
``party_id`` as field 1 (wire-compatible) and the view says which part is missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from granary.v1 import credit_pb2, customer_pb2, fieldtask_pb2

from services.common.grpc_client import ServiceChannels, call
from services.common.grpc_errors import RemoteError
from services.customer.service import CreditItem, FieldTaskItem, SourceUnavailable

CLOSED_TASK_STATES = frozenset({"completed", "cancelled", "canceled", "expired", "closed", "done"})
VIEW_DEADLINE_SECONDS = 3.0


def _request(module: Any, name: str, party_id: str, **flags: Any) -> Message:
    request_type = getattr(module, name, None)
    if request_type is None:
        # Same wire format as a request whose field 1 is the party id.
        return customer_pb2.GetPartyContactRequest(party_id=party_id)
    request = request_type()
    fields = request_type.DESCRIPTOR.fields_by_name
    if "party_id" in fields:
        request.party_id = party_id
    for key, value in flags.items():
        if key in fields:
            setattr(request, key, value)
    return request  # type: ignore[no-any-return]


def _flatten(item: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in item.items()}


def _items(reply: Message) -> list[tuple[str, dict[str, Any]]]:
    """(field name, item) for every element of the reply's repeated message fields."""
    data = json_format.MessageToDict(reply, preserving_proto_field_name=True)
    found: list[tuple[str, dict[str, Any]]] = []
    for name, value in data.items():
        if isinstance(value, list):
            found.extend((name, v) for v in value if isinstance(v, dict))
    return found


def _singular(name: str) -> str:
    return name[:-1] if name.endswith("s") else name


class RemoteViewSources:
    def __init__(self, *, channels: ServiceChannels, address_of: Callable[[str], str]) -> None:
        self._channels = channels
        self._address_of = address_of

    async def _call(self, service: str, method: str, request: Message, response_type: Any) -> Message:
        channel = self._channels.channel(self._address_of(service))
        rpc = channel.unary_unary(
            f"/granary.v1.{method}",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=(response_type.FromString if response_type is not None else (lambda b: b)),
        )
        try:
            reply = await call(lambda r: rpc(r, timeout=VIEW_DEADLINE_SECONDS), request)
        except RemoteError as exc:
            raise SourceUnavailable(f"{service} service: {exc.status}") from None
        except grpc.RpcError as exc:  # pragma: no cover - call() converts aio errors
            raise SourceUnavailable(f"{service} service: {exc}") from None
        if response_type is None:
            raise SourceUnavailable(f"{service} service: {method} is not in the contract yet")
        return reply  # type: ignore[no-any-return]

    async def party_credit(self, party_id: str) -> list[CreditItem]:
        reply = await self._call(
            "credit",
            "CreditService/ListPartyCredit",
            _request(credit_pb2, "ListPartyCreditRequest", party_id),
            getattr(credit_pb2, "ListPartyCreditResponse", None),
        )
        return [
            CreditItem(
                kind=_singular(name),
                id=str(item.get("id") or item.get(f"{_singular(name)}_id", "")),
                status=str(item.get("status", "")),
                amount=str(item.get("amount") or item.get("principal") or item.get("outstanding") or ""),
                details=_flatten(item),
            )
            for name, item in _items(reply)
        ]

    async def open_field_tasks(self, party_id: str) -> list[FieldTaskItem]:
        reply = await self._call(
            "fieldtask",
            "FieldTaskService/ListFieldTasks",
            _request(fieldtask_pb2, "ListFieldTasksRequest", party_id, open_only=True),
            getattr(fieldtask_pb2, "ListFieldTasksResponse", None),
        )
        tasks = [
            FieldTaskItem(
                id=str(item.get("id") or item.get("task_id", "")),
                task_type=str(item.get("task_type", "")),
                status=str(item.get("status", "")),
                details=_flatten(item),
            )
            for _name, item in _items(reply)
        ]
        return [t for t in tasks if t.status.lower().removeprefix("task_status_") not in CLOSED_TASK_STATES]
