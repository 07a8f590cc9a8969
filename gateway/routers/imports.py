"""/api/v1/imports: customer spreadsheets (.xlsx, .csv) with a per-row error report."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from granary.v1 import customer_pb2
from pydantic import BaseModel

from gateway.auth import CurrentUser, RequireRoles
from services.common.grpc_client import call

router = APIRouter(prefix="/imports", tags=["imports"])

MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class ImportRowError(BaseModel):
    row: int
    column: str
    reason: str


class ImportRead(BaseModel):
    batch_id: str | None
    status: str
    total_rows: int
    valid_rows: int
    created: int
    duplicates: int
    errors: list[ImportRowError]
    file_sha256: str
    party_ids: list[str]


@router.post(
    "",
    response_model=ImportRead,
    dependencies=[Depends(RequireRoles("officer", "supervisor", "president", "admin"))],
)
async def import_parties(
    request: Request,
    user: CurrentUser,
    file: Annotated[
        UploadFile, File(description=".xlsx workbook or .csv file; headers such as 姓名, 身份证号, 手机号")
    ],
    column_mapping: Annotated[
        str, Form(description='JSON object: header in the file -> field, e.g. {"户主": "name"}')
    ] = "",
    dry_run: bool = Query(False, description="Check every row, write nothing"),
    valid_rows_only: bool = Query(False, description="Commit the valid rows and report the others"),
) -> ImportRead:
    content = await file.read(MAX_UPLOAD_BYTES + 1)
    mapping: dict[str, str] = {}
    if column_mapping:
        try:
            mapping = {str(k): str(v) for k, v in json.loads(column_mapping).items()}
        except (ValueError, AttributeError):
            raise HTTPException(422, "column_mapping must be a JSON object") from None
    if len(content) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, "the file is larger than 20 MB; split it")
    reply = await call(
        request.app.state.backend.customer.ImportParties,
        customer_pb2.ImportPartiesRequest(
            file_name=file.filename or "upload",
            content=content,
            dry_run=dry_run,
            valid_rows_only=valid_rows_only,
            column_mapping=mapping,
        ),
        caller=user,
    )
    return ImportRead(
        batch_id=reply.batch_id or None,
        status=reply.status,
        total_rows=reply.total_rows,
        valid_rows=reply.valid_rows,
        created=reply.created,
        duplicates=reply.duplicates,
        errors=[ImportRowError(row=e.row, column=e.column, reason=e.reason) for e in reply.errors],
        file_sha256=reply.file_sha256,
        party_ids=list(reply.party_ids),
    )
