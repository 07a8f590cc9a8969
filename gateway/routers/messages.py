"""/api/v1/messages: the delivery log (recipients masked), opt-outs and reminders."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, status
from granary.v1 import notification_pb2
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import CurrentUser, RequireRoles
from services.common.grpc_client import call
from services.common.timestamps import from_timestamp, to_timestamp

router = APIRouter(tags=["messages"])

LOG_READERS = RequireRoles("admin", "auditor", "risk_director", "president", "supervisor")
STAFF = RequireRoles("officer", "supervisor", "president", "admin")


class MessageRead(BaseModel):
    id: str
    rule_id: str
    event_id: str
    event_type: str
    channel: str
    recipient_kind: str
    recipient_id: str
    recipient_masked: str = Field(description="138****8000 for SMS; the staff id or role@branch in-app")
    template_code: str
    template_version: int
    variables: dict[str, str]
    body: str
    status: str
    hold_reason: str | None
    attempts: int
    last_error: str | None
    gateway_message_id: str | None
    category: str
    created_at: str
    held_until: str | None
    sent_at: str | None
    delivered_at: str | None
    updated_at: str

    @classmethod
    def from_proto(cls, m: notification_pb2.Message) -> MessageRead:
        def ts(name: str) -> str | None:
            return from_timestamp(getattr(m, name)).isoformat() if m.HasField(name) else None  # type: ignore[arg-type]

        return cls(
            id=m.id, rule_id=m.rule_id, event_id=m.event_id, event_type=m.event_type, channel=m.channel,
            recipient_kind=m.recipient_kind, recipient_id=m.recipient_id, recipient_masked=m.recipient_masked,
            template_code=m.template_code, template_version=m.template_version, variables=dict(m.variables),
            body=m.body, status=m.status, hold_reason=m.hold_reason or None, attempts=m.attempts,
            last_error=m.last_error or None, gateway_message_id=m.gateway_message_id or None, category=m.category,
            created_at=from_timestamp(m.created_at).isoformat(), held_until=ts("held_until"), sent_at=ts("sent_at"),
            delivered_at=ts("delivered_at"), updated_at=from_timestamp(m.updated_at).isoformat(),
        )


class MessagePage(BaseModel):
    items: list[MessageRead]
    next_cursor: str | None


class OptOutCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "party_id": "3f6c2a1e-8d4b-4c1a-9e2f-5b7d0a9c1e42",
                    "channel": "sms",
                    "source": "客户致电要求退订营销短信",
                }
            ]
        }
    )
    party_id: str
    channel: str = "sms"
    source: str = Field("manual", description="Where the request came from: manual, sms_reply, app...")


class OptOutRead(BaseModel):
    party_id: str
    opted_out_at: str


class ReminderCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "birthday",
                    "subject_id": "3f6c2a1e-8d4b-4c1a-9e2f-5b7d0a9c1e42",
                    "due_at": "2025-12-31T09:00:00+08:00",
                    "party_id": "3f6c2a1e-8d4b-4c1a-9e2f-5b7d0a9c1e42",
                    "staff_id": "e1a2b3c4-d5e6-4f70-8192-a3b4c5d6e7f8",
                    "yearly": True,
                    "opted_in": True,
                    "attributes": {"customer_name": "王秀英"},
                }
            ]
        }
    )
    kind: str = Field(description="birthday, lead_follow_up, post_loan_check, loan_due or another lowercase word")
    subject_id: str
    due_at: datetime
    party_id: str = ""
    staff_id: str = ""
    branch_id: str = ""
    yearly: bool = False
    opted_in: bool = Field(False, description="Birthdays: the customer agreed to receive greetings")
    attributes: dict[str, str] = {}


class ReminderRead(BaseModel):
    id: str
    due_at: str


def _stub(request: Request) -> Any:
    return request.app.state.backend.notification


@router.get("/messages", response_model=MessagePage, dependencies=[Depends(LOG_READERS)])
async def list_messages(
    request: Request,
    user: CurrentUser,
    status: str = "",
    template_code: str = "",
    recipient_id: str = "",
    event_id: str = "",
    channel: str = "",
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    limit: int = Query(50, ge=1, le=200),
    cursor: str = "",
) -> MessagePage:
    query = notification_pb2.ListMessagesRequest(
        status=status, template_code=template_code, recipient_id=recipient_id, event_id=event_id, channel=channel,
        page_size=limit, page_token=cursor,
    )
    if created_from is not None:
        query.created_from.CopyFrom(to_timestamp(created_from))
    if created_to is not None:
        query.created_to.CopyFrom(to_timestamp(created_to))
    reply = await call(_stub(request).ListMessages, query, caller=user)
    return MessagePage(
        items=[MessageRead.from_proto(m) for m in reply.messages], next_cursor=reply.next_page_token or None
    )


@router.get("/messages/{message_id}", response_model=MessageRead, dependencies=[Depends(LOG_READERS)])
async def get_message(message_id: str, request: Request, user: CurrentUser) -> MessageRead:
    reply = await call(
        _stub(request).GetMessage, notification_pb2.GetMessageRequest(message_id=message_id), caller=user
    )
    return MessageRead.from_proto(reply.message)


@router.post("/opt-outs", status_code=status.HTTP_201_CREATED, response_model=OptOutRead, dependencies=[Depends(STAFF)])
async def record_opt_out(body: OptOutCreate, request: Request, user: CurrentUser) -> OptOutRead:
    """The customer asked for no more marketing messages (退订); kept for ever."""
    reply = await call(
        _stub(request).RecordOptOut,
        notification_pb2.RecordOptOutRequest(party_id=body.party_id, channel=body.channel, source=body.source),
        caller=user,
    )
    return OptOutRead(party_id=reply.party_id, opted_out_at=from_timestamp(reply.opted_out_at).isoformat())


@router.post(
    "/reminders", status_code=status.HTTP_201_CREATED, response_model=ReminderRead, dependencies=[Depends(STAFF)]
)
async def schedule_reminder(body: ReminderCreate, request: Request, user: CurrentUser) -> ReminderRead:
    reply = await call(
        _stub(request).ScheduleReminder,
        notification_pb2.ScheduleReminderRequest(
            kind=body.kind, subject_id=body.subject_id, party_id=body.party_id, staff_id=body.staff_id,
            branch_id=body.branch_id, due_at=to_timestamp(body.due_at), yearly=body.yearly, opted_in=body.opted_in,
            attributes=body.attributes,
        ),
        caller=user,
    )
    return ReminderRead(id=reply.reminder_id, due_at=from_timestamp(reply.due_at).isoformat())
