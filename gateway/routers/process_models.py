"""/api/v1/process-models: deploy BPMN/DMN sets, list versions, download a version's files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile, status
from granary.v1 import process_pb2
from pydantic import BaseModel

from gateway.auth import CurrentUser, RequireRoles
from gateway.paging import DEFAULT_LIMIT, Cursor, Limit, page
from services.common.grpc_client import call
from services.common.timestamps import from_timestamp

router = APIRouter(prefix="/process-models", tags=["process models"])
MODELLERS = RequireRoles("process_owner", "admin")


class ProcessVersionRead(BaseModel):
    id: str
    process_key: str
    version: int
    content_hash: str
    process_ids: list[str]
    decision_ids: list[str]
    deployed_by: str
    deployed_at: str
    files: list[str]

    @classmethod
    def from_proto(cls, v: process_pb2.ProcessVersion) -> ProcessVersionRead:
        return cls(
            id=v.id,
            process_key=v.process_key,
            version=v.version,
            content_hash=v.content_hash,
            process_ids=list(v.process_ids),
            decision_ids=list(v.decision_ids),
            deployed_by=v.deployed_by,
            deployed_at=from_timestamp(v.deployed_at).isoformat(),
            files=list(v.file_names),
        )


class DeploymentRead(BaseModel):
    created: bool
    version: ProcessVersionRead


class ProcessModelRead(BaseModel):
    process_key: str
    version_count: int
    latest: ProcessVersionRead


class ProcessModelPage(BaseModel):
    items: list[ProcessModelRead]
    next_cursor: str | None = None


class ProcessVersionPage(BaseModel):
    items: list[ProcessVersionRead]
    next_cursor: str | None = None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DeploymentRead, dependencies=[Depends(MODELLERS)])
async def deploy_process_model(
    request: Request,
    response: Response,
    user: CurrentUser,
    files: Annotated[list[UploadFile], File(description="BPMN and DMN files of one set")],
    process_key: Annotated[str, Form()] = "",
) -> DeploymentRead:
    """Validates the whole set; 422 lists every problem (file, element id, reason) and stores nothing.
    Identical content returns the existing version with 200."""
    model_files = [process_pb2.ModelFile(name=f.filename or "", content=await f.read()) for f in files]
    reply = await call(
        request.app.state.backend.process.DeployProcessModel,
        process_pb2.DeployProcessModelRequest(files=model_files, process_key=process_key),
        caller=user,
    )
    if not reply.created:
        response.status_code = status.HTTP_200_OK
    return DeploymentRead(created=reply.created, version=ProcessVersionRead.from_proto(reply.version))


@router.get("", response_model=ProcessModelPage)
async def list_process_models(
    request: Request, user: CurrentUser, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = ""
) -> ProcessModelPage:
    """One row per process key, by key, with its latest version."""
    reply = await call(
        request.app.state.backend.process.ListProcessModels, process_pb2.ListProcessModelsRequest(), caller=user
    )
    models = [
        ProcessModelRead(
            process_key=m.process_key, version_count=m.version_count, latest=ProcessVersionRead.from_proto(m.latest)
        )
        for m in reply.models
    ]
    items, next_cursor = page(models, lambda m: m.process_key, limit, cursor)
    return ProcessModelPage(items=items, next_cursor=next_cursor)


@router.get("/{process_key}/versions", response_model=ProcessVersionPage)
async def list_process_versions(
    process_key: str, request: Request, user: CurrentUser, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = ""
) -> ProcessVersionPage:
    """The versions of one model, oldest first."""
    reply = await call(
        request.app.state.backend.process.ListProcessVersions,
        process_pb2.ListProcessVersionsRequest(process_key=process_key),
        caller=user,
    )
    versions = [ProcessVersionRead.from_proto(v) for v in reply.versions]
    items, next_cursor = page(versions, lambda v: v.version, limit, cursor)
    return ProcessVersionPage(items=items, next_cursor=next_cursor)


@router.get("/{process_key}/versions/{version}/files/{name}")
async def download_process_file(
    process_key: str, version: int, name: str, request: Request, user: CurrentUser
) -> Response:
    """One file of a version, byte for byte as deployed (opens in a BPMN modeller)."""
    reply = await call(
        request.app.state.backend.process.GetProcessVersion,
        process_pb2.GetProcessVersionRequest(process_key=process_key, version=version),
        caller=user,
    )
    for f in reply.files:
        if f.name == name:
            return Response(
                content=f.content,
                media_type="application/xml",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
    return Response(
        status_code=404,
        media_type="application/problem+json",
        content=b'{"title":"Not Found","status":404,"detail":"no such file in this version"}',
    )


class NodeDurationRead(BaseModel):
    node_id: str
    title: str
    count: int
    mean_seconds: float
    p50_seconds: float
    p90_seconds: float


class NodeDurationPage(BaseModel):
    items: list[NodeDurationRead]
    next_cursor: str | None = None


@router.get("/{process_key}/node-durations", response_model=NodeDurationPage)
async def node_durations(
    process_key: str, request: Request, user: CurrentUser, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = ""
) -> NodeDurationPage:
    """Time per approval node (completed tasks), by node id: count, mean, p50, p90 in seconds."""
    reply = await call(
        request.app.state.backend.process.GetNodeDurations,
        process_pb2.GetNodeDurationsRequest(process_key=process_key),
        caller=user,
    )
    nodes = [
        NodeDurationRead(
            node_id=n.node_id,
            title=n.title,
            count=n.count,
            mean_seconds=n.mean_seconds,
            p50_seconds=n.p50_seconds,
            p90_seconds=n.p90_seconds,
        )
        for n in reply.nodes
    ]
    items, next_cursor = page(nodes, lambda n: n.node_id, limit, cursor)
    return NodeDurationPage(items=items, next_cursor=next_cursor)


def _process_api() -> APIRouter:
    from gateway.routers import process_instances, tasks

    api = APIRouter()
    api.include_router(router)
    api.include_router(process_instances.router)
    api.include_router(tasks.router)
    return api


# Everything the process service offers: models, instances, incidents and the task inbox.
process_api = _process_api()
