"""Model set validation: every problem of every file, with file, element and reason."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.process.domain.validation import MAX_FILES, ModelFile, ModelProblem, validate_model


def bpmn(body: str, process_id: str = "credit_check", executable: str = "true") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs_{process_id}" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="{process_id}" isExecutable="{executable}">
{body}
  </bpmn:process>
</bpmn:definitions>
""".encode()


def rule_task_process(decision_id: str, process_id: str = "credit_check") -> bytes:
    return bpmn(
        f"""    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:businessRuleTask id="grade_risk">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>{decision_id}</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="grade_risk"/>
    <bpmn:sequenceFlow id="f2" sourceRef="grade_risk" targetRef="end"/>""",
        process_id=process_id,
    )


def dmn(decision_id: str = "risk_grade") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="defs_{decision_id}" name="Risk"
    namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="{decision_id}" name="Risk grade">
    <decisionTable id="table_{decision_id}">
      <input id="in_score" label="Score">
        <inputExpression id="in_score_expr" typeRef="integer"><text>score</text></inputExpression>
      </input>
      <output id="out_grade" name="grade" typeRef="string"/>
      <rule id="rule_a">
        <inputEntry id="rule_a_in"><text>&gt;= 600</text></inputEntry>
        <outputEntry id="rule_a_out"><text>"A"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
""".encode()


SIMPLE = bpmn(
    """    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="review"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>""",
    process_id="simple_review",
)

# Two schema errors in one file: an attribute BPMN does not define and an unknown element.
SCHEMA_INVALID = bpmn(
    """    <bpmn:startEvent id="start" colour="red"/>
    <bpmn:inventedTask id="magic"/>""",
    process_id="broken",
)


def files(*pairs: tuple[str, bytes]) -> list[ModelFile]:
    return [ModelFile(name=name, content=content) for name, content in pairs]


def test_a_valid_set() -> None:
    report = validate_model(
        files(("credit.bpmn", rule_task_process("risk_grade")), ("risk.dmn", dmn()), ("review.bpmn", SIMPLE))
    )
    assert report.problems == ()
    assert report.valid
    assert sorted(report.process_ids) == ["credit_check", "simple_review"]
    assert report.decision_ids == ("risk_grade",)


def test_non_executable_processes_are_not_listed() -> None:
    report = validate_model(files(("lib.bpmn", bpmn("", process_id="library", executable="false"))))
    assert report.valid
    assert report.process_ids == ()


def test_empty_set() -> None:
    report = validate_model([])
    assert not report.valid
    assert "empty" in report.problems[0].reason


def test_malformed_xml_names_the_line() -> None:
    report = validate_model(files(("credit.bpmn", b"<bpmn:definitions>\n<unclosed>\n</bpmn:definitions>")))
    [problem] = report.problems
    assert problem.file == "credit.bpmn"
    assert problem.element_id == ""
    assert problem.reason.startswith("line ")
    assert "XML syntax error" in problem.reason


def test_schema_errors_are_all_listed_with_their_elements() -> None:
    report = validate_model(files(("broken.bpmn", SCHEMA_INVALID)))
    assert not report.valid
    by_element = {p.element_id: p.reason for p in report.problems}
    assert set(by_element) == {"start", "magic"}
    assert "colour" in by_element["start"]
    assert "bpmn:inventedTask" in by_element["magic"]
    assert all(p.file == "broken.bpmn" and p.reason.startswith("line ") for p in report.problems)


def test_a_missing_called_decision() -> None:
    report = validate_model(files(("credit.bpmn", rule_task_process("income_check"))))
    # Said once, although the parser trips over the same task again when it builds the spec.
    assert report.problems == (
        ModelProblem(
            file="credit.bpmn",
            element_id="grade_risk",
            reason="calls decision income_check, which no DMN file of the set defines",
        ),
    )
    assert report.process_ids == ("credit_check",)


def test_semantic_errors_from_the_parser() -> None:
    # Schema-valid, but an executable process needs a start event.
    report = validate_model(files(("nostart.bpmn", bpmn('    <bpmn:task id="lonely"/>', process_id="nostart"))))
    [problem] = report.problems
    assert problem.file == "nostart.bpmn"
    assert "start" in problem.reason.lower()


def test_unknown_extension_empty_file_and_bad_dmn() -> None:
    report = validate_model(
        files(
            ("notes.txt", b"hello"),
            ("empty.dmn", b""),
            ("wrong.dmn", SIMPLE),
            ("wrong.bpmn", dmn()),
        )
    )
    reasons = {p.file: p.reason for p in report.problems}
    assert "unknown file type" in reasons["notes.txt"]
    assert "empty" in reasons["empty.dmn"]
    assert "not a DMN" in reasons["wrong.dmn"]
    assert "not a BPMN" in reasons["wrong.bpmn"]


def test_duplicates_across_files() -> None:
    report = validate_model(
        files(
            ("a.bpmn", SIMPLE),
            ("b.bpmn", SIMPLE),
            ("a.bpmn", SIMPLE),
            ("risk.dmn", dmn()),
            ("risk2.dmn", dmn()),
        )
    )
    reasons = [(p.file, p.reason) for p in report.problems]
    assert ("a.bpmn", "the set holds two files of this name") in reasons
    assert any(f == "b.bpmn" and "Duplicate process ID" in r for f, r in reasons)
    assert any(f == "risk2.dmn" and "also defined in risk.dmn" in r for f, r in reasons)


def test_several_files_with_several_problems_are_all_listed() -> None:
    report = validate_model(
        files(
            ("broken.bpmn", SCHEMA_INVALID),
            ("garbled.dmn", b"<definitions><decision></definitions>"),
            ("credit.bpmn", rule_task_process("missing_decision")),
            ("review.bpmn", SIMPLE),
            ("readme.md", b"# model"),
        )
    )
    files_with_problems = [p.file for p in report.problems]
    assert files_with_problems.count("broken.bpmn") == 2
    assert "garbled.dmn" in files_with_problems
    assert "credit.bpmn" in files_with_problems
    assert "readme.md" in files_with_problems
    assert "review.bpmn" not in files_with_problems
    # The healthy parts are still reported.
    assert sorted(report.process_ids) == ["credit_check", "simple_review"]
    assert report.decision_ids == ()


def test_external_entities_are_not_resolved() -> None:
    hostile = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY secret SYSTEM "file:///etc/hostname">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="p" isExecutable="false"><bpmn:documentation>&secret;</bpmn:documentation></bpmn:process>
</bpmn:definitions>"""
    report = validate_model(files(("x.bpmn", hostile)))
    [problem] = report.problems
    assert problem.file == "x.bpmn"
    assert "DOCTYPE" in problem.reason


def test_request_limits() -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_model(files(*[(f"p{i}.bpmn", SIMPLE) for i in range(MAX_FILES + 1)]))
    assert info.value.violations[0].field == "files"
