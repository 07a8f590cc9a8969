"""The credit SOP on real services: customer, credit, field-task and process on PostgreSQL and NATS.

The process service runs with its real operators, so every service task of a model is a gRPC
call to the owning service. The one shortcut: a field task's completion is published on the bus
exactly as the field-task service's outbox relay publishes it (the field officer's whole
check-in, evidence and signature life is the field-task tests' subject).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from granary.v1 import (
    credit_pb2,
    credit_pb2_grpc,
    customer_pb2,
    customer_pb2_grpc,
    fieldtask_pb2,
    fieldtask_pb2_grpc,
    process_pb2,
    process_pb2_grpc,
)
from stdnum.cn import ric

from services.common.bus import EventBus
from services.common.envelope import build_event
from services.common.grpc_client import ServiceChannels, call
from services.common.identity import Caller, ServiceIdentity, TokenSigner
from services.common.runtime import ServiceHost
from services.common.settings import Settings
from tests.integration.conftest import PASSWORD, caller_for
from tests.support import eventually

BPMN_DIR = Path(__file__).resolve().parents[3] / "bpmn"
DONE = "fieldtask.task.completed"
TEMPLATE = "借款合同 {{ contract_no }}\n借款人 {{ party_id }} 金额 {{ amount }} 元 期限 {{ term_months }} 个月"

STAFF = [
    ("officer", ["officer"], "CG"),
    ("officer_b", ["officer"], "CG"),
    ("supervisor", ["supervisor"], "CG"),
    ("president", ["president"], "CG"),
    # Head-office approvers: their tasks come from every branch.
    ("risk", ["risk_director"], "HQ"),
    ("member1", ["committee_member"], "HQ"),
    ("member2", ["committee_member"], "HQ"),
    ("member3", ["committee_member"], "HQ"),
    ("officer_hx", ["officer"], "HX"),
    ("supervisor_hx", ["supervisor"], "HX"),
    ("president_hx", ["president"], "HX"),
    ("owner", ["process_owner"], "HQ"),
    ("admin", ["admin"], "HQ"),
    ("auditor", ["auditor"], "HQ"),
]


def model_file(name: str) -> tuple[str, bytes]:
    return name, (BPMN_DIR / name).read_bytes()


def resident_id(n: int) -> str:
    body = f"330726198{n % 10}0{1 + n % 9}1{n % 9}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


@dataclass
class World:
    customer: ServiceHost
    credit: ServiceHost
    fieldtask: ServiceHost
    process: ServiceHost
    signer: TokenSigner
    channels: ServiceChannels
    branches: dict[str, str] = field(default_factory=dict)
    staff: dict[str, Caller] = field(default_factory=dict)
    product: credit_pb2.Product | None = None
    _parties: int = 0

    # ---------------------------------------------------------------- stubs
    def stub(self, host: ServiceHost, stub_class: Any) -> Any:
        return self.channels.stub(f"127.0.0.1:{host.port}", stub_class)

    @property
    def system(self) -> Caller:
        return ServiceIdentity(self.signer, "sop-test")()

    async def process_rpc(self, rpc: str, caller: Caller, /, **fields: Any) -> Any:
        stub = self.stub(self.process, process_pb2_grpc.ProcessServiceStub)
        return await call(getattr(stub, rpc), getattr(process_pb2, f"{rpc}Request")(**fields), caller=caller)

    async def credit_rpc(self, rpc: str, caller: Caller, /, **fields: Any) -> Any:
        stub = self.stub(self.credit, credit_pb2_grpc.CreditServiceStub)
        return await call(getattr(stub, rpc), getattr(credit_pb2, f"{rpc}Request")(**fields), caller=caller)

    async def customer_rpc(self, rpc: str, caller: Caller, /, **fields: Any) -> Any:
        stub = self.stub(self.customer, customer_pb2_grpc.CustomerServiceStub)
        return await call(getattr(stub, rpc), getattr(customer_pb2, f"{rpc}Request")(**fields), caller=caller)

    async def fieldtask_rpc(self, rpc: str, caller: Caller, /, **fields: Any) -> Any:
        stub = self.stub(self.fieldtask, fieldtask_pb2_grpc.FieldTaskServiceStub)
        return await call(getattr(stub, rpc), getattr(fieldtask_pb2, f"{rpc}Request")(**fields), caller=caller)

    # ---------------------------------------------------------------- models
    async def deploy(self, *files: tuple[str, bytes]) -> Any:
        return await self.process_rpc(
            "DeployProcessModel",
            self.staff["owner"],
            files=[process_pb2.ModelFile(name=n, content=c) for n, c in files],
        )

    # ---------------------------------------------------------------- business data
    async def party(self) -> str:
        self._parties += 1
        reply = await self.customer_rpc(
            "CreateParty",
            self.system,
            kind=customer_pb2.PARTY_KIND_PERSON,
            name=f"测试农户{self._parties}",
            id_number=resident_id(self._parties),  # a fresh database per test: unique within it
            mobile=f"1380571{self._parties:04d}",
            branch_id=self.branches["CG"],
            managing_officer_id=self.staff["officer"].user_id,
        )
        return str(reply.party.id)

    async def application(self, amount: str, *, term: int = 12) -> credit_pb2.Application:
        assert self.product is not None
        party_id = await self.party()
        reply = await self.credit_rpc(
            "SubmitApplication",
            self.staff["officer"],
            party_id=party_id,
            product_id=self.product.id,
            amount=amount,
            term_months=term,
            guarantee_method="信用",
            purpose="大棚扩建",
            idempotency_key=uuid.uuid4().hex,
        )
        return reply.application

    async def start_sop(self, application_id: str, key: str = "credit_sop") -> process_pb2.ProcessInstance:
        """The instance the submitted application started (the process service consumes the event)."""
        return await self.started(application_id, key)

    async def instances_of(self, business_key: str, key: str = "credit_sop") -> list[process_pb2.ProcessInstance]:
        reply = await self.process_rpc(
            "ListProcessInstances", self.staff["admin"], process_key=key, business_key=business_key
        )
        return list(reply.instances)

    async def started(self, application_id: str, key: str = "credit_sop") -> process_pb2.ProcessInstance:
        found: list[process_pb2.ProcessInstance] = []

        async def one() -> bool:
            nonlocal found
            found = await self.instances_of(application_id, key)
            return len(found) >= 1

        await eventually(one, timeout=30)
        assert len(found) == 1, "one submitted application starts one instance"
        return await self.instance(found[0].id)

    async def instance(self, instance_id: str) -> process_pb2.ProcessInstance:
        reply = await self.process_rpc("GetProcessInstance", self.staff["admin"], instance_id=instance_id)
        return reply.instance

    async def variables(self, instance_id: str) -> dict[str, Any]:
        return json.loads((await self.instance(instance_id)).variables_json)  # type: ignore[no-any-return]

    async def app_status(self, application_id: str) -> str:
        reply = await self.credit_rpc("GetApplication", self.system, application_id=application_id)
        return str(reply.application.status)

    async def field_tasks(self, business_key: str) -> list[Any]:
        reply = await self.fieldtask_rpc("ListFieldTasks", self.system, business_key=business_key)
        return list(reply.tasks)

    # ---------------------------------------------------------------- driving
    async def survey_done(
        self,
        instance_id: str,
        application_id: str,
        rating: str = "B",
        *,
        task_type: int = fieldtask_pb2.FIELD_TASK_TYPE_PRE_LOAN_SURVEY,
        results: dict[str, str] | None = None,
    ) -> None:
        """Waits for the field task in the field-task service, then reports it completed."""

        async def waiting() -> bool:
            state = await self.instance(instance_id)
            return list(state.waiting_messages) == [DONE]

        await eventually(waiting, timeout=30)
        [task] = await self.field_tasks(application_id)
        assert task.task_type == task_type
        assert task.assignee_id == self.staff["officer"].user_id
        bus = EventBus.from_settings(Settings().platform, "test-fieldtask")
        await bus.connect()
        try:
            event = build_event(
                event_type=DONE,
                source="fieldtask",
                subject=task.id,
                data=fieldtask_pb2.FieldTaskCompleted(
                    task_id=task.id,
                    task_type=task.task_type,
                    origin=task.origin,
                    business_key=application_id,
                    party_id=task.party_id,
                    results=results if results is not None else {"rating": rating, "annual_income": "86000.00"},
                    assignee_id=task.assignee_id,
                    branch_id=task.branch_id,
                ),
            )
            await bus.publish(bus.subject_for(DONE), event.to_bytes(), {"Nats-Msg-Id": event.id})
        finally:
            await bus.close()

    async def open_tasks(self, instance_id: str, count: int = 1) -> list[process_pb2.InboxTask]:
        found: list[process_pb2.InboxTask] = []

        async def ready() -> bool:
            nonlocal found
            state = await self.instance(instance_id)
            found = [t for t in state.open_tasks]
            return len(found) >= count or state.status not in ("running",)

        await eventually(ready, timeout=30)
        return found

    async def decide(
        self, task: process_pb2.InboxTask, who: str, decision: str = "approve", comment: str = "", **data: str
    ) -> None:
        await self.process_rpc(
            "CompleteTask",
            self.staff[who],
            task_id=task.id,
            decision=decision,
            comment=comment,
            data_json=json.dumps(data) if data else "",
        )

    async def until_node(self, instance_id: str, node: str, timeout: float = 30) -> process_pb2.ProcessInstance:
        async def there() -> bool:
            state = await self.instance(instance_id)
            assert state.status != "incident", [h.comment for h in state.history if h.action == "incident.raised"]
            return node in state.active_nodes

        await eventually(there, timeout=timeout)
        return await self.instance(instance_id)


async def restart_process(world: World, monkeypatch: Any) -> ServiceHost:
    """Stops the process service and starts a new one on the same database, as after a crash or
    a redeploy; the caller stops the returned host at the end of the test."""
    from services.process.main import build

    await world.process.stop()
    host = ServiceHost("process", Settings(), grpc_port=0)
    port = await host.start(build(host))
    monkeypatch.setenv("GRANARY_PROCESS_ADDRESS", f"127.0.0.1:{port}")
    world.process = host
    return host


async def build_world(start_service: Any) -> World:
    customer = await start_service("customer")
    credit = await start_service("credit")
    fieldtask = await start_service("fieldtask")
    await start_service("notification")  # the model's notices (e.g. a rejection's reason to the officer)
    process = await start_service("process")
    signer = TokenSigner(customer.settings.platform.require_jwt_secret())
    channels = ServiceChannels(default_timeout=20, fallback_caller=ServiceIdentity(signer, "sop-test"))
    world = World(customer, credit, fieldtask, process, signer, channels)
    for code, name, parent in [("HQ", "县联社", ""), ("CG", "城关支行", "HQ"), ("HX", "河西支行", "HQ")]:
        reply = await world.customer_rpc(
            "CreateBranch", world.system, code=code, name=name, parent_id=world.branches.get(parent, "")
        )
        world.branches[code] = reply.branch.id
    for username, roles, branch in STAFF:
        reply = await world.customer_rpc(
            "CreateStaff",
            world.system,
            username=username,
            display_name=username,
            password=PASSWORD,
            roles=roles,
            branch_id=world.branches[branch],
        )
        world.staff[username] = caller_for(signer, reply.staff.id, roles, world.branches[branch])
    admin = world.staff["admin"]
    world.product = (
        await world.credit_rpc(
            "CreateProduct",
            admin,
            code="SOP_LOAN",
            name="农户经营贷",
            purpose="经营",
            min_amount="1000",
            max_amount="3000000",
            min_term_months=3,
            max_term_months=36,
            annual_rate="0.0720",
            repayment_method=credit_pb2.REPAYMENT_METHOD_EQUAL_INSTALLMENT,
            frequency="MONTHLY",
            penalty_markup="0.5",
            guarantee_types=["信用", "保证"],
        )
    ).product
    await world.credit_rpc("CreateContractTemplate", admin, code="LOAN_STANDARD", body=TEMPLATE)
    return world
