"""Timer kinds not covered elsewhere: a timer start event and an intermediate date timer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.process.test_process_engine import deploy, instance, start
from tests.support import eventually
from tests.unit.process import diagrams as d

pytestmark = pytest.mark.integration

TIMER_START = (
    '<bpmn:startEvent id="start"><bpmn:timerEventDefinition>'
    '<bpmn:timeDuration>"PT1S"</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:startEvent>'
)


async def test_timer_start_event_and_date_timer_fire_once_each(process_env) -> None:
    env = await process_env()
    delayed = d.bpmn(
        "delayed",
        [TIMER_START, d.user("after", "延迟开始"), d.end()],
        d.chain("start", "after", "end"),
        {"officer": ["after"]},
    )
    due = (datetime.now(UTC) + timedelta(seconds=6)).replace(microsecond=0)
    dated = d.bpmn(
        "dated",
        [d.start(), d.timer_catch("on_date", f'"{due.isoformat()}"', date=True), d.user("after", "到日处理"), d.end()],
        d.chain("start", "on_date", "after", "end"),
        {"officer": ["after"]},
    )
    await deploy(env, ("delayed.bpmn", delayed))
    await deploy(env, ("dated.bpmn", dated))
    first = await start(env, "delayed", "APP-TS")
    second = await start(env, "dated", "APP-TD")
    assert [t.node_id for t in first.timers] == ["start"] and list(first.open_tasks) == []
    [timer] = second.timers
    assert timer.node_id == "on_date" and timer.due_at.ToDatetime(tzinfo=UTC) == due

    async def both_fired() -> bool:
        states = [await instance(env, i.id) for i in (first, second)]
        return all([t.node_id for t in s.open_tasks] == ["after"] for s in states)

    await eventually(both_fired, timeout=30)
    for started in (first, second):
        state = await instance(env, started.id)
        assert [h.action for h in state.history].count("timer.fired") == 1
        assert list(state.timers) == []
    fired_at = next(h.at for h in (await instance(env, second.id)).history if h.action == "timer.fired")
    assert fired_at.ToDatetime(tzinfo=UTC) >= due  # never early
