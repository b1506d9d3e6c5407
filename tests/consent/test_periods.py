"""Display rules, own ends and extensions (consent.periods) and publication deadlines (consent.timeliness)."""

from __future__ import annotations

from datetime import date

import pytest

from consent.catalogue import load_default
from consent.errors import PayloadInvalid
from consent.periods import PeriodSource, display_end, plan_end, plan_extension
from consent.timeliness import due_date
from tests.consent.test_catalogue import Doc, broken, category_doc
from vault.errors import RecordConflict

COURT = "COURT_ENFORCEMENT_DEFAULT"


def _court(ground: str) -> dict[str, object]:
    return {"listing_ground": ground}


def test_the_court_listing_period_follows_its_ground() -> None:
    court = load_default().category(COURT)
    decided = date(2024, 3, 1)
    assert display_end(court, decided, _court("able_but_refuses_to_perform"), None).until is None
    for ground in ("obstructs_enforcement", "evades_enforcement", "breaches_property_reporting",
                   "breaches_consumption_restriction", "refuses_settlement_agreement"):
        end = display_end(court, decided, _court(ground), None)
        assert end.until == date(2026, 3, 1)
        assert end.source is PeriodSource.CATALOGUE


def test_a_ban_in_force_outlasts_the_display_period_and_a_short_one_does_not() -> None:
    misconduct = load_default().category("OCCUPATIONAL_MISCONDUCT")
    decided = date(2025, 1, 10)
    long = display_end(misconduct, decided, {"sanction": "industry_ban", "sanction_until": "2030-01-09"}, None)
    assert long.until == date(2030, 1, 10)
    assert long.source is PeriodSource.RULE
    short = display_end(misconduct, decided, {"sanction": "industry_ban", "sanction_until": "2025-06-30"}, None)
    assert short.until == date(2026, 1, 10)
    assert short.source is PeriodSource.CATALOGUE
    warning = display_end(misconduct, decided, {"sanction": "warning"}, None)
    assert warning.until == date(2026, 1, 10)


def test_an_own_end_must_lie_within_the_bounds_counted_from_the_decision() -> None:
    catalogue = load_default()
    serious = catalogue.category("ADMINISTRATIVE_PENALTY_SERIOUS")
    decided = date(2024, 2, 29)
    assert display_end(serious, decided, {}, date(2027, 2, 28)).until == date(2027, 2, 28)
    assert display_end(serious, decided, {}, date(2027, 2, 28)).source is PeriodSource.DOCUMENT
    for outside in (date(2025, 2, 27), date(2027, 3, 1)):
        with pytest.raises(PayloadInvalid) as caught:
            display_end(serious, decided, {}, outside)
        assert caught.value.field == "display_until"
    # A court listing's term is set by its ground and changed by the court's later decisions, not at entry.
    with pytest.raises(PayloadInvalid):
        display_end(catalogue.category(COURT), decided, _court("obstructs_enforcement"), date(2026, 2, 28))


def test_an_extension_counts_from_the_end_set_on_entry_and_an_end_needs_a_shown_record() -> None:
    court = load_default().category(COURT)
    today = date(2026, 11, 22)
    assert plan_extension(court, date(2027, 1, 1), date(2027, 1, 1), date(2028, 1, 1), today).until == date(2028, 1, 1)
    with pytest.raises(PayloadInvalid):
        plan_extension(court, date(2029, 1, 1), date(2027, 1, 1), date(2028, 6, 1), today)  # before the current end
    with pytest.raises(RecordConflict):
        plan_extension(court, None, None, date(2028, 1, 1), today)
    with pytest.raises(RecordConflict):
        plan_end(date(2026, 11, 22), today)
    assert plan_end(None, today).until == today


def test_working_days_count_holidays_out_and_swapped_weekends_in() -> None:
    # 2026: National Day holiday 1-7 October; Saturday 10 October is a working day.
    assert due_date(date(2026, 9, 30), 7) == date(2026, 10, 15)
    assert due_date(date(2026, 10, 9), 1) == date(2026, 10, 10)
    assert due_date(date(2026, 11, 20), 7) == date(2026, 12, 1)  # a Friday: two weekends


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: category_doc(d, COURT)["display_rules"][0].update(field="case_number"),
     "is not an enum field"),
    (lambda d: category_doc(d, COURT)["display_rules"][0].update(values=["paid_up"]),
     "must be values of listing_ground"),
    (lambda d: category_doc(d, COURT)["display_rules"][0].update(until_field="obligation"),
     "is not a date field"),
    (lambda d: category_doc(d, COURT)["display_rules"][1].update(period="P0D"), "must be longer than zero"),
    (lambda d: category_doc(d, COURT)["display_rules"][0].update(values=None), "must be a non-empty list"),
    (lambda d: category_doc(d, "TAX_ARREARS")["display_rules"][0].update(values=["x"]), "must be null"),
    (lambda d: category_doc(d, COURT)["display_extension"].update(min="P4Y"), "not shorter than min"),
    (lambda d: category_doc(d, COURT)["display_extension"].update(colour="red"), "unknown key"),
    (lambda d: category_doc(d, COURT)["display_extension"].update(internal_notes=""), "non-empty string"),
    (lambda d: category_doc(d, "ADMINISTRATIVE_LICENCE")["publication_deadline"].update(working_days=0),
     "whole number from 1"),
    (lambda d: category_doc(d, "ADMINISTRATIVE_LICENCE")["publication_deadline"].update(working_days=True),
     "whole number from 1"),
])
def test_a_catalogue_with_a_broken_period_rule_is_refused(change: object, message: str) -> None:
    assert message in broken(change)  # type: ignore[arg-type]


def test_internal_notes_are_never_published() -> None:
    catalogue = load_default()
    court: Doc = category_doc(catalogue.raw, COURT)
    assert "verify" in court["display_rules"][0]["internal_notes"]
    for category in catalogue.categories.values():
        published = category.to_public()
        for key in ("display_rules", "document_display_until", "display_extension", "publication_deadline"):
            text = str(published.get(key, ""))
            assert "verify" not in text
            assert "internal_notes" not in text
