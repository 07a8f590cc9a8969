"""What a notice says. Texts are Chinese: they are read by the lender's staff."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Notice:
    recipient_id: str
    title: str
    body: str


def new_customer_notice(*, managing_officer_id: str, party_name: str) -> Notice:
    """The officer who manages a newly registered customer hears about it in the app."""
    return Notice(
        recipient_id=managing_officer_id,
        title="新客户已建档",
        body=f"客户「{party_name}」已建档，由您负责管理，请及时跟进。",
    )
