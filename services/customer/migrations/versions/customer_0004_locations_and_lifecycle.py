"""customer locations and lifecycle: region centroids (WGS-84), loans reported by credit

Revision ID: customer_0004
Revises: customer_0003
"""

import sqlalchemy as sa
from alembic import op

from services.customer.domain.region_data import DEMO_REGION_CENTROIDS

revision = "customer_0004"
down_revision = "customer_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("regions") as batch:
        batch.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch.add_column(sa.Column("longitude", sa.Float(), nullable=True))
    regions = sa.table(
        "regions", sa.column("code", sa.String), sa.column("latitude", sa.Float), sa.column("longitude", sa.Float)
    )
    for code, (latitude, longitude) in DEMO_REGION_CENTROIDS.items():
        op.execute(regions.update().where(regions.c.code == code).values(latitude=latitude, longitude=longitude))
    op.create_table(
        "party_loans",
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("party_id", sa.String(length=36), nullable=False),
        sa.Column("application_id", sa.String(length=64), nullable=False),
        sa.Column("disbursed_on", sa.String(length=10), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("loan_id"),
    )
    op.create_index("ix_party_loans_party_id", "party_loans", ["party_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_party_loans_party_id", table_name="party_loans")
    op.drop_table("party_loans")
    with op.batch_alter_table("regions") as batch:
        batch.drop_column("longitude")
        batch.drop_column("latitude")
