"""Reference connector: the credit bureau (人行征信) queried on every submitted application.

``granary connector credit-bureau`` runs it as its own process. It is written the way any
team's connector should be (docs/connectors.md):

1. a durable JetStream pull consumer on ``granary.credit.application.submitted``, explicit ack;
2. decode the ``granary.v1.Event`` envelope, read ``application_id`` and ``party_id``;
3. ask the customer service whether the party consented to a credit-report query
   (``CheckConsent``, purpose ``credit_report``); without consent nothing is queried;
4. call the bureau's HTTP endpoint (httpx, a timeout on every call);
5. store the summary through the customer service (``RecordCreditReport``, idempotent on the
   bureau's report id, so a redelivered event stores nothing twice);
6. publish ``connector.credit_report.received`` or ``connector.credit_report.failed`` with an
   event id derived from the incoming event's id, so a redelivery publishes the same id and
   JetStream's duplicate window and every consumer's inbox keep one;
7. ack only then. Transient failures (timeout, 5xx, a service down) are retried with ``nak``
   and exponential backoff; on the last allowed delivery the failure is published and acked.

The connector keeps no database: its idempotency comes from the derived ids above.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

import httpx
from google.protobuf.timestamp_pb2 import Timestamp
from granary.v1 import customer_pb2, customer_pb2_grpc, events_pb2, notification_pb2
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.common.bus import EventBus
from services.common.clock import utcnow
from services.common.consumer import backoff_delay
from services.common.envelope import parse_event
from services.common.grpc_client import ServiceChannels, call
from services.common.grpc_errors import TRANSIENT_STATUSES, RemoteError
from services.common.identity import ServiceIdentity, TokenSigner
from services.common.settings import Settings
from services.common.timestamps import to_timestamp

log = logging.getLogger(__name__)

NAME = "connector-credit-bureau"
SOURCE_EVENT = "credit.application.submitted"
RECEIVED = "connector.credit_report.received"
FAILED = "connector.credit_report.failed"
PURPOSE = "credit_report"
_NAMESPACE = uuid.UUID("5d3c1f0e-7c1b-4f7e-9d43-0f6a3b2c9e11")
_TRANSIENT_GRPC = TRANSIENT_STATUSES | {"ABORTED"}


class Retry(Exception):
    """A transient failure: worth another delivery."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Outcome:
    event_type: str
    payload: notification_pb2.CreditReportReceived | notification_pb2.CreditReportFailed


class CreditBureauConnector:
    def __init__(
        self,
        *,
        bus: EventBus,
        customer: customer_pb2_grpc.CustomerServiceStub,
        bureau_url: str,
        timeout_seconds: float,
        max_deliveries: int,
        backoff_seconds: float,
        ack_wait_seconds: float = 30.0,
        bureau: str = "pboc",
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if not bureau_url:
            raise ValueError("GRANARY_NOTIFICATION_BUREAU_URL is required for the credit-bureau connector")
        self._bus = bus
        self._customer = customer
        self._url = bureau_url
        self._http = http or httpx.AsyncClient(timeout=timeout_seconds)
        self._max_deliveries = max_deliveries
        self._backoff = backoff_seconds
        self._ack_wait = ack_wait_seconds
        self._bureau = bureau

    async def run(self, stop: asyncio.Event) -> None:
        subject = self._bus.subject_for(SOURCE_EVENT)
        config = ConsumerConfig(
            durable_name=NAME,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self._ack_wait,
            max_deliver=-1,
            filter_subject=subject,
        )
        psub = await self._bus.js.pull_subscribe(subject, durable=NAME, stream=self._bus.stream, config=config)
        try:
            while not stop.is_set():
                try:
                    batch = await psub.fetch(batch=10, timeout=1)
                except (NatsTimeoutError, TimeoutError):
                    continue
                except Exception:
                    log.warning("%s: fetch failed; retrying", NAME, exc_info=True)
                    await asyncio.sleep(1)
                    continue
                for msg in batch:
                    await self.process(msg)
        finally:
            await psub.unsubscribe()

    async def process(self, msg: Msg) -> None:
        try:
            envelope = parse_event(msg.data)
        except Exception:
            log.error("undecodable message on %s; terminated", msg.subject)
            await msg.term()
            return
        attempts = msg.metadata.num_delivered or 1
        try:
            outcome = await self.handle(envelope)
        except Retry as exc:
            if attempts < self._max_deliveries:
                log.warning("%s: %s (delivery %d); retrying", NAME, exc, attempts)
                await msg.nak(delay=backoff_delay(attempts, self._backoff))
                return
            outcome = self._failed(envelope, exc.reason, exc.detail)
        await self._publish(envelope, outcome)
        await msg.ack()

    async def handle(self, envelope: events_pb2.Event) -> Outcome:
        from services.notification.events import event_data

        data = event_data(envelope)
        application_id = str(data.get("application_id", "") or envelope.subject)
        party_id = str(data.get("party_id", ""))
        if not party_id:
            return self._failed(envelope, "invalid_event", "the event carries no party_id")
        consent = await self._grpc(
            self._customer.CheckConsent, customer_pb2.CheckConsentRequest(party_id=party_id, purpose=PURPOSE)
        )
        if not consent.granted:
            return self._failed(envelope, "no_consent", "no recorded consent to query the credit bureau")
        queried_at = utcnow()
        report = await self._query(application_id, party_id, consent.consent_id)
        summary = report.get("summary")
        report_id = str(report.get("report_id", ""))
        if not report_id or not isinstance(summary, dict):
            return self._failed(envelope, "invalid_response", "the bureau answered without report_id or summary")
        stored = await self._grpc(
            self._customer.RecordCreditReport,
            customer_pb2.RecordCreditReportRequest(
                party_id=party_id,
                bureau=self._bureau,
                consent_id=consent.consent_id,
                purpose=PURPOSE,
                queried_at=to_timestamp(queried_at),
                summary={str(k): str(v) for k, v in summary.items()},
                document_ref=str(report.get("document_ref", "")),
                external_ref=report_id,
            ),
        )
        return Outcome(
            RECEIVED,
            notification_pb2.CreditReportReceived(
                application_id=application_id,
                party_id=party_id,
                report_id=stored.report_id,
                bureau=self._bureau,
                external_ref=report_id,
                queried_at=to_timestamp(queried_at),
            ),
        )

    async def _query(self, application_id: str, party_id: str, consent_id: str) -> dict[str, object]:
        try:
            reply = await self._http.post(
                self._url,
                json={"application_id": application_id, "party_id": party_id, "consent_id": consent_id,
                      "purpose": PURPOSE},
            )
        except httpx.TimeoutException as exc:
            raise Retry("timeout", f"the bureau did not answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise Retry("bureau_error", f"the bureau is unreachable: {exc}") from exc
        if reply.status_code >= 500 or reply.status_code == 429:
            raise Retry("bureau_error", f"the bureau answered {reply.status_code}: {reply.text[:200]}")
        if reply.status_code >= 400:
            raise Retry("bureau_error", f"the bureau refused the query ({reply.status_code}): {reply.text[:200]}")
        try:
            body = reply.json()
        except ValueError:
            body = None
        return body if isinstance(body, dict) else {}

    async def _grpc(self, method, request):  # type: ignore[no-untyped-def]
        try:
            return await call(method, request)
        except RemoteError as exc:
            if exc.status in _TRANSIENT_GRPC:
                raise Retry("customer_unavailable", str(exc)) from None
            raise Retry("customer_error", str(exc)) from None

    def _failed(self, envelope: events_pb2.Event, reason: str, detail: str) -> Outcome:
        from services.notification.events import event_data

        data = event_data(envelope)
        return Outcome(
            FAILED,
            notification_pb2.CreditReportFailed(
                application_id=str(data.get("application_id", "") or envelope.subject),
                party_id=str(data.get("party_id", "")),
                bureau=self._bureau,
                reason=reason,
                detail=detail[:500],
            ),
        )

    async def _publish(self, source: events_pb2.Event, outcome: Outcome) -> None:
        # The same incoming event always yields the same outgoing id: redeliveries dedupe.
        event_id = str(uuid.uuid5(_NAMESPACE, f"{source.id}:{outcome.event_type}"))
        stamp = Timestamp()
        stamp.FromDatetime(utcnow())
        envelope = events_pb2.Event(
            id=event_id, type=outcome.event_type, source=f"granary/{NAME}", subject=source.subject, time=stamp,
            data_version=1,
        )
        envelope.data.Pack(outcome.payload)
        await self._bus.publish(
            self._bus.subject_for(outcome.event_type),
            envelope.SerializeToString(deterministic=True),
            {"Nats-Msg-Id": event_id},
        )

    async def close(self) -> None:
        await self._http.aclose()


def build(settings: Settings, bus: EventBus, channels: ServiceChannels) -> CreditBureauConnector:
    platform = settings.platform
    notification = settings.notification
    return CreditBureauConnector(
        bus=bus,
        customer=channels.stub(settings.service("customer").address, customer_pb2_grpc.CustomerServiceStub),
        bureau_url=notification.bureau_url,
        timeout_seconds=notification.bureau_timeout_seconds,
        max_deliveries=platform.consumer_max_deliveries,
        backoff_seconds=platform.consumer_backoff_seconds,
        ack_wait_seconds=platform.consumer_ack_wait_seconds,
    )


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Runs the connector until ``stop`` is set (SIGTERM/SIGINT from the CLI)."""
    platform = settings.platform
    signer = TokenSigner(platform.require_jwt_secret())
    channels = ServiceChannels(
        default_timeout=platform.grpc_deadline_seconds, fallback_caller=ServiceIdentity(signer, NAME)
    )
    bus = EventBus.from_settings(platform, NAME)
    await bus.connect()
    connector = build(settings, bus, channels)
    try:
        log.info("%s consuming %s", NAME, bus.subject_for(SOURCE_EVENT))
        await connector.run(stop)
    finally:
        await connector.close()
        await channels.close()
        await bus.close()


