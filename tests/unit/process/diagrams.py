"""Small BPMN/DMN diagrams for the process tests, written the way a modeller's tool saves them.

Each builder returns one element's XML; ``bpmn`` wraps them in a process with lanes.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from xml.sax.saxutils import escape

NS = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'
)


def start(node_id: str = "start") -> str:
    return f'<bpmn:startEvent id="{node_id}"/>'


def end(node_id: str = "end") -> str:
    return f'<bpmn:endEvent id="{node_id}"/>'


def user(node_id: str, name: str = "", *, multi: str = "", properties: dict[str, str] | None = None) -> str:
    ext = ""
    if properties:
        props = "".join(f'<spiffworkflow:property name="{k}" value="{escape(v)}"/>' for k, v in properties.items())
        ext = (
            "<bpmn:extensionElements><spiffworkflow:properties>"
            f"{props}</spiffworkflow:properties></bpmn:extensionElements>"
        )
    return f'<bpmn:userTask id="{node_id}" name="{escape(name or node_id)}">{ext}{multi}</bpmn:userTask>'


def multi_instance(cardinality: str, completion: str, *, output: str = "votes", item: str = "decision") -> str:
    return (
        "<bpmn:multiInstanceLoopCharacteristics>"
        f"<bpmn:loopCardinality>{escape(cardinality)}</bpmn:loopCardinality>"
        f"<bpmn:loopDataOutputRef>{output}</bpmn:loopDataOutputRef>"
        f'<bpmn:outputDataItem id="{item}" name="{item}"/>'
        f"<bpmn:completionCondition>{escape(completion)}</bpmn:completionCondition>"
        "</bpmn:multiInstanceLoopCharacteristics>"
    )


QUOTE = {'"': "&quot;"}


def service(node_id: str, operator: str, params: dict[str, tuple[str, str]], result: str = "result") -> str:
    parameters = "".join(
        f'<spiffworkflow:parameter id="{k}" type="{t}" value="{escape(v, QUOTE)}"/>' for k, (t, v) in params.items()
    )
    return (
        f'<bpmn:serviceTask id="{node_id}" name="{node_id}"><bpmn:extensionElements>'
        f'<spiffworkflow:serviceTaskOperator id="{operator}" resultVariable="{result}">'
        f"<spiffworkflow:parameters>{parameters}</spiffworkflow:parameters>"
        "</spiffworkflow:serviceTaskOperator></bpmn:extensionElements></bpmn:serviceTask>"
    )


def script(node_id: str, code: str) -> str:
    return (
        f'<bpmn:scriptTask id="{node_id}" name="{node_id}"><bpmn:script>{escape(code)}</bpmn:script></bpmn:scriptTask>'
    )


def rule(node_id: str, decision: str) -> str:
    return (
        f'<bpmn:businessRuleTask id="{node_id}" name="{node_id}"><bpmn:extensionElements>'
        f"<spiffworkflow:calledDecisionId>{decision}</spiffworkflow:calledDecisionId>"
        "</bpmn:extensionElements></bpmn:businessRuleTask>"
    )


def xor(node_id: str, default: str = "") -> str:
    attr = f' default="{default}"' if default else ""
    return f'<bpmn:exclusiveGateway id="{node_id}"{attr}/>'


def timer_boundary(node_id: str, attached_to: str, duration: str, *, interrupting: bool, cycle: bool = False) -> str:
    kind = "timeCycle" if cycle else "timeDuration"
    return (
        f'<bpmn:boundaryEvent id="{node_id}" attachedToRef="{attached_to}" '
        f'cancelActivity="{"true" if interrupting else "false"}">'
        f"<bpmn:timerEventDefinition><bpmn:{kind}>{escape(duration)}</bpmn:{kind}></bpmn:timerEventDefinition>"
        "</bpmn:boundaryEvent>"
    )


def timer_catch(node_id: str, expression: str, *, date: bool = False) -> str:
    kind = "timeDate" if date else "timeDuration"
    return (
        f'<bpmn:intermediateCatchEvent id="{node_id}"><bpmn:timerEventDefinition>'
        f"<bpmn:{kind}>{escape(expression)}</bpmn:{kind}></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    )


def message_catch(node_id: str, message_ref: str) -> str:
    return (
        f'<bpmn:intermediateCatchEvent id="{node_id}">'
        f'<bpmn:messageEventDefinition id="{node_id}_def" messageRef="{message_ref}"/></bpmn:intermediateCatchEvent>'
    )


def message(message_id: str, name: str, variable: str) -> str:
    return (
        f'<bpmn:message id="{message_id}" name="{name}"><bpmn:extensionElements>'
        f"<spiffworkflow:messageVariable>{variable}</spiffworkflow:messageVariable>"
        "</bpmn:extensionElements></bpmn:message>"
    )


def flow(source: str, target: str, condition: str = "", flow_id: str = "") -> str:
    fid = flow_id or f"f_{source}_{target}"
    cond = (
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{escape(condition)}</bpmn:conditionExpression>'
        if condition
        else ""
    )
    return f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}">{cond}</bpmn:sequenceFlow>'


def chain(*nodes: str) -> list[str]:
    return [flow(a, b) for a, b in itertools.pairwise(nodes)]


def bpmn(
    process_id: str,
    elements: Sequence[str],
    flows: Sequence[str],
    lanes: dict[str, Sequence[str]] | None = None,
    *,
    messages: Sequence[str] = (),
) -> bytes:
    lane_xml = ""
    if lanes:
        parts = []
        for index, (name, refs) in enumerate(lanes.items()):
            refs_xml = "".join(f"<bpmn:flowNodeRef>{r}</bpmn:flowNodeRef>" for r in refs)
            parts.append(f'<bpmn:lane id="lane_{index}" name="{name}">{refs_xml}</bpmn:lane>')
        lane_xml = f'<bpmn:laneSet id="lanes_{process_id}">{"".join(parts)}</bpmn:laneSet>'
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions {NS} id="defs_{process_id}" '
        f'targetNamespace="http://granary.example/bpmn">{"".join(messages)}'
        f'<bpmn:process id="{process_id}" isExecutable="true">{lane_xml}{"".join(elements)}{"".join(flows)}'
        "</bpmn:process></bpmn:definitions>\n"
    ).encode()


def dmn(
    decision_id: str, inputs: Sequence[tuple[str, str]], output: str, rules: Sequence[tuple[Sequence[str], str]]
) -> bytes:
    """A UNIQUE (first match) decision table: inputs are (id, expression); rules (cells, output)."""
    inputs_xml = "".join(
        f'<input id="in_{i}" label="{i}"><inputExpression id="in_{i}_e" typeRef="string"><text>{escape(e)}</text>'
        "</inputExpression></input>"
        for i, e in inputs
    )
    rules_xml = ""
    for n, (cells, out) in enumerate(rules):
        entries = "".join(
            f'<inputEntry id="r{n}_{k}"><text>{escape(c)}</text></inputEntry>' for k, c in enumerate(cells)
        )
        rules_xml += (
            f'<rule id="r{n}">{entries}<outputEntry id="r{n}_o"><text>{escape(out)}</text></outputEntry></rule>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="defs_{decision_id}" '
        f'name="{decision_id}" namespace="http://granary.example/dmn">'
        f'<decision id="{decision_id}" name="{decision_id}"><decisionTable id="t_{decision_id}">'
        f'{inputs_xml}<output id="out_{output}" name="{output}" typeRef="string"/>{rules_xml}'
        "</decisionTable></decision></definitions>\n"
    ).encode()


# ------------------------------------------------------------------ the diagrams of the tests

SEQUENTIAL = bpmn(
    "seq_approval",
    [
        start(),
        user("review", "初审"),
        xor("gw", default="f_gw_end_rej"),
        user("approve", "审批"),
        end(),
        end("end_rej"),
    ],
    [
        *chain("start", "review", "gw"),
        flow("gw", "approve", 'decision == "approve"'),
        flow("gw", "end_rej", flow_id="f_gw_end_rej"),
        flow("approve", "end"),
    ],
    {"supervisor": ["review"], "president": ["approve"], "officer": ["start", "gw", "end", "end_rej"]},
)
