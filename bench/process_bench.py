"""Process service throughput and latency on the real PostgreSQL and NATS.

Runs the process service in this process (gRPC server, timer scheduler, outbox relay) on a
fresh PostgreSQL database, deploys a 10-step sequential approval diagram and drives N
instances through it with C concurrent clients over gRPC: start, then ten CompleteTask calls
each (each step is a locked load of the instance, one engine step, the inbox/history/outbox
projections and one commit). Meanwhile T instances of a one-timer diagram wait for a due time
inside the run, to measure how late the scheduler fires under that load. Finally the same
10-step diagram runs on bare SpiffWorkflow in memory (no persistence, its default script
engine) for the ratio.

Prints instances/s, task completions/s, p50/p99 complete-task latency, timer lateness and
the in-memory figures. Needs GRANARY_TEST_PG_URL / NATS_URL (defaults: local services).

    .venv/bin/python bench/process_bench.py [--instances 200] [--concurrency 20] [--timers 50]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import platform
import resource
import secrets
import statistics
import time
import uuid
from datetime import UTC, datetime

import asyncpg
import nats

PG_URL = os.environ.get("GRANARY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
STEPS = 10
TIMER_SECONDS = 3


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else 0.0


NS = 'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'


def _process(process_id: str, nodes: list[str], lanes: dict[str, list[str]], elements: str) -> bytes:
    flows = "".join(
        f'<bpmn:sequenceFlow id="f{n}" sourceRef="{a}" targetRef="{b}"/>'
        for n, (a, b) in enumerate(itertools.pairwise(nodes))
    )
    lane_xml = "".join(
        f'<bpmn:lane id="lane_{n}" name="{role}">'
        + "".join(f"<bpmn:flowNodeRef>{r}</bpmn:flowNodeRef>" for r in refs)
        + "</bpmn:lane>"
        for n, (role, refs) in enumerate(lanes.items())
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions {NS} id="defs_{process_id}" '
        f'targetNamespace="http://granary.example/bpmn"><bpmn:process id="{process_id}" isExecutable="true">'
        f'<bpmn:laneSet id="lanes">{lane_xml}</bpmn:laneSet><bpmn:startEvent id="start"/>{elements}'
        f'<bpmn:endEvent id="end"/>{flows}</bpmn:process></bpmn:definitions>'
    ).encode()


def approval_diagram() -> bytes:
    """start → ten user tasks alternating supervisor / president → end."""
    steps = [f"step{n}" for n in range(STEPS)]
    elements = "".join(f'<bpmn:userTask id="{s}" name="审批{n + 1}"/>' for n, s in enumerate(steps))
    lanes = {"supervisor": steps[0::2], "president": steps[1::2]}
    return _process("ten_steps", ["start", *steps, "end"], lanes, elements)


def timer_diagram() -> bytes:
    """start → a duration timer → one user task → end."""
    elements = (
        '<bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>'
        f'<bpmn:timeDuration>"PT{TIMER_SECONDS}S"</bpmn:timeDuration></bpmn:timerEventDefinition>'
        '</bpmn:intermediateCatchEvent><bpmn:userTask id="after" name="到期处理"/>'
    )
    return _process("one_timer", ["start", "wait", "after", "end"], {"officer": ["after"]}, elements)


def bare_spiff(instances: int) -> tuple[float, float]:
    """The same diagram on SpiffWorkflow alone, in memory: (instances/s, completions/s)."""
    from lxml import etree
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
    from SpiffWorkflow.util.task import TaskState

    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(etree.fromstring(approval_diagram()), filename="ten.bpmn")
    spec = parser.get_spec("ten_steps")
    subprocesses = parser.get_subprocess_specs("ten_steps")
    started = time.perf_counter()
    for n in range(instances):
        wf = BpmnWorkflow(spec, subprocesses)
        wf.data["business_key"] = f"APP-{n}"
        wf.do_engine_steps()
        for _ in range(STEPS):
            [task] = wf.get_tasks(state=TaskState.READY, manual=True)
            task.data["decision"] = "approve"
            task.run()
            wf.do_engine_steps()
        assert wf.is_completed()
    seconds = time.perf_counter() - started
    return instances / seconds, instances * STEPS / seconds


async def main(total: int, concurrency: int, timers: int) -> None:
    database = f"granary_bench_{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:8]
    url = PG_URL.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{database}"
    os.environ.update(
        {
            "GRANARY_ENV": "dev",
            "GRANARY_JWT_SECRET": secrets.token_urlsafe(48),
            "GRANARY_FIELD_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
            "GRANARY_NATS_URL": NATS_URL,
            "GRANARY_NATS_STREAM": f"BENCH_{tag}",
            "GRANARY_NATS_SUBJECT_PREFIX": f"b{tag}",
            "GRANARY_PROCESS_DATABASE_URL": url,
        }
    )
    from granary.v1 import process_pb2 as pb
    from granary.v1 import process_pb2_grpc

    from services.common.grpc_client import ServiceChannels, call
    from services.common.identity import ServiceIdentity, TokenSigner
    from services.common.migrations import upgrade_async
    from services.common.runtime import ServiceHost
    from services.common.settings import Settings
    from services.process.main import build
    from services.process.models import HistoryRow
    from services.process.operators import OperatorRegistry
    from services.process.worker import WorkerSettings

    admin = await asyncpg.connect(PG_URL)
    await admin.execute(f'CREATE DATABASE "{database}"')
    host: ServiceHost | None = None
    channels: ServiceChannels | None = None
    try:
        await upgrade_async("process", url)
        host = ServiceHost("process", Settings(), grpc_port=0)
        port = await host.start(build(host, operators=OperatorRegistry({}), worker_settings=WorkerSettings()))
        signer = TokenSigner(os.environ["GRANARY_JWT_SECRET"])
        channels = ServiceChannels(default_timeout=60, fallback_caller=ServiceIdentity(signer, "bench"))
        stub = channels.stub(f"127.0.0.1:{port}", process_pb2_grpc.ProcessServiceStub)

        def user(user_id: str, roles: list[str]):  # type: ignore[no-untyped-def]
            return signer.verify(signer.issue(user_id=user_id, username=user_id, roles=roles, branch_id="B1"))

        owner, officer = user("owner", ["process_owner"]), user("officer1", ["officer"])
        approver = user("approver", ["supervisor", "president"])
        for name, content in (("ten.bpmn", approval_diagram()), ("timer.bpmn", timer_diagram())):
            await call(
                stub.DeployProcessModel,
                pb.DeployProcessModelRequest(files=[pb.ModelFile(name=name, content=content)]),
                caller=owner,
            )

        # Timer instances first: their due times fall inside the approval run below.
        timer_ids: list[str] = []
        for n in range(timers):
            reply = await call(
                stub.StartProcessInstance,
                pb.StartProcessInstanceRequest(process_key="one_timer", business_key=f"TM-{n}"),
                caller=officer,
            )
            timer_ids.append(reply.instance.id)

        start_ms: list[float] = []
        complete_ms: list[float] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(total):
            queue.put_nowait(n)

        async def client() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                t0 = time.perf_counter()
                reply = await call(
                    stub.StartProcessInstance,
                    pb.StartProcessInstanceRequest(
                        process_key="ten_steps",
                        business_key=f"APP-{n}",
                        variables_json=json.dumps({"amount": "50000.00", "party_id": f"P-{n}"}),
                    ),
                    caller=officer,
                )
                start_ms.append((time.perf_counter() - t0) * 1000)
                current = reply.instance
                for _ in range(STEPS):
                    [task] = current.open_tasks
                    t0 = time.perf_counter()
                    await call(
                        stub.CompleteTask,
                        pb.CompleteTaskRequest(task_id=task.id, decision="approve", comment="同意"),
                        caller=approver,
                    )
                    complete_ms.append((time.perf_counter() - t0) * 1000)
                    current = (
                        await call(
                            stub.GetProcessInstance,
                            pb.GetProcessInstanceRequest(instance_id=current.id),
                            caller=approver,
                        )
                    ).instance
                assert current.status == "completed", current.status

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        seconds = time.perf_counter() - started

        # Timer lateness: when the scheduler fired (history) against the due time (state).
        deadline = time.monotonic() + 60
        lateness: list[float] = []
        from sqlalchemy import select

        while time.monotonic() < deadline:
            async with host.sessions() as session:
                fired = (
                    await session.scalars(
                        select(HistoryRow).where(
                            HistoryRow.instance_id.in_(timer_ids), HistoryRow.action == "timer.fired"
                        )
                    )
                ).all()
            if len(fired) >= len(timer_ids):
                break
            await asyncio.sleep(0.2)
        due: dict[str, datetime] = {}
        for instance_id in timer_ids:
            history = (
                await call(stub.GetProcessInstance, pb.GetProcessInstanceRequest(instance_id=instance_id), caller=owner)
            ).instance.history
            started_at = next(h.at for h in history if h.action == "instance.started").ToDatetime(tzinfo=UTC)
            due[instance_id] = started_at
        for row in fired:
            fired_at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
            lateness.append(((fired_at - due[row.instance_id]).total_seconds() - TIMER_SECONDS) * 1000)

        bare_instances, bare_completions = await asyncio.to_thread(bare_spiff, max(total, 200))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print(f"instances: {total} x {STEPS} steps, concurrent clients: {concurrency}, timer instances: {timers}")
        print(f"process service  instances/s:        {total / seconds:8.1f}")
        print(f"process service  task completions/s: {total * STEPS / seconds:8.1f}")
        print(
            f"complete-task latency ms: p50 {pct(complete_ms, 50):.1f}  p99 {pct(complete_ms, 99):.1f}  "
            f"mean {statistics.mean(complete_ms):.1f}"
        )
        print(f"start-instance latency ms: p50 {pct(start_ms, 50):.1f}  p99 {pct(start_ms, 99):.1f}")
        if lateness:
            print(
                f"timer lateness ms ({len(lateness)}/{timers} fired): p50 {pct(lateness, 50):.0f}  "
                f"p99 {pct(lateness, 99):.0f}  max {max(lateness):.0f}"
            )
        print(f"bare SpiffWorkflow in memory instances/s: {bare_instances:8.1f}")
        print(f"bare SpiffWorkflow in memory completions/s: {bare_completions:8.1f}")
        print(
            "ratio (bare in memory / durable service), completions: "
            f"{bare_completions / (total * STEPS / seconds):.1f}x"
        )
        print(f"peak RSS: {rss:.0f} MiB")
    finally:
        if channels is not None:
            await channels.close()
        if host is not None:
            await host.stop()
        nc = await nats.connect(NATS_URL)
        try:
            await nc.jetstream().delete_stream(f"BENCH_{tag}")
        except Exception:
            pass
        await nc.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--timers", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.instances, args.concurrency, args.timers))
