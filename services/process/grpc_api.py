"""ProcessService servicer: proto in, use case, proto out. No rules, no sessions."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from granary.v1 import process_pb2, process_pb2_grpc

from services.common.identity import require_caller
from services.process import service
from services.process.domain.validation import ModelFile, ModelReport


class ProcessServicer(process_pb2_grpc.ProcessServiceServicer):
    def __init__(self, *, uow: Callable[[], service.ProcessUnitOfWork]) -> None:
        self._uow = uow

    async def ValidateProcessModel(
        self, request: process_pb2.ValidateProcessModelRequest, context: grpc.aio.ServicerContext
    ) -> process_pb2.ValidateProcessModelResponse:
        report = await service.validate_process_model(
            caller=require_caller(),
            files=[ModelFile(name=f.name, content=f.content) for f in request.files],
        )
        return report_to_proto(report)


def report_to_proto(report: ModelReport) -> process_pb2.ValidateProcessModelResponse:
    return process_pb2.ValidateProcessModelResponse(
        valid=report.valid,
        problems=[
            process_pb2.ModelProblem(file=p.file, element_id=p.element_id, reason=p.reason) for p in report.problems
        ],
        process_ids=list(report.process_ids),
        decision_ids=list(report.decision_ids),
    )
