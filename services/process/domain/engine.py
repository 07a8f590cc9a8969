"""SpiffWorkflow, made durable and safe: specs per version, sandboxed scripts, compact state.

Pure: no database, no network. The service layer loads an instance's state, calls one of the
step functions here, and saves the new state in the same transaction.

* A version's BPMN/DMN files are parsed once per process (``VersionSpecs``, cached by the
  caller) with ``GranaryParser``: service tasks become ``DeferredServiceTask`` (they stay
  STARTED; the service calls the operator outside the instance transaction and completes them
  with the reply).
* The instance state (``dump``/``load``) holds the task tree and data, never the spec: the
  workflow converter leaves the spec out and ``load`` takes the cached spec of the version.
* Every load attaches ``SCRIPT_ENGINE`` (the sandbox), so SpiffWorkflow's own ``exec``/``eval``
  never runs.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask, MultiInstanceTask
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import ServiceTaskParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.defaults import ServiceTask, UserTask
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition as SpiffMessageEventDefinition
from SpiffWorkflow.util.task import TaskState

from services.process.domain import sandbox

# Guards against the engine's known limits: a node entered more often than this (a rework
# loop, a multi-instance task) raises an incident instead of degrading silently.
MAX_NODE_ACTIVATIONS = 100
MAX_TASKS = 5_000
# Automatic steps (gateways, scripts, events) one advance may take before it stops: a loop of
# gateways and scripts without a waiting point would otherwise never return.
MAX_STEPS_PER_ADVANCE = 5_000
# SpiffWorkflow walks the task tree only 1,000 levels deep: a task below that is invisible and
# the instance would look completed. Every step of a loop adds a level, so a path this deep
# stops with an incident well before.
MAX_TASK_DEPTH = 900


class GuardExceeded(Exception):
    """The instance hit a loop or size cap; the service raises an incident."""

    def __init__(self, message: str, task: Any = None) -> None:
        super().__init__(message)
        self.task = task


# ---------------------------------------------------------------- sandboxed script engine


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """Every expression and script of a model goes through the restricted evaluator."""

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Any = None) -> Any:
        variables = dict(context)
        variables.update(external_context or {})
        return sandbox.evaluate(expression, variables)

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        external = dict(external_context or {})
        variables = dict(context)
        variables.update(external)
        sandbox.execute(script, variables)
        for key, value in variables.items():
            if key not in external or value is not external[key]:
                context[key] = value
        for key in [k for k in context if k not in variables]:
            del context[key]
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:  # pragma: no cover - never used
        raise RuntimeError("service tasks are executed by the process service, not the engine")


class SandboxScriptEngine(PythonScriptEngine):
    def __init__(self) -> None:
        super().__init__(environment=SandboxEnvironment())

    def evaluate(self, task: Any, expression: str, external_context: Any = None) -> Any:
        value = super().evaluate(task, expression, external_context)
        spec = task.task_spec
        if isinstance(spec, MultiInstanceTask) and expression == getattr(spec, "cardinality", None):
            # Checked before the engine creates one child per instance (10**9 would never end).
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_NODE_ACTIVATIONS:
                raise GuardExceeded(
                    f"multi-instance cardinality {value!r} of {_node_id(task)} is outside 0..{MAX_NODE_ACTIVATIONS}",
                    task,
                )
        return value

    def validate(self, expression: str) -> None:
        # The DMN engine asks whether a cell parses on its own (else it prefixes the input).
        compile(expression, "<cell>", "eval", dont_inherit=True, flags=0x400)  # ast.PyCF_ONLY_AST


SCRIPT_ENGINE = SandboxScriptEngine()


# ---------------------------------------------------------------- specs


class DeferredServiceTask(ServiceTask):
    """A service task that waits (STARTED) until the service completes it with the reply."""

    def _execute(self, my_task: Any) -> None:
        return None


class GranaryParser(SpiffBpmnParser):
    OVERRIDE_PARSER_CLASSES = {  # noqa: RUF012 - the library's own class attribute
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("serviceTask"): (ServiceTaskParser, DeferredServiceTask),
    }


def _xml_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@dataclass
class VersionSpecs:
    """The executable specs of one deployed version (parsed once, shared by its instances)."""

    process_id: str
    spec: Any
    subprocess_specs: dict[str, Any]
    lanes: dict[str, str] = field(default_factory=dict)  # task id -> lane name


def build_specs(files: Sequence[tuple[str, bytes]], process_id: str) -> VersionSpecs:
    parser = GranaryParser()
    for name, content in files:
        root = etree.fromstring(content, _xml_parser())
        if name.lower().endswith(".dmn"):
            parser.add_dmn_xml(root, filename=name)
    for name, content in files:
        root = etree.fromstring(content, _xml_parser())
        if name.lower().endswith(".bpmn"):
            parser.add_bpmn_xml(root, filename=name)
    spec = parser.get_spec(process_id)
    subprocess_specs = parser.get_subprocess_specs(process_id)
    for process_spec in (spec, *subprocess_specs.values()):
        _connect_loop_instances(process_spec)
    return VersionSpecs(process_id=process_id, spec=spec, subprocess_specs=subprocess_specs)


def _connect_loop_instances(process_spec: Any) -> None:
    """Lets a multi-instance (or loop) task hear its instances complete, also after a restart.

    SpiffWorkflow wires an instance's completion to its multi-instance task only when it creates
    the instances, on the spec object of that moment (its own spec deserializer wires them
    again). Granary loads a saved state onto the version's freshly parsed spec, so an instance
    created before a restart would complete without ever being counted: the countersign would
    wait forever. Wiring every loop task once here covers both; creating instances skips it then.
    """
    for task_spec in process_spec.task_specs.values():
        if isinstance(task_spec, LoopTask):
            instance_spec = process_spec.task_specs[task_spec.task_spec]
            if not instance_spec.completed_event.is_connected(task_spec.merge_child):
                instance_spec.completed_event.connect(task_spec.merge_child)


# ---------------------------------------------------------------- state serialization


class _VersionedWorkflowConverter(BpmnWorkflowConverter):
    """The state without the spec: it refers to the version, whose spec is cached."""

    specs: VersionSpecs | None = None

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any]) -> BpmnWorkflow:
        specs = _LOADING.specs
        if specs is None:
            raise RuntimeError("load() supplies the version's specs")
        workflow = self.target_class(specs.spec, specs.subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class _Loading:
    specs: VersionSpecs | None = None


_LOADING = _Loading()


def _make_serializer() -> BpmnWorkflowSerializer:
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = _VersionedWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda d: Decimal(d["value"]))
    registry.register(datetime, lambda v: {"value": v.isoformat()}, lambda d: datetime.fromisoformat(d["value"]))
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda d: date.fromisoformat(d["value"]))
    return BpmnWorkflowSerializer(registry)


_SERIALIZER = _make_serializer()


def dump(workflow: BpmnWorkflow) -> str:
    return str(_SERIALIZER.serialize_json(workflow))


def load(state: str, specs: VersionSpecs) -> BpmnWorkflow:
    _LOADING.specs = specs
    try:
        workflow = _SERIALIZER.deserialize_json(state)
    finally:
        _LOADING.specs = None
    # The script engine is not part of the state: without this, SpiffWorkflow's exec runs.
    workflow.script_engine = SCRIPT_ENGINE
    for sub in workflow.subprocesses.values():
        sub.script_engine = SCRIPT_ENGINE
    return workflow


# ---------------------------------------------------------------- views


@dataclass(frozen=True)
class UserTaskView:
    task_id: str
    node_id: str
    name: str
    lane: str
    # Multi-instance children share the node id of their parent (one vote per person).
    multi_instance_of: str
    due_at: datetime | None


@dataclass(frozen=True)
class ServiceCall:
    task_id: str
    node_id: str
    operator: str
    params: dict[str, Any]


@dataclass(frozen=True)
class TimerView:
    task_id: str
    node_id: str
    due_at: datetime
    attached_to: str  # node id of the task a boundary timer sits on, else ""
    interrupting: bool


def _node_id(task: Any) -> str:
    spec = task.task_spec
    return str(getattr(spec, "bpmn_id", None) or spec.name)


def _timer_deadline(task: Any) -> datetime | None:
    definition = getattr(task.task_spec, "event_definition", None)
    if not isinstance(definition, TimerEventDefinition):
        return None
    value = task.internal_data.get("event_value")
    if value is None:
        return None
    if isinstance(value, dict):
        if value.get("cycles", 0) == 0:
            return None
        value = value["next"]
    try:
        return TimerEventDefinition.get_datetime(str(value))
    except ValueError:
        return None


def waiting_timers(workflow: BpmnWorkflow) -> list[TimerView]:
    timers: list[TimerView] = []
    for task in workflow.get_tasks(state=TaskState.WAITING):
        deadline = _timer_deadline(task)
        if deadline is None:
            continue
        attached = ""
        interrupting = True
        parent_spec = task.parent.task_spec if task.parent is not None else None
        # A boundary event's parent is the BoundaryEventSplit; the attached task is a sibling.
        if parent_spec is not None and type(parent_spec).__name__ == "BoundaryEventSplit":
            for sibling in task.parent.children:
                if not isinstance(sibling.task_spec, CatchingEvent):
                    attached = _node_id(sibling)
            interrupting = bool(getattr(task.task_spec, "cancel_activity", True))
        timers.append(TimerView(str(task.id), _node_id(task), deadline, attached, interrupting))
    return timers


def next_due_at(workflow: BpmnWorkflow) -> datetime | None:
    deadlines = [t.due_at for t in waiting_timers(workflow)]
    return min(deadlines) if deadlines else None


def open_user_tasks(workflow: BpmnWorkflow) -> list[UserTaskView]:
    timers = waiting_timers(workflow)
    views: list[UserTaskView] = []
    for task in workflow.get_tasks(state=TaskState.READY, manual=True):
        spec = task.task_spec
        parent = task.parent
        multi = ""
        if parent is not None and isinstance(parent.task_spec, MultiInstanceTask):
            multi = _node_id(parent)
        node = multi or _node_id(task)
        # The due time is the escalation (interrupting timer) if there is one, else the reminder.
        due = [t.due_at for t in timers if t.attached_to == node and t.interrupting] or [
            t.due_at for t in timers if t.attached_to == node
        ]
        views.append(
            UserTaskView(
                task_id=str(task.id),
                node_id=node,
                name=str(getattr(spec, "bpmn_name", None) or node),
                lane=str(getattr(spec, "lane", None) or ""),
                multi_instance_of=multi,
                due_at=min(due) if due else None,
            )
        )
    return views


def pending_service_calls(workflow: BpmnWorkflow) -> list[ServiceCall]:
    calls: list[ServiceCall] = []
    for task in workflow.get_tasks(state=TaskState.STARTED):
        spec = task.task_spec
        if isinstance(spec, DeferredServiceTask):
            params = {name: p["value"] for name, p in spec.evaluate_params(task).items()}
            calls.append(ServiceCall(str(task.id), _node_id(task), spec.operation_name, params))
    return calls


def waiting_messages(workflow: BpmnWorkflow) -> list[str]:
    names: list[str] = []
    for task in workflow.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        if isinstance(definition, MessageEventDefinition):
            names.append(str(definition.name))
    return sorted(set(names))


def variables(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The data of the latest completed task (what a reader calls "the instance's variables")."""
    data: dict[str, Any] = dict(workflow.data)
    last = workflow.last_task
    if last is not None:
        data.update(last.data)
    return data


def active_nodes(workflow: BpmnWorkflow) -> list[str]:
    nodes = {
        _node_id(t)
        for t in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR)
        if not type(t.task_spec).__name__.startswith(("BoundaryEventSplit", "BoundaryEventJoin", "_"))
    }
    return sorted(nodes)


def error_tasks(workflow: BpmnWorkflow) -> list[str]:
    return [_node_id(t) for t in workflow.get_tasks(state=TaskState.ERROR)]


# ---------------------------------------------------------------- steps


def _is_activity(spec: Any) -> bool:
    return isinstance(spec, (UserTask, ServiceTask)) or type(spec).__name__ in ("ScriptTask", "BusinessRuleTask")


def _activations(workflow: BpmnWorkflow) -> Counter[str]:
    return Counter(t.task_spec.name for t in workflow.tasks.values() if _is_activity(t.task_spec))


def _too_often(name: str, count: int, task: Any = None) -> GuardExceeded:
    return GuardExceeded(
        f"node {name} was entered {count} times (limit {MAX_NODE_ACTIVATIONS}): a loop without end?", task
    )


def _check_guards(workflow: BpmnWorkflow) -> None:
    if len(workflow.tasks) > MAX_TASKS:
        raise GuardExceeded(f"the instance has more than {MAX_TASKS} tasks")
    for name, count in _activations(workflow).items():
        if count > MAX_NODE_ACTIVATIONS:
            raise _too_often(name, count)


def advance(workflow: BpmnWorkflow) -> None:
    """Runs the automatic steps until the instance waits; loops are stopped by the guards."""
    entered = TaskState.COMPLETED | TaskState.STARTED | TaskState.ERROR
    counts = Counter(t.task_spec.name for t in workflow.get_tasks(state=entered) if _is_activity(t.task_spec))
    steps = 0

    def will_run(task: Any) -> None:
        nonlocal steps
        steps += 1
        if steps > MAX_STEPS_PER_ADVANCE:
            raise GuardExceeded(
                f"more than {MAX_STEPS_PER_ADVANCE} automatic steps without a waiting point: a loop without end?",
                task,
            )
        if task.depth > MAX_TASK_DEPTH:
            raise GuardExceeded(
                f"the instance's path is {task.depth} steps deep (limit {MAX_TASK_DEPTH}): too many loop rounds",
                task,
            )
        if _is_activity(task.task_spec):
            counts[task.task_spec.name] += 1
            if counts[task.task_spec.name] > MAX_NODE_ACTIVATIONS:
                raise _too_often(task.task_spec.name, counts[task.task_spec.name], task)

    workflow.refresh_timers()
    workflow.do_engine_steps(will_complete_task=will_run)
    _check_guards(workflow)


def start(specs: VersionSpecs, data: Mapping[str, Any]) -> BpmnWorkflow:
    workflow = BpmnWorkflow(specs.spec, specs.subprocess_specs, script_engine=SCRIPT_ENGINE)
    workflow.script_engine = SCRIPT_ENGINE
    workflow.data.update(dict(data))
    start_task = workflow.task_tree
    start_task.data.update(dict(data))
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(dict(data))
    advance(workflow)
    return workflow


def _task(workflow: BpmnWorkflow, task_id: str) -> Any:
    try:
        return workflow.get_task_from_id(UUID(task_id))
    except Exception:
        return None


def is_ready_user_task(workflow: BpmnWorkflow, task_id: str) -> bool:
    task = _task(workflow, task_id)
    return task is not None and task.state == TaskState.READY and task.task_spec.manual


def complete_user_task(workflow: BpmnWorkflow, task_id: str, data: Mapping[str, Any]) -> None:
    task = _task(workflow, task_id)
    if task is None or task.state != TaskState.READY:
        raise LookupError(task_id)
    task.data.update(dict(data))
    task.run()
    advance(workflow)


def complete_service_task(workflow: BpmnWorkflow, task_id: str, result: Any) -> bool:
    task = _task(workflow, task_id)
    if task is None or task.state != TaskState.STARTED:
        return False
    task.data[task.task_spec.result_variable] = result
    task.complete()
    advance(workflow)
    return True


def deliver_message(workflow: BpmnWorkflow, name: str, payload: Mapping[str, Any]) -> bool:
    if name not in waiting_messages(workflow):
        return False
    workflow.send_event(BpmnEvent(SpiffMessageEventDefinition(name), payload=dict(payload)))
    advance(workflow)
    return True


def retry_errors(workflow: BpmnWorkflow) -> None:
    for task in workflow.get_tasks(state=TaskState.ERROR):
        task._set_state(TaskState.READY)
    advance(workflow)


def cancel(workflow: BpmnWorkflow) -> None:
    workflow.cancel()


def is_completed(workflow: BpmnWorkflow) -> bool:
    return bool(workflow.is_completed())


def due_timers(workflow: BpmnWorkflow, now: datetime) -> list[TimerView]:
    return [t for t in waiting_timers(workflow) if t.due_at <= now]


def collapse_missed_cycles(workflow: BpmnWorkflow, now: datetime) -> int:
    """Skips the repetitions of cycle timers that fell due while nobody was running.

    SpiffWorkflow catches a late cycle timer up one repetition per refresh (``next`` advances
    by one interval each time), so a reminder every hour missed during a night's downtime
    would fire a dozen times in a row. Here every due cycle timer is moved to its latest
    missed repetition, so the next refresh fires it once and schedules the following one in
    the future. Returns how many repetitions were skipped.
    """
    skipped = 0
    for task in workflow.get_tasks(state=TaskState.WAITING):
        if not isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
            continue
        value = task.internal_data.get("event_value")
        if not isinstance(value, dict) or value.get("cycles", 0) == 0:
            continue
        interval = float(value.get("duration") or 0)
        due = TimerEventDefinition.get_datetime(str(value["next"]))
        if interval <= 0 or due > now:
            continue
        missed = int((now - due).total_seconds() // interval)  # repetitions due before the latest one
        if value["cycles"] > 0:
            missed = min(missed, value["cycles"] - 1)
        if missed <= 0:
            continue
        value["next"] = (due + timedelta(seconds=interval * missed)).isoformat()
        if value["cycles"] > 0:
            value["cycles"] -= missed
        skipped += missed
    return skipped


def node_titles(specs: VersionSpecs) -> dict[str, str]:
    return {
        str(getattr(s, "bpmn_id", None) or name): str(getattr(s, "bpmn_name", None) or name)
        for name, s in specs.spec.task_specs.items()
    }


def plain(value: Any) -> Any:
    """Task data as JSON-friendly values (Decimals and dates as strings)."""
    return json.loads(json.dumps(value, default=str))


def task_properties(specs: VersionSpecs, node_id: str) -> dict[str, str]:
    spec = specs.spec.task_specs.get(node_id)
    extensions = getattr(spec, "extensions", None) or {}
    return {str(k): str(v) for k, v in (extensions.get("properties") or {}).items()}


def utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def ids(items: Iterable[Any]) -> list[str]:
    return [str(i) for i in items]
