"""/api/v1/staff: the org directory's people (roles, branch, superior, phone, regions served)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, status
from granary.v1 import customer_pb2
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import CurrentUser, RequireRoles
from gateway.paging import DEFAULT_LIMIT, Cursor, Limit, page
from services.common.grpc_client import call

router = APIRouter(prefix="/staff", tags=["staff"])
ADMIN = Depends(RequireRoles("admin"))


class StaffCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "zhangming",
                    "display_name": "张明",
                    "password": "Granary#2025",
                    "roles": ["officer"],
                    "branch_id": "0f1e2d3c-4b5a-4968-8776-655443322110",
                    "superior_id": "e1a2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8",
                    "phone": "13905710001",
                    "regions_served": ["330702104201"],
                }
            ]
        }
    )
    username: str
    display_name: str
    password: str = Field(min_length=10)
    roles: list[str]
    branch_id: str
    superior_id: str = ""
    phone: str = ""
    regions_served: list[str] = []


class RegionsUpdate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"regions_served": ["330702104201", "330702104202"]}]})
    regions_served: list[str]


class StaffRead(BaseModel):
    id: str
    username: str
    display_name: str
    roles: list[str]
    branch_id: str
    superior_id: str | None
    phone: str
    regions_served: list[str]
    active: bool

    @classmethod
    def from_proto(cls, s: customer_pb2.Staff) -> StaffRead:
        return cls(
            id=s.id,
            username=s.username,
            display_name=s.display_name,
            roles=list(s.roles),
            branch_id=s.branch_id,
            superior_id=s.superior_id or None,
            phone=s.phone,
            regions_served=list(s.regions_served),
            active=s.active,
        )


class StaffPage(BaseModel):
    items: list[StaffRead]
    next_cursor: str | None = None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StaffRead, dependencies=[ADMIN])
async def create_staff(body: StaffCreate, request: Request, user: CurrentUser) -> StaffRead:
    reply = await call(
        request.app.state.backend.customer.CreateStaff,
        customer_pb2.CreateStaffRequest(**body.model_dump()),
        caller=user,
    )
    return StaffRead.from_proto(reply.staff)


@router.get("", response_model=StaffPage)
async def list_staff(
    request: Request,
    user: CurrentUser,
    branch_id: str = "",
    role: str = "",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = "",
) -> StaffPage:
    """Active staff by username."""
    reply = await call(
        request.app.state.backend.customer.ListStaff,
        customer_pb2.ListStaffRequest(branch_id=branch_id, role=role),
        caller=user,
    )
    items, next_cursor = page([StaffRead.from_proto(s) for s in reply.staff], lambda s: s.username, limit, cursor)
    return StaffPage(items=items, next_cursor=next_cursor)


@router.get("/{staff_id}", response_model=StaffRead)
async def get_staff(staff_id: str, request: Request, user: CurrentUser) -> StaffRead:
    reply = await call(
        request.app.state.backend.customer.GetStaff, customer_pb2.GetStaffRequest(staff_id=staff_id), caller=user
    )
    return StaffRead.from_proto(reply.staff)


@router.put("/{staff_id}/regions", response_model=StaffRead, dependencies=[ADMIN])
async def set_regions(staff_id: str, body: RegionsUpdate, request: Request, user: CurrentUser) -> StaffRead:
    reply = await call(
        request.app.state.backend.customer.SetStaffRegions,
        customer_pb2.SetStaffRegionsRequest(staff_id=staff_id, regions_served=body.regions_served),
        caller=user,
    )
    return StaffRead.from_proto(reply.staff)
