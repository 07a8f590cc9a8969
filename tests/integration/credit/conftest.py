"""The ``credit`` fixture: a started credit service with a business date and a contract template."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.conftest import StartService
from tests.integration.credit.support import TEMPLATE, Credit


@pytest.fixture
async def credit(start_service: StartService) -> AsyncIterator[Credit]:
    host = await start_service("credit")
    opened = Credit(host)
    await opened.rpc("SetBusinessDate", opened.admin, business_date="2026-01-15")
    await opened.rpc("CreateContractTemplate", opened.admin, code="LOAN", body=TEMPLATE)
    yield opened
    await opened.channels.close()
