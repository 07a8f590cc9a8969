"""The credit test harness: a credit service on real PostgreSQL and NATS, called over gRPC."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from granary.v1 import credit_pb2, credit_pb2_grpc
from sqlalchemy import select

from services.common import messaging_schema
from services.common.envelope import parse_event
from services.common.grpc_client import ServiceChannels, call
from services.common.grpc_errors import RemoteError
from services.common.identity import Caller, ServiceIdentity, TokenSigner
from services.common.runtime import ServiceHost
from tests.integration.conftest import caller_for

TEMPLATE = (
    "借款合同 {{ contract_no }}\n借款人 {{ party_id }} 金额 {{ amount }} 元 期限 {{ term_months }} 个月 "
    "年利率 {{ annual_rate }} 还款方式 {{ repayment_method }}\n"
    "{% for i in installments %}{{ i.number }} {{ i.due_date }} {{ i.total }}\n{% endfor %}"
)


class Credit:
    def __init__(self, host: ServiceHost) -> None:
        self.host = host
        self.signer = TokenSigner(host.settings.platform.require_jwt_secret())
        self.channels = ServiceChannels(default_timeout=20, fallback_caller=ServiceIdentity(self.signer, "test"))
        self.stub = self.channels.stub(f"127.0.0.1:{host.port}", credit_pb2_grpc.CreditServiceStub)
        self.admin = self.staff("admin", branch_id="")
        self.officer = self.staff("officer")
        self.supervisor = self.staff("supervisor")
        self.president = self.staff("president")
        self.system = ServiceIdentity(self.signer, "process")()

    def staff(self, *roles: str, branch_id: str = "B1") -> Caller:
        return caller_for(self.signer, f"u-{uuid.uuid4().hex[:8]}", list(roles), branch_id)

    async def rpc(self, rpc_name: str, caller: Caller, /, **fields: Any) -> Any:
        method = getattr(self.stub, rpc_name)
        request = getattr(credit_pb2, f"{rpc_name}Request")(**fields)
        return await call(method, request, caller=caller)

    async def refused(self, rpc_name: str, caller: Caller, /, **fields: Any) -> RemoteError:
        with pytest.raises(RemoteError) as caught:
            await self.rpc(rpc_name, caller, **fields)
        return caught.value

    async def events(self, event_type: str) -> list[Any]:
        payload_type = {
            "credit.loan.overdue": credit_pb2.LoanOverdue,
            "credit.loan.due_soon": credit_pb2.LoanDueSoon,
            "credit.loan.class_changed": credit_pb2.LoanClassChanged,
            "credit.contract.signed": credit_pb2.ContractChanged,
            "credit.contract.signature_refused": credit_pb2.ContractChanged,
        }.get(event_type, credit_pb2.ApplicationChanged)
        async with self.host.engine.connect() as conn:
            rows = await conn.execute(
                select(messaging_schema.outbox.c.payload)
                .where(messaging_schema.outbox.c.event_type == event_type)
                .order_by(messaging_schema.outbox.c.seq)
            )
            found = []
            for row in rows:
                envelope = parse_event(row.payload)
                message = payload_type()
                envelope.data.Unpack(message)
                found.append(message)
            return found

    async def product(self, **overrides: Any) -> credit_pb2.Product:
        fields: dict[str, Any] = {
            "code": f"P{uuid.uuid4().hex[:6].upper()}",
            "name": "种植贷",
            "purpose": "种植",
            "min_amount": "1000",
            "max_amount": "500000",
            "min_term_months": 3,
            "max_term_months": 36,
            "annual_rate": "0.0720",
            "repayment_method": credit_pb2.REPAYMENT_METHOD_EQUAL_PRINCIPAL,
            "penalty_markup": "0.5",
            "guarantee_types": ["信用", "保证", "抵押"],
        }
        fields.update(overrides)
        return (await self.rpc("CreateProduct", self.admin, **fields)).product

    async def application(
        self,
        product: credit_pb2.Product,
        *,
        amount: str = "12000",
        term: int = 3,
        party_id: str = "",
        officer: Caller | None = None,
    ) -> Any:
        """A submitted application by ``officer`` (default: the B1 officer)."""
        return (
            await self.rpc(
                "SubmitApplication",
                officer or self.officer,
                party_id=party_id or f"party-{uuid.uuid4().hex[:6]}",
                product_id=product.id,
                amount=amount,
                term_months=term,
                guarantee_method="信用",
                idempotency_key=uuid.uuid4().hex,
                purpose="买种子",
            )
        ).application

    async def loan(
        self,
        product: credit_pb2.Product,
        *,
        amount: str = "12000",
        term: int = 3,
        start: str,
        party_id: str = "",
        officer: Caller | None = None,
    ) -> Any:
        """An application taken through review, contract and disbursement on ``start``."""
        officer = officer or self.officer
        supervisor = self.staff("supervisor", branch_id=officer.branch_id)
        app = await self.application(product, amount=amount, term=term, party_id=party_id, officer=officer)
        for action in ("start_review", "approve"):
            await self.rpc("TransitionApplication", supervisor, application_id=app.id, action=action, node="n1")
        contract = (await self.rpc("GenerateContract", officer, application_id=app.id, template_code="LOAN")).contract
        await self.rpc(
            "SignContract",
            officer,
            contract_id=contract.id,
            method="manual",
            evidence_ref="scan-1",
            content_hash=contract.content_hash,
        )
        return (
            await self.rpc(
                "DisburseLoan",
                supervisor,
                application_id=app.id,
                disbursed_on=start,
                external_ref=f"T-{uuid.uuid4().hex}",
            )
        ).loan
