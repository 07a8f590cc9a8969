"""Rule conditions, templates and protections: pure domain, no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.notification.domain import expressions, rules, seeds, templates
from services.notification.domain.protections import (
    Limits,
    QuietHours,
    birthdays_on,
    consent_purpose,
    mask_phone,
    rate_limited_until,
    retry_delay,
)

OVERDUE = {"loan_id": "L1", "party_id": "P1", "dpd": 5, "overdue_amount": "1200.50", "bucket": "M1"}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("", True),
        ("dpd > 3", True),
        ("dpd > 5", False),
        ("dpd >= 5 and bucket == 'M1'", True),
        ("overdue_amount > 1000", True),  # decimals travel as strings and compare as numbers
        ("overdue_amount < 1000.5", False),
        ("bucket in ['M2', 'M3']", False),
        ("bucket not in ['M2', 'M3']", True),
        ("not (dpd > 3)", False),
        ("missing_field > 3", False),  # a missing field never matches
        ("missing_field != 3", False),
        ("3 < dpd < 10", True),
        ("summary.score >= 600", True),
        ("-dpd < 0", True),
    ],
)
def test_conditions(condition: str, expected: bool) -> None:
    data = {**OVERDUE, "summary": {"score": "650"}}
    assert expressions.evaluate(condition, data) is expected


@pytest.mark.parametrize(
    "condition",
    [
        "__import__('os').system('echo hi')",
        "dpd.__class__",
        "().__class__.__bases__[0].__subclasses__()",
        "open('/etc/passwd')",
        "[x for x in range(10)]",
        "lambda: 1",
        "dpd if True else 0",
        "dpd + 1 > 3",
        "_secret == 1",
        "dpd >",
        "x" * 600,
    ],
)
def test_anything_but_the_small_language_is_refused(condition: str) -> None:
    with pytest.raises(expressions.ExpressionError):
        expressions.parse(condition)


def test_templates_render_named_variables_and_refuse_missing_ones() -> None:
    body = "尊敬的{customer_name}，您的贷款已逾期{dpd}天，逾期金额{overdue_amount}元。"
    assert templates.variables(body) == ["customer_name", "dpd", "overdue_amount"]
    assert (
        templates.render(body, {"customer_name": "王建国", "dpd": "5", "overdue_amount": "1200.50"})
        == "尊敬的王建国，您的贷款已逾期5天，逾期金额1200.50元。"
    )
    with pytest.raises(templates.MissingVariables) as caught:
        templates.render(body, {"customer_name": "王建国", "dpd": "5", "overdue_amount": "  "})
    assert caught.value.missing == ["overdue_amount"]
    assert "overdue_amount" in str(caught.value)


def test_template_validation_names_each_bad_field() -> None:
    bad = templates.TemplateSpec("Bad Code", "fax", "spam", "", "余额{amount", "", "")
    fields = {f for f, _ in templates.validate_template(bad)}
    assert fields == {"code", "channel", "category", "body"}
    sms = templates.TemplateSpec("loan.x", "sms", "transactional", "t", "您好{name}")
    assert {f for f, _ in templates.validate_template(sms)} == {"sms_template_code", "sms_sign_name"}


def test_rule_validation() -> None:
    spec = rules.RuleSpec(
        name="x",
        event_type="credit.loan.exploded",
        condition="dpd >",
        actions=[
            rules.Action(kind="sms", recipient="neighbour"),
            rules.Action(kind="field_task", task_type="PARTY", priority=9, due_in_hours=0),
            rules.Action(kind="publish", event_type="credit.loan.overdue"),
            rules.Action(kind="teleport"),
        ],
    )
    fields = {f for f, _ in rules.validate_rule(spec)}
    assert fields == {
        "event_type",
        "condition",
        "actions[0].template_code",
        "actions[0].recipient",
        "actions[1].task_type",
        "actions[1].priority",
        "actions[1].due_in_hours",
        "actions[2].event_type",
        "actions[3].kind",
    }


def test_seeded_rules_and_templates_are_valid_and_the_overdue_rule_is_as_specified() -> None:
    for template in seeds.TEMPLATES:
        assert templates.validate_template(template) == []
    for seed in seeds.RULES:
        assert rules.validate_rule(rules.RuleSpec(seed.name, seed.event_type, seed.condition, seed.actions)) == []
    [overdue] = [r for r in seeds.RULES if r.event_type == "credit.loan.overdue"]
    assert rules.matches(overdue.condition, {"dpd": 4}) and not rules.matches(overdue.condition, {"dpd": 3})
    kinds = [(a.kind, a.recipient or a.task_type, a.priority) for a in overdue.actions]
    assert kinds == [("sms", "customer", 0), ("field_task", "OVERDUE_FOLLOW_UP", 1)]
    assert rules.recipient_of(overdue.actions[1], {"managing_officer_id": "S1"}) == "S1"
    task_created = next(r for r in seeds.RULES if r.event_type == "process.task.created")
    assert task_created.actions[0].role_for({"candidate_role": "supervisor"}) == "supervisor"


SHANGHAI_21 = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # 21:00 in Shanghai


def test_quiet_hours_hold_until_the_next_local_morning() -> None:
    quiet = QuietHours.parse("21:00-08:00", "Asia/Shanghai")
    assert quiet.release_at(SHANGHAI_21 - timedelta(minutes=1)) is None
    release = quiet.release_at(SHANGHAI_21)
    assert release is not None and release.astimezone(UTC) == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    # after midnight: the same morning
    early = quiet.release_at(datetime(2026, 3, 2, 19, 30, tzinfo=UTC))  # 03:30 local
    assert early is not None and early.astimezone(UTC) == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    assert quiet.release_at(datetime(2026, 3, 3, 0, 0, tzinfo=UTC)) is None  # 08:00 sharp
    assert QuietHours.parse("00:00-00:00", "Asia/Shanghai").release_at(SHANGHAI_21) is None
    with pytest.raises(ValueError):
        QuietHours.parse("nine to five", "Asia/Shanghai")


def test_rate_limits_per_minute_hour_and_day() -> None:
    limits = Limits(per_minute=1, per_hour=5, per_day=10)
    now = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
    assert rate_limited_until([], now, limits) is None
    just_sent = [now - timedelta(seconds=10)]
    assert rate_limited_until(just_sent, now, limits) == now + timedelta(seconds=50)
    five_this_hour = [now - timedelta(minutes=m) for m in (2, 10, 20, 30, 40)]
    assert rate_limited_until(five_this_hour, now, limits) == now - timedelta(minutes=40) + timedelta(hours=1)
    ten_today = [now - timedelta(hours=h) for h in range(2, 12)]
    assert rate_limited_until(ten_today, now, limits) == now - timedelta(hours=11) + timedelta(days=1)
    assert rate_limited_until([now - timedelta(hours=2)], now, limits) is None


def test_backoff_and_masking() -> None:
    assert [retry_delay(n, 30).total_seconds() for n in (1, 2, 3)] == [30, 60, 120]
    assert retry_delay(30, 30).total_seconds() == 3600
    assert mask_phone("+8613800138000") == "138****8000"


def test_birthdays_on_a_day_include_29_february_on_the_28th_of_common_years() -> None:
    assert birthdays_on(date(2031, 12, 31)) == [(12, 31)]
    assert birthdays_on(date(2031, 2, 28)) == [(2, 28), (2, 29)]
    assert birthdays_on(date(2032, 2, 28)) == [(2, 28)]
    assert birthdays_on(date(2032, 2, 29)) == [(2, 29)]


def test_birthday_greetings_need_their_own_consent_other_marketing_the_marketing_one() -> None:
    assert consent_purpose("notification.reminder.due", {"kind": "birthday"}) == "birthday_greeting"
    assert consent_purpose("notification.reminder.due", {"kind": "lead_follow_up"}) == "marketing"
    # only the service's own reminder event can ask for the birthday consent
    assert consent_purpose("customer.tier.changed", {"kind": "birthday"}) == "marketing"


def test_sms_to_a_role_needs_the_role() -> None:
    no_role = rules.RuleSpec("x", "process.task.escalated", "", [rules.Action(kind="sms", template_code="t",
                                                                                recipient="role")])
    assert ("actions[0].role", "is required for SMS to a role") in rules.validate_rule(no_role)
    with_role = rules.RuleSpec("x", "process.task.escalated", "", [rules.Action(kind="sms", template_code="t",
                                                                                  recipient="role",
                                                                                  role="@candidate_role")])
    assert rules.validate_rule(with_role) == []
