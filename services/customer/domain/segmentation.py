"""Tiers (value, activity, risk) by configurable rules, and lead assignment by region."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from services.customer.domain.regions import is_within


@dataclass(frozen=True)
class TierRules:
    """Thresholds, highest first. Loaded from JSON so a lender can tune them without a release.

    ``value``: net worth (assets minus liabilities, yuan) at or above which a tier applies;
    ``activity``: the most days since the last interaction for which a tier applies;
    ``risk``: the most overdue records (credit-report summary ``overdue_count``) per grade; a
    ``risk_grade`` in the report summary wins.
    """

    value: Sequence[tuple[str, Decimal]] = (
        ("private", Decimal("5000000")),
        ("vip", Decimal("500000")),
        ("mass", Decimal("-1e18")),
    )
    activity: Sequence[tuple[str, int]] = (("active", 90), ("dormant", 180), ("churn_warning", 10**6))
    risk: Sequence[tuple[str, int]] = (("A", 0), ("B", 2), ("C", 10**6))

    @classmethod
    def from_json(cls, text: str) -> TierRules:
        raw = json.loads(text)
        defaults = cls()
        return cls(
            value=tuple((str(k), Decimal(str(v))) for k, v in raw.get("value", defaults.value)),
            activity=tuple((str(k), int(v)) for k, v in raw.get("activity", defaults.activity)),
            risk=tuple((str(k), int(v)) for k, v in raw.get("risk", defaults.risk)),
        )


@dataclass(frozen=True)
class TierInputs:
    net_worth: Decimal
    last_interaction_at: datetime | None
    credit_summary: Mapping[str, str] | None = field(default=None)


def compute_tiers(rules: TierRules, inputs: TierInputs, today: date) -> dict[str, str]:
    value = next((name for name, floor in rules.value if inputs.net_worth >= floor), "")
    activity = ""
    if inputs.last_interaction_at is not None:
        days = (today - inputs.last_interaction_at.date()).days
        activity = next((name for name, most in rules.activity if days <= most), "")
    risk = ""
    summary = inputs.credit_summary
    if summary is not None:
        if summary.get("risk_grade"):
            risk = summary["risk_grade"]
        else:
            try:
                overdue = int(Decimal(summary.get("overdue_count", "0") or "0"))
            except (InvalidOperation, ValueError):
                overdue = 0
            risk = next((name for name, most in rules.risk if overdue <= most), "")
    return {"value": value, "activity": activity, "risk": risk}


@dataclass(frozen=True)
class Candidate:
    staff_id: str
    branch_id: str
    regions: Sequence[str]
    last_lead_at: datetime | None


def choose_account_manager(region_code: str, candidates: Sequence[Candidate]) -> Candidate | None:
    """Round-robin among the officers serving the lead's region: the one who waited longest.

    The most specific serving level wins (a village's own officer before the township's); no
    officer serving the region means None (the lead goes to the fallback queue).
    """
    if not region_code:
        return None
    best_depth = -1
    serving: list[Candidate] = []
    for candidate in candidates:
        depth = max((len(r.rstrip("0")) for r in candidate.regions if is_within(region_code, r)), default=-1)
        if depth < 0:
            continue
        if depth > best_depth:
            best_depth, serving = depth, [candidate]
        elif depth == best_depth:
            serving.append(candidate)
    if not serving:
        return None
    epoch = datetime.min
    return min(
        serving,
        key=lambda c: ((c.last_lead_at.replace(tzinfo=None) if c.last_lead_at else epoch), c.staff_id),
    )


LEAD_STAGES = ("new", "contacted", "qualified", "converted")
LEAD_CHANNELS = ("online_form", "partner", "field", "import")
LOST = "lost"
