"""Comparing an audit chain with its witnessed head: growth is fine, anything shorter or different is not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.common.audit_witness import WitnessedHead, WitnessStatus, compare_with_witness, witness_bucket

HEAD = WitnessedHead(seq=12, hash="ab" * 32, entries=12, witnessed_at=datetime(2026, 3, 1, 8, 30, tzinfo=UTC))


def test_a_chain_that_holds_the_witnessed_head_matches_even_after_growing() -> None:
    same = compare_with_witness(HEAD, last_seq=12, entries=12, hash_at_witnessed_seq=HEAD.hash)
    grown = compare_with_witness(HEAD, last_seq=20, entries=20, hash_at_witnessed_seq=HEAD.hash)
    for check in (same, grown):
        assert check.status is WitnessStatus.MATCHES and not check.mismatch
        assert "seq 12" in check.detail and "2026-03-01T08:30:00+00:00" in check.detail


def test_nothing_witnessed_yet_is_said_but_is_no_mismatch() -> None:
    check = compare_with_witness(None, last_seq=3, entries=3, hash_at_witnessed_seq=None)
    assert check.status is WitnessStatus.NOT_WITNESSED and not check.mismatch
    assert check.detail == "not witnessed yet"


def test_a_chain_cut_before_the_witnessed_head_is_truncated() -> None:
    check = compare_with_witness(HEAD, last_seq=9, entries=9, hash_at_witnessed_seq=None)
    assert check.status is WitnessStatus.TRUNCATED and check.mismatch
    assert check.detail == (
        "truncated: the chain ends at seq 9, but seq 12 (hash abababababab…) was witnessed at 2026-03-01T08:30:00+00:00"
    )
    emptied = compare_with_witness(HEAD, last_seq=None, entries=0, hash_at_witnessed_seq=None)
    assert emptied.status is WitnessStatus.TRUNCATED and "the chain is empty" in emptied.detail


def test_entries_cut_and_new_ones_appended_are_a_truncation() -> None:
    # seq keeps counting on PostgreSQL: the witnessed seq is gone although the chain is longer.
    check = compare_with_witness(HEAD, last_seq=14, entries=11, hash_at_witnessed_seq=None)
    assert check.status is WitnessStatus.TRUNCATED
    assert "no entry at seq 12" in check.detail


def test_a_different_hash_at_the_witnessed_seq_is_a_rewrite() -> None:
    check = compare_with_witness(HEAD, last_seq=12, entries=12, hash_at_witnessed_seq="cd" * 32)
    assert check.status is WitnessStatus.REWRITTEN and check.mismatch
    assert check.detail.startswith("rewritten: seq 12's hash cdcdcdcdcdcd… differs")


def test_fewer_entries_than_witnessed_is_a_truncation() -> None:
    # An entry removed below the witnessed head (the chain walk names which one).
    check = compare_with_witness(HEAD, last_seq=12, entries=11, hash_at_witnessed_seq=HEAD.hash)
    assert check.status is WitnessStatus.TRUNCATED and "11 entries, but 12 were witnessed" in check.detail


def test_a_witnessed_head_survives_its_json_form() -> None:
    assert WitnessedHead.from_json(HEAD.to_json()) == HEAD


@pytest.mark.parametrize(
    ("stream", "bucket"),
    [("GRANARY", "GRANARY_AUDIT_HEADS"), ("T_ab12", "T_ab12_AUDIT_HEADS"), ("a.b", "a_b_AUDIT_HEADS")],
)
def test_each_installation_has_its_own_bucket(stream: str, bucket: str) -> None:
    assert witness_bucket(stream) == bucket
