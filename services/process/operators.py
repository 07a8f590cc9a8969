"""Service-task operators: each takes typed parameters and makes one gRPC call with a deadline.

The registry maps an operator name (as written in models) to an async callable; tests and
installations swap one by name (``registry.replace``). A call carries the idempotency key
derived from the instance and task, so a call repeated after a crash is answered once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from google.protobuf import json_format

from services.common.clock import utcnow
from services.common.grpc_client import ServiceChannels, call
from services.common.idempotency import idempotency_key
from services.common.timestamps import to_timestamp
from services.process.domain.operators import CATALOGUE

Operator = Callable[[dict[str, Any], str], Awaitable[Any]]


class OperatorRegistry:
    def __init__(self, operators: Mapping[str, Operator] | None = None) -> None:
        self._operators: dict[str, Operator] = dict(operators or {})

    def replace(self, name: str, operator: Operator) -> None:
        if name not in CATALOGUE:
            raise KeyError(f"unknown operator {name}")
        self._operators[name] = operator

    async def call(self, name: str, params: dict[str, Any], key: str) -> Any:
        operator = self._operators.get(name)
        if operator is None:
            raise LookupError(f"operator {name} has no implementation in this installation")
        return await operator(params, key)


def _reply(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def grpc_operators(channels: ServiceChannels, address_of: Callable[[str], str]) -> OperatorRegistry:
    """The real operators: one call to the owning service each (built lazily per call)."""

    def stub(service: str, module: str, stub_name: str) -> Any:
        import importlib

        grpc_module = importlib.import_module(f"granary.v1.{module}_pb2_grpc")
        return channels.stub(address_of(service), getattr(grpc_module, stub_name))

    def message(module: str, name: str, **fields: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(f"granary.v1.{module}_pb2"), name)(**fields)

    async def invoke(method: Any, request: Any, key: str) -> Any:
        with idempotency_key(key):
            return await call(method, request)

    async def get_exposure(params: dict[str, Any], key: str) -> Any:
        credit = stub("credit", "credit", "CreditServiceStub")
        request = message(
            "credit",
            "GetPartyExposureRequest",
            party_id=str(params["party_id"]),
            household_id=str(params.get("household_id", "") or ""),
            additional_amount=str(params.get("additional_amount", "") or ""),
        )
        return _reply(await invoke(credit.GetPartyExposure, request, key))

    async def create_field_task(params: dict[str, Any], key: str) -> Any:
        from granary.v1 import fieldtask_pb2

        fieldtask = stub("fieldtask", "fieldtask", "FieldTaskServiceStub")
        task_type = str(params["task_type"]).upper()
        request = fieldtask_pb2.CreateFieldTaskRequest(
            task_type=fieldtask_pb2.FieldTaskType.Value(f"FIELD_TASK_TYPE_{task_type}"),
            party_id=str(params["party_id"]),
            assignee_id=str(params.get("assignee_id", "") or ""),
            branch_id=str(params.get("branch_id", "") or ""),
            priority=int(params.get("priority", 0) or 0),
            origin=key,
        )
        hours = int(params.get("due_in_hours", 0) or 0)
        if hours:
            request.due_at.CopyFrom(to_timestamp(utcnow() + timedelta(hours=hours)))
        return _reply(await invoke(fieldtask.CreateFieldTask, request, key))

    async def get_party(params: dict[str, Any], key: str) -> Any:
        customer = stub("customer", "customer", "CustomerServiceStub")
        request = message("customer", "GetPartyRequest", party_id=str(params["party_id"]))
        return _reply(await invoke(customer.GetParty, request, key))

    async def notify(params: dict[str, Any], key: str) -> Any:
        # Notices reach people through process.task.* events; this operator only echoes, so a
        # model can name a recipient explicitly without a call that could fail.
        return {"recipient_id": str(params["recipient_id"]), "title": str(params["title"]), "queued": True}

    return OperatorRegistry(
        {
            "credit.get_exposure": get_exposure,
            "fieldtask.create_task": create_field_task,
            "customer.get_party": get_party,
            "notification.notify": notify,
        }
    )
