"""Events the process service consumes from other services (none yet)."""

from __future__ import annotations

from services.common.consumer import Subscription


def subscriptions() -> list[Subscription]:
    return []
