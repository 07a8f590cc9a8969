"""Queries of the credit service's aggregates. Repositories never commit."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.credit.models import ProductRow


class ProductRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, product: ProductRow) -> None:
        self._session.add(product)

    async def get(self, product_id: str) -> ProductRow | None:
        return await self._session.get(ProductRow, product_id)

    async def latest_version(self, code: str) -> int:
        """Highest version of ``code`` so far; 0 when the code is new."""
        latest = await self._session.scalar(select(func.max(ProductRow.version)).where(ProductRow.code == code))
        return int(latest or 0)
