"""The evaluation's rules file is checked against the catalogue; the three-year attribute weighs what it should.

EVAL-7: no adverse record for three consecutive years, ignoring repaired, revoked and expired records (DP-1:
不再展示和使用). EVAL-1: the evaluation goes with incentive purposes only.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from consent import reports
from consent.catalogue import Catalogue, load_default
from consent.errors import EvaluationInvalid
from consent.evaluation import (
    EvaluationRules,
    Verdict,
    evaluation_from_json,
    for_institution,
    for_person,
    judge,
    load_default_rules,
    parse_evaluation,
    stops_counting,
)
from consent.grants import GrantView
from consent.purposes import load_default_purposes

TODAY = date(2026, 11, 22)
NOON = datetime(2026, 11, 22, 4, tzinfo=UTC)  # 12:00 China Standard Time


@dataclass(frozen=True)
class Dated:
    id: str = "rec_1"
    category: str = "ADMINISTRATIVE_PENALTY_SERIOUS"
    status: str = "active"
    decided_at: date = date(2026, 6, 1)
    display_from: date = date(2026, 6, 1)
    display_until: date | None = date(2029, 6, 1)
    period_source: str = "catalogue"
    repaired_at: datetime | None = None


@pytest.fixture
def catalogue() -> Catalogue:
    return load_default()


@pytest.fixture
def rules(catalogue: Catalogue) -> EvaluationRules:
    return load_default_rules(catalogue)


def broken(catalogue: Catalogue, change: Any) -> str:
    doc = copy.deepcopy(load_default_rules(catalogue).raw)
    change(doc)
    with pytest.raises(EvaluationInvalid) as caught:
        parse_evaluation(doc, catalogue)
    return str(caught.value)


def test_the_shipped_rules_are_versioned_and_weigh_every_negative_category(
    rules: EvaluationRules, catalogue: Catalogue
) -> None:
    assert (rules.version, rules.window.isoformat()) == ("2026.11.27", "P3Y")
    negative = {code for code, c in catalogue.categories.items() if c.polarity.value == "negative"}
    assert rules.adverse == negative
    assert set(rules.positive) == {"COMMENDATION", "VOLUNTEER_SERVICE", "CHARITABLE_DONATION"}
    assert all(rules.positive.values())
    assert load_default_rules(catalogue) is rules


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: d["no_adverse_record"]["categories"].remove("TAX_ARREARS"),
     "no_adverse_record: categories: TAX_ARREARS is a negative category of catalogue 2026.11.27 and must be listed"),
    (lambda d: d["no_adverse_record"]["categories"].append("COMMENDATION"),
     "no_adverse_record: categories: COMMENDATION is not a negative category"),
    (lambda d: d["no_adverse_record"]["categories"].append("NOT_A_CATEGORY"),
     "no_adverse_record: categories: 'NOT_A_CATEGORY' is not a known code"),
    (lambda d: d["no_adverse_record"].update(window="P6Y"), "no_adverse_record: window: must be longer than zero"),
    (lambda d: d["no_adverse_record"].update(window="P0D"), "no_adverse_record: window: must be longer than zero"),
    (lambda d: d["no_adverse_record"].update(window="three years"), "no_adverse_record: window: "),
    (lambda d: d["no_adverse_record"].pop("reason"), "no_adverse_record: reason: missing key"),
    (lambda d: d["positive"].append({"category": "TAX_ARREARS", "reason": "x"}),
     "positive[3]: category: TAX_ARREARS is not a positive category"),
    (lambda d: d["positive"].append({"category": "COMMENDATION", "reason": "again"}),
     "positive[3]: category: COMMENDATION appears twice"),
    (lambda d: d["positive"][0].update(reason=""), "positive[0]: reason: must be a non-empty string"),
    (lambda d: d.update(version="one"), "evaluation: version: 'one' does not match"),
    (lambda d: d.update(extra=1), "evaluation: extra: unknown key"),
    (lambda d: d["use"].pop("zh"), "evaluation: use: zh: missing key"),
])
def test_a_malformed_rules_file_is_rejected_naming_the_key(catalogue: Catalogue, change: Any, problem: str) -> None:
    assert problem in broken(catalogue, change)


def test_rules_that_are_not_json_or_not_an_object_are_rejected(catalogue: Catalogue) -> None:
    with pytest.raises(EvaluationInvalid, match="not valid JSON"):
        evaluation_from_json("{", catalogue)
    with pytest.raises(EvaluationInvalid, match="must be an object"):
        evaluation_from_json(json.dumps([]), catalogue)
    with pytest.raises(EvaluationInvalid, match="evaluation: window: key appears twice in one object"):
        evaluation_from_json('{"no_adverse_record": {"window": "P3Y", "window": "P1Y"}}', catalogue)


@pytest.mark.parametrize(("record", "verdict"), [
    (Dated(), Verdict.DECIDED_WITHIN_WINDOW),
    (Dated(decided_at=date(2023, 11, 22)), Verdict.DECIDED_WITHIN_WINDOW),  # the window's first day
    (Dated(decided_at=date(2023, 11, 21), period_source="extended"), Verdict.IN_FORCE_BY_OWN_PERIOD),
    (Dated(decided_at=date(2023, 11, 21), period_source="rule", display_until=None), Verdict.IN_FORCE_BY_OWN_PERIOD),
    (Dated(decided_at=date(2023, 11, 21), display_until=date(2027, 1, 1)), Verdict.DECIDED_BEFORE_WINDOW),
    (Dated(display_until=TODAY), Verdict.DISPLAY_ENDED),
    (Dated(display_from=date(2026, 11, 23)), Verdict.NOT_YET_SHOWN),
    (Dated(display_from=TODAY), Verdict.DECIDED_WITHIN_WINDOW),  # shown from today: counts today
    (Dated(display_until=date(2026, 11, 23)), Verdict.DECIDED_WITHIN_WINDOW),  # its display's last day
    (Dated(repaired_at=datetime(2026, 10, 20, tzinfo=UTC)), Verdict.REPAIRED),
    (Dated(status="revoked"), Verdict.REVOKED),
])
def test_each_adverse_record_is_weighed_with_its_reason(rules: EvaluationRules, record: Dated,
                                                        verdict: Verdict) -> None:
    assert judge(rules, record, TODAY) is verdict


def test_a_record_stops_counting_when_it_leaves_the_window_or_its_display_ends(rules: EvaluationRules) -> None:
    assert stops_counting(rules, Dated()) == date(2029, 6, 1)  # display ends before the window is left
    assert stops_counting(rules, Dated(display_until=date(2030, 1, 1))) == date(2029, 6, 2)
    assert stops_counting(rules, Dated(display_until=None, period_source="rule")) is None
    assert stops_counting(rules, Dated(display_until=date(2031, 1, 1), period_source="extended")) == date(2031, 1, 1)
    leap = Dated(decided_at=date(2024, 2, 29), display_until=None)
    assert stops_counting(rules, leap) == date(2027, 3, 1)
    assert judge(rules, leap, date(2027, 2, 28)) is Verdict.DECIDED_WITHIN_WINDOW
    assert judge(rules, leap, date(2027, 3, 1)) is Verdict.DECIDED_BEFORE_WINDOW


def test_the_institution_learns_the_attribute_but_not_the_record_behind_it(
    rules: EvaluationRules, catalogue: Catalogue
) -> None:
    found = for_institution(rules, catalogue, NOON, [Dated()], [])
    assert found["no_adverse_record"]["value"] is False
    assert "rec_1" not in json.dumps(found)
    assert "2026-06-01" not in json.dumps(found)
    cleared = for_institution(rules, catalogue, NOON, [Dated(repaired_at=NOON), Dated(display_until=TODAY)], [])
    assert cleared["no_adverse_record"]["value"] is True


def test_a_category_the_rules_do_not_weigh_never_breaks_the_attribute(rules: EvaluationRules,
                                                                       catalogue: Catalogue) -> None:
    other = replace(rules, adverse=frozenset({"TAX_ARREARS"}))
    assert for_institution(other, catalogue, NOON, [Dated()], [])["no_adverse_record"]["value"] is True


def test_the_person_sees_when_the_attribute_will_hold(rules: EvaluationRules, catalogue: Catalogue) -> None:
    found = for_person(rules, catalogue, NOON, [Dated(), Dated(id="rec_2", display_until=date(2030, 1, 1))])
    assert found["no_adverse_record"]["holds_from"] == "2029-06-02"
    unknown = for_person(rules, catalogue, NOON, [Dated(period_source="rule", display_until=None)])
    assert unknown["no_adverse_record"]["holds_from"] is None
    assert unknown["adverse_records"][0]["explanation"]["en"].startswith("Counts")


def test_the_person_sees_only_the_positive_records_shown_today(rules: EvaluationRules, catalogue: Catalogue) -> None:
    shown = Dated(id="pos_1", category="COMMENDATION")
    hidden = [Dated(id="pos_2", category="COMMENDATION", status="revoked"),
              Dated(id="pos_3", category="COMMENDATION", repaired_at=NOON),
              Dated(id="pos_4", category="COMMENDATION", display_from=date(2026, 11, 23)),
              Dated(id="pos_5", category="COMMENDATION", display_until=TODAY)]
    found = for_person(rules, catalogue, NOON, [shown, *hidden])
    assert [r["record_id"] for group in found["positive"] for r in group["records"]] == ["pos_1"]


def test_compose_refuses_an_evaluation_for_any_purpose_but_an_incentive_one(catalogue: Catalogue) -> None:
    purposes = load_default_purposes(catalogue)
    grant = GrantView("cn_1", "cr_1", "i", "ref", "tenancy", {}, NOON, NOON, 1, 1, "active", None, "r", "h",
                      "2026.11.27", "2026.11.27")
    for purpose in purposes.purposes.values():
        wrong = None if purpose.incentive_score else {"rules_version": "2026.11.27"}
        with pytest.raises(ValueError, match="an evaluation goes with incentive purposes only"):
            reports.compose("rp_1", grant, purpose, catalogue, _EMPTY, NOON, NOON, wrong)


@dataclass(frozen=True)
class _Empty:
    masked_citizen_id: str = "1101**********002X"
    records: tuple[Any, ...] = ()


_EMPTY: Any = _Empty()
