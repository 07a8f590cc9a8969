"""SMS channels: an HTTP connector to the lender's SMS gateway and a local log channel.

The HTTP contract (docs/connectors.md): ``POST <url>`` with JSON
``{"message_id", "phone", "sign_name", "template_code", "template_params", "content"}`` and a
bearer token; a 2xx answer ``{"message_id": "<gateway id>"}`` accepts the message. 408, 429
and 5xx answers, timeouts and connection errors are transient (retried with backoff); any
other 4xx is permanent and its ``{"code", "message"}`` is recorded on the message.
"""

from __future__ import annotations

import logging

import httpx

from services.notification.domain.ports import PermanentError, SmsRequest, SmsResult, TransientError
from services.notification.domain.protections import mask_phone

log = logging.getLogger(__name__)

_TRANSIENT_STATUSES = {408, 425, 429}


class LogSmsConnector:
    """The default channel: records each message in the service log, sends nothing."""

    channel = "log"

    async def send(self, request: SmsRequest) -> SmsResult:
        log.info(
            "SMS (log channel) to %s [%s/%s]: %s",
            mask_phone(request.phone_e164), request.sign_name, request.template_code, request.text,
        )
        return SmsResult(gateway_message_id=f"log-{request.message_id}")


class HttpSmsConnector:
    channel = "sms"

    def __init__(self, *, url: str, token: str = "", timeout_seconds: float = 5.0,
                 client: httpx.AsyncClient | None = None) -> None:
        if not url:
            raise ValueError("GRANARY_NOTIFICATION_SMS_GATEWAY_URL is required for the http SMS connector")
        self._url = url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = client or httpx.AsyncClient(timeout=timeout_seconds)

    async def send(self, request: SmsRequest) -> SmsResult:
        payload = {
            "message_id": request.message_id,
            "phone": request.phone_e164,
            "sign_name": request.sign_name,
            "template_code": request.template_code,
            "template_params": request.params,
            "content": request.text,
        }
        try:
            reply = await self._client.post(self._url, json=payload, headers=self._headers)
        except httpx.TimeoutException as exc:
            raise TransientError(f"SMS gateway timed out: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"SMS gateway unreachable: {type(exc).__name__}: {exc}") from exc
        if reply.status_code >= 500 or reply.status_code in _TRANSIENT_STATUSES:
            raise TransientError(f"SMS gateway answered {reply.status_code}: {reply.text[:200]}")
        body = _json(reply)
        if reply.status_code >= 400:
            code = str(body.get("code", reply.status_code))
            raise PermanentError(str(body.get("message", reply.text[:200])), code=code)
        gateway_id = str(body.get("message_id") or body.get("id") or "")
        if not gateway_id:
            raise PermanentError("the SMS gateway accepted the message but returned no message_id", code="NO_ID")
        return SmsResult(gateway_message_id=gateway_id)

    async def close(self) -> None:
        await self._client.aclose()


def _json(reply: httpx.Response) -> dict[str, object]:
    try:
        body = reply.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
