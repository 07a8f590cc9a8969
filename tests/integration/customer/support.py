"""Helpers for the customer service's integration tests."""

from __future__ import annotations

import io
from typing import Any

from granary.v1 import customer_pb2, customer_pb2_grpc
from openpyxl import Workbook
from stdnum.cn import ric

from services.common.grpc_client import ServiceChannels, call
from services.common.identity import Caller, ServiceIdentity, TokenSigner
from services.common.runtime import ServiceHost
from tests.integration.conftest import PASSWORD, Org, caller_for


def resident_id(county: str, birth: str, seq: str) -> str:
    body = county + birth + seq
    return body + ric.calc_check_digit(body + "0")


async def system_call(customer: ServiceHost, rpc: str, request: Any) -> Any:
    """Calls the customer service as a service identity (as the process or notification service would)."""
    signer = TokenSigner(customer.settings.platform.require_jwt_secret())
    channels = ServiceChannels(default_timeout=10, fallback_caller=ServiceIdentity(signer, "test-system"))
    try:
        stub = channels.stub(f"127.0.0.1:{customer.port}", customer_pb2_grpc.CustomerServiceStub)
        return await call(getattr(stub, rpc), request)
    finally:
        await channels.close()


async def add_staff(customer: ServiceHost, org: Org, username: str, roles: list[str], branch: str, **extra: Any) -> str:
    reply = await system_call(
        customer,
        "CreateStaff",
        customer_pb2.CreateStaffRequest(
            username=username,
            display_name=username,
            password=PASSWORD,
            roles=roles,
            branch_id=org.branch_ids[branch],
            **extra,
        ),
    )
    org.staff[username] = reply.staff.id
    return str(reply.staff.id)


def workbook(rows: list[list[Any]], merges: list[str] = ()) -> bytes:  # type: ignore[assignment]
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    for cell_range in merges:
        sheet.merge_cells(cell_range)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def remote_call(host: ServiceHost, stub_type: Any, rpc: str, request: Any, caller: Caller) -> Any:
    """Calls another service's gRPC API as ``caller`` (a staff member or a service)."""
    signer = TokenSigner(host.settings.platform.require_jwt_secret())
    channels = ServiceChannels(default_timeout=20, fallback_caller=ServiceIdentity(signer, "test-system"))
    try:
        stub = channels.stub(f"127.0.0.1:{host.port}", stub_type)
        return await call(getattr(stub, rpc), request, caller=caller)
    finally:
        await channels.close()


def staff_caller(host: ServiceHost, user_id: str, roles: list[str], branch_id: str) -> Caller:
    return caller_for(TokenSigner(host.settings.platform.require_jwt_secret()), user_id, roles, branch_id)
