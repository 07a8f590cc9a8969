"""Overdue episodes: open, track, cure, reopen after a reversal; the success-rate figures (no database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from services.credit.domain.collection import (
    EpisodeCounts,
    PostedRepayment,
    after_reversal,
    cure,
    first_past_due_day,
    opening,
    recovered_amount,
    summarize,
    track,
)

D = Decimal
ZERO = Decimal("0.00")


@dataclass
class Episode:
    id: str
    status: str = "open"
    started_on: date = date(2026, 2, 16)
    max_dpd: int = 1
    max_bucket: str = "M1"
    repayment_seq_at_open: int = 0
    cured_on: date | None = None
    cure_seq: int = 0
    days_to_cure: int | None = None
    recovered: Decimal = ZERO
    merged_into: str = ""


def _cured(episode_id: str, cure_seq: int, started: date, cured: date) -> Episode:
    e = Episode(episode_id, started_on=started)
    assert cure(e, business_date=cured, cure_seq=cure_seq, recovered=D("100.00"))
    return e


def test_close_of_business_opens_an_episode_dated_from_the_first_day_past_due() -> None:
    # due 15 Feb: 1 DPD on 16 Feb; a COB that first looks on 20 Feb (5 DPD) keeps 16 Feb as the start
    assert first_past_due_day(date(2026, 2, 16), 1) == date(2026, 2, 16)
    opened = opening(
        dpd=5,
        bucket="M1",
        overdue_amount=D("4075.62"),
        business_date=date(2026, 2, 20),
        has_open_episode=False,
        repayment_seq=2,
    )
    assert opened is not None
    assert (opened.started_on, opened.opened_on, opened.dpd, opened.overdue_amount) == (
        date(2026, 2, 16),
        date(2026, 2, 20),
        5,
        D("4075.62"),
    )
    assert opened.repayment_seq_at_open == 2
    # current loans and loans already in an open episode: nothing opens
    common = {"bucket": "M1", "overdue_amount": D("1"), "business_date": date(2026, 2, 20), "repayment_seq": 0}
    assert opening(dpd=0, has_open_episode=False, **common) is None  # type: ignore[arg-type]
    assert opening(dpd=3, has_open_episode=True, **common) is None  # type: ignore[arg-type]


def test_later_closes_of_business_raise_the_highest_dpd_and_bucket_only_upwards() -> None:
    e = Episode("e1", max_dpd=5, max_bucket="M1")
    assert track(e, 31) and (e.max_dpd, e.max_bucket) == (31, "M2")
    assert not track(e, 12) and (e.max_dpd, e.max_bucket) == (31, "M2")
    assert track(e, 91) and e.max_bucket == "M4+"
    done = _cured("e2", 3, date(2026, 2, 16), date(2026, 2, 20))
    assert not track(done, 200) and done.max_dpd == 1


def test_cure_records_date_days_and_recovery_once() -> None:
    e = Episode("e1", started_on=date(2026, 2, 16))
    assert cure(e, business_date=date(2026, 3, 17), cure_seq=4, recovered=D("4100.00"))
    assert (e.status, e.cured_on, e.days_to_cure, e.cure_seq, e.recovered) == (
        "cured",
        date(2026, 3, 17),
        29,  # DPD 30 on the cure date: still within 30 days
        4,
        D("4100.00"),
    )
    # a second cure (a redelivered repayment) changes nothing
    assert not cure(e, business_date=date(2026, 3, 20), cure_seq=5, recovered=D("1"))
    assert (e.cured_on, e.cure_seq, e.recovered) == (date(2026, 3, 17), 4, D("4100.00"))


def test_recovered_counts_arrears_paid_during_the_episode_not_paying_ahead() -> None:
    due = {1: date(2026, 2, 15), 2: date(2026, 3, 15), 3: date(2026, 4, 15)}
    repayments = [
        # before the episode opened (seq 1): not collection
        PostedRepayment(1, "posted", [(1, "interest", D("74.40"))]),
        # during: partial, then a reversed one, then the cure that also pays ahead on installment 2
        PostedRepayment(2, "posted", [(1, "penalty", D("1.22")), (1, "principal", D("1000.00"))]),
        PostedRepayment(3, "reversed", []),
        PostedRepayment(4, "posted", [(1, "principal", D("3000.00")), (2, "interest", D("48.00"))]),
    ]
    assert recovered_amount(repayments, after_seq=1, due_dates=due, cured_on=date(2026, 2, 20)) == D("4001.22")
    # cured after installment 2 fell due: what it got counts too
    assert recovered_amount(repayments, after_seq=1, due_dates=due, cured_on=date(2026, 3, 16)) == D("4049.22")


def test_a_reversal_of_the_curing_money_reopens_the_episode() -> None:
    e = _cured("e1", 2, date(2026, 2, 16), date(2026, 2, 20))
    change = after_reversal([e], reversed_seq=2, in_arrears=True, dpd=7)
    assert change.reopened is e and change.merged == []
    assert (e.status, e.cured_on, e.cure_seq, e.days_to_cure, e.recovered) == ("open", None, 0, None, D("0.00"))
    # the start is kept: the 30-day clock does not restart
    assert e.started_on == date(2026, 2, 16) and (e.max_dpd, e.max_bucket) == (7, "M1")


def test_a_reversal_that_leaves_the_loan_current_or_took_no_cure_money_changes_nothing() -> None:
    e = _cured("e1", 2, date(2026, 2, 16), date(2026, 2, 20))
    assert after_reversal([e], reversed_seq=2, in_arrears=False, dpd=0).reopened is None
    assert e.status == "cured"
    # money posted after the cure (seq 3) was not part of it: the cure stands; a new arrears is
    # a new episode, opened by the next close of business
    assert after_reversal([e], reversed_seq=3, in_arrears=True, dpd=2).reopened is None
    assert (e.status, e.cured_on) == ("cured", date(2026, 2, 20))


def test_a_reversal_reaching_behind_a_later_episode_merges_it_into_the_reopened_one() -> None:
    early = _cured("e0", 1, date(2026, 1, 16), date(2026, 1, 20))  # cured before the reversed money
    first = _cured("e1", 3, date(2026, 2, 16), date(2026, 2, 20))
    second = Episode("e2", started_on=date(2026, 3, 16), max_dpd=40, max_bucket="M2")
    change = after_reversal([early, first, second], reversed_seq=3, in_arrears=True, dpd=35)
    assert change.reopened is first and change.merged == [second]
    assert early.status == "cured"
    assert (first.status, first.max_dpd, first.max_bucket) == ("open", 40, "M2")
    assert (second.status, second.merged_into) == ("merged", "e1")
    # merged episodes are passed over the next time
    again = after_reversal([early, first, second], reversed_seq=3, in_arrears=True, dpd=36)
    assert again.reopened is None


def test_summary_rates_by_branch_and_officer() -> None:
    counts = [
        EpisodeCounts("B1", "o1", 3, 2, 1, 1, D("9000"), D("6000")),
        EpisodeCounts("B1", "o2", 1, 1, 1, 0, D("1000"), D("1000.50")),
        EpisodeCounts("B2", "o3", 4, 1, 0, 3, D("20000"), D("500")),
    ]
    s = summarize(counts, business_date=date(2026, 3, 31), branch_id="", start=None, end=None)
    t = s.total
    assert (t.started, t.cured, t.cured_within_30_days, t.still_open) == (8, 4, 2, 4)
    assert (t.success_rate, t.success_rate_30_days) == (D("0.5000"), D("0.2500"))
    assert (t.overdue_at_start, t.recovered) == (D("30000.00"), D("7500.50"))
    # most episodes first; on a tie the better rate first
    assert [(b.key, b.started, b.cured, b.success_rate) for b in s.by_branch] == [
        ("B1", 4, 3, D("0.7500")),
        ("B2", 4, 1, D("0.2500")),
    ]
    assert [(o.officer_id, o.branch_id, o.success_rate) for o in s.by_officer] == [
        ("o3", "B2", D("0.2500")),
        ("o1", "B1", D("0.6667")),
        ("o2", "B1", D("1.0000")),
    ]
    empty = summarize([], business_date=date(2026, 3, 31), branch_id="B9", start=None, end=None)
    assert (empty.total.started, empty.total.success_rate, empty.by_branch) == (0, D("0.0000"), [])
