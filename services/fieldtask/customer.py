"""The customer service as the field task service needs it: where a party lives."""

from __future__ import annotations

from granary.v1 import customer_pb2, customer_pb2_grpc

from services.common.errors import InvalidArgument
from services.common.grpc_client import call
from services.common.grpc_errors import RemoteError
from services.fieldtask.domain.geo import Position, check_position
from services.fieldtask.service import LocatorUnavailable

LOOKUP_TIMEOUT_SECONDS = 2.0
# Answers that say "there is no location for you", as opposed to "ask again later".
_DEFINITE = ("NOT_FOUND", "PERMISSION_DENIED", "INVALID_ARGUMENT")


class CustomerPartyLocator:
    """Asks customer's GetPartyLocation as the current caller (so its data scope applies)."""

    def __init__(self, stub: customer_pb2_grpc.CustomerServiceStub) -> None:
        self._stub = stub

    async def locate(self, party_id: str) -> Position | None:
        try:
            reply = await call(
                lambda request: self._stub.GetPartyLocation(request, timeout=LOOKUP_TIMEOUT_SECONDS),
                customer_pb2.GetPartyLocationRequest(party_id=party_id),
            )
        except RemoteError as error:
            if error.status in _DEFINITE:
                return None
            raise LocatorUnavailable(f"customer could not locate party {party_id}: {error}") from error
        try:
            return check_position(reply.latitude, reply.longitude, field="location")
        except InvalidArgument:
            return None  # a broken region record: no location rather than a wrong one
