"""The shipped credit SOP's countersign (会签) on the engine alone: which opinion calls it makes.

Each ballot cast becomes one ``credit.add_opinion`` call (node ``committee_vote/<n>``, in the
order cast, on behalf of the member who cast it), made one after the other after the vote; the
decision's transition follows on behalf of the closing member. A state saved between two
ballots, or between two of those calls, and loaded onto a freshly parsed model (a restarted
service) goes on exactly as without the restart. ``on_behalf_of`` is a parameter of every
operator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.process.domain import engine
from services.process.domain.validation import ModelFile, validate_model
from tests.unit.process import diagrams as d

BPMN_DIR = Path(__file__).resolve().parents[3] / "bpmn"
FILES = [(name, (BPMN_DIR / name).read_bytes()) for name in ("credit_sop.bpmn", "approval_tiers.dmn")]

REPLIES: dict[str, dict[str, Any]] = {
    "credit.get_application": {"id": "APP-1", "amount": "1200000", "party_id": "P-1", "product_id": "PR-1"},
    "credit.get_exposure": {"total": "1200000"},
    "customer.get_credit_summary": {"summary": {"rating": "B"}},
}


class Instance:
    """One instance of the shipped SOP; ``restart`` reloads its saved state onto a new parse."""

    def __init__(self) -> None:
        self.specs = engine.build_specs(FILES, "credit_sop")
        self.wf = engine.start(self.specs, {"business_key": "APP-1", "branch_id": "B1", "initiator_id": "officer"})
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def restart(self) -> None:
        self.specs = engine.build_specs(FILES, "credit_sop")
        self.wf = engine.load(engine.dump(self.wf), self.specs)

    def run_calls(self, *, restart_between: bool = False) -> None:
        while calls := engine.pending_service_calls(self.wf):
            call = calls[0]
            self.calls.append((call.node_id, call.params))
            reply = REPLIES.get(call.operator, {"ok": True})
            assert engine.complete_service_task(self.wf, call.task_id, reply)
            if restart_between:
                self.restart()

    def ballots(self) -> list[engine.UserTaskView]:
        return [t for t in engine.open_user_tasks(self.wf) if t.node_id == "committee_vote"]

    def decide(self, task: engine.UserTaskView, user: str, decision: str = "approve", comment: str = "") -> None:
        engine.complete_user_task(self.wf, task.task_id, {"decision": decision, "comment": comment, "decided_by": user})

    def to_countersign(self) -> None:
        self.run_calls()
        engine.deliver_message(self.wf, "fieldtask.task.completed", {"results": {"rating": "B"}})
        self.run_calls()
        for user in ("sup", "pres"):
            [task] = engine.open_user_tasks(self.wf)
            self.decide(task, user)
            self.run_calls()
        assert len(self.ballots()) == 3
        self.calls.clear()

    def opinion_calls(self) -> list[tuple[str, str, str, str]]:
        return [
            (p["node"], p.get("decision") or p["action"], p["comment"], p["on_behalf_of"])
            for node, p in self.calls
            if node in ("committee_vote_opinions", "approve", "reject", "return_application")
        ]


@pytest.mark.parametrize("restart", [False, True], ids=["running", "restarted between every step"])
def test_each_ballot_is_one_opinion_call_in_the_order_cast_then_the_decision(restart: bool) -> None:
    sop = Instance()
    sop.to_countersign()
    first, second, third = sop.ballots()
    for ballot, user, comment in [(third, "m3", "同意"), (first, "m1", "抵押充足"), (second, "m2", "可以")]:
        sop.decide(ballot, user, comment=comment)
        assert sop.calls == [], "nothing is called while the vote is open"
        if restart:
            sop.restart()
    sop.run_calls(restart_between=restart)
    assert sop.opinion_calls() == [
        ("committee_vote/1", "approve", "同意", "m3"),
        ("committee_vote/2", "approve", "抵押充足", "m1"),
        ("committee_vote/3", "approve", "可以", "m2"),
        ("committee_vote", "approve", "可以", "m2"),
    ]
    assert [t.node_id for t in engine.open_user_tasks(sop.wf)] == ["sign"]


def test_a_reject_closes_the_vote_and_only_the_ballots_cast_are_recorded() -> None:
    sop = Instance()
    sop.to_countersign()
    first, second, _ = sop.ballots()
    sop.decide(first, "m1", comment="同意")
    sop.decide(second, "m2", "reject", "还款来源不足")
    assert sop.ballots() == [], "the third ballot is withdrawn"
    sop.run_calls()
    assert sop.opinion_calls() == [
        ("committee_vote/1", "approve", "同意", "m1"),
        ("committee_vote/2", "reject", "还款来源不足", "m2"),
        ("committee_vote", "reject", "还款来源不足", "m2"),
    ]


def test_after_a_return_the_next_countersign_records_only_its_own_ballots() -> None:
    sop = Instance()
    sop.to_countersign()
    first, *_ = sop.ballots()
    sop.decide(first, "m1", "return", "补充担保人资料")
    sop.run_calls()
    [revise] = engine.open_user_tasks(sop.wf)
    sop.decide(revise, "officer", "submit")
    sop.run_calls()
    for user in ("sup", "pres"):
        [task] = engine.open_user_tasks(sop.wf)
        sop.decide(task, user)
        sop.run_calls()
    sop.calls.clear()
    for ballot, user in zip(sop.ballots(), ("m2", "m3", "m1"), strict=True):
        sop.decide(ballot, user, comment=f"{user} 同意")
    sop.run_calls()
    assert sop.opinion_calls() == [
        ("committee_vote/1", "approve", "m2 同意", "m2"),
        ("committee_vote/2", "approve", "m3 同意", "m3"),
        ("committee_vote/3", "approve", "m1 同意", "m1"),
        ("committee_vote", "approve", "m1 同意", "m1"),
    ]


def test_on_behalf_of_is_a_parameter_of_every_operator() -> None:
    def model(param_type: str) -> bytes:
        note = d.service(
            "note",
            "notification.notify",
            {"recipient_id": ("str", '"u1"'), "title": ("str", '"t"'), "on_behalf_of": (param_type, '"u1"')},
        )
        return d.bpmn("notes", [d.start(), note, d.end()], d.chain("start", "note", "end"))

    assert validate_model([ModelFile("notes.bpmn", model("str"))]).valid
    report = validate_model([ModelFile("notes.bpmn", model("int"))])
    assert [(p.element_id, p.reason) for p in report.problems] == [
        ("note", "parameter 'on_behalf_of' of notification.notify is str, not int")
    ]
