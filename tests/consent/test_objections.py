"""The objection rules as data: working-day deadlines, the calendar's limits, evidence checks, the file's own rules."""

from __future__ import annotations

import copy
from datetime import date

import pytest

from audit.review import calendar_knows
from consent.catalogue import load_default
from consent.errors import EvidenceInvalid, ObjectionsInvalid
from consent.objections import _shipped, calendar_note, check_evidence, load_default_rules, parse_rules
from vault.types import Evidence

CATALOGUE = load_default()
RULES = load_default_rules(CATALOGUE)


@pytest.mark.parametrize(("step", "opened", "due"), [
    ("accept", date(2026, 9, 30), date(2026, 10, 9)),     # across the National Day week
    ("accept", date(2026, 10, 9), date(2026, 10, 12)),    # Saturday 10 October is an adjusted working day
    ("decide", date(2026, 10, 9), date(2026, 10, 22)),    # ... so ten working days end on Thursday, not Friday
    ("decide", date(2026, 11, 20), date(2026, 12, 4)),    # an ordinary fortnight
    ("correct", date(2026, 10, 1), date(2026, 10, 13)),   # opened on a holiday: 8, 9, 10 (Sat), 12, 13
])
def test_deadlines_count_working_days_by_the_chinese_calendar(step: str, opened: date, due: date) -> None:
    assert RULES.deadline(step, opened) == due


def test_beyond_the_calendars_years_monday_to_friday_is_assumed_and_said() -> None:
    far = date(2099, 9, 30)  # a Wednesday
    assert not calendar_knows(far)
    assert RULES.deadline("accept", far) == date(2099, 10, 2)  # no National Day holiday is known for 2099
    note = calendar_note(far)
    assert note is not None
    assert "2099" in note
    assert "Monday to" in note
    assert calendar_note(date(2026, 10, 9)) is None


def test_every_period_has_a_reason_and_unconfirmed_ones_say_verify_internally() -> None:
    raw = _shipped()
    for item in raw["steps"]:
        assert item["reason"].strip()
        if not item["confirmed"]:
            assert item["internal_notes"].startswith("verify")
    public = RULES.to_public()
    assert "internal_notes" not in str(public)
    assert [s["step"] for s in public["steps"]] == ["accept", "decide", "correct"]
    assert set(RULES.withheld_categories) == {"SERIOUS_DISHONESTY_LIST", "COURT_ENFORCEMENT_DEFAULT"}


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["steps"][0].update(working_days=0), "working_days"),
    (lambda d: d["steps"].pop(), "exactly accept, decide and correct"),
    (lambda d: d["withheld_while_disputed"][0].update(category="NO_SUCH_CATEGORY"), "not in the catalogue"),
    (lambda d: d["withheld_while_disputed"][0].update(reason=" "), "reason is empty"),
    (lambda d: d["evidence"].update(types=["text/html"]), "checked by their bytes"),
    (lambda d: d.pop("evidence"), "malformed"),
])
def test_a_broken_objections_file_is_refused_naming_what_is_wrong(change: object, message: str) -> None:
    raw = copy.deepcopy(_shipped())
    change(raw)  # type: ignore[operator]
    with pytest.raises(ObjectionsInvalid, match=message):
        parse_rules(raw, CATALOGUE)


def test_evidence_is_checked_by_count_total_size_and_magic_number() -> None:
    pdf = Evidence("a.pdf", "application/pdf", b"%PDF-1.4 x")
    check_evidence(RULES.evidence, [pdf] * 5)
    with pytest.raises(EvidenceInvalid, match="at most 5"):
        check_evidence(RULES.evidence, [pdf] * 6)
    big = Evidence("b.pdf", "application/pdf", b"%PDF-" + b"0" * RULES.evidence.max_total_bytes)
    with pytest.raises(EvidenceInvalid) as too_big:
        check_evidence(RULES.evidence, [big])
    assert too_big.value.field == "evidence"
    with pytest.raises(EvidenceInvalid) as disguised:
        check_evidence(RULES.evidence, [pdf, Evidence("c.jpg", "image/jpeg", b"%PDF-1.4 not a jpeg")])
    assert disguised.value.field == "evidence.1.content_base64"
    check_evidence(RULES.evidence, [Evidence("d.jpg", "image/jpeg", b"\xff\xd8\xff\xe0 jfif")])
