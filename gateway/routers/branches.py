"""/api/v1/branches: the branch tree; /api/v1/regions: statistical division codes."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, status
from granary.v1 import customer_pb2
from pydantic import BaseModel, ConfigDict

from gateway.auth import CurrentUser, RequireRoles
from gateway.paging import DEFAULT_LIMIT, Cursor, Limit, page
from services.common.grpc_client import call

router = APIRouter(tags=["branches"])


class BranchCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"code": "HX", "name": "横溪支行", "parent_id": "0f1e2d3c-4b5a-4968-8776-655443322110"}]
        }
    )
    code: str
    name: str
    parent_id: str = ""


class BranchRead(BaseModel):
    id: str
    code: str
    name: str
    parent_id: str | None
    depth: int


class RegionRead(BaseModel):
    code: str
    name: str
    level: int
    parent_code: str | None


class BranchPage(BaseModel):
    items: list[BranchRead]
    next_cursor: str | None = None


class RegionPage(BaseModel):
    items: list[RegionRead]
    next_cursor: str | None = None


def _branch(b: customer_pb2.Branch) -> BranchRead:
    return BranchRead(id=b.id, code=b.code, name=b.name, parent_id=b.parent_id or None, depth=b.depth)


@router.post(
    "/branches",
    status_code=status.HTTP_201_CREATED,
    response_model=BranchRead,
    dependencies=[Depends(RequireRoles("admin"))],
)
async def create_branch(body: BranchCreate, request: Request, user: CurrentUser) -> BranchRead:
    reply = await call(
        request.app.state.backend.customer.CreateBranch,
        customer_pb2.CreateBranchRequest(**body.model_dump()),
        caller=user,
    )
    return _branch(reply.branch)


@router.get("/branches", response_model=BranchPage)
async def list_branches(
    request: Request, user: CurrentUser, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = ""
) -> BranchPage:
    """Depth-first: each branch follows its parent, siblings by code."""
    reply = await call(request.app.state.backend.customer.ListBranches, customer_pb2.ListBranchesRequest(), caller=user)
    branches = [_branch(b) for b in reply.branches]
    by_id = {b.id: b for b in branches}

    def path(b: BranchRead) -> list[str]:
        # The codes from the root down: sorting by it is the depth-first order, and a page
        # boundary stays put when a branch is added elsewhere in the tree.
        codes = [b.code]
        while b.parent_id in by_id and len(codes) <= len(by_id):
            b = by_id[b.parent_id]
            codes.append(b.code)
        return codes[::-1]

    items, next_cursor = page(branches, path, limit, cursor)
    return BranchPage(items=items, next_cursor=next_cursor)


@router.get("/regions", response_model=RegionPage)
async def list_regions(
    request: Request, user: CurrentUser, parent_code: str = "", limit: Limit = DEFAULT_LIMIT, cursor: Cursor = ""
) -> RegionPage:
    """The provinces, or the divisions directly under ``parent_code``; by code."""
    reply = await call(
        request.app.state.backend.customer.ListRegions,
        customer_pb2.ListRegionsRequest(parent_code=parent_code),
        caller=user,
    )
    regions = [
        RegionRead(code=r.code, name=r.name, level=r.level, parent_code=r.parent_code or None) for r in reply.regions
    ]
    items, next_cursor = page(regions, lambda r: r.code, limit, cursor)
    return RegionPage(items=items, next_cursor=next_cursor)
