"""What Granary demands of a model beyond the BPMN/DMN schemas.

* every expression (conditions, timers, completion conditions, loop cardinalities, service
  parameters, message payloads, DMN cells) and every script passes the sandbox's check;
* timer expressions that depend on no variable evaluate to a valid ISO 8601 duration, cycle
  or date with a UTC offset;
* every service task names a known operator with its parameters and their types;
* every lane names a known role (the lane is the candidate role of its user tasks);
* a constant multi-instance cardinality stays within the engine guard.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from services.process.domain import sandbox
from services.process.domain.engine import MAX_NODE_ACTIVATIONS
from services.process.domain.operators import CATALOGUE, COMMON_PARAMS, OperatorSpec

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN, "spiffworkflow": SPIFF}

KNOWN_ROLES = frozenset(
    {"officer", "supervisor", "president", "risk_director", "committee_member", "process_owner", "admin", "auditor"}
)

Report = Callable[[str, str], None]  # (element id, reason)


def _owner_id(element: etree._Element) -> str:
    node: etree._Element | None = element
    while node is not None:
        if node.get("id"):
            return str(node.get("id"))
        node = node.getparent()
    return ""


def _expression(element: etree._Element, what: str, report: Report, *, script: bool = False) -> str | None:
    text = (element.text or "").strip()
    if not text:
        report(_owner_id(element), f"{what} is empty")
        return None
    try:
        sandbox.check(text, script=script)
    except sandbox.SandboxError as exc:
        report(_owner_id(element), f"{what} {text[:80]!r} refused: {exc}")
        return None
    return text


def _check_timer(element: etree._Element, kind: str, text: str, report: Report) -> None:
    try:
        value = sandbox.evaluate(text, {})
    except sandbox.SandboxError:
        return  # depends on instance data: checked when the timer starts
    if not isinstance(value, str):
        report(_owner_id(element), f"timer {text!r} gives {type(value).__name__}, not an ISO 8601 text (quote it)")
        return
    try:
        if kind == "timeDuration":
            TimerEventDefinition.parse_iso_duration(value)
        elif kind == "timeCycle":
            TimerEventDefinition.parse_iso_recurring_interval(value)
        else:
            if datetime.fromisoformat(value).tzinfo is None:
                report(_owner_id(element), f"timer date {value!r} has no UTC offset (write e.g. +08:00)")
    except Exception:  # the library raises several types for a bad text
        report(_owner_id(element), f"timer {value!r} is not a valid ISO 8601 {kind[4:].lower()}")


def _check_operator(
    task: etree._Element, operator: etree._Element, catalogue: Mapping[str, OperatorSpec], report: Report
) -> None:
    task_id = str(task.get("id", ""))
    name = str(operator.get("id", ""))
    spec = catalogue.get(name)
    if spec is None:
        known = ", ".join(sorted(catalogue))
        report(task_id, f"unknown service operator {name!r} (known: {known})")
        return
    given: dict[str, etree._Element] = {}
    for param in operator.iterfind("spiffworkflow:parameters/spiffworkflow:parameter", NS):
        given[str(param.get("id", ""))] = param
    for pname, param in given.items():
        declared = spec.params.get(pname) or COMMON_PARAMS.get(pname)
        if declared is None:
            report(task_id, f"operator {name} has no parameter {pname!r}")
            continue
        if param.get("type") and param.get("type") != declared.type:
            report(task_id, f"parameter {pname!r} of {name} is {declared.type}, not {param.get('type')}")
        value = str(param.get("value", "") or "")
        if not value.strip():
            report(task_id, f"parameter {pname!r} of {name} has no value expression")
            continue
        try:
            sandbox.check(value)
        except sandbox.SandboxError as exc:
            report(task_id, f"parameter {pname!r} of {name}: {value[:80]!r} refused: {exc}")
    for pname, declared in spec.params.items():
        if declared.required and pname not in given:
            report(task_id, f"operator {name} needs parameter {pname!r} ({declared.type})")


def check_bpmn(root: etree._Element, report: Report, catalogue: Mapping[str, OperatorSpec] = CATALOGUE) -> None:
    for cond in root.iterfind(".//bpmn:conditionExpression", NS):
        _expression(cond, "condition", report)
    for cond in root.iterfind(".//bpmn:completionCondition", NS):
        _expression(cond, "completion condition", report)
    for card in root.iterfind(".//bpmn:loopCardinality", NS):
        text = _expression(card, "loop cardinality", report)
        if text is not None:
            try:
                value = sandbox.evaluate(text, {})
            except sandbox.SandboxError:
                continue
            if not isinstance(value, int) or value < 1 or value > MAX_NODE_ACTIVATIONS:
                report(_owner_id(card), f"loop cardinality must be 1..{MAX_NODE_ACTIVATIONS}, not {value!r}")
    for kind in ("timeDuration", "timeDate", "timeCycle"):
        for timer in root.iterfind(f".//bpmn:{kind}", NS):
            text = _expression(timer, "timer", report)
            if text is not None:
                _check_timer(timer, kind, text, report)
    for script in root.iterfind(".//bpmn:scriptTask/bpmn:script", NS):
        _expression(script, "script", report, script=True)
    for tag in ("preScript", "postScript"):
        for script in root.iterfind(f".//spiffworkflow:{tag}", NS):
            _expression(script, tag, report, script=True)
    for payload in root.iterfind(".//spiffworkflow:messagePayload", NS):
        _expression(payload, "message payload", report)
    for task in root.iterfind(".//bpmn:serviceTask", NS):
        operator = task.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
        if operator is not None:
            _check_operator(task, operator, catalogue, report)
    for lane in root.iterfind(".//bpmn:lane", NS):
        name = str(lane.get("name", "") or "").strip()
        if name not in KNOWN_ROLES:
            report(str(lane.get("id", "")), f"lane {name!r} names no known role ({', '.join(sorted(KNOWN_ROLES))})")


def check_dmn(root: etree._Element, report: Report) -> None:
    namespace = etree.QName(root).namespace or ""
    ns = {"dmn": namespace}
    for text in root.iterfind(".//dmn:inputExpression/dmn:text", ns):
        _expression(text, "input expression", report)
    for entry in root.iterfind(".//dmn:inputEntry/dmn:text", ns):
        cell = (entry.text or "").strip()
        if not cell or cell == "-":
            continue
        candidates = [cell.replace("?", "dmninputexpr"), f"dmninputexpr {cell}"]
        errors = []
        for candidate in candidates:
            try:
                sandbox.check(candidate)
                break
            except sandbox.SandboxError as exc:
                errors.append(str(exc))
        else:
            report(_owner_id(entry), f"input cell {cell[:80]!r} refused: {errors[-1]}")
    for entry in root.iterfind(".//dmn:outputEntry/dmn:text", ns):
        if (entry.text or "").strip():
            _expression(entry, "output cell", report)
