"""Coordinates, forms, content hashes, magic bytes and working hours: pure domain rules."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from services.common.errors import InvalidArgument
from services.fieldtask.domain import evidence as ev
from services.fieldtask.domain import forms
from services.fieldtask.domain.geo import Position, gcj02_to_wgs84, haversine_m, wgs84_to_gcj02
from services.fieldtask.domain.task import TaskStateConflict, TaskStatus, TaskType, transition
from services.fieldtask.domain.trajectory import Ping, WorkingHours, track_distance_m

# Test vectors of the public GCJ-02 reconstruction (WGS-84 -> GCJ-02): Shanghai, Shenzhen, Beijing.
VECTORS = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),
]


@pytest.mark.parametrize(("wgs", "gcj"), VECTORS)
def test_gcj02_conversion_both_ways(wgs: tuple[float, float], gcj: tuple[float, float]) -> None:
    forward = wgs84_to_gcj02(Position(*wgs))
    assert forward.latitude == pytest.approx(gcj[0], abs=1e-9)
    assert forward.longitude == pytest.approx(gcj[1], abs=1e-9)
    back = gcj02_to_wgs84(Position(*gcj))
    assert haversine_m(back, Position(*wgs)) < 0.01  # under a centimetre


def test_outside_china_is_unchanged_and_distances_are_right() -> None:
    tokyo = Position(35.6762, 139.6503)
    assert gcj02_to_wgs84(tokyo) == tokyo
    # Beijing (Tiananmen) to Shanghai (People's Square): about 1067 km.
    assert haversine_m(Position(39.9042, 116.4074), Position(31.2304, 121.4737)) == pytest.approx(1067310, abs=50)


SURVEY = {
    "family": {"members": 4, "labourers": 2},
    "operations": {"business": "养猪", "years": 3},
    "income": {"annual_income": "50000", "annual_expenses": "20000.50"},
    "assets_verified": {"verified": True},
}


def test_a_valid_survey_has_no_violations() -> None:
    assert forms.form_violations(TaskType.PRE_LOAN_SURVEY, 1, SURVEY) == []


def test_violations_name_each_field() -> None:
    data = {**SURVEY, "income": {"annual_income": "五万"}, "extra": 1}
    data.pop("family")
    fields = [v.field for v in forms.form_violations(TaskType.PRE_LOAN_SURVEY, 1, data)]
    assert sorted(fields) == ["form.extra", "form.family", "form.income.annual_expenses", "form.income.annual_income"]
    with pytest.raises(InvalidArgument) as error:
        forms.validate_form(TaskType.PRE_LOAN_SURVEY, 1, data)
    assert error.value.reason == "FORM_INVALID"


def test_overdue_follow_up_promise_needs_amount_and_date() -> None:
    data = {"contacted": True, "reason": "外出务工", "promise_to_pay": {"amount": "3000"}}
    fields = [v.field for v in forms.form_violations(TaskType.OVERDUE_FOLLOW_UP, 1, data)]
    assert fields == ["form.promise_to_pay.date"]
    data["promise_to_pay"]["date"] = "2026-13-01"  # type: ignore[index]
    assert [v.field for v in forms.form_violations(TaskType.OVERDUE_FOLLOW_UP, 1, data)] == ["form.promise_to_pay.date"]


def test_unknown_form_version_and_bad_json_are_refused() -> None:
    with pytest.raises(InvalidArgument):
        forms.schema_for(TaskType.VISIT, 99)
    for raw in ("[1, 2]", "{not json"):
        with pytest.raises(InvalidArgument) as error:
            forms.parse_form(raw)
        assert error.value.violations[0].field == "form"


def test_content_hash_is_canonical_and_detects_any_change() -> None:
    reordered = dict(reversed(list(SURVEY.items())))
    assert forms.content_hash(SURVEY) == forms.content_hash(reordered)
    changed = {**SURVEY, "income": {"annual_income": "50001", "annual_expenses": "20000.50"}}
    check = forms.check_signature(forms.content_hash(SURVEY), changed)
    assert not check.valid and check.signed_hash != check.current_hash
    assert forms.check_signature(forms.content_hash(SURVEY), reordered).valid


def test_summary_flattens_the_form() -> None:
    summary = forms.summarize({**SURVEY, "risk": ["a", "b"]})
    assert summary["income.annual_income"] == "50000"
    assert summary["assets_verified.verified"] == "true"
    assert summary["risk.count"] == "2"


@pytest.mark.parametrize(
    ("head", "media_type"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\r", "image/png"),
        (b"%PDF-1.7\n%\xe2\xe3", "application/pdf"),
        (b"#!AMR\n\x3c\x91\x17\x16", "audio/amr"),
        (b"\x00\x00\x00\x20ftypM4A \x00\x00", "audio/mp4"),
        (b"\xff\xf1\x50\x80\x02\x1f\xfc", "audio/aac"),
        (b"PK\x03\x04 a zip file", None),
        (b"plain text here!", None),
    ],
)
def test_magic_bytes(head: bytes, media_type: str | None) -> None:
    assert ev.sniff_media_type(head) == media_type


def test_kind_must_match_content() -> None:
    assert ev.check_content(ev.EvidenceKind.AUDIO, b"#!AMR\n") == "audio/amr"
    with pytest.raises(InvalidArgument) as error:
        ev.check_content(ev.EvidenceKind.PHOTO, b"%PDF-1.7\n")
    assert error.value.reason == "EVIDENCE_TYPE_REFUSED"
    assert error.value.violations[0].field == "file"


def test_required_evidence_per_type() -> None:
    missing = forms.missing_evidence(TaskType.COLLATERAL_VERIFICATION, {"photo": 1})
    assert [(v.field, v.description) for v in missing] == [("evidence.photo", "at least 2 required, 1 provided")]
    assert forms.missing_evidence(TaskType.VISIT, {}) == []


def test_working_hours_are_local() -> None:
    hours = WorkingHours.parse("07:00-20:00", "Asia/Shanghai")
    assert hours.contains(datetime(2026, 3, 2, 0, 30, tzinfo=UTC))  # 08:30 in Beijing
    assert not hours.contains(datetime(2026, 3, 2, 12, 30, tzinfo=UTC))  # 20:30 in Beijing
    with pytest.raises(ValueError):
        WorkingHours.parse("20:00-07:00", "Asia/Shanghai")


def test_track_distance_skips_imprecise_fixes() -> None:
    t = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    pings = [
        Ping(t.replace(minute=0), Position(30.0, 120.0), 5),
        Ping(t.replace(minute=10), Position(30.5, 120.0), 900),  # a cell-tower jump
        Ping(t.replace(minute=20), Position(30.01, 120.0), 5),
    ]
    assert math.isclose(track_distance_m(pings), haversine_m(Position(30.0, 120.0), Position(30.01, 120.0)))


def test_status_transitions() -> None:
    assert transition(TaskStatus.ASSIGNED, "check_in") is TaskStatus.CHECKED_IN
    assert transition(TaskStatus.CHECKED_IN, "submit") is TaskStatus.SUBMITTED
    for status in (TaskStatus.CANCELLED, TaskStatus.DONE, TaskStatus.EXPIRED):
        with pytest.raises(TaskStateConflict):
            transition(status, "save_form")
    with pytest.raises(TaskStateConflict):
        transition(TaskStatus.ACCEPTED, "submit")  # not checked in
