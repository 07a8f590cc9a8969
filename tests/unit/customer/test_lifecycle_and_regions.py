"""Lifecycle stages from credit milestones, region ancestry and centroids, the tier job's clock."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from services.customer.domain.party import STAGE_ORDER, CreditMilestone, Stage, stage_after_credit_event
from services.customer.domain.region_data import DEMO_REGION_CENTROIDS, DEMO_REGIONS
from services.customer.domain.regions import self_and_ancestors
from services.customer.jobs import parse_run_at

SUBMITTED, DISBURSED = CreditMilestone.APPLICATION_SUBMITTED, CreditMilestone.LOAN_DISBURSED


@pytest.mark.parametrize(
    ("current", "milestone", "other_loans", "expected"),
    [
        ("lead", SUBMITTED, 0, Stage.APPLICANT),
        ("prospect", SUBMITTED, 0, Stage.APPLICANT),
        ("applicant", SUBMITTED, 0, None),
        ("borrower", SUBMITTED, 0, None),
        ("repeat_borrower", SUBMITTED, 3, None),
        ("prospect", DISBURSED, 0, Stage.BORROWER),
        ("applicant", DISBURSED, 0, Stage.BORROWER),
        ("applicant", DISBURSED, 1, Stage.REPEAT_BORROWER),
        ("borrower", DISBURSED, 0, Stage.REPEAT_BORROWER),
        ("borrower", DISBURSED, 1, Stage.REPEAT_BORROWER),
        ("repeat_borrower", DISBURSED, 2, None),
    ],
)
def test_credit_milestones_move_forward_only(
    current: str, milestone: CreditMilestone, other_loans: int, expected: Stage | None
) -> None:
    assert stage_after_credit_event(current, milestone, other_loans=other_loans) is expected


def test_no_sequence_of_milestones_moves_a_stage_backwards() -> None:
    for start in STAGE_ORDER:
        for milestone in CreditMilestone:
            for loans in (0, 1):
                after = stage_after_credit_event(start.value, milestone, other_loans=loans)
                assert after is None or STAGE_ORDER.index(after) > STAGE_ORDER.index(start)


def test_region_ancestors_follow_the_code_structure() -> None:
    assert self_and_ancestors("330726101201") == [
        "330726101201",
        "330726101000",
        "330726000000",
        "330700000000",
        "330000000000",
    ]
    assert self_and_ancestors("330726000000") == ["330726000000", "330700000000", "330000000000"]
    assert self_and_ancestors("330000000000") == ["330000000000"]


def test_every_seeded_region_of_the_demo_county_has_a_plausible_centroid() -> None:
    codes = {code for code, *_ in DEMO_REGIONS}
    assert set(DEMO_REGION_CENTROIDS) == codes
    for code, (lat, lon) in DEMO_REGION_CENTROIDS.items():
        if code.startswith("330726"):
            # 浦江县 lies within about 29.3-29.7 N, 119.7-120.1 E
            assert 29.3 < lat < 29.7 and 119.7 < lon < 120.1, code


def test_tier_schedule_parsing() -> None:
    assert parse_run_at("") == time(18, 0)
    assert parse_run_at("02:30") == time(2, 30)
    assert parse_run_at("OFF") is None
    assert datetime(2026, 1, 1, 18, tzinfo=UTC).time() >= parse_run_at("18:00")  # type: ignore[operator]
