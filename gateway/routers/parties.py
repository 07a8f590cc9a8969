"""/api/v1/parties: customers (people, enterprises, village collectives) and the 360° view."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query, Request, status
from granary.v1 import customer_pb2
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import CurrentUser, RequireRoles
from gateway.paging import DEFAULT_LIMIT, Cursor, Limit, page
from services.common.grpc_client import call
from services.common.timestamps import from_timestamp, to_timestamp

router = APIRouter(prefix="/parties", tags=["parties"])

PartyKind = Literal["person", "enterprise", "collective"]
_KIND_TO_PROTO: dict[str, int] = {
    "person": customer_pb2.PARTY_KIND_PERSON,
    "enterprise": customer_pb2.PARTY_KIND_ENTERPRISE,
    "collective": customer_pb2.PARTY_KIND_COLLECTIVE,
}
_KIND_FROM_PROTO = {v: k for k, v in _KIND_TO_PROTO.items()}
WRITERS = Depends(RequireRoles("officer", "supervisor", "president", "admin"))


class PartyCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"kind": "person", "name": "张三", "id_number": "11010519491231002X", "mobile": "13800138000"}]
        }
    )

    kind: PartyKind = "person"
    name: str = Field(min_length=1, max_length=100)
    id_number: str = Field(description="ID document number (person) or unified social credit code", max_length=32)
    id_type: str = Field(
        "",
        description="RESIDENT_ID (default for people), RESIDENCE_PERMIT_HMT, "
        "FOREIGN_PERMANENT_RESIDENT, PASSPORT; USCC for organisations",
    )
    mobile: str = Field("", max_length=32)
    branch_id: str = Field("", description="Defaults to the user's branch")
    managing_officer_id: str = Field("", description="Defaults to the user")
    address: str = Field("", max_length=200)
    region_code: str = Field("", description="12-digit statistical region code")
    occupation: str = Field("", max_length=100)
    legal_representative: str = Field("", max_length=100)
    stage: str = Field("", description="lead, prospect (default), applicant, borrower, repeat_borrower")
    tags: list[str] = []


class PartyRead(BaseModel):
    id: str
    kind: PartyKind
    name: str
    id_type: str
    id_number_masked: str
    mobile_masked: str
    id_number: str | None = Field(None, description="Only with ?unmasked=true for roles admin, risk_director")
    mobile: str | None = Field(None, description="E.164, only with ?unmasked=true")
    branch_id: str
    managing_officer_id: str
    birth_date: str | None
    gender: str | None
    address: str
    region_code: str
    occupation: str
    legal_representative: str
    stage: str
    tiers: dict[str, str]
    tags: list[str]
    merged_into_id: str | None
    import_source: dict[str, str | int] | None
    created_at: str
    warnings: list[str]

    @classmethod
    def from_proto(cls, party: customer_pb2.Party) -> PartyRead:
        return cls(
            id=party.id,
            kind=_KIND_FROM_PROTO[party.kind],  # type: ignore[arg-type]
            name=party.name,
            id_type=party.id_type,
            id_number_masked=party.id_number_masked,
            mobile_masked=party.mobile_masked,
            id_number=party.id_number or None,
            mobile=party.mobile_e164 or None,
            branch_id=party.branch_id,
            managing_officer_id=party.managing_officer_id,
            birth_date=party.birth_date or None,
            gender=party.gender or None,
            address=party.address,
            region_code=party.region_code,
            occupation=party.occupation,
            legal_representative=party.legal_representative,
            stage=party.stage,
            tiers={"value": party.tier_value, "activity": party.tier_activity, "risk": party.tier_risk},
            tags=list(party.tags),
            merged_into_id=party.merged_into_id or None,
            import_source=(
                {"batch_id": party.import_batch_id, "file": party.import_file, "row": party.import_row}
                if party.import_batch_id
                else None
            ),
            created_at=from_timestamp(party.created_at).isoformat(),
            warnings=list(party.warnings),
        )


class PartyPage(BaseModel):
    items: list[PartyRead]
    next_cursor: str | None


class PartyUpdate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"address": "浙江省金华市婺城区白龙桥镇临江村12号", "occupation": "蔬菜种植户"}]
        }
    )
    address: str | None = None
    region_code: str | None = None
    occupation: str | None = None
    managing_officer_id: str | None = None


class TagsUpdate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"tags": ["种植大户", "信用村"]}]})
    tags: list[str]


class StageChange(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"stage": "borrower", "reason": "首笔贷款已发放"}]})
    stage: str
    reason: str = ""


class MergeCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"duplicate_id": "7a1d9e4c-2b3f-4e8a-a6c5-0d1e2f3a4b5c", "reason": "同一身份证号重复建档"}]
        }
    )
    duplicate_id: str
    reason: str = Field(min_length=1, max_length=200)


class MergeRead(BaseModel):
    survivor: PartyRead
    duplicate: PartyRead
    moved: dict[str, int]


class ChangeCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"field": "mobile", "new_value": "13905710188", "reason": "客户更换手机号"}]}
    )
    field: Literal["name", "id_number", "legal_representative", "mobile"]
    new_value: str = Field(min_length=1, max_length=100)
    reason: str = Field(min_length=1, max_length=200)


class ChangeDecision(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"approved": True, "comment": "已核对身份证原件"}]})
    approved: bool
    comment: str = ""


class ChangeRead(BaseModel):
    id: str
    party_id: str
    field: str
    before_masked: str
    after_masked: str
    status: str
    reason: str
    requested_by: str
    requested_at: str
    decided_by: str | None
    decided_at: str | None
    comment: str

    @classmethod
    def from_proto(cls, c: customer_pb2.PartyChange) -> ChangeRead:
        return cls(
            id=c.id,
            party_id=c.party_id,
            field=c.field,
            before_masked=c.before_masked,
            after_masked=c.after_masked,
            status=c.status,
            reason=c.reason,
            requested_by=c.requested_by,
            requested_at=from_timestamp(c.requested_at).isoformat(),
            decided_by=c.decided_by or None,
            decided_at=from_timestamp(c.decided_at).isoformat() if c.HasField("decided_at") else None,
            comment=c.comment,
        )


class RelationCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "related_party_id": "7a1d9e4c-2b3f-4e8a-a6c5-0d1e2f3a4b5c",
                    "kind": "spouse",
                    "share_percent": "",
                    "valid_from": "2010-05-01",
                }
            ]
        }
    )
    related_party_id: str
    kind: str = Field(
        description="spouse, parent, child, shareholder, legal_representative, guarantor_of, related_party"
    )
    share_percent: str = ""
    valid_from: str = ""
    valid_to: str = ""


class FinancialItemCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "category": "asset",
                    "item_type": "greenhouse",
                    "value": "120000.00",
                    "valuation_date": "2025-03-01",
                    "verified_by_visit": True,
                    "description": "钢架大棚3座，约6亩",
                }
            ]
        }
    )
    category: Literal["asset", "liability"]
    item_type: str
    value: str = Field(description="Decimal, yuan")
    valuation_date: str = ""
    verified_by_visit: bool = False
    description: str = ""


class ConsentCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "purpose": "credit_report",
                    "scope": "人民银行征信查询",
                    "granted": True,
                    "expires_at": "2026-03-01T00:00:00+08:00",
                    "document_ref": "scan-SQ20250301001",
                }
            ]
        }
    )
    purpose: str
    scope: str = ""
    granted: bool = True
    expires_at: datetime | None = None
    document_ref: str = ""


class CreditReportCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "bureau": "pboc",
                    "consent_id": "4a3b2c1d-0e9f-48a7-b6c5-d4e3f2a1b0c9",
                    "purpose": "loan_approval",
                    "queried_at": "2025-03-01T10:30:00+08:00",
                    "summary": {"overdue_accounts": "0", "total_debt": "35000.00", "queries_last_6m": "1"},
                    "document_ref": "pboc-20250301-0001",
                    "external_ref": "PBOC20250301123456",
                }
            ]
        }
    )
    bureau: str
    consent_id: str
    purpose: str = ""
    queried_at: datetime | None = None
    summary: dict[str, str] = {}
    document_ref: str = ""
    external_ref: str


class InteractionCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "visit",
                    "channel": "上门",
                    "occurred_at": "2025-03-01T09:30:00+08:00",
                    "summary": "了解大棚扩建资金需求，客户有意申请8万元",
                    "linked_task_id": "8c7b6a59-4837-4261-9504-f3e2d1c0b9a8",
                }
            ]
        }
    )
    kind: Literal["visit", "call", "complaint", "sms", "marketing"]
    channel: str = ""
    occurred_at: datetime | None = None
    summary: str = Field(min_length=1, max_length=1000)
    linked_task_id: str = ""
    linked_application_id: str = ""


def _message_dict(message: object) -> dict[str, object]:
    from google.protobuf import json_format

    return json_format.MessageToDict(message, preserving_proto_field_name=True)  # type: ignore[arg-type]


def _customer(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.backend.customer


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PartyRead, dependencies=[WRITERS])
async def create_party(body: PartyCreate, request: Request, user: CurrentUser) -> PartyRead:
    fields = body.model_dump(exclude={"kind"})
    reply = await call(
        _customer(request).CreateParty,
        customer_pb2.CreatePartyRequest(kind=_KIND_TO_PROTO[body.kind], **fields),  # type: ignore[arg-type]
        caller=user,
    )
    return PartyRead.from_proto(reply.party)


@router.get("", response_model=PartyPage)
async def search_parties(
    request: Request,
    user: CurrentUser,
    name: str = Query("", description="Name prefix"),
    id_number: str = Query("", description="Exact"),
    mobile: str = Query("", description="Exact"),
    region_code: str = Query("", description="The region's whole subtree"),
    tag: str = "",
    tier: str = "",
    stage: str = "",
    managing_officer_id: str = "",
    include_merged: bool = False,
    limit: int = Query(50, ge=1, le=200),
    cursor: str = "",
) -> PartyPage:
    reply = await call(
        _customer(request).SearchParties,
        customer_pb2.SearchPartiesRequest(
            name_prefix=name,
            id_number=id_number,
            mobile=mobile,
            region_code=region_code,
            tag=tag,
            tier=tier,
            stage=stage,
            managing_officer_id=managing_officer_id,
            include_merged=include_merged,
            page_size=limit,
            page_token=cursor,
        ),
        caller=user,
    )
    return PartyPage(items=[PartyRead.from_proto(p) for p in reply.parties], next_cursor=reply.next_page_token or None)


@router.get("/{party_id}", response_model=PartyRead)
async def get_party(
    party_id: str,
    request: Request,
    user: CurrentUser,
    unmasked: bool = Query(False, description="Clear ID number and mobile (admin, risk_director); audited"),
) -> PartyRead:
    reply = await call(
        _customer(request).GetParty,
        customer_pb2.GetPartyRequest(party_id=party_id, unmasked=unmasked),
        caller=user,
    )
    return PartyRead.from_proto(reply.party)


@router.patch("/{party_id}", response_model=PartyRead, dependencies=[WRITERS])
async def update_party(party_id: str, body: PartyUpdate, request: Request, user: CurrentUser) -> PartyRead:
    values = body.model_dump(exclude_none=True)
    reply = await call(
        _customer(request).UpdateParty,
        customer_pb2.UpdatePartyRequest(party_id=party_id, update_mask=list(values), **values),
        caller=user,
    )
    return PartyRead.from_proto(reply.party)


@router.put("/{party_id}/tags", response_model=PartyRead, dependencies=[WRITERS])
async def set_tags(party_id: str, body: TagsUpdate, request: Request, user: CurrentUser) -> PartyRead:
    reply = await call(
        _customer(request).SetPartyTags,
        customer_pb2.SetPartyTagsRequest(party_id=party_id, tags=body.tags),
        caller=user,
    )
    return PartyRead.from_proto(reply.party)


@router.post("/{party_id}/stage", response_model=PartyRead, dependencies=[WRITERS])
async def change_stage(party_id: str, body: StageChange, request: Request, user: CurrentUser) -> PartyRead:
    reply = await call(
        _customer(request).ChangePartyStage,
        customer_pb2.ChangePartyStageRequest(party_id=party_id, stage=body.stage, reason=body.reason),
        caller=user,
    )
    return PartyRead.from_proto(reply.party)


@router.post("/{party_id}/tiers/recompute", response_model=PartyRead)
async def recompute_tiers(party_id: str, request: Request, user: CurrentUser) -> PartyRead:
    reply = await call(
        _customer(request).RecomputePartyTiers, customer_pb2.RecomputePartyTiersRequest(party_id=party_id), caller=user
    )
    return PartyRead.from_proto(reply.party)


@router.post(
    "/{party_id}/merge",
    response_model=MergeRead,
    dependencies=[Depends(RequireRoles("supervisor", "president", "admin"))],
)
async def merge_parties(party_id: str, body: MergeCreate, request: Request, user: CurrentUser) -> MergeRead:
    """Merges ``duplicate_id`` into this party: every record moves here, the duplicate is kept, marked merged."""
    reply = await call(
        _customer(request).MergeParties,
        customer_pb2.MergePartiesRequest(survivor_id=party_id, duplicate_id=body.duplicate_id, reason=body.reason),
        caller=user,
    )
    return MergeRead(
        survivor=PartyRead.from_proto(reply.survivor),
        duplicate=PartyRead.from_proto(reply.duplicate),
        moved={k: int(v) for k, v in reply.moved.items()},
    )


@router.post(
    "/{party_id}/changes", status_code=status.HTTP_201_CREATED, response_model=ChangeRead, dependencies=[WRITERS]
)
async def request_change(party_id: str, body: ChangeCreate, request: Request, user: CurrentUser) -> ChangeRead:
    """Key data (name, ID number, legal representative, mobile) changes only after approval."""
    reply = await call(
        _customer(request).RequestPartyChange,
        customer_pb2.RequestPartyChangeRequest(
            party_id=party_id, field=body.field, new_value=body.new_value, reason=body.reason
        ),
        caller=user,
    )
    return ChangeRead.from_proto(reply.change)


class ChangePage(BaseModel):
    items: list[ChangeRead]
    next_cursor: str | None = None


@router.get("/{party_id}/changes", response_model=ChangePage)
async def list_changes(
    party_id: str, request: Request, user: CurrentUser, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = ""
) -> ChangePage:
    """The party's key-data change requests, oldest first (a bounded history paged here)."""
    reply = await call(
        _customer(request).ListPartyChanges, customer_pb2.ListPartyChangesRequest(party_id=party_id), caller=user
    )
    changes, next_cursor = page(
        reply.changes, lambda c: (c.requested_at.seconds, c.requested_at.nanos, c.id), limit, cursor
    )
    return ChangePage(items=[ChangeRead.from_proto(c) for c in changes], next_cursor=next_cursor)


@router.post(
    "/changes/{change_id}/decision",
    response_model=ChangeRead,
    dependencies=[Depends(RequireRoles("supervisor", "president", "admin"))],
)
async def decide_change(change_id: str, body: ChangeDecision, request: Request, user: CurrentUser) -> ChangeRead:
    reply = await call(
        _customer(request).ApplyPartyChange,
        customer_pb2.ApplyPartyChangeRequest(change_id=change_id, approved=body.approved, comment=body.comment),
        caller=user,
    )
    return ChangeRead.from_proto(reply.change)


@router.post("/{party_id}/relations", status_code=status.HTTP_201_CREATED, dependencies=[WRITERS])
async def add_relation(party_id: str, body: RelationCreate, request: Request, user: CurrentUser) -> dict[str, object]:
    reply = await call(
        _customer(request).AddRelation,
        customer_pb2.AddRelationRequest(party_id=party_id, **body.model_dump()),
        caller=user,
    )
    return _message_dict(reply.relation)


@router.post("/{party_id}/financial-items", status_code=status.HTTP_201_CREATED, dependencies=[WRITERS])
async def add_financial_item(
    party_id: str, body: FinancialItemCreate, request: Request, user: CurrentUser
) -> dict[str, object]:
    reply = await call(
        _customer(request).AddFinancialItem,
        customer_pb2.AddFinancialItemRequest(party_id=party_id, **body.model_dump()),
        caller=user,
    )
    return _message_dict(reply.item)


@router.post("/{party_id}/consents", status_code=status.HTTP_201_CREATED, dependencies=[WRITERS])
async def record_consent(party_id: str, body: ConsentCreate, request: Request, user: CurrentUser) -> dict[str, object]:
    req = customer_pb2.RecordConsentRequest(
        party_id=party_id, purpose=body.purpose, scope=body.scope, granted=body.granted, document_ref=body.document_ref
    )
    if body.expires_at is not None:
        req.expires_at.CopyFrom(to_timestamp(body.expires_at))
    reply = await call(_customer(request).RecordConsent, req, caller=user)
    return _message_dict(reply.consent)


@router.post("/{party_id}/credit-reports", status_code=status.HTTP_201_CREATED, dependencies=[WRITERS])
async def record_credit_report(
    party_id: str, body: CreditReportCreate, request: Request, user: CurrentUser
) -> dict[str, str]:
    req = customer_pb2.RecordCreditReportRequest(
        party_id=party_id,
        bureau=body.bureau,
        consent_id=body.consent_id,
        purpose=body.purpose,
        summary=body.summary,
        document_ref=body.document_ref,
        external_ref=body.external_ref,
    )
    if body.queried_at is not None:
        req.queried_at.CopyFrom(to_timestamp(body.queried_at))
    reply = await call(_customer(request).RecordCreditReport, req, caller=user)
    return {"report_id": reply.report_id}


@router.post("/{party_id}/interactions", status_code=status.HTTP_201_CREATED, dependencies=[WRITERS])
async def record_interaction(
    party_id: str, body: InteractionCreate, request: Request, user: CurrentUser
) -> dict[str, object]:
    req = customer_pb2.RecordInteractionRequest(
        party_id=party_id,
        kind=body.kind,
        channel=body.channel,
        summary=body.summary,
        linked_task_id=body.linked_task_id,
        linked_application_id=body.linked_application_id,
    )
    if body.occurred_at is not None:
        req.occurred_at.CopyFrom(to_timestamp(body.occurred_at))
    reply = await call(_customer(request).RecordInteraction, req, caller=user)
    return _message_dict(reply.interaction)


@router.get("/{party_id}/view")
async def get_party_view(party_id: str, request: Request, user: CurrentUser) -> dict[str, object]:
    """The 360° view. ``partial: true`` and ``missing`` name the parts another service could not give."""
    reply = await call(
        _customer(request).GetPartyView, customer_pb2.GetPartyViewRequest(party_id=party_id), caller=user
    )
    view = _message_dict(reply)
    view["party"] = PartyRead.from_proto(reply.party).model_dump()
    view["partial"] = reply.partial
    view["missing"] = [{"part": m.part, "reason": m.reason} for m in reply.missing]
    for key in ("relations", "financial_items", "consents", "credit", "open_field_tasks", "interactions"):
        view.setdefault(key, [])
    view.setdefault("household", None)
    view.setdefault("latest_credit_report", None)
    return view


def _customer_api() -> APIRouter:
    """Every customer-service resource (parties, households, leads, imports, staff, branches)."""
    from gateway.routers import branches, households, imports, leads, staff

    api = APIRouter()
    for sub in (router, households.router, leads.router, imports.router, staff.router, branches.router):
        api.include_router(sub)
    return api


customer_api = _customer_api()
