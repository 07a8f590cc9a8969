"""The process service end to end over gRPC on PostgreSQL: deploy, run, inbox, timers, incidents."""

from __future__ import annotations

import asyncio
import json

import pytest
from granary.v1 import process_pb2 as pb

from services.common.grpc_errors import RemoteError as DomainError
from tests.integration.process.conftest import ProcessEnv
from tests.support import eventually
from tests.unit.process import diagrams as d

OWNER = ("owner1", ["process_owner"])


def files(*pairs: tuple[str, bytes]) -> list[pb.ModelFile]:
    return [pb.ModelFile(name=n, content=c) for n, c in pairs]


async def deploy(env: ProcessEnv, *pairs: tuple[str, bytes]) -> pb.DeployProcessModelResponse:
    return await env.rpc("DeployProcessModel", pb.DeployProcessModelRequest(files=files(*pairs)), env.user(*OWNER))


async def start(
    env: ProcessEnv,
    key: str,
    business_key: str,
    starter: tuple[str, list[str]] = ("officer1", ["officer"]),
    **variables: object,
) -> pb.ProcessInstance:
    reply = await env.rpc(
        "StartProcessInstance",
        pb.StartProcessInstanceRequest(
            process_key=key, business_key=business_key, variables_json=json.dumps(variables)
        ),
        env.user(*starter),
    )
    return reply.instance


async def instance(env: ProcessEnv, instance_id: str) -> pb.ProcessInstance:
    reply = await env.rpc(
        "GetProcessInstance", pb.GetProcessInstanceRequest(instance_id=instance_id), env.user("admin1", ["admin"])
    )
    return reply.instance


async def complete(
    env: ProcessEnv, task_id: str, user: tuple[str, list[str]], decision: str = "approve", **kwargs: str
) -> pb.InboxTask:
    reply = await env.rpc(
        "CompleteTask", pb.CompleteTaskRequest(task_id=task_id, decision=decision, **kwargs), env.user(*user)
    )
    return reply.task


async def test_a_set_with_several_errors_lists_them_all_and_stores_nothing(process_env) -> None:
    env = await process_env()
    bad = d.bpmn(
        "bad",
        [d.start(), d.script("s1", "import os"), d.service("svc", "credit.nope", {}), d.end()],
        [*d.chain("start", "s1", "svc", "end")],
        {"janitor": ["s1"]},
    )
    with pytest.raises(DomainError) as caught:
        await deploy(env, ("bad.bpmn", bad), ("broken.dmn", b"<not xml"))
    reasons = {(v.field, v.description.split(" ")[0]) for v in caught.value.violations}  # type: ignore[attr-defined]
    fields = {f for f, _ in reasons}
    assert "bad.bpmn#s1" in fields and "bad.bpmn#svc" in fields and "bad.bpmn#lane_0" in fields
    assert "broken.dmn" in fields
    models = await env.rpc("ListProcessModels", pb.ListProcessModelsRequest(), env.user(*OWNER))
    assert list(models.models) == []


async def test_redeploy_is_idempotent_and_instances_keep_their_version(process_env) -> None:
    env = await process_env()
    first = await deploy(env, ("seq.bpmn", d.SEQUENTIAL))
    again = await deploy(env, ("seq.bpmn", d.SEQUENTIAL))
    assert first.created and not again.created and again.version.version == 1
    old = await start(env, "seq_approval", "APP-1")
    changed = d.SEQUENTIAL.replace("初审".encode(), "初审（新）".encode())
    second = await deploy(env, ("seq.bpmn", changed))
    assert second.created and second.version.version == 2
    new = await start(env, "seq_approval", "APP-2")
    assert (old.version, new.version) == (1, 2)
    assert old.open_tasks[0].title.startswith("初审 ") and new.open_tasks[0].title.startswith("初审（新）")
    download = await env.rpc(
        "GetProcessVersion", pb.GetProcessVersionRequest(process_key="seq_approval", version=1), env.user(*OWNER)
    )
    assert download.files[0].content == d.SEQUENTIAL


async def test_sequential_approval_with_four_eyes_and_double_completion(process_env) -> None:
    env = await process_env()
    await deploy(env, ("seq.bpmn", d.SEQUENTIAL))
    started = await start(env, "seq_approval", "APP-9", starter=("sup0", ["officer", "supervisor"]))
    review = started.open_tasks[0]
    assert (review.candidate_role, review.branch_id, review.node_id) == ("supervisor", "B1", "review")
    # The initiator holds the role but may not approve his own application.
    with pytest.raises(DomainError) as four_eyes:
        await complete(env, review.id, ("sup0", ["officer", "supervisor"]))
    assert four_eyes.value.reason == "FOUR_EYES"
    # Another branch's supervisor does not even see the task.
    with pytest.raises(DomainError) as hidden:
        await env.rpc("ClaimTask", pb.ClaimTaskRequest(task_id=review.id), env.user("sup9", ["supervisor"], "B9"))
    assert hidden.value.status == "NOT_FOUND"
    claimable = await env.rpc("ListTasks", pb.ListTasksRequest(view="claimable"), env.user("sup1", ["supervisor"]))
    assert [t.id for t in claimable.tasks] == [review.id]
    await env.rpc("ClaimTask", pb.ClaimTaskRequest(task_id=review.id), env.user("sup1", ["supervisor"]))
    mine = await env.rpc("ListTasks", pb.ListTasksRequest(view="mine"), env.user("sup1", ["supervisor"]))
    assert [t.id for t in mine.tasks] == [review.id]
    # Two completions at once: one wins, the other is refused as a conflict.
    results = await asyncio.gather(
        complete(env, review.id, ("sup1", ["supervisor"]), comment="ok"),
        complete(env, review.id, ("sup1", ["supervisor"]), comment="ok again"),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(errors) == 1 and errors[0].status in ("FAILED_PRECONDITION", "ABORTED")  # type: ignore[attr-defined]
    with pytest.raises(DomainError) as finished:
        await complete(env, review.id, ("sup1", ["supervisor"]))
    assert finished.value.status == "FAILED_PRECONDITION"
    state = await instance(env, started.id)
    approve = state.open_tasks[0]
    assert approve.candidate_role == "president"
    await complete(env, approve.id, ("pres1", ["president"]), comment="同意")
    state = await instance(env, started.id)
    assert state.status == "completed"
    actions = [(h.action, h.actor_id, h.decision) for h in state.history if h.action == "task.completed"]
    assert actions == [("task.completed", "sup1", "approve"), ("task.completed", "pres1", "approve")]
    durations = await env.rpc(
        "GetNodeDurations", pb.GetNodeDurationsRequest(process_key="seq_approval"), env.user(*OWNER)
    )
    assert {n.node_id: n.count for n in durations.nodes} == {"review": 1, "approve": 1}


COUNTERSIGN = d.bpmn(
    "countersign",
    [
        d.start(),
        d.user("vote", "会签", multi=d.multi_instance("3", 'decision == "reject"')),
        d.xor("gw", default="f_ok"),
        d.end("approved"),
        d.end("rejected"),
    ],
    [
        *d.chain("start", "vote", "gw"),
        d.flow("gw", "rejected", '"reject" in votes'),
        d.flow("gw", "approved", flow_id="f_ok"),
    ],
    {"committee_member": ["vote"]},
)
ORSIGN = d.bpmn(
    "orsign",
    [d.start(), d.user("vote", "或签", multi=d.multi_instance("3", "True")), d.end()],
    d.chain("start", "vote", "end"),
    {"supervisor": ["vote"]},
)


async def test_countersign_any_reject_rejects_and_one_person_one_vote(process_env) -> None:
    env = await process_env()
    await deploy(env, ("cs.bpmn", COUNTERSIGN))
    started = await start(env, "countersign", "APP-CS")
    votes = list(started.open_tasks)
    assert len(votes) == 3 and {t.candidate_role for t in votes} == {"committee_member"}
    await complete(env, votes[0].id, ("m1", ["committee_member"]))
    with pytest.raises(DomainError) as twice:
        await complete(env, votes[1].id, ("m1", ["committee_member"]))
    assert twice.value.reason == "ONE_VOTE"
    await complete(env, votes[1].id, ("m2", ["committee_member"]), decision="reject")
    state = await instance(env, started.id)
    assert state.status == "completed" and list(state.open_tasks) == []
    assert "rejected" in [h.node_id for h in state.history] or json.loads(state.variables_json)["votes"] == [
        "approve",
        "reject",
    ]


async def test_orsign_first_decision_wins_and_others_leave_the_inboxes(process_env) -> None:
    env = await process_env()
    await deploy(env, ("or.bpmn", ORSIGN))
    started = await start(env, "orsign", "APP-OR")
    assert len(started.open_tasks) == 3
    await complete(env, started.open_tasks[2].id, ("s1", ["supervisor"]))
    state = await instance(env, started.id)
    assert state.status == "completed"
    claimable = await env.rpc("ListTasks", pb.ListTasksRequest(view="claimable"), env.user("s2", ["supervisor"]))
    assert list(claimable.tasks) == []


TIERS = d.dmn(
    "approval_tier",
    [("amount", "amount"), ("rating", "rating")],
    "next_role",
    [
        (["< 50000", '"A"'], '"auto"'),
        (["< 50000", ""], '"supervisor"'),
        (["<= 500000", ""], '"president"'),
        (["> 500000", ""], '"risk_director"'),
    ],
)
ROUTED = d.bpmn(
    "routed",
    [
        d.start(),
        d.rule("route", "approval_tier"),
        d.xor("gw", default="f_auto"),
        d.user("sup", "主管审批"),
        d.user("pres", "行长审批"),
        d.user("risk", "风控审批"),
        d.end(),
        d.end("e2"),
        d.end("e3"),
        d.end("e4"),
    ],
    [
        *d.chain("start", "route", "gw"),
        d.flow("gw", "sup", 'next_role == "supervisor"'),
        d.flow("gw", "pres", 'next_role == "president"'),
        d.flow("gw", "risk", 'next_role == "risk_director"'),
        d.flow("gw", "end", flow_id="f_auto"),
        d.flow("sup", "e2"),
        d.flow("pres", "e3"),
        d.flow("risk", "e4"),
    ],
    {"supervisor": ["sup"], "president": ["pres"], "risk_director": ["risk"]},
)


async def test_dmn_routes_each_tier_to_its_role(process_env) -> None:
    env = await process_env()
    await deploy(env, ("routed.bpmn", ROUTED), ("tier.dmn", TIERS))
    roles = []
    for n, (amount, rating) in enumerate([(10000, "A"), (10000, "B"), (80000, "A"), (900000, "B")]):
        started = await start(env, "routed", f"APP-T{n}", amount=amount, rating=rating)
        roles.append(started.open_tasks[0].candidate_role if started.open_tasks else started.status)
    assert roles == ["completed", "supervisor", "president", "risk_director"]


REMIND_ESCALATE = d.bpmn(
    "timers",
    [
        d.start(),
        d.user("review", "初审"),
        d.timer_boundary("remind", "review", '"R5/PT0.3S"', interrupting=False, cycle=True),
        d.timer_boundary("escalate", "review", '"PT2S"', interrupting=True),
        d.user("review_up", "上级审批"),
        d.end(),
        d.end("e_remind"),
        d.end("e_up"),
    ],
    [
        *d.chain("start", "review", "end"),
        d.flow("remind", "e_remind"),
        d.flow("escalate", "review_up"),
        d.flow("review_up", "e_up"),
    ],
    {"supervisor": ["review"], "president": ["review_up"]},
)


async def test_reminder_then_escalation_to_the_superior_role(process_env) -> None:
    env = await process_env()
    await deploy(env, ("timers.bpmn", REMIND_ESCALATE))
    started = await start(env, "timers", "APP-TM")
    assert started.open_tasks[0].due_at.seconds > 0
    assert {t.node_id for t in started.timers} >= {"escalate"}

    async def escalated() -> bool:
        state = await instance(env, started.id)
        return [t.candidate_role for t in state.open_tasks] == ["president"]

    await eventually(escalated, timeout=10)
    state = await instance(env, started.id)
    actions = [h.action for h in state.history]
    assert "task.reminded" in actions
    # The supervisor's task leaves the inbox as escalated; the president's one records where it came from.
    escalations = [(h.node_id, h.comment) for h in state.history if h.action == "task.escalated"]
    assert ("review", "") in escalations and ("review_up", "from review") in escalations


async def test_intermediate_timer_fires_once_with_two_replicas(process_env) -> None:
    env_a = await process_env()
    env_b = await process_env(same_database=True)
    waiting = d.bpmn(
        "wait",
        [d.start(), d.timer_catch("t", '"PT1S"'), d.user("after", "到期后"), d.end()],
        d.chain("start", "t", "after", "end"),
        {"officer": ["after"]},
    )
    await deploy(env_a, ("wait.bpmn", waiting))
    ids = [(await start(env_b, "wait", f"W{i}")).id for i in range(6)]

    async def all_fired() -> bool:
        states = [await instance(env_a, i) for i in ids]
        return all(len(s.open_tasks) == 1 for s in states)

    await eventually(all_fired, timeout=15)
    for i in ids:
        state = await instance(env_a, i)
        assert [h.action for h in state.history].count("timer.fired") == 1
        assert len([h for h in state.history if h.action == "task.created"]) == 1


async def test_service_task_retries_then_incident_then_retry_succeeds(process_env) -> None:
    env = await process_env()
    calls: list[str] = []
    healthy = {"up": False}

    async def exposure(params: dict[str, object], key: str) -> object:
        calls.append(key)
        if not healthy["up"]:
            raise ConnectionError("credit is down")
        return {"total": "1200.00"}

    env.operators.replace("credit.get_exposure", exposure)
    model = d.bpmn(
        "svc",
        [
            d.start(),
            d.service("exposure", "credit.get_exposure", {"party_id": ("str", "party_id")}, "exposure"),
            d.user("review", "审查"),
            d.end(),
        ],
        d.chain("start", "exposure", "review", "end"),
        {"supervisor": ["review"]},
    )
    await deploy(env, ("svc.bpmn", model))
    started = await start(env, "svc", "APP-S", party_id="P-1")
    admin = env.user("admin1", ["admin"])

    async def incident_open() -> bool:
        found = await env.rpc("ListIncidents", pb.ListIncidentsRequest(instance_id=started.id), admin)
        return len(found.incidents) == 1

    await eventually(incident_open, timeout=15)
    incident = (await env.rpc("ListIncidents", pb.ListIncidentsRequest(instance_id=started.id), admin)).incidents[0]
    assert incident.node_id == "exposure" and len(incident.attempts) == 3 and "credit is down" in incident.error
    assert len(set(calls)) == 1  # every attempt carries the same idempotency key
    assert (await instance(env, started.id)).status == "incident"
    healthy["up"] = True
    await env.rpc("RetryIncident", pb.RetryIncidentRequest(incident_id=incident.id), admin)

    async def reviewed() -> bool:
        return [t.node_id for t in (await instance(env, started.id)).open_tasks] == ["review"]

    await eventually(reviewed, timeout=15)
    state = await instance(env, started.id)
    assert state.status == "running" and json.loads(state.variables_json)["exposure"] == {"total": "1200.00"}


async def test_script_escapes_are_refused_at_deploy_and_endless_loop_stopped(process_env) -> None:
    env = await process_env()
    for n, code in enumerate(
        ["import os", "__import__('os')", "open('/etc/passwd')", "x = ().__class__.__bases__[0].__subclasses__()"]
    ):
        model = d.bpmn(f"esc{n}", [d.start(), d.script("s", code), d.end()], d.chain("start", "s", "end"))
        with pytest.raises(DomainError) as refused:
            await deploy(env, (f"esc{n}.bpmn", model))
        assert refused.value.violations[0].field == f"esc{n}.bpmn#s"  # type: ignore[attr-defined]
    loop = d.bpmn("loop", [d.start(), d.script("s", "while True:\n    x = 1"), d.end()], d.chain("start", "s", "end"))
    await deploy(env, ("loop.bpmn", loop))
    started = await start(env, "loop", "L-1")
    assert started.status == "incident"
    incidents = await env.rpc(
        "ListIncidents", pb.ListIncidentsRequest(instance_id=started.id), env.user("admin1", ["admin"])
    )
    assert "step budget" in incidents.incidents[0].error
