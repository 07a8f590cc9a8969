"""CreditService servicer: proto in, use case, proto out. No rules, no sessions."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import grpc
from granary.v1 import credit_pb2, credit_pb2_grpc

from services.common.identity import require_caller
from services.common.timestamps import to_timestamp
from services.credit import service
from services.credit.domain.product import method_from_column
from services.credit.models import ProductRow


class CreditServicer(credit_pb2_grpc.CreditServiceServicer):
    def __init__(self, *, uow: Callable[[], service.CreditUnitOfWork]) -> None:
        self._uow = uow

    async def CreateProduct(
        self, request: credit_pb2.CreateProductRequest, context: grpc.aio.ServicerContext
    ) -> credit_pb2.CreateProductResponse:
        product = await service.create_product(
            uow=self._uow(),
            caller=require_caller(),
            new=service.NewProduct(
                code=request.code,
                name=request.name,
                purpose=request.purpose,
                min_amount=request.min_amount,
                max_amount=request.max_amount,
                min_term_months=request.min_term_months,
                max_term_months=request.max_term_months,
                annual_rate=request.annual_rate,
                # Unspecified or unknown enum numbers map to None; the domain names the field.
                repayment_method=service.METHOD_FROM_PROTO.get(request.repayment_method),
            ),
        )
        return credit_pb2.CreateProductResponse(product=product_to_proto(product))

    async def GetProduct(
        self, request: credit_pb2.GetProductRequest, context: grpc.aio.ServicerContext
    ) -> credit_pb2.GetProductResponse:
        product = await service.get_product(uow=self._uow(), caller=require_caller(), product_id=request.product_id)
        return credit_pb2.GetProductResponse(product=product_to_proto(product))



def _amount(value: Decimal) -> str:
    return f"{value:.2f}"


def _rate(value: Decimal) -> str:
    # The column pads to six decimals; callers sent "0.0435" and get "0.0435" back.
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"


def product_to_proto(product: ProductRow) -> credit_pb2.Product:
    return credit_pb2.Product(
        id=product.id,
        code=product.code,
        version=product.version,
        name=product.name,
        purpose=product.purpose,
        min_amount=_amount(product.min_amount),
        max_amount=_amount(product.max_amount),
        min_term_months=product.min_term_months,
        max_term_months=product.max_term_months,
        annual_rate=_rate(product.annual_rate),
        repayment_method=service.METHOD_TO_PROTO[method_from_column(product.repayment_method)],
        created_at=to_timestamp(product.created_at),
    )
