"""reminded and escalated tasks without an assignee reach their candidates (in-app and SMS)

Databases seeded before this revision get the new seed rule, and the seeded reminder and
escalation rules take their current form unless a manager has edited them since. Databases
seeded after already have it (the seed revision writes the current seeds): a no-op there.

Revision ID: notification_0005
Revises: notification_0004
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from services.notification.domain import seeds

revision = "notification_0005"
down_revision = "notification_0004"
branch_labels = None
depends_on = None

_rules = sa.table(
    "rules",
    *(sa.column(c) for c in ("id", "name", "event_type", "condition", "enabled", "version", "seed_key",
                             "created_by", "updated_by", "created_at", "updated_at")),
    sa.column("actions", sa.JSON()),
)

_NEW = "process-task-escalated-candidates"
_CHANGED = ("process-task-escalated", "process-task-reminded-candidates")


def upgrade() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    by_key = {r.key: r for r in seeds.RULES}
    present = set(bind.execute(sa.select(_rules.c.seed_key).where(_rules.c.seed_key.is_not(None))).scalars())
    if _NEW not in present:
        rule = by_key[_NEW]
        op.bulk_insert(
            _rules,
            [
                {
                    "id": seeds.seed_id(f"rule:{rule.key}"),
                    "name": rule.name,
                    "event_type": rule.event_type,
                    "condition": rule.condition,
                    "actions": [a.to_dict() for a in rule.actions],
                    "enabled": True,
                    "version": 1,
                    "seed_key": rule.key,
                    "created_by": "seed",
                    "updated_by": "seed",
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
    for key in _CHANGED:
        rule = by_key[key]
        op.execute(
            _rules.update()
            .where(_rules.c.seed_key == key, _rules.c.updated_by == "seed")
            .values(name=rule.name, condition=rule.condition, actions=[a.to_dict() for a in rule.actions])
        )


def downgrade() -> None:
    # The seed revision below owns the seed rows and removes them all when it is undone.
    pass
