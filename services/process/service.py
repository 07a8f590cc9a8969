"""Process use cases: one function per command or query, one commit per command."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from services.common.errors import PermissionDenied
from services.common.identity import Caller
from services.common.uow import UnitOfWork
from services.process.domain.validation import ModelFile, ModelReport, validate_model

MODELLERS = ("process_owner", "admin", "system")


class ProcessUnitOfWork(UnitOfWork):
    """No repositories yet; deployed models and instances will add theirs."""


async def validate_process_model(*, caller: Caller, files: Sequence[ModelFile]) -> ModelReport:
    """Checks a model set without storing anything, so it opens no unit of work."""
    if not caller.has_role(*MODELLERS):
        raise PermissionDenied("only process owners and administrators validate process models")
    # Parsing and schema checks are CPU work of up to tens of milliseconds for a large set:
    # a worker thread keeps the event loop answering other calls meanwhile.
    return await asyncio.to_thread(validate_model, list(files))
