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

# The job parameter the engine adds for calls that follow a user's decision (see service.py).
ON_BEHALF_OF = "_on_behalf_of"

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


def acting_user(params: dict[str, Any]) -> dict[str, str]:
    """The user whose decision led to this call (the engine adds it to the job's parameters)."""
    actor = params.get(ON_BEHALF_OF) or {}
    if not isinstance(actor, dict) or not actor.get("user_id"):
        return {}
    return {"actor_id": str(actor["user_id"]), "actor_role": str(actor.get("role", "") or "")}


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
        # An in-app notice to the person the model names (e.g. the officer told why an
        # application was rejected); the job's key makes a retried call one notice.
        notification = stub("notification", "notification", "NotificationServiceStub")
        request = message(
            "notification",
            "SendNoticeRequest",
            recipient_id=str(params["recipient_id"]),
            title=str(params["title"]),
            body=str(params.get("body", "") or ""),
            reference=key,
            source="process.notice",
        )
        return _reply(await invoke(notification.SendNotice, request, key))

    # ---- operators of the credit SOP and the other business models (bpmn/)

    async def credit_call(rpc: str, request_name: str, key: str, **fields: Any) -> Any:
        credit = stub("credit", "credit", "CreditServiceStub")
        return _reply(await invoke(getattr(credit, rpc), message("credit", request_name, **fields), key))

    async def get_application(params: dict[str, Any], key: str) -> Any:
        reply = await credit_call(
            "GetApplication", "GetApplicationRequest", key, application_id=str(params["application_id"])
        )
        return reply.get("application", {})

    async def get_product(params: dict[str, Any], key: str) -> Any:
        reply = await credit_call("GetProduct", "GetProductRequest", key, product_id=str(params["product_id"]))
        return reply.get("product", {})

    async def transition_application(params: dict[str, Any], key: str) -> Any:
        reply = await credit_call(
            "TransitionApplication",
            "TransitionApplicationRequest",
            key,
            application_id=str(params["application_id"]),
            action=str(params["action"]),
            node=str(params.get("node", "") or ""),
            comment=str(params.get("comment", "") or ""),
            **acting_user(params),
        )
        application = reply.get("application", {})
        return {"application_id": application.get("id", ""), "status": application.get("status", "")}

    async def add_opinion(params: dict[str, Any], key: str) -> Any:
        reply = await credit_call(
            "AddApprovalOpinion",
            "AddApprovalOpinionRequest",
            key,
            application_id=str(params["application_id"]),
            node=str(params["node"]),
            decision=str(params["decision"]),
            comment=str(params.get("comment", "") or ""),
            **acting_user(params),
        )
        return reply.get("opinion", {})

    async def generate_contract(params: dict[str, Any], key: str) -> Any:
        reply = await credit_call(
            "GenerateContract",
            "GenerateContractRequest",
            key,
            application_id=str(params["application_id"]),
            template_code=str(params["template_code"]),
        )
        contract = reply.get("contract", {})
        # The contract text stays in the credit service; the instance keeps the reference.
        contract.pop("content", None)
        return contract

    async def sign_contract(params: dict[str, Any], key: str) -> Any:
        reply = await credit_call(
            "SignContract",
            "SignContractRequest",
            key,
            contract_id=str(params["contract_id"]),
            method=str(params.get("method", "") or "manual"),
            evidence_ref=str(params["evidence_ref"]),
            content_hash=str(params["content_hash"]),
        )
        contract = reply.get("contract", {})
        contract.pop("content", None)
        return contract

    async def disburse_loan(params: dict[str, Any], key: str) -> Any:
        reply = await credit_call(
            "DisburseLoan",
            "DisburseLoanRequest",
            key,
            application_id=str(params["application_id"]),
            external_ref=str(params["external_ref"]),
            disbursed_on=str(params.get("disbursed_on", "") or ""),
        )
        loan = reply.get("loan", {})
        loan.pop("installments", None)
        return loan

    async def get_loan(params: dict[str, Any], key: str) -> Any:
        loan = (await credit_call("GetLoan", "GetLoanRequest", key, loan_id=str(params["loan_id"]))).get("loan", {})
        loan.pop("installments", None)
        return loan

    async def create_credit_line(params: dict[str, Any], key: str) -> Any:
        reply = await credit_call(
            "CreateCreditLine",
            "CreateCreditLineRequest",
            key,
            party_id=str(params["party_id"]),
            household_id=str(params.get("household_id", "") or ""),
            limit=str(params["limit"]),
            valid_from=str(params.get("valid_from", "") or ""),
            valid_until=str(params["valid_until"]),
            revolving=bool(params.get("revolving", False)),
            branch_id=str(params.get("branch_id", "") or ""),
        )
        return reply.get("credit_line", {})

    async def get_credit_summary(params: dict[str, Any], key: str) -> Any:
        customer = stub("customer", "customer", "CustomerServiceStub")
        request = message("customer", "GetPartyViewRequest", party_id=str(params["party_id"]))
        view = _reply(await invoke(customer.GetPartyView, request, key))
        report = view.get("latest_credit_report", {})
        party = view.get("party", {})
        return {
            "bureau": report.get("bureau", ""),
            "queried_at": report.get("queried_at", ""),
            "summary": report.get("summary", {}),
            "tier_risk": party.get("tier_risk", ""),
        }

    async def apply_party_change(params: dict[str, Any], key: str) -> Any:
        customer = stub("customer", "customer", "CustomerServiceStub")
        request = message(
            "customer",
            "ApplyPartyChangeRequest",
            change_id=str(params["change_id"]),
            approved=bool(params["approved"]),
            comment=str(params.get("comment", "") or ""),
        )
        return _reply(await invoke(customer.ApplyPartyChange, request, key)).get("change", {})

    async def create_case_task(params: dict[str, Any], key: str) -> Any:
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
            title=str(params.get("title", "") or ""),
            business_key=str(params["business_key"]),
        )
        hours = int(params.get("due_in_hours", 0) or 0)
        if hours:
            request.due_at.CopyFrom(to_timestamp(utcnow() + timedelta(hours=hours)))
        task = _reply(await invoke(fieldtask.CreateFieldTask, request, key)).get("task", {})
        return {k: task[k] for k in ("id", "task_type", "status", "assignee_id", "business_key", "due_at") if k in task}

    return OperatorRegistry(
        {
            "credit.get_exposure": get_exposure,
            "fieldtask.create_task": create_field_task,
            "customer.get_party": get_party,
            "notification.notify": notify,
            "credit.get_application": get_application,
            "credit.get_product": get_product,
            "credit.transition_application": transition_application,
            "credit.add_opinion": add_opinion,
            "credit.generate_contract": generate_contract,
            "credit.sign_contract": sign_contract,
            "credit.disburse_loan": disburse_loan,
            "credit.get_loan": get_loan,
            "credit.create_credit_line": create_credit_line,
            "customer.get_credit_summary": get_credit_summary,
            "customer.apply_party_change": apply_party_change,
            "fieldtask.create_case_task": create_case_task,
        }
    )
