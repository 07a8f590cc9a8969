"""/api/v1/sms/receipts: delivery receipts from the SMS gateway (no user token).

The gateway authenticates with a shared secret (``GRANARY_NOTIFICATION_SMS_RECEIPT_TOKEN``)
in the ``X-Receipt-Token`` header; without a configured secret every receipt is refused.
The receipt is forwarded to the notification service as the gateway's own service identity.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Header, HTTPException, Request, status
from granary.v1 import notification_pb2
from pydantic import BaseModel, ConfigDict, Field

from services.common.grpc_client import call
from services.common.timestamps import to_timestamp

router = APIRouter(prefix="/sms", tags=["messages"])


class ReceiptIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "message_id": "a1b2c3d4e5f6",
                    "status": "delivered",
                    "error_code": "",
                    "reported_at": "2025-03-01T10:06:00+08:00",
                }
            ]
        }
    )
    message_id: str = Field(min_length=1, max_length=120, description="The SMS gateway's message id")
    status: Literal["delivered", "failed"]
    error_code: str = Field("", max_length=80)
    reported_at: datetime | None = None


class ReceiptRead(BaseModel):
    message_id: str
    status: str


@router.post("/receipts", response_model=ReceiptRead)
async def record_receipt(
    body: ReceiptIn, request: Request, x_receipt_token: str = Header("", alias="X-Receipt-Token")
) -> ReceiptRead:
    expected = request.app.state.settings.notification.sms_receipt_token.get_secret_value()
    if not expected or not hmac.compare_digest(expected.encode(), x_receipt_token.encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "receipt token missing or wrong")
    receipt = notification_pb2.RecordDeliveryReceiptRequest(
        gateway_message_id=body.message_id, status=body.status, error_code=body.error_code
    )
    if body.reported_at is not None:
        receipt.reported_at.CopyFrom(to_timestamp(body.reported_at))
    reply = await call(
        request.app.state.backend.notification.RecordDeliveryReceipt,
        receipt,
        caller=request.app.state.gateway_caller(),
    )
    return ReceiptRead(message_id=reply.message.id, status=reply.message.status)
