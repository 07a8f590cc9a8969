"""Credit use cases: one function per command or query, one commit per command."""

from __future__ import annotations

from dataclasses import dataclass

from granary.v1 import credit_pb2
from sqlalchemy.exc import IntegrityError

from services.common.clock import new_id, utcnow
from services.common.errors import Conflict, NotFound, PermissionDenied
from services.common.identity import Caller
from services.common.uow import UnitOfWork
from services.credit.domain.product import check_product, method_to_column
from services.credit.domain.schedule import RepaymentMethod
from services.credit.models import ProductRow
from services.credit.repository import ProductRepository

# Products are the lender's policy: only those who own the process define them.
PRODUCT_WRITERS = ("admin", "process_owner", "system")


class CreditUnitOfWork(UnitOfWork):
    @property
    def products(self) -> ProductRepository:
        return ProductRepository(self.session)


class ProductNotFound(NotFound):
    reason = "PRODUCT_NOT_FOUND"


class ProductVersionConflict(Conflict):
    reason = "PRODUCT_VERSION_CONFLICT"


@dataclass(frozen=True)
class NewProduct:
    """A product as requested: amounts and rate are decimal strings, never floats."""

    code: str
    name: str
    min_amount: str
    max_amount: str
    min_term_months: int
    max_term_months: int
    annual_rate: str
    repayment_method: RepaymentMethod | None
    purpose: str = ""


async def create_product(*, uow: CreditUnitOfWork, caller: Caller, new: NewProduct) -> ProductRow:
    """Creates the next version of a product code (version 1 for a new code)."""
    if not caller.has_role(*PRODUCT_WRITERS):
        raise PermissionDenied("only process owners and administrators define products")
    terms = check_product(
        code=new.code,
        name=new.name,
        purpose=new.purpose,
        min_amount=new.min_amount,
        max_amount=new.max_amount,
        min_term_months=new.min_term_months,
        max_term_months=new.max_term_months,
        annual_rate=new.annual_rate,
        repayment_method=new.repayment_method,
    )
    async with uow:
        version = await uow.products.latest_version(terms.code) + 1
        product = ProductRow(
            id=new_id(),
            code=terms.code,
            version=version,
            name=terms.name,
            purpose=terms.purpose,
            min_amount=terms.min_amount,
            max_amount=terms.max_amount,
            min_term_months=terms.min_term_months,
            max_term_months=terms.max_term_months,
            annual_rate=terms.annual_rate,
            repayment_method=method_to_column(terms.repayment_method),
            created_by=caller.user_id,
            created_at=utcnow(),
        )
        uow.products.add(product)
        uow.record(
            "credit.product.created",
            product.id,
            credit_pb2.ProductCreated(product_id=product.id, code=product.code, version=product.version),
        )
        try:
            await uow.commit()
        except IntegrityError as exc:
            # Another creation of the same code took this version first; a retry gets the next.
            raise ProductVersionConflict(
                f"product {terms.code} version {version} was created concurrently; retry",
                metadata={"code": terms.code},
            ) from exc
    return product


async def get_product(*, uow: CreditUnitOfWork, caller: Caller, product_id: str) -> ProductRow:
    # Products are published terms: every authenticated caller may read them.
    async with uow:
        product = await uow.products.get(product_id)
    if product is None:
        raise ProductNotFound(f"product {product_id} not found")
    return product


_METHOD_TO_PROTO = {
    RepaymentMethod.EQUAL_INSTALLMENT: credit_pb2.REPAYMENT_METHOD_EQUAL_INSTALLMENT,
    RepaymentMethod.EQUAL_PRINCIPAL: credit_pb2.REPAYMENT_METHOD_EQUAL_PRINCIPAL,
    RepaymentMethod.INTEREST_FIRST: credit_pb2.REPAYMENT_METHOD_INTEREST_FIRST,
    RepaymentMethod.BULLET: credit_pb2.REPAYMENT_METHOD_BULLET,
}
METHOD_TO_PROTO = _METHOD_TO_PROTO
METHOD_FROM_PROTO = {v: k for k, v in _METHOD_TO_PROTO.items()}
