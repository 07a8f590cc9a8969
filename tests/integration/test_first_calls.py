"""First calls of credit, fieldtask and process over real gRPC, PostgreSQL and NATS."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from granary.v1 import (
    credit_pb2,
    credit_pb2_grpc,
    fieldtask_pb2,
    fieldtask_pb2_grpc,
    process_pb2,
    process_pb2_grpc,
)
from sqlalchemy import select

from services.common import messaging_schema
from services.common.grpc_client import ServiceChannels, call
from services.common.grpc_errors import RemoteError
from services.common.identity import Caller, ServiceIdentity, TokenSigner
from services.common.runtime import ServiceHost
from tests.integration.conftest import StartService, caller_for
from tests.support import eventually

pytestmark = pytest.mark.integration

StubT = TypeVar("StubT")


class Client:
    """Stubs on a started service, and callers signed with the platform's key."""

    def __init__(self, host: ServiceHost) -> None:
        self.host = host
        self.signer = TokenSigner(host.settings.platform.require_jwt_secret())
        self.channels = ServiceChannels(default_timeout=10, fallback_caller=ServiceIdentity(self.signer, "test"))

    def stub(self, stub_type: Callable[[Any], StubT]) -> StubT:
        return self.channels.stub(f"127.0.0.1:{self.host.port}", stub_type)

    def staff(self, *roles: str, branch_id: str = "branch-1", user_id: str = "") -> Caller:
        return caller_for(self.signer, user_id or f"user-{uuid.uuid4().hex[:8]}", list(roles), branch_id)

    async def event_types(self) -> list[str]:
        async with self.host.engine.connect() as conn:
            rows = await conn.execute(select(messaging_schema.outbox.c.event_type))
            return [row.event_type for row in rows]

    async def all_published(self) -> bool:
        async with self.host.engine.connect() as conn:
            rows = await conn.execute(select(messaging_schema.outbox.c.published_at))
            stamps = [row.published_at for row in rows]
        return bool(stamps) and all(s is not None for s in stamps)


@pytest.fixture
async def client(start_service: StartService, request: pytest.FixtureRequest) -> AsyncIterator[Client]:
    host = await start_service(request.param)
    opened = Client(host)
    yield opened
    await opened.channels.close()


def product_request(**overrides: Any) -> credit_pb2.CreateProductRequest:
    fields: dict[str, Any] = {
        "code": f"AGRI_{uuid.uuid4().hex[:6].upper()}",
        "name": "Agricultural loan",
        "purpose": "seeds and fertiliser",
        "min_amount": "1000",
        "max_amount": "50000.00",
        "min_term_months": 3,
        "max_term_months": 36,
        "annual_rate": "0.0435",
        "repayment_method": credit_pb2.REPAYMENT_METHOD_EQUAL_PRINCIPAL,
    }
    fields.update(overrides)
    return credit_pb2.CreateProductRequest(**fields)


@pytest.mark.parametrize("client", ["credit"], indirect=True)
async def test_products_are_created_versioned_and_read_back(client: Client) -> None:
    stub = client.stub(credit_pb2_grpc.CreditServiceStub)
    owner = client.staff("process_owner")
    request = product_request()

    first = (await call(stub.CreateProduct, request, caller=owner)).product
    assert first.version == 1
    assert (first.code, first.min_amount, first.max_amount) == (request.code, "1000.00", "50000.00")
    assert first.annual_rate == "0.0435"
    assert first.repayment_method == credit_pb2.REPAYMENT_METHOD_EQUAL_PRINCIPAL

    second = await call(stub.CreateProduct, product_request(code=request.code, annual_rate="0.05"), caller=owner)
    assert second.product.version == 2
    assert second.product.id != first.id

    # Any authenticated caller reads products; the first version is unchanged.
    reader = client.staff("officer")
    read = await call(stub.GetProduct, credit_pb2.GetProductRequest(product_id=first.id), caller=reader)
    assert read.product == first

    assert await client.event_types() == ["credit.product.created", "credit.product.created"]
    await eventually(client.all_published)


@pytest.mark.parametrize("client", ["credit"], indirect=True)
async def test_product_errors(client: Client) -> None:
    stub = client.stub(credit_pb2_grpc.CreditServiceStub)
    admin = client.staff("admin")

    with pytest.raises(RemoteError) as invalid:
        await call(stub.CreateProduct, product_request(annual_rate="4.35"), caller=admin)
    assert invalid.value.status == "INVALID_ARGUMENT"
    [violation] = invalid.value.violations
    assert violation.field == "annual_rate"
    assert "between 0 and 1" in violation.description

    with pytest.raises(RemoteError) as unspecified:
        await call(
            stub.CreateProduct,
            product_request(repayment_method=credit_pb2.REPAYMENT_METHOD_UNSPECIFIED),
            caller=admin,
        )
    assert [v.field for v in unspecified.value.violations] == ["repayment_method"]

    with pytest.raises(RemoteError) as denied:
        await call(stub.CreateProduct, product_request(), caller=client.staff("officer"))
    assert denied.value.status == "PERMISSION_DENIED"

    with pytest.raises(RemoteError) as missing:
        await call(stub.GetProduct, credit_pb2.GetProductRequest(product_id=str(uuid.uuid4())), caller=admin)
    assert (missing.value.status, missing.value.reason) == ("NOT_FOUND", "PRODUCT_NOT_FOUND")

    # Nothing failed half-way: no product, no event.
    assert await client.event_types() == []


def due_in(delta: timedelta) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + delta)
    return stamp


@pytest.mark.parametrize("client", ["fieldtask"], indirect=True)
async def test_field_tasks_are_created_and_scoped_by_branch(client: Client) -> None:
    stub = client.stub(fieldtask_pb2_grpc.FieldTaskServiceStub)
    officer = client.staff("officer", branch_id="branch-1")
    created = (
        await call(
            stub.CreateFieldTask,
            fieldtask_pb2.CreateFieldTaskRequest(
                task_type=fieldtask_pb2.FIELD_TASK_TYPE_PRE_LOAN_SURVEY,
                party_id="party-1",
                due_at=due_in(timedelta(days=2)),
            ),
            caller=officer,
        )
    ).task
    assert created.status == fieldtask_pb2.FIELD_TASK_STATUS_NEW
    assert (created.branch_id, created.priority, created.origin) == ("branch-1", 3, "manual")

    colleague = client.staff("supervisor", branch_id="branch-1")
    read = await call(stub.GetFieldTask, fieldtask_pb2.GetFieldTaskRequest(task_id=created.id), caller=colleague)
    assert read.task == created

    # Out of branch looks exactly like absent.
    outsider = client.staff("officer", branch_id="branch-2")
    for task_id in (created.id, str(uuid.uuid4())):
        with pytest.raises(RemoteError) as hidden:
            await call(stub.GetFieldTask, fieldtask_pb2.GetFieldTaskRequest(task_id=task_id), caller=outsider)
        assert (hidden.value.status, hidden.value.reason) == ("NOT_FOUND", "FIELD_TASK_NOT_FOUND")
    auditor = client.staff("auditor", branch_id="branch-2")
    assert (await call(stub.GetFieldTask, fieldtask_pb2.GetFieldTaskRequest(task_id=created.id), caller=auditor)).task

    # An admin places a task in another branch for a named officer, who then sees it.
    assignee = client.staff("officer", branch_id="branch-2")
    assigned = (
        await call(
            stub.CreateFieldTask,
            fieldtask_pb2.CreateFieldTaskRequest(
                task_type=fieldtask_pb2.FIELD_TASK_TYPE_OVERDUE_FOLLOW_UP,
                assignee_id=assignee.user_id,
                branch_id="branch-3",
                priority=1,
                due_at=due_in(timedelta(hours=4)),
                origin="rule:overdue-3d",
            ),
            caller=client.staff("admin", branch_id="head-office"),
        )
    ).task
    assert assigned.status == fieldtask_pb2.FIELD_TASK_STATUS_ASSIGNED
    assert (assigned.branch_id, assigned.priority, assigned.origin) == ("branch-3", 1, "rule:overdue-3d")
    seen = await call(stub.GetFieldTask, fieldtask_pb2.GetFieldTaskRequest(task_id=assigned.id), caller=assignee)
    assert seen.task.id == assigned.id

    assert await client.event_types() == ["fieldtask.task.created", "fieldtask.task.created"]
    await eventually(client.all_published)


@pytest.mark.parametrize("client", ["fieldtask"], indirect=True)
async def test_field_task_errors(client: Client) -> None:
    stub = client.stub(fieldtask_pb2_grpc.FieldTaskServiceStub)
    officer = client.staff("officer", branch_id="branch-1")

    with pytest.raises(RemoteError) as past:
        await call(
            stub.CreateFieldTask,
            fieldtask_pb2.CreateFieldTaskRequest(
                task_type=fieldtask_pb2.FIELD_TASK_TYPE_VISIT, due_at=due_in(-timedelta(hours=1))
            ),
            caller=officer,
        )
    assert past.value.status == "INVALID_ARGUMENT"
    assert [v.field for v in past.value.violations] == ["due_at"]

    with pytest.raises(RemoteError) as no_due:
        await call(
            stub.CreateFieldTask,
            fieldtask_pb2.CreateFieldTaskRequest(task_type=fieldtask_pb2.FIELD_TASK_TYPE_VISIT),
            caller=officer,
        )
    assert [v.field for v in no_due.value.violations] == ["due_at"]

    with pytest.raises(RemoteError) as other_branch:
        await call(
            stub.CreateFieldTask,
            fieldtask_pb2.CreateFieldTaskRequest(
                task_type=fieldtask_pb2.FIELD_TASK_TYPE_VISIT, branch_id="branch-2", due_at=due_in(timedelta(days=1))
            ),
            caller=officer,
        )
    assert other_branch.value.status == "PERMISSION_DENIED"

    with pytest.raises(RemoteError) as wrong_role:
        await call(
            stub.CreateFieldTask,
            fieldtask_pb2.CreateFieldTaskRequest(
                task_type=fieldtask_pb2.FIELD_TASK_TYPE_VISIT, due_at=due_in(timedelta(days=1))
            ),
            caller=client.staff("auditor", branch_id="branch-1"),
        )
    assert wrong_role.value.status == "PERMISSION_DENIED"
    assert await client.event_types() == []


VALID_BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="review" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f1</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""

INVALID_BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d2" targetNamespace="x">
  <bpmn:process id="broken" isExecutable="true">
    <bpmn:startEvent id="start" colour="red"/>
  </bpmn:process>
</bpmn:definitions>"""


@pytest.mark.parametrize("client", ["process"], indirect=True)
async def test_process_model_validation(client: Client) -> None:
    stub = client.stub(process_pb2_grpc.ProcessServiceStub)
    owner = client.staff("process_owner")

    good = await call(
        stub.ValidateProcessModel,
        process_pb2.ValidateProcessModelRequest(files=[process_pb2.ModelFile(name="review.bpmn", content=VALID_BPMN)]),
        caller=owner,
    )
    assert good.valid
    assert list(good.process_ids) == ["review"]
    assert list(good.problems) == []

    bad = await call(
        stub.ValidateProcessModel,
        process_pb2.ValidateProcessModelRequest(
            files=[
                process_pb2.ModelFile(name="broken.bpmn", content=INVALID_BPMN),
                process_pb2.ModelFile(name="garbled.dmn", content=b"<definitions>"),
                process_pb2.ModelFile(name="notes.txt", content=b"hi"),
                process_pb2.ModelFile(name="review.bpmn", content=VALID_BPMN),
            ]
        ),
        caller=owner,
    )
    assert not bad.valid
    assert [(p.file, p.element_id) for p in bad.problems] == [
        ("broken.bpmn", "start"),
        ("garbled.dmn", ""),
        ("notes.txt", ""),
    ]
    assert "colour" in bad.problems[0].reason
    assert list(bad.process_ids) == ["review"]

    with pytest.raises(RemoteError) as denied:
        await call(
            stub.ValidateProcessModel,
            process_pb2.ValidateProcessModelRequest(),
            caller=client.staff("officer"),
        )
    assert denied.value.status == "PERMISSION_DENIED"
