"""customer information center: regions, households, relations, finances, consents, credit
reports, interactions, lifecycle, key-data changes, merges, leads, imports

Revision ID: customer_0003
Revises: customer_0002
"""

import sqlalchemy as sa
from alembic import op

from services.customer.domain.region_data import DEMO_REGIONS

revision = "customer_0003"
down_revision = "customer_0002"
branch_labels = None
depends_on = None


def _party_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("id_type", sa.String(length=32), server_default="RESIDENT_ID", nullable=False),
        sa.Column("address", sa.String(length=200), server_default="", nullable=False),
        sa.Column("region_code", sa.String(length=12), server_default="", nullable=False),
        sa.Column("occupation", sa.String(length=100), server_default="", nullable=False),
        sa.Column("legal_rep_name", sa.String(length=100), server_default="", nullable=False),
        sa.Column("stage", sa.String(length=20), server_default="prospect", nullable=False),
        sa.Column("tier_value", sa.String(length=16), server_default="", nullable=False),
        sa.Column("tier_activity", sa.String(length=16), server_default="", nullable=False),
        sa.Column("tier_risk", sa.String(length=16), server_default="", nullable=False),
        sa.Column("merged_into_id", sa.String(length=36), nullable=True),
        sa.Column("import_batch_id", sa.String(length=36), nullable=True),
        sa.Column("import_file", sa.String(length=200), nullable=True),
        sa.Column("import_row", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("parties") as batch:
        for column in _party_columns():
            batch.add_column(column)
        batch.create_index("ix_parties_region_code", ["region_code"], unique=False)
        batch.create_index("ix_parties_stage", ["stage"], unique=False)
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=32), server_default="", nullable=False))
        batch.add_column(sa.Column("last_lead_at", sa.DateTime(timezone=True), nullable=True))

    regions = op.create_table(
        "regions",
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("parent_code", sa.String(length=12), nullable=True),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_index("ix_regions_parent_code", "regions", ["parent_code"], unique=False)
    op.bulk_insert(
        regions,
        [{"code": c, "name": n, "level": lv, "parent_code": p} for c, n, lv, p in DEMO_REGIONS],
    )
    op.create_table(
        "staff_regions",
        sa.Column("staff_id", sa.String(length=36), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"]),
        sa.PrimaryKeyConstraint("staff_id", "region_code"),
    )
    op.create_table(
        "party_tags",
        sa.Column("party_id", sa.String(length=36), nullable=False),
        sa.Column("tag", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("party_id", "tag"),
    )
    op.create_index("ix_party_tags_tag", "party_tags", ["tag"], unique=False)
    op.create_table(
        "party_stage_history",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.String(length=36), nullable=False),
        sa.Column("from_stage", sa.String(length=20), nullable=False),
        sa.Column("to_stage", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("changed_by", sa.String(length=80), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_party_stage_history_party_id", "party_stage_history", ["party_id"], unique=False)
    op.create_index("ix_party_stage_history_to_stage", "party_stage_history", ["to_stage"], unique=False)
    op.create_table(
        "party_relations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.String(length=36), nullable=False),
        sa.Column("related_party_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("share_percent", sa.Numeric(precision=7, scale=4), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"]),
        sa.ForeignKeyConstraint(["related_party_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_party_relations_party_id", "party_relations", ["party_id"], unique=False)
    op.create_index("ix_party_relations_related_party_id", "party_relations", ["related_party_id"], unique=False)
    op.create_table(
        "households",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("head_party_id", sa.String(length=36), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=False),
        sa.Column("land_mu", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("labour_count", sa.Integer(), nullable=False),
        sa.Column("main_income", sa.String(length=100), nullable=False),
        sa.Column("annual_income", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("rating", sa.String(length=16), nullable=False),
        sa.Column("branch_id", sa.String(length=36), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["head_party_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_households_head_party_id", "households", ["head_party_id"], unique=False)
    op.create_index("ix_households_village_code", "households", ["village_code"], unique=False)
    op.create_table(
        "household_members",
        sa.Column("household_id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.String(length=36), nullable=False),
        sa.Column("relation", sa.String(length=16), nullable=False),
        sa.Column("co_borrower", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["household_id"], ["households.id"]),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("household_id", "party_id"),
    )
    op.create_index("ix_household_members_party_id", "household_members", ["party_id"], unique=False)
    op.create_table(
        "financial_items",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.String(length=36), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("item_type", sa.String(length=50), nullable=False),
        sa.Column("value", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("valuation_date", sa.Date(), nullable=False),
        sa.Column("verified_by_visit", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_financial_items_party_id", "financial_items", ["party_id"], unique=False)
    op.create_table(
        "consents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=50), nullable=False),
        sa.Column("scope", sa.String(length=200), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("document_ref", sa.String(length=200), nullable=False),
        sa.Column("recorded_by", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consents_party_id", "consents", ["party_id"], unique=False)
    op.create_table(
        "credit_reports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.String(length=36), nullable=False),
        sa.Column("bureau", sa.String(length=50), nullable=False),
        sa.Column("consent_id", sa.String(length=36), nullable=False),
        sa.Column("purpose", sa.String(length=50), nullable=False),
        sa.Column("queried_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("document_ref", sa.String(length=200), nullable=False),
        sa.Column("external_ref", sa.String(length=100), nullable=False),
        sa.Column("recorded_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["consent_id"], ["consents.id"]),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("external_ref"),
    )
    op.create_index("ix_credit_reports_party_id", "credit_reports", ["party_id"], unique=False)
    op.create_table(
        "interactions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.String(length=80), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.String(length=1000), nullable=False),
        sa.Column("linked_task_id", sa.String(length=36), nullable=False),
        sa.Column("linked_application_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_interactions_party_time", "interactions", ["party_id", "occurred_at"], unique=False)
    op.create_table(
        "party_changes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("party_id", sa.String(length=36), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("new_value_cipher", sa.LargeBinary(), nullable=False),
        sa.Column("before_masked", sa.String(length=120), nullable=False),
        sa.Column("after_masked", sa.String(length=120), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("requested_by", sa.String(length=80), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=80), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_party_changes_party_id", "party_changes", ["party_id"], unique=False)
    op.create_table(
        "party_merges",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("survivor_id", sa.String(length=36), nullable=False),
        sa.Column("duplicate_id", sa.String(length=36), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("moved", sa.JSON(), nullable=False),
        sa.Column("merged_by", sa.String(length=80), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["duplicate_id"], ["parties.id"]),
        sa.ForeignKeyConstraint(["survivor_id"], ["parties.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("duplicate_id"),
    )
    op.create_index("ix_party_merges_survivor_id", "party_merges", ["survivor_id"], unique=False)
    op.create_table(
        "leads",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("mobile_cipher", sa.LargeBinary(), nullable=True),
        sa.Column("mobile_index", sa.String(length=64), nullable=True),
        sa.Column("mobile_masked", sa.String(length=32), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("max_stage_rank", sa.Integer(), nullable=False),
        sa.Column("assigned_officer_id", sa.String(length=36), nullable=True),
        sa.Column("branch_id", sa.String(length=36), nullable=True),
        sa.Column("next_follow_up", sa.Date(), nullable=True),
        sa.Column("party_id", sa.String(length=36), nullable=True),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_leads_officer_stage", "leads", ["assigned_officer_id", "stage"], unique=False)
    op.create_index("ix_leads_mobile_index", "leads", ["mobile_index"], unique=False)
    op.create_index("ix_leads_branch_id", "leads", ["branch_id"], unique=False)
    op.create_table(
        "import_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("created_count", sa.Integer(), nullable=False),
        sa.Column("duplicate_count", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("file_sha256", name="uq_import_batches_file_sha256"),
    )


def downgrade() -> None:
    for table in (
        "import_batches",
        "leads",
        "party_merges",
        "party_changes",
        "interactions",
        "credit_reports",
        "consents",
        "financial_items",
        "household_members",
        "households",
        "party_relations",
        "party_stage_history",
        "party_tags",
        "staff_regions",
        "regions",
    ):
        op.drop_table(table)
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("last_lead_at")
        batch.drop_column("phone")
    with op.batch_alter_table("parties") as batch:
        batch.drop_index("ix_parties_stage")
        batch.drop_index("ix_parties_region_code")
        for column in reversed(_party_columns()):
            batch.drop_column(column.name)
