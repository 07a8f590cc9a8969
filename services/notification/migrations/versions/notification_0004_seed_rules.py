"""seed templates and rules (overdue, approvals, process tasks, reminders)

Revision ID: notification_0004
Revises: notification_0003
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from services.notification.domain import seeds

revision = "notification_0004"
down_revision = "notification_0003"
branch_labels = None
depends_on = None

# Frozen copies of the tables as this revision knows them.
_templates = sa.table(
    "templates",
    *(sa.column(c) for c in ("id", "code", "version", "channel", "category", "title", "body",
                             "sms_template_code", "sms_sign_name", "created_by", "created_at")),
)
_rules = sa.table(
    "rules",
    *(sa.column(c) for c in ("id", "name", "event_type", "condition", "enabled", "version", "seed_key",
                             "created_by", "updated_by", "created_at", "updated_at")),
    sa.column("actions", sa.JSON()),
)


def upgrade() -> None:
    now = datetime.now(UTC)
    op.bulk_insert(
        _templates,
        [
            {
                "id": seeds.seed_id(f"template:{t.code}:1"),
                "code": t.code,
                "version": 1,
                "channel": t.channel,
                "category": t.category,
                "title": t.title,
                "body": t.body,
                "sms_template_code": t.sms_template_code,
                "sms_sign_name": t.sms_sign_name,
                "created_by": "seed",
                "created_at": now,
            }
            for t in seeds.TEMPLATES
        ],
    )
    op.bulk_insert(
        _rules,
        [
            {
                "id": seeds.seed_id(f"rule:{r.key}"),
                "name": r.name,
                "event_type": r.event_type,
                "condition": r.condition,
                "actions": [a.to_dict() for a in r.actions],
                "enabled": True,
                "version": 1,
                "seed_key": r.key,
                "created_by": "seed",
                "updated_by": "seed",
                "created_at": now,
                "updated_at": now,
            }
            for r in seeds.RULES
        ],
    )


def downgrade() -> None:
    op.execute(_rules.delete().where(_rules.c.seed_key.in_([r.key for r in seeds.RULES])))
    op.execute(_templates.delete().where(_templates.c.created_by == "seed"))
