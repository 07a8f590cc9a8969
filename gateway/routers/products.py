"""/api/v1/products: versioned lending products and the loan calculator (quote)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Request, status
from granary.v1 import credit_pb2
from pydantic import BaseModel, ConfigDict, Field

from gateway.auth import CurrentUser, RequireRoles
from gateway.paging import DEFAULT_LIMIT, Cursor, Limit, page
from services.common.grpc_client import call
from services.common.timestamps import from_timestamp

router = APIRouter(prefix="/products", tags=["products"])

Method = Literal["equal_installment", "equal_principal", "interest_first", "bullet"]
_METHOD_TO_PROTO: dict[str, int] = {
    "equal_installment": credit_pb2.REPAYMENT_METHOD_EQUAL_INSTALLMENT,
    "equal_principal": credit_pb2.REPAYMENT_METHOD_EQUAL_PRINCIPAL,
    "interest_first": credit_pb2.REPAYMENT_METHOD_INTEREST_FIRST,
    "bullet": credit_pb2.REPAYMENT_METHOD_BULLET,
}
_METHOD_FROM_PROTO = {v: k for k, v in _METHOD_TO_PROTO.items()}


class ProductCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "NH_JYD",
                    "name": "农户经营贷",
                    "purpose": "种植养殖经营周转",
                    "min_amount": "1000",
                    "max_amount": "500000",
                    "min_term_months": 3,
                    "max_term_months": 36,
                    "annual_rate": "0.0720",
                    "repayment_method": "equal_installment",
                    "rate_type": "fixed",
                    "day_count": "ACT_360",
                    "frequency": "MONTHLY",
                    "guarantee_types": ["信用", "保证"],
                }
            ]
        }
    )
    code: str = Field(max_length=32)
    name: str = Field(max_length=100)
    purpose: str = ""
    min_amount: str = Field(description="decimal string, e.g. 5000.00")
    max_amount: str
    min_term_months: int = Field(ge=0)
    max_term_months: int = Field(ge=0)
    annual_rate: str = Field("", description="fixed products: a fraction, 0.0435 for 4.35 %")
    repayment_method: Method
    rate_type: Literal["fixed", "lpr_spread"] = "fixed"
    lpr: str = ""
    spread: str = ""
    day_count: Literal["ACT_360", "ACT_365", "THIRTY_360"] = "ACT_360"
    frequency: Literal["MONTHLY", "QUARTERLY", "SEMIANNUAL", "ANNUAL"] = "MONTHLY"
    principal_grace_periods: int = Field(0, ge=0)
    interest_grace_periods: int = Field(0, ge=0)
    penalty_markup: str = "0.5"
    guarantee_types: list[str] = Field(default_factory=list, description="信用, 保证, 抵押, 质押, 联保")
    rounding_scale: int = Field(2, ge=0)
    rounding_mode: str = "ROUND_HALF_EVEN"
    allocation_order: list[str] = Field(default_factory=lambda: ["penalty", "interest", "principal"])


class ProductRead(BaseModel):
    id: str
    code: str
    version: int
    name: str
    purpose: str
    min_amount: str
    max_amount: str
    min_term_months: int
    max_term_months: int
    annual_rate: str
    repayment_method: str
    rate_type: str
    lpr: str
    spread: str
    day_count: str
    frequency: str
    principal_grace_periods: int
    interest_grace_periods: int
    penalty_markup: str
    guarantee_types: list[str]
    rounding_scale: int
    rounding_mode: str
    allocation_order: list[str]
    created_at: str

    @classmethod
    def from_proto(cls, p: credit_pb2.Product) -> ProductRead:
        return cls(
            id=p.id,
            code=p.code,
            version=p.version,
            name=p.name,
            purpose=p.purpose,
            min_amount=p.min_amount,
            max_amount=p.max_amount,
            min_term_months=p.min_term_months,
            max_term_months=p.max_term_months,
            annual_rate=p.annual_rate,
            repayment_method=_METHOD_FROM_PROTO.get(p.repayment_method, ""),
            rate_type=p.rate_type,
            lpr=p.lpr,
            spread=p.spread,
            day_count=p.day_count,
            frequency=p.frequency,
            principal_grace_periods=p.principal_grace_periods,
            interest_grace_periods=p.interest_grace_periods,
            penalty_markup=p.penalty_markup,
            guarantee_types=list(p.guarantee_types),
            rounding_scale=p.rounding_scale,
            rounding_mode=p.rounding_mode,
            allocation_order=list(p.allocation_order),
            created_at=from_timestamp(p.created_at).isoformat(),
        )


class ProductPage(BaseModel):
    items: list[ProductRead]
    next_cursor: str | None = None


class QuoteCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "amount": "80000.00",
                    "term_months": 12,
                    "start_date": "2025-03-01",
                    "annual_rate": "0.0720",
                    "day_count": "ACT_360",
                }
            ]
        }
    )
    amount: str
    term_months: int = Field(ge=0)
    start_date: str = Field("", description="ISO date; defaults to today")
    annual_rate: str = Field("", description="optional override")
    day_count: str = Field("", description="optional override: ACT_360, ACT_365, THIRTY_360")


class InstallmentRead(BaseModel):
    number: int
    due_date: str
    period_start: str
    days: int
    opening_principal: str
    principal: str
    interest: str
    total: str
    closing_principal: str


class QuoteRead(BaseModel):
    installments: list[InstallmentRead]
    total_principal: str
    total_interest: str
    total_payment: str
    annual_rate: str
    day_count: str
    maturity_date: str


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ProductRead,
    dependencies=[Depends(RequireRoles("admin", "process_owner"))],
)
async def create_product(body: ProductCreate, request: Request, user: CurrentUser) -> ProductRead:
    fields = body.model_dump()
    fields["repayment_method"] = _METHOD_TO_PROTO[body.repayment_method]
    reply = await call(
        request.app.state.backend.credit.CreateProduct, credit_pb2.CreateProductRequest(**fields), caller=user
    )
    return ProductRead.from_proto(reply.product)


@router.get("", response_model=ProductPage)
async def list_products(
    request: Request,
    user: CurrentUser,
    code: str = "",
    all_versions: bool = False,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = "",
) -> ProductPage:
    """The latest version of each code (every version with ``all_versions``), by code then version."""
    reply = await call(
        request.app.state.backend.credit.ListProducts,
        credit_pb2.ListProductsRequest(code=code, all_versions=all_versions),
        caller=user,
    )
    products = [ProductRead.from_proto(p) for p in reply.products]
    items, next_cursor = page(products, lambda p: (p.code, p.version), limit, cursor)
    return ProductPage(items=items, next_cursor=next_cursor)


@router.get("/{product_id}", response_model=ProductRead)
async def get_product(product_id: str, request: Request, user: CurrentUser) -> ProductRead:
    reply = await call(
        request.app.state.backend.credit.GetProduct, credit_pb2.GetProductRequest(product_id=product_id), caller=user
    )
    return ProductRead.from_proto(reply.product)


@router.post("/{product_id}/quote", response_model=QuoteRead)
async def quote(product_id: str, body: QuoteCreate, request: Request, user: CurrentUser) -> QuoteRead:
    """The loan calculator: the full schedule for an amount and term. Nothing is stored."""
    reply = await call(
        request.app.state.backend.credit.QuoteSchedule,
        credit_pb2.QuoteScheduleRequest(product_id=product_id, **body.model_dump()),
        caller=user,
    )
    return QuoteRead(
        installments=[
            InstallmentRead(
                number=i.number,
                due_date=i.due_date,
                period_start=i.period_start,
                days=i.days,
                opening_principal=i.opening_principal,
                principal=i.principal,
                interest=i.interest,
                total=i.total,
                closing_principal=i.closing_principal,
            )
            for i in reply.installments
        ],
        total_principal=reply.total_principal,
        total_interest=reply.total_interest,
        total_payment=reply.total_payment,
        annual_rate=reply.annual_rate,
        day_count=reply.day_count,
        maturity_date=reply.maturity_date,
    )
