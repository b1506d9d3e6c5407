"""The catalogue's entry rules as data: dates, the four grades, minimum ages, notice windows, checked formats."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from consent.catalogue import DocumentOrder, Severity, load_default, parse_catalogue
from consent.durations import Duration, not_longer
from consent.errors import CatalogueInvalid
from consent.fields import DateLimit, FieldFormat
from tests.consent.test_catalogue import category_doc, field_doc

Doc = dict[str, Any]


def broken(change: Callable[[Doc], object]) -> str:
    doc = copy.deepcopy(load_default().raw)
    change(doc)
    with pytest.raises(CatalogueInvalid) as caught:
        parse_catalogue(doc)
    return str(caught.value)


def changed(change: Callable[[Doc], object]) -> Doc:
    doc = copy.deepcopy(load_default().raw)
    change(doc)
    return doc


# --- the shipped catalogue ----------------------------------------------------------------------


def test_the_four_grades_are_listed_lightest_first_with_their_responses() -> None:
    grades = load_default().grades
    assert [grade.severity for grade in grades] == [Severity.MINOR, Severity.GENERAL, Severity.SERIOUS,
                                                    Severity.ESPECIALLY_SERIOUS]
    assert [grade.name.zh for grade in grades] == ["轻微", "一般", "严重", "特别严重"]
    assert [grade.response.zh[:4] for grade in grades] == ["提示风险", "督促整改", "纳入重点", "依法纳入"]
    assert all(grade.reason for grade in grades)


def test_the_especially_serious_grade_is_shown_longer_than_a_serious_record_and_at_most_five_years() -> None:
    catalogue = load_default()
    serious, especially = catalogue.grade(Severity.SERIOUS), catalogue.grade(Severity.ESPECIALLY_SERIOUS)
    assert especially.display_period_min == serious.display_period_max == Duration(years=3)
    assert especially.display_period_max == Duration(years=5)


def test_every_negative_category_is_displayed_within_its_grade() -> None:
    catalogue = load_default()
    for category in catalogue.categories.values():
        if category.severity is not None:
            grade = catalogue.grade(category.severity)
            assert not_longer(grade.display_period_min, category.display_period), category.code
            assert not_longer(category.display_period, grade.display_period_max), category.code


def test_the_earliest_date_is_the_founding_of_the_peoples_republic() -> None:
    dates = load_default().dates
    assert dates.earliest.isoformat() == "1949-10-01"
    assert dates.earliest_reason
    assert set(dates.order_reasons) == set(DocumentOrder)


def test_organisation_credit_codes_are_checked_as_unified_social_credit_codes() -> None:
    catalogue = load_default()
    for category in catalogue.categories.values():
        for spec in category.fields:
            if spec.name == "organisation_credit_code":
                assert spec.format is FieldFormat.UNIFIED_SOCIAL_CREDIT_CODE, category.code


def test_a_category_with_an_especially_serious_grade_and_a_period_in_its_bounds_parses() -> None:
    def change(doc: Doc) -> None:
        category = category_doc(doc, "SERIOUS_DISHONESTY_LIST")
        category.update(severity="especially_serious", display_period="P5Y")

    catalogue = parse_catalogue(changed(change))
    assert catalogue.category("SERIOUS_DISHONESTY_LIST").severity is Severity.ESPECIALLY_SERIOUS


# --- the parser refuses what breaks the rules ---------------------------------------------------


def test_a_category_displayed_longer_than_its_grade_allows_is_rejected() -> None:
    message = broken(lambda d: category_doc(d, "TAX_ARREARS").update(display_period="P2Y"))
    assert "category TAX_ARREARS: display_period: P2Y is outside the general grade's P3M to P1Y" in message


def test_a_category_displayed_shorter_than_its_grade_requires_is_rejected() -> None:
    message = broken(lambda d: category_doc(d, "COURT_ENFORCEMENT_DEFAULT").update(severity="especially_serious"))
    assert "category COURT_ENFORCEMENT_DEFAULT: display_period: P2Y is outside the especially_serious grade's " \
           "P3Y to P5Y" in message


def test_a_category_displayed_longer_than_the_heaviest_grade_allows_is_rejected() -> None:
    message = broken(lambda d: category_doc(d, "SERIOUS_DISHONESTY_LIST").update(severity="especially_serious",
                                                                                  display_period="P6Y"))
    assert "P6Y is outside the especially_serious grade's P3Y to P5Y" in message


def test_a_missing_grade_is_rejected() -> None:
    assert "catalogue: severities: must list each grade once" in broken(lambda d: d["severities"].pop())


def test_grades_out_of_order_are_rejected() -> None:
    assert "catalogue: severities: must list each grade once" in broken(lambda d: d["severities"].reverse())


def test_a_grade_whose_longest_period_is_shorter_than_its_shortest_is_rejected() -> None:
    message = broken(lambda d: d["severities"][2].update(display_period_max="P6M"))
    assert "severities: serious: display_period_max: is shorter than display_period_min" in message


def test_a_heavier_grade_with_a_shorter_minimum_is_rejected() -> None:
    message = broken(lambda d: d["severities"][3].update(display_period_min="P6M"))
    assert "especially_serious has a shorter display_period_min than serious" in message


def test_a_grade_without_a_reason_is_rejected() -> None:
    assert "severities: minor: reason: missing key" in broken(lambda d: d["severities"][0].pop("reason"))


def test_a_document_type_without_an_order_is_rejected() -> None:
    assert "document_types[0]: order: missing key" in broken(lambda d: d["document_types"][0].pop("order"))


def test_a_document_type_with_an_unknown_order_is_rejected() -> None:
    message = broken(lambda d: d["document_types"][0].update(order="whenever"))
    assert "document_types[0]: order: must be one of: decided_then_effective, effective_then_decided" in message


def test_dates_without_a_reason_for_an_order_are_rejected() -> None:
    message = broken(lambda d: d["dates"]["document_order"].pop("effective_then_decided"))
    assert "catalogue: dates: document_order: effective_then_decided: missing key" in message


def test_an_impossible_earliest_date_is_rejected() -> None:
    assert "catalogue: dates: earliest:" in broken(lambda d: d["dates"].update(earliest="1949-02-30"))


@pytest.mark.parametrize("years", [0, -1, 18.5, "18", True, 151])
def test_a_minimum_age_that_is_not_a_whole_number_of_years_is_rejected(years: object) -> None:
    message = broken(lambda d: category_doc(d, "ACADEMIC_MISCONDUCT")["minimum_age"].update(years=years))
    assert "category ACADEMIC_MISCONDUCT: minimum_age: years: must be a whole number from 1 to 150" in message


def test_a_minimum_age_without_a_reason_is_rejected() -> None:
    message = broken(lambda d: category_doc(d, "STUDENT_LOAN_DEFAULT")["minimum_age"].pop("reason"))
    assert "category STUDENT_LOAN_DEFAULT: minimum_age: reason: missing key" in message


def test_a_notice_rule_on_a_field_that_is_not_a_required_date_is_rejected() -> None:
    where = "category SERIOUS_DISHONESTY_LIST: notice_before_decision: field:"
    assert where in broken(
        lambda d: category_doc(d, "SERIOUS_DISHONESTY_LIST")["notice_before_decision"].update(field="list_name"))
    assert where in broken(
        lambda d: field_doc(d, "SERIOUS_DISHONESTY_LIST", "notified_on").update(required=False))


def test_a_notice_rule_with_a_negative_window_is_rejected() -> None:
    message = broken(
        lambda d: category_doc(d, "SERIOUS_DISHONESTY_LIST")["notice_before_decision"].update(working_days=-1))
    assert "notice_before_decision: working_days: must be a whole number from 0 to 365" in message


def test_a_format_on_a_field_that_is_not_a_string_is_rejected() -> None:
    message = broken(lambda d: field_doc(d, "TAX_ARREARS", "arrears_since").update(format="unified_social_credit_code"))
    assert "field arrears_since: format: only a string field has a format" in message


def test_an_unknown_format_is_rejected() -> None:
    message = broken(lambda d: field_doc(d, "TAX_ARREARS", "organisation_credit_code").update(format="iban"))
    assert "field organisation_credit_code: format: must be one of: unified_social_credit_code" in message


def test_internal_notes_must_be_text() -> None:
    message = broken(lambda d: category_doc(d, "TAX_ARREARS").update(internal_notes=""))
    assert "category TAX_ARREARS: internal_notes: must be a non-empty string" in message


def test_a_not_after_on_a_field_that_is_not_a_date_is_rejected() -> None:
    message = broken(lambda d: field_doc(d, "TAX_ARREARS", "arrears_amount").update(not_after="today"))
    assert "field arrears_amount: not_after: only a date field has a not_after" in message


def test_an_unknown_not_after_is_rejected() -> None:
    message = broken(lambda d: field_doc(d, "TAX_ARREARS", "arrears_since").update(not_after="tomorrow"))
    assert "field arrears_since: not_after: must be one of: today, decided_at" in message


def test_past_facts_are_dated_no_later_than_today_or_the_decision() -> None:
    limits = {(code, spec.name): spec.not_after for code, category in load_default().categories.items()
              for spec in category.fields if spec.not_after is not None}
    assert limits[("TAX_ARREARS", "arrears_since")] is DateLimit.DECIDED_AT
    assert limits[("STUDENT_LOAN_DEFAULT", "overdue_since")] is DateLimit.DECIDED_AT
    assert limits[("VOLUNTEER_SERVICE", "period_end")] is DateLimit.TODAY
    assert ("ADMINISTRATIVE_LICENCE", "valid_until") not in limits  # a licence runs into the future
