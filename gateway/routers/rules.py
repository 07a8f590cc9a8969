"""/api/v1/rules and /api/v1/templates: event-condition-action rules and message templates."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, status
from granary.v1 import notification_pb2
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import CurrentUser, RequireRoles
from gateway.paging import DEFAULT_LIMIT, Cursor, Limit, page
from services.common.grpc_client import call
from services.common.timestamps import from_timestamp

router = APIRouter(tags=["rules"])

MANAGERS = RequireRoles("admin", "process_owner", "president", "risk_director")
READERS = RequireRoles("admin", "process_owner", "president", "risk_director", "supervisor", "auditor")


class RuleActionModel(BaseModel):
    kind: Literal["sms", "in_app", "field_task", "publish"]
    template_code: str = ""
    recipient: str = Field("", description="sms: customer|staff|role (one SMS per staff member); in_app: user|role")
    recipient_field: str = Field("", description="Event field with the party/staff/branch id")
    role: str = Field("", description="to a role: a role, or @field for the role named by an event field")
    task_type: str = Field("", description="field_task: e.g. OVERDUE_FOLLOW_UP")
    priority: int = Field(0, ge=0, le=5)
    due_in_hours: int = Field(0, ge=0)
    event_type: str = Field("", description="publish: notification.<entity>.<verb>")

    def to_proto(self) -> notification_pb2.RuleAction:
        return notification_pb2.RuleAction(**self.model_dump())

    @classmethod
    def from_proto(cls, action: notification_pb2.RuleAction) -> RuleActionModel:
        return cls(
            kind=action.kind,  # type: ignore[arg-type]
            template_code=action.template_code,
            recipient=action.recipient,
            recipient_field=action.recipient_field,
            role=action.role,
            task_type=action.task_type,
            priority=action.priority,
            due_in_hours=action.due_in_hours,
            event_type=action.event_type,
        )


class RuleCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "逾期超过3天",
                    "event_type": "credit.loan.overdue",
                    "condition": "dpd > 3",
                    "actions": [
                        {"kind": "sms", "template_code": "loan.overdue.customer", "recipient": "customer"},
                        {"kind": "field_task", "task_type": "OVERDUE_FOLLOW_UP", "priority": 1, "due_in_hours": 48},
                    ],
                    "enabled": True,
                }
            ]
        }
    )

    name: str = Field(min_length=1, max_length=200)
    event_type: str
    condition: str = Field("", max_length=500)
    actions: list[RuleActionModel]
    enabled: bool = True


class RuleUpdate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "expected_version": 3,
                    "name": "贷款获批：短信通知客户",
                    "condition": "",
                    "actions": [
                        {
                            "kind": "sms",
                            "template_code": "application.approved.customer",
                            "recipient": "customer",
                            "recipient_field": "party_id",
                        }
                    ],
                }
            ]
        }
    )
    expected_version: int = Field(0, ge=0, description="The version you read; a stale one answers 409")
    name: str = ""
    condition: str = Field("", max_length=500)
    actions: list[RuleActionModel]


class RuleRead(BaseModel):
    id: str
    name: str
    event_type: str
    condition: str
    actions: list[RuleActionModel]
    enabled: bool
    version: int
    seed_key: str | None
    updated_by: str
    created_at: str
    updated_at: str

    @classmethod
    def from_proto(cls, rule: notification_pb2.Rule) -> RuleRead:
        return cls(
            id=rule.id,
            name=rule.name,
            event_type=rule.event_type,
            condition=rule.condition,
            actions=[RuleActionModel.from_proto(a) for a in rule.actions],
            enabled=rule.enabled,
            version=rule.version,
            seed_key=rule.seed_key or None,
            updated_by=rule.updated_by,
            created_at=from_timestamp(rule.created_at).isoformat(),
            updated_at=from_timestamp(rule.updated_at).isoformat(),
        )


class RulePage(BaseModel):
    items: list[RuleRead]
    next_cursor: str | None


class DryRun(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_type": "credit.application.approved",
                    "condition": 'amount >= "50000"',
                    "actions": [
                        {
                            "kind": "sms",
                            "template_code": "application.approved.customer",
                            "recipient": "customer",
                            "recipient_field": "party_id",
                        }
                    ],
                    "sample": {
                        "party_id": "3f6c2a1e-8d4b-4c1a-9e2f-5b7d0a9c1e42",
                        "amount": "80000.00",
                        "customer_name": "王秀英",
                    },
                }
            ]
        }
    )
    rule_id: str = ""
    event_type: str = ""
    condition: str = ""
    actions: list[RuleActionModel] = []
    sample: dict[str, Any] = Field(description="The sample event's data, e.g. {\"dpd\": 5, \"party_id\": \"…\"}")


class PlannedActionRead(BaseModel):
    kind: str
    template_code: str
    rendered: str
    recipient: str
    error: str | None


class DryRunRead(BaseModel):
    matched: bool
    actions: list[PlannedActionRead]


class TemplateCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "loan.due.customer",
                    "channel": "sms",
                    "category": "transactional",
                    "title": "还款提醒",
                    "body": "尊敬的{customer_name}，您的贷款将于{due_date}到期应还{amount}元，请按时还款。",
                    "sms_template_code": "SMS_LOAN_DUE",
                    "sms_sign_name": "金华农商银行",
                }
            ]
        }
    )
    code: str = Field(min_length=2, max_length=80)
    channel: Literal["sms", "in_app"]
    category: Literal["transactional", "marketing"] = "transactional"
    title: str = Field("", max_length=200)
    body: str = Field(min_length=1, max_length=500, description="Text with named variables: 您好{customer_name}")
    sms_template_code: str = ""
    sms_sign_name: str = ""


class TemplateRead(BaseModel):
    id: str
    code: str
    version: int
    channel: str
    category: str
    title: str
    body: str
    sms_template_code: str
    sms_sign_name: str
    variables: list[str]
    created_at: str

    @classmethod
    def from_proto(cls, t: notification_pb2.Template) -> TemplateRead:
        return cls(
            id=t.id, code=t.code, version=t.version, channel=t.channel, category=t.category, title=t.title,
            body=t.body, sms_template_code=t.sms_template_code, sms_sign_name=t.sms_sign_name,
            variables=list(t.variables), created_at=from_timestamp(t.created_at).isoformat(),
        )


class TemplatePage(BaseModel):
    items: list[TemplateRead]
    next_cursor: str | None = None


def _stub(request: Request) -> Any:
    return request.app.state.backend.notification


@router.post("/rules", status_code=status.HTTP_201_CREATED, response_model=RuleRead, dependencies=[Depends(MANAGERS)])
async def create_rule(body: RuleCreate, request: Request, user: CurrentUser) -> RuleRead:
    reply = await call(
        _stub(request).CreateRule,
        notification_pb2.CreateRuleRequest(
            name=body.name, event_type=body.event_type, condition=body.condition,
            actions=[a.to_proto() for a in body.actions], enabled=body.enabled,
        ),
        caller=user,
    )
    return RuleRead.from_proto(reply.rule)


@router.get("/rules", response_model=RulePage, dependencies=[Depends(READERS)])
async def list_rules(
    request: Request, user: CurrentUser, event_type: str = "", limit: int = Query(50, ge=1, le=200), cursor: str = ""
) -> RulePage:
    reply = await call(
        _stub(request).ListRules,
        notification_pb2.ListRulesRequest(event_type=event_type, page_size=limit, page_token=cursor),
        caller=user,
    )
    return RulePage(items=[RuleRead.from_proto(r) for r in reply.rules], next_cursor=reply.next_page_token or None)


@router.post("/rules/dry-run", response_model=DryRunRead, dependencies=[Depends(READERS)])
async def dry_run_rule(body: DryRun, request: Request, user: CurrentUser) -> DryRunRead:
    reply = await call(
        _stub(request).DryRunRule,
        notification_pb2.DryRunRuleRequest(
            rule_id=body.rule_id, event_type=body.event_type, condition=body.condition,
            actions=[a.to_proto() for a in body.actions], sample_json=json.dumps(body.sample, ensure_ascii=False),
        ),
        caller=user,
    )
    return DryRunRead(
        matched=reply.matched,
        actions=[
            PlannedActionRead(
                kind=a.kind, template_code=a.template_code, rendered=a.rendered, recipient=a.recipient,
                error=a.error or None,
            )
            for a in reply.actions
        ],
    )


@router.get("/rules/{rule_id}", response_model=RuleRead, dependencies=[Depends(READERS)])
async def get_rule(rule_id: str, request: Request, user: CurrentUser) -> RuleRead:
    reply = await call(_stub(request).GetRule, notification_pb2.GetRuleRequest(rule_id=rule_id), caller=user)
    return RuleRead.from_proto(reply.rule)


@router.put("/rules/{rule_id}", response_model=RuleRead, dependencies=[Depends(MANAGERS)])
async def update_rule(rule_id: str, body: RuleUpdate, request: Request, user: CurrentUser) -> RuleRead:
    reply = await call(
        _stub(request).UpdateRule,
        notification_pb2.UpdateRuleRequest(
            rule_id=rule_id, expected_version=body.expected_version, name=body.name, condition=body.condition,
            actions=[a.to_proto() for a in body.actions],
        ),
        caller=user,
    )
    return RuleRead.from_proto(reply.rule)


@router.post("/rules/{rule_id}/enable", response_model=RuleRead, dependencies=[Depends(MANAGERS)])
async def enable_rule(rule_id: str, request: Request, user: CurrentUser) -> RuleRead:
    reply = await call(
        _stub(request).SetRuleEnabled,
        notification_pb2.SetRuleEnabledRequest(rule_id=rule_id, enabled=True),
        caller=user,
    )
    return RuleRead.from_proto(reply.rule)


@router.post("/rules/{rule_id}/disable", response_model=RuleRead, dependencies=[Depends(MANAGERS)])
async def disable_rule(rule_id: str, request: Request, user: CurrentUser) -> RuleRead:
    reply = await call(
        _stub(request).SetRuleEnabled,
        notification_pb2.SetRuleEnabledRequest(rule_id=rule_id, enabled=False),
        caller=user,
    )
    return RuleRead.from_proto(reply.rule)


@router.post(
    "/templates", status_code=status.HTTP_201_CREATED, response_model=TemplateRead, dependencies=[Depends(MANAGERS)]
)
async def create_template(body: TemplateCreate, request: Request, user: CurrentUser) -> TemplateRead:
    """Creates version 1 of a new code, or the next version of an existing one."""
    reply = await call(
        _stub(request).CreateTemplate, notification_pb2.CreateTemplateRequest(**body.model_dump()), caller=user
    )
    return TemplateRead.from_proto(reply.template)


@router.get("/templates", response_model=TemplatePage, dependencies=[Depends(READERS)])
async def list_templates(
    request: Request, user: CurrentUser, code: str = "", limit: Limit = DEFAULT_LIMIT, cursor: Cursor = ""
) -> TemplatePage:
    """Every version of every template (or of ``code``), by code then version."""
    reply = await call(_stub(request).ListTemplates, notification_pb2.ListTemplatesRequest(code=code), caller=user)
    templates = [TemplateRead.from_proto(t) for t in reply.templates]
    items, next_cursor = page(templates, lambda t: (t.code, t.version), limit, cursor)
    return TemplatePage(items=items, next_cursor=next_cursor)
