"""The engine's guards and timer catch-up, in memory (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from SpiffWorkflow.util.task import TaskState

from services.process.domain import engine
from services.process.domain.validation import ModelFile, validate_model
from tests.unit.process import diagrams as d

LOOP = d.bpmn(
    "loop",
    [d.start(), d.script("inc", "n = n + 1"), d.xor("gw", default="f_back"), d.end()],
    [*d.chain("start", "inc", "gw"), d.flow("gw", "end", "n < 0"), d.flow("gw", "inc", flow_id="f_back")],
)
BOUNDED_LOOP = d.bpmn(
    "bounded",
    [d.start(), d.script("inc", "n = n + 1"), d.xor("gw", default="f_back"), d.end()],
    [*d.chain("start", "inc", "gw"), d.flow("gw", "end", "n >= 50"), d.flow("gw", "inc", flow_id="f_back")],
)
GATEWAY_LOOP = d.bpmn(
    "gateways",
    [d.start(), d.xor("a", default="f_ab"), d.xor("b", default="f_ba"), d.end()],
    [
        d.flow("start", "a"),
        d.flow("a", "b", flow_id="f_ab"),
        d.flow("b", "a", flow_id="f_ba"),
        d.flow("a", "end", "False"),
    ],
)
COUNTED = d.bpmn(
    "counted",
    [d.start(), d.user("vote", "会签", multi=d.multi_instance("members", "False")), d.end()],
    d.chain("start", "vote", "end"),
    {"committee_member": ["vote"]},
)


def specs_of(model: bytes, process_id: str) -> engine.VersionSpecs:
    return engine.build_specs([(f"{process_id}.bpmn", model)], process_id)


def test_an_endless_loop_of_automatic_steps_stops_with_a_clear_guard() -> None:
    with pytest.raises(engine.GuardExceeded) as stopped:
        engine.start(specs_of(LOOP, "loop"), {"n": 0})
    assert str(stopped.value) == "node inc was entered 101 times (limit 100): a loop without end?"
    assert engine._node_id(stopped.value.task) == "inc"


def test_a_loop_within_the_cap_completes() -> None:
    wf = engine.start(specs_of(BOUNDED_LOOP, "bounded"), {"n": 0})
    assert engine.is_completed(wf) and engine.variables(wf)["n"] == 50


def test_a_loop_of_gateways_alone_stops_instead_of_looking_completed() -> None:
    # Unguarded, the engine stops seeing tasks 1,000 levels down and calls the instance completed.
    with pytest.raises(engine.GuardExceeded, match=r"path is 901 steps deep \(limit 900\)"):
        engine.start(specs_of(GATEWAY_LOOP, "gateways"), {})


def test_many_rounds_of_a_rework_loop_stop_before_the_engine_loses_sight() -> None:
    rework = d.bpmn(
        "rework",
        [d.start(), d.user("fix", "补充材料"), *[d.script(f"s{i}", "x = 1") for i in range(8)], d.xor("gw"), d.end()],
        [
            *d.chain("start", "fix", *[f"s{i}" for i in range(8)], "gw"),
            d.flow("gw", "end", 'decision == "approve"'),
            d.flow("gw", "fix", 'decision != "approve"'),
        ],
        {"officer": ["fix"]},
    )
    wf = engine.start(specs_of(rework, "rework"), {})
    with pytest.raises(engine.GuardExceeded, match="steps deep"):
        for _ in range(100):
            [task] = engine.open_user_tasks(wf)
            engine.complete_user_task(wf, task.task_id, {"decision": "return"})


@pytest.mark.parametrize("members", [101, 10**9, -1, "3"])
def test_a_multi_instance_cardinality_outside_the_cap_stops_before_any_instance(members: object) -> None:
    with pytest.raises(engine.GuardExceeded, match=r"multi-instance cardinality .* of vote is outside 0\.\.100"):
        engine.start(specs_of(COUNTED, "counted"), {"members": members})


def test_a_multi_instance_cardinality_within_the_cap_creates_one_task_each() -> None:
    wf = engine.start(specs_of(COUNTED, "counted"), {"members": 100})
    assert len(engine.open_user_tasks(wf)) == 100


def test_a_constant_cardinality_above_the_cap_is_refused_at_deploy() -> None:
    model = d.bpmn(
        "big",
        [d.start(), d.user("vote", "会签", multi=d.multi_instance("500", "False")), d.end()],
        d.chain("start", "vote", "end"),
        {"committee_member": ["vote"]},
    )
    report = validate_model([ModelFile("big.bpmn", model)])
    assert [(p.element_id, p.reason) for p in report.problems] == [("vote", "loop cardinality must be 1..100, not 500")]


REMINDED = d.bpmn(
    "reminded",
    [
        d.start(),
        d.user("review", "初审"),
        d.timer_boundary("remind", "review", '"R10/PT1H"', interrupting=False, cycle=True),
        d.end(),
        d.end("e_remind"),
    ],
    [*d.chain("start", "review", "end"), d.flow("remind", "e_remind")],
    {"supervisor": ["review"]},
)


def _reminders(wf: object) -> int:
    tasks = wf.get_tasks()  # type: ignore[attr-defined]
    return len([t for t in tasks if t.task_spec.name == "e_remind" and t.state == TaskState.COMPLETED])


def _move_cycle_back(wf: object, hours: float) -> None:
    for task in wf.get_tasks(state=TaskState.WAITING):  # type: ignore[attr-defined]
        value = task.internal_data.get("event_value")
        if isinstance(value, dict):
            value["next"] = (datetime.now(UTC) - timedelta(hours=hours)).isoformat()


def test_missed_repetitions_of_a_reminder_collapse_into_one() -> None:
    specs = specs_of(REMINDED, "reminded")
    # Without the collapse the engine catches up one reminder per missed hour in one go.
    uncollapsed = engine.start(specs, {})
    _move_cycle_back(uncollapsed, 5.5)
    engine.advance(uncollapsed)
    assert _reminders(uncollapsed) == 6

    wf = engine.start(specs, {})
    _move_cycle_back(wf, 5.5)
    now = datetime.now(UTC)
    assert engine.collapse_missed_cycles(wf, now) == 5
    engine.advance(wf)
    assert _reminders(wf) == 1
    [timer] = engine.waiting_timers(wf)
    assert now < timer.due_at <= now + timedelta(hours=1)
    # The count of repetitions shrinks by the skipped ones: 10 - 5 skipped - 1 fired.
    [waiting] = [t for t in wf.get_tasks(state=TaskState.WAITING) if t.task_spec.name == "remind"]
    assert waiting.internal_data["event_value"]["cycles"] == 4


def test_a_timer_not_yet_late_is_left_alone() -> None:
    wf = engine.start(specs_of(REMINDED, "reminded"), {})
    before = engine.waiting_timers(wf)
    assert engine.collapse_missed_cycles(wf, datetime.now(UTC)) == 0
    assert engine.waiting_timers(wf) == before
