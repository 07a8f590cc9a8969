"""Checking a set of BPMN and DMN files before anyone deploys them.

Every problem of every file is collected, so a modeller fixes a set in one round instead of
one error per upload. Checks, in order, per file: the name's extension, XML syntax, the XML
schema (BPMN 2.0 with SpiffWorkflow's extensions, or DMN 1.1/1.2/1.3), then what
SpiffWorkflow's parser rejects when it builds the executable specs, and finally whether every
decision a business rule task calls is defined by a DMN file of the same set.

Pure: content comes in as bytes and nothing is read or written (apart from the XSD files the
parser library ships with).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import SPIFF_XSD, SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import BusinessRuleTaskParser

from services.common.errors import InvalidArgument
from services.process.domain import model_rules
from services.process.domain.engine import GranaryParser

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
BPMN_EXTENSION = ".bpmn"
DMN_EXTENSION = ".dmn"
# Request limits, so one upload cannot tie up a worker: far above any real model set.
MAX_FILES = 50
MAX_FILE_BYTES = 5 * 1024 * 1024

_NAMESPACES = {"bpmn": BPMN_NS}
# Schema messages spell namespaces out in full; the usual prefixes read better.
_SHORT_NAMES = [(f"{{{BPMN_NS}}}", "bpmn:"), (f"{{{SPIFF_NS}}}", "spiffworkflow:")] + [
    (f"{{{ns}}}", "dmn:") for ns in DMN_SCHEMAS
]


@dataclass(frozen=True)
class ModelFile:
    name: str
    content: bytes


@dataclass(frozen=True)
class ModelProblem:
    file: str
    # BPMN/DMN element id; empty when the problem concerns the whole file.
    element_id: str
    reason: str


@dataclass(frozen=True)
class ModelReport:
    problems: tuple[ModelProblem, ...]
    process_ids: tuple[str, ...]
    decision_ids: tuple[str, ...]

    @property
    def valid(self) -> bool:
        return not self.problems


@dataclass
class _Collector:
    problems: list[ModelProblem] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def add(self, file: str, element_id: str, reason: str) -> None:
        self.problems.append(ModelProblem(file=file, element_id=element_id, reason=reason))
        if element_id:
            self._seen.add((file, element_id))

    def add_unless_known(self, file: str, element_id: str, reason: str) -> None:
        """The parser re-finds some problems already reported per element; say each once."""
        if element_id and (file, element_id) in self._seen:
            return
        self.add(file, element_id, reason)


def _shorten(message: str) -> str:
    for long, short in _SHORT_NAMES:
        message = message.replace(long, short)
    return message


def _xml_parser() -> etree.XMLParser:
    # No entities, no DTDs, no network: the content is untrusted upload.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _parse_xml(file: ModelFile, out: _Collector) -> etree._Element | None:
    if not file.content.strip():
        out.add(file.name, "", "the file is empty")
        return None
    try:
        root = etree.fromstring(file.content, _xml_parser())
    except etree.XMLSyntaxError as exc:
        out.add(file.name, "", f"line {exc.lineno}: XML syntax error: {exc.msg}")
        return None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        # Models never need a DTD; entities in one are how XML uploads attack servers.
        out.add(file.name, "", "DOCTYPE declarations are not allowed in models")
        return None
    return root


def _element_id_at(root: etree._Element, line: int) -> str:
    """Schema errors carry a line, not an element; the element starting there names it."""
    for element in root.iter():
        if element.sourceline == line and element.get("id"):
            return str(element.get("id"))
    return ""


def _schema_problems(validator: BpmnValidator, root: etree._Element, file: ModelFile, out: _Collector) -> bool:
    """Adds every schema error (the library raises only the last one); True when valid."""
    validator.preprocess(root)
    try:
        if validator.validator.validate(root):
            return True
    except etree.Error as exc:
        out.add(file.name, "", f"the schema check failed: {exc}")
        return False
    for error in validator.validator.error_log:
        out.add(file.name, _element_id_at(root, error.line), f"line {error.line}: {_shorten(error.message)}")
    return False


def _spiff_reason(exc: Exception) -> str:
    message = str(exc.args[0]) if exc.args else type(exc).__name__
    if not isinstance(exc, SpiffWorkflowException):
        # Not a documented validation error: say what broke rather than hide it.
        message = f"{type(exc).__name__}: {message}"
    line = getattr(exc, "line_number", "")
    return f"line {line}: {message}" if line else message


def _spiff_problem(exc: Exception, default_file: str, out: _Collector) -> None:
    file = getattr(exc, "file_name", "") or default_file
    out.add_unless_known(file, str(getattr(exc, "id", "") or ""), _spiff_reason(exc))


def _add_dmn(parser: SpiffBpmnParser, root: etree._Element, file: ModelFile, out: _Collector) -> None:
    namespace = etree.QName(root).namespace or ""
    schema = DMN_SCHEMAS.get(namespace)
    if schema is None or etree.QName(root).localname != "definitions":
        out.add(file.name, "", "not a DMN 1.1, 1.2 or 1.3 document (root must be dmn:definitions)")
        return
    if not _schema_problems(BpmnValidator(schema), root, file, out):
        return
    model_rules.check_dmn(root, lambda element_id, reason: out.add(file.name, element_id, reason))
    decisions = root.findall(f"{{{namespace}}}decision")
    if not decisions:
        out.add(file.name, "", "the file defines no decision")
        return
    decision_id = str(decisions[0].get("id", ""))
    if decision_id in parser.dmn_parsers:
        other = parser.dmn_parsers[decision_id].filename
        out.add(file.name, decision_id, f"decision {decision_id} is also defined in {other}")
        return
    try:
        parser.add_dmn_xml(root, filename=file.name)
        # Decision tables are parsed lazily; parse now so their errors show up here.
        parser.dmn_parsers[decision_id].parse()
    except Exception as exc:  # the parser's errors are the modeller's problems, whatever their type
        parser.dmn_parsers.pop(decision_id, None)
        _spiff_problem(exc, file.name, out)


def _add_bpmn(
    parser: SpiffBpmnParser,
    validator: BpmnValidator,
    root: etree._Element,
    file: ModelFile,
    out: _Collector,
    calls: list[tuple[str, str, str]],
) -> None:
    if etree.QName(root).text != f"{{{BPMN_NS}}}definitions":
        out.add(file.name, "", "not a BPMN 2.0 document (root must be bpmn:definitions)")
        return
    if not _schema_problems(validator, root, file, out):
        return
    if not root.findall("bpmn:process", _NAMESPACES):
        out.add(file.name, "", "the file defines no process")
        return
    model_rules.check_bpmn(root, lambda element_id, reason: out.add(file.name, element_id, reason))
    for task in root.iterfind(".//bpmn:businessRuleTask", _NAMESPACES):
        calls.append((file.name, str(task.get("id", "")), BusinessRuleTaskParser.get_decision_ref(task) or ""))
    try:
        parser.add_bpmn_xml(root, filename=file.name)
    except Exception as exc:  # e.g. a process id already defined by another file
        _spiff_problem(exc, file.name, out)


def validate_model(files: Sequence[ModelFile]) -> ModelReport:
    """Checks a set of BPMN and DMN files together; the report lists every problem found."""
    if len(files) > MAX_FILES:
        raise InvalidArgument.for_field("files", f"must be at most {MAX_FILES} files")
    for index, file in enumerate(files):
        if len(file.content) > MAX_FILE_BYTES:
            raise InvalidArgument.for_field(f"files[{index}].content", f"must be at most {MAX_FILE_BYTES} bytes")
    out = _Collector()
    if not files:
        out.add("", "", "the set is empty: give at least one .bpmn file")
        return ModelReport(problems=tuple(out.problems), process_ids=(), decision_ids=())

    # Built per call: lxml schema objects keep per-run error logs and must not be shared
    # between threads; building one takes a few milliseconds.
    validator = BpmnValidator(imports={"spiffworkflow": SPIFF_XSD})
    parser = GranaryParser(validator=validator)
    bpmn: list[tuple[ModelFile, etree._Element]] = []
    dmn: list[tuple[ModelFile, etree._Element]] = []
    names: set[str] = set()
    for file in files:
        if not file.name.strip():
            out.add("", "", "a file has no name")
            continue
        if file.name in names:
            out.add(file.name, "", "the set holds two files of this name")
            continue
        names.add(file.name)
        extension = re.search(r"\.[^./\\]+$", file.name)
        kind = extension.group(0).lower() if extension else ""
        if kind not in (BPMN_EXTENSION, DMN_EXTENSION):
            out.add(file.name, "", "unknown file type: expected a .bpmn or .dmn file")
            continue
        root = _parse_xml(file, out)
        if root is not None:
            (bpmn if kind == BPMN_EXTENSION else dmn).append((file, root))

    # Decisions first, so the processes' business rule tasks find them.
    for file, root in dmn:
        _add_dmn(parser, root, file, out)
    calls: list[tuple[str, str, str]] = []
    for file, root in bpmn:
        _add_bpmn(parser, validator, root, file, out, calls)

    decision_ids = tuple(parser.dmn_parsers)
    for file_name, task_id, decision_id in calls:
        if not decision_id:
            out.add(file_name, task_id, "the business rule task names no decision (spiffworkflow:calledDecisionId)")
        elif decision_id not in parser.dmn_parsers:
            out.add(file_name, task_id, f"calls decision {decision_id}, which no DMN file of the set defines")

    process_ids = tuple(parser.get_process_ids())
    for process_id in process_ids:
        process_file = parser.process_parsers[process_id].filename or ""
        try:
            parser.get_spec(process_id)
        except Exception as exc:  # each process is checked even when another one fails
            _spiff_problem(exc, process_file, out)
    # Decisions are checked before processes; the report still follows the order of the files.
    order = {file.name: index for index, file in reversed(list(enumerate(files)))}
    problems = sorted(out.problems, key=lambda p: order.get(p.file, -1))
    return ModelReport(problems=tuple(problems), process_ids=process_ids, decision_ids=decision_ids)
