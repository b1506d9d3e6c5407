"""The shipped purposes keep minimal use; the parser refuses a purposes file that breaks its rules."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from consent.catalogue import Catalogue, ShareScope, load_default, parse_catalogue
from consent.durations import Duration
from consent.errors import PurposesInvalid, UnknownPurpose
from consent.purposes import (
    INSTITUTION_KINDS,
    Purpose,
    Purposes,
    load_default_purposes,
    parse_purposes,
    purposes_from_json,
)

Doc = dict[str, Any]

REQUIRED = {
    "employment_screening": {"employer"},
    "tenancy": {"landlord"},
    "lending": {"lender"},
    "public_procurement": {"agency"},
    "administrative_licensing": {"agency"},
    "commendation_review": {"agency"},
    "incentive_credit": {"lender", "landlord"},
    "civil_service_recruitment": {"agency"},
    "public_institution_hiring": {"employer", "agency"},
    "cadre_selection": {"agency"},
    "professional_qualification": {"agency"},
    "professional_title_review": {"agency", "employer"},
    "soe_executive_review": {"agency", "employer"},
    "legal_representative_review": {"agency"},
    "occupational_credit_report": {"employer", "agency"},
}


@pytest.fixture
def catalogue() -> Catalogue:
    return load_default()


@pytest.fixture
def purposes(catalogue: Catalogue) -> Purposes:
    return load_default_purposes(catalogue)


def purpose_doc(doc: Doc, code: str) -> Doc:
    for item in doc["purposes"]:
        if item["code"] == code:
            return item  # type: ignore[no-any-return]
    raise AssertionError(code)


def default_doc() -> Doc:
    return copy.deepcopy(load_default_purposes(load_default()).raw)


def broken(change: Callable[[Doc], object], catalogue: Catalogue | None = None) -> str:
    """Return the PurposesInvalid message for a copy of the default purposes after `change`."""
    doc = default_doc()
    change(doc)
    with pytest.raises(PurposesInvalid) as caught:
        parse_purposes(doc, catalogue or load_default())
    return str(caught.value)


def change_purpose(target: str, /, **changes: object) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        purpose_doc(doc, target).update(changes)

    return change


# --- the shipped purposes ---------------------------------------------------------------------


def test_default_purposes_parse_against_the_default_catalogue_and_are_versioned(purposes: Purposes) -> None:
    assert purposes.version == "2026.11.27"
    assert purposes.published == date(2026, 11, 27)
    assert "最小化" in purposes.basis


def test_default_purposes_are_read_once_per_catalogue(catalogue: Catalogue) -> None:
    assert load_default_purposes(catalogue) is load_default_purposes(catalogue)


def test_default_purposes_are_checked_again_for_a_different_catalogue(catalogue: Catalogue) -> None:
    raw = copy.deepcopy(catalogue.raw)
    raw["version"] = "2026.12.1"
    other = parse_catalogue(raw)
    assert load_default_purposes(other) is not load_default_purposes(catalogue)
    assert load_default_purposes(other) == load_default_purposes(catalogue)


@pytest.mark.parametrize(("code", "kinds"), sorted(REQUIRED.items()))
def test_each_required_purpose_is_registered_for_its_institution_kind(
    purposes: Purposes, code: str, kinds: set[str]
) -> None:
    assert purposes.purpose(code).institution_kinds == kinds


def test_every_institution_kind_is_one_of_the_four(purposes: Purposes) -> None:
    for purpose in purposes.purposes.values():
        assert purpose.institution_kinds
        assert purpose.institution_kinds <= INSTITUTION_KINDS == {"employer", "landlord", "lender", "agency"}


def test_no_consent_lasts_longer_than_ninety_days_and_no_report_lives_longer_than_thirty(
    purposes: Purposes,
) -> None:
    for purpose in purposes.purposes.values():
        assert timedelta(days=1) <= purpose.max_consent.as_timedelta() <= timedelta(days=90), purpose.code
        assert timedelta(days=1) <= purpose.data_life.as_timedelta() <= timedelta(days=30), purpose.code


def test_shipped_ceilings_are_short_a_month_at_most_and_three_uses_at_most(purposes: Purposes) -> None:
    for purpose in purposes.purposes.values():
        assert timedelta(days=7) <= purpose.max_consent.as_timedelta() <= timedelta(days=30), purpose.code
        assert 1 <= purpose.max_uses <= 3, purpose.code
        assert purpose.data_life.as_timedelta() <= purpose.max_consent.as_timedelta(), purpose.code


def test_only_the_incentive_purpose_receives_the_evaluation_and_it_receives_positive_records_only(
    purposes: Purposes, catalogue: Catalogue
) -> None:
    scored = {code for code, purpose in purposes.purposes.items() if purpose.incentive_score}
    assert scored == {"incentive_credit"}
    assert purposes.purpose("incentive_credit").institution_kinds == {"lender", "landlord"}
    assert {catalogue.category(c).polarity.value for c in purposes.purpose("incentive_credit").categories} == {
        "positive"}


def test_every_field_released_is_given_to_third_parties_in_the_catalogue(
    purposes: Purposes, catalogue: Catalogue
) -> None:
    for purpose in purposes.purposes.values():
        for code, names in purpose.fields.items():
            assert names, (purpose.code, code)
            assert names <= catalogue.category(code).third_party_fields, (purpose.code, code)


def test_no_purpose_reaches_a_category_that_is_never_shared(purposes: Purposes, catalogue: Catalogue) -> None:
    for purpose in purposes.purposes.values():
        for code in purpose.categories:
            assert catalogue.category(code).share_scope is not ShareScope.SELF_ONLY


def test_every_purpose_states_its_legal_basis_and_why_it_needs_its_categories(purposes: Purposes) -> None:
    for purpose in purposes.purposes.values():
        assert purpose.name.zh
        assert purpose.name.en
        assert purpose.description.zh
        assert purpose.description.en
        assert "征信业管理条例" in purpose.legal_basis
        assert purpose.categories_reason


def test_employment_and_reports_for_awards_rest_on_the_report_uses_of_the_seeds(purposes: Purposes) -> None:
    notes = {str(item["code"]): str(item["internal_notes"]) for item in purposes.raw["purposes"]}  # type: ignore[attr-defined]
    assert "RPT-3" in notes["employment_screening"]
    assert "RPT-2" in notes["public_procurement"]
    assert "RPT-2" in notes["administrative_licensing"]
    assert "EVAL-1" in notes["commendation_review"]
    assert "002:36" in str(purposes.raw["internal_notes"])
    # The public texts name the documents those items come from.
    assert "王益区" in purposes.purpose("employment_screening").legal_basis
    assert "甘政办发〔2020〕111号" in purposes.purpose("public_procurement").legal_basis
    assert "甘政办发〔2020〕111号" in purposes.purpose("administrative_licensing").legal_basis
    assert "个人诚信评价结果只能用于守信激励" in purposes.purpose("commendation_review").legal_basis
    assert "国办发〔2020〕49号" in purposes.basis


@pytest.mark.parametrize("where", ["top", "purpose"])
def test_internal_notes_must_be_text(where: str) -> None:
    def change(doc: Doc) -> None:
        (doc if where == "top" else purpose_doc(doc, "tenancy"))["internal_notes"] = " "

    owner = "purposes" if where == "top" else "purpose tenancy"
    assert f"{owner}: internal_notes: must be a non-empty string" in broken(change)


def test_internal_notes_are_optional_and_never_published(purposes: Purposes, catalogue: Catalogue) -> None:
    doc = default_doc()
    del doc["internal_notes"]
    for item in doc["purposes"]:
        del item["internal_notes"]
    assert parse_purposes(doc, catalogue) == purposes
    assert "internal_notes" not in json.dumps(purposes.to_public())


def test_a_landlord_sees_only_whether_the_tenant_is_a_dishonest_judgment_debtor(purposes: Purposes) -> None:
    tenancy = purposes.purpose("tenancy")
    assert dict(tenancy.fields) == {"COURT_ENFORCEMENT_DEFAULT": {"listing_ground", "performance"}}
    assert "ACADEMIC_MISCONDUCT" not in tenancy.categories


@pytest.mark.parametrize(
    "category",
    [
        "OCCUPATIONAL_MISCONDUCT",
        "ADMINISTRATIVE_PENALTY_SERIOUS",
        "SERIOUS_DISHONESTY_LIST",
        "CREDIT_COMMITMENT_BREACH",
    ],
)
def test_employment_screening_sees_records_that_bear_on_the_post(purposes: Purposes, category: str) -> None:
    assert category in purposes.purpose("employment_screening").categories


@pytest.mark.parametrize(
    "category",
    [
        "CHARITABLE_DONATION",
        "VOLUNTEER_SERVICE",
        "COMMENDATION",
        "ADMINISTRATIVE_PENALTY_MINOR",
        "ADMINISTRATIVE_PENALTY_GENERAL",
        "COURT_ENFORCEMENT_DEFAULT",
        "TAX_ARREARS",
        "SOCIAL_INSURANCE_ARREARS",
        "STUDENT_LOAN_DEFAULT",
        "ACADEMIC_MISCONDUCT",
    ],
)
def test_employment_screening_does_not_see_money_matters_minor_faults_or_good_deeds(
    purposes: Purposes, category: str
) -> None:
    assert category not in purposes.purpose("employment_screening").categories


def test_lending_sees_unpaid_debts_and_listings_but_not_conduct_at_work_or_school(purposes: Purposes) -> None:
    lending = purposes.purpose("lending")
    assert {"COURT_ENFORCEMENT_DEFAULT", "TAX_ARREARS", "STUDENT_LOAN_DEFAULT"} <= lending.categories
    assert not {"OCCUPATIONAL_MISCONDUCT", "ACADEMIC_MISCONDUCT", "COMMENDATION"} & lending.categories


def test_procurement_sees_tax_and_social_insurance_arrears_and_general_penalties(purposes: Purposes) -> None:
    procurement = purposes.purpose("public_procurement")
    assert {"TAX_ARREARS", "SOCIAL_INSURANCE_ARREARS", "ADMINISTRATIVE_PENALTY_GENERAL"} <= procurement.categories
    assert "organisation_credit_code" in procurement.fields["ADMINISTRATIVE_PENALTY_SERIOUS"]
    assert procurement.data_range == Duration(years=3)


def test_licensing_looks_back_far_enough_to_see_every_licence_still_displayed(
    purposes: Purposes, catalogue: Catalogue
) -> None:
    licensing = purposes.purpose("administrative_licensing")
    assert "ADMINISTRATIVE_LICENCE" in licensing.categories
    assert licensing.data_range == catalogue.category("ADMINISTRATIVE_LICENCE").display_period


def test_commendation_review_sees_good_records_and_only_the_serious_ones_that_bar_an_award(
    purposes: Purposes, catalogue: Catalogue
) -> None:
    review = purposes.purpose("commendation_review")
    assert {"COMMENDATION", "VOLUNTEER_SERVICE", "CHARITABLE_DONATION"} <= review.categories
    for code in review.categories:
        category = catalogue.category(code)
        assert category.polarity.value == "positive" or category.severity is not None
        assert category.severity is None or category.severity.value == "serious", code


def test_no_purpose_receives_minor_penalties(purposes: Purposes) -> None:
    for purpose in purposes.purposes.values():
        assert "ADMINISTRATIVE_PENALTY_MINOR" not in purpose.categories, purpose.code


def test_unknown_purpose_code_raises_unknown_purpose(purposes: Purposes) -> None:
    with pytest.raises(UnknownPurpose) as caught:
        purposes.purpose("marketing")
    assert caught.value.code == "marketing"


def test_purposes_cannot_be_changed_after_loading(purposes: Purposes) -> None:
    tenancy = purposes.purpose("tenancy")
    with pytest.raises(TypeError):
        tenancy.fields["TAX_ARREARS"] = frozenset({"tax_type"})  # type: ignore[index]
    with pytest.raises(TypeError):
        purposes.purposes["x"] = tenancy  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        tenancy.max_uses = 99  # type: ignore[misc]


def test_public_purposes_are_json_with_iso_durations_and_parse_back(purposes: Purposes, catalogue: Catalogue) -> None:
    public = json.loads(json.dumps(purposes.to_public(), ensure_ascii=False))
    tenancy = next(item for item in public["purposes"] if item["code"] == "tenancy")
    assert tenancy["max_consent"] == "P14D"
    assert tenancy["data_range"] == "P2Y"
    assert tenancy["data_life"] == "P7D"
    assert tenancy["categories"] == {"COURT_ENFORCEMENT_DEFAULT": ["listing_ground", "performance"]}
    assert parse_purposes(public, catalogue) == purposes


def test_a_week_duration_is_read_as_days(catalogue: Catalogue) -> None:
    doc = default_doc()
    purpose_doc(doc, "tenancy").update(max_consent="P2W", data_life="P1W")
    tenancy = parse_purposes(doc, catalogue).purpose("tenancy")
    assert (tenancy.max_consent, tenancy.data_life) == (Duration(days=14), Duration(days=7))


# --- decided_since ----------------------------------------------------------------------------


def with_range(purposes: Purposes, data_range: Duration) -> Purpose:
    return dataclasses.replace(purposes.purpose("employment_screening"), data_range=data_range)


@pytest.mark.parametrize(
    ("data_range", "today", "expected"),
    [
        (Duration(years=3), date(2026, 11, 22), date(2023, 11, 22)),
        (Duration(years=1), date(2028, 2, 29), date(2027, 2, 28)),
        (Duration(years=4), date(2028, 2, 29), date(2024, 2, 29)),
        (Duration(months=1), date(2025, 3, 31), date(2025, 2, 28)),
        (Duration(months=1), date(2024, 3, 31), date(2024, 2, 29)),
        (Duration(months=3), date(2026, 1, 15), date(2025, 10, 15)),
        (Duration(days=10), date(2024, 3, 5), date(2024, 2, 24)),
        (Duration(years=1, months=1, days=1), date(2025, 3, 31), date(2024, 2, 28)),
    ],
)
def test_decided_since_counts_back_with_month_end_clamping(
    purposes: Purposes, data_range: Duration, today: date, expected: date
) -> None:
    assert with_range(purposes, data_range).decided_since(today) == expected


def test_decided_since_uses_the_purposes_data_range(purposes: Purposes) -> None:
    assert purposes.purpose("tenancy").decided_since(date(2026, 11, 22)) == date(2024, 11, 22)


# --- broken purposes files --------------------------------------------------------------------


def test_an_unchanged_copy_of_the_default_parses_to_the_same_purposes(catalogue: Catalogue) -> None:
    assert parse_purposes(default_doc(), catalogue) == load_default_purposes(catalogue)


def test_purposes_file_that_is_not_an_object_is_rejected(catalogue: Catalogue) -> None:
    with pytest.raises(PurposesInvalid, match="purposes: must be an object"):
        parse_purposes([], catalogue)  # type: ignore[arg-type]


def test_purposes_file_with_an_unknown_top_level_key_is_rejected() -> None:
    assert "purposes: owner: unknown key" in broken(lambda d: d.update(owner="x"))


def test_purposes_file_without_a_version_is_rejected() -> None:
    assert "purposes: version: missing key" in broken(lambda d: d.pop("version"))


def test_purposes_file_with_a_malformed_version_is_rejected() -> None:
    assert "purposes: version:" in broken(lambda d: d.update(version="latest"))


def test_purposes_file_with_an_impossible_publication_date_is_rejected() -> None:
    assert "purposes: published: '2026-02-30' is not a calendar date" in broken(
        lambda d: d.update(published="2026-02-30")
    )


def test_purposes_file_without_a_basis_is_rejected() -> None:
    assert "purposes: basis: must be a non-empty string" in broken(lambda d: d.update(basis=""))


def test_purposes_file_without_purposes_is_rejected() -> None:
    assert "purposes: purposes: must be a non-empty list" in broken(lambda d: d.update(purposes=[]))


def test_purpose_that_is_not_an_object_is_rejected_by_position() -> None:
    position = len(default_doc()["purposes"])
    assert f"purposes[{position}]: must be an object" in broken(lambda d: d["purposes"].append("X"))


def test_purpose_with_an_unknown_key_is_rejected() -> None:
    assert "purpose tenancy: score_weight: unknown key" in broken(change_purpose("tenancy", score_weight=3))


def test_purpose_without_a_ceiling_is_rejected() -> None:
    assert "purpose tenancy: max_uses: missing key" in broken(lambda d: purpose_doc(d, "tenancy").pop("max_uses"))


def test_purpose_code_that_is_not_snake_case_is_rejected() -> None:
    assert "purpose Tenancy-Check: code: 'Tenancy-Check' does not match" in broken(
        change_purpose("tenancy", code="Tenancy-Check")
    )


def test_purpose_code_too_long_for_the_audit_log_is_rejected() -> None:
    assert "code: must be at most 60 characters" in broken(change_purpose("tenancy", code="t" * 61))


def test_duplicate_purpose_codes_are_rejected() -> None:
    def change(doc: Doc) -> None:
        doc["purposes"].append(copy.deepcopy(purpose_doc(doc, "lending")))

    assert "purpose lending: code: appears twice" in broken(change)


def test_purpose_name_without_english_is_rejected() -> None:
    assert "purpose tenancy: name: en: missing key" in broken(change_purpose("tenancy", name={"zh": "房屋租赁"}))


def test_purpose_description_with_an_extra_language_is_rejected() -> None:
    description = {"zh": "出租", "en": "Letting", "fr": "Location"}
    assert "purpose tenancy: description: fr: unknown key" in broken(change_purpose("tenancy", description=description))


def test_purpose_without_a_legal_basis_is_rejected() -> None:
    assert "purpose tenancy: legal_basis: must be a non-empty string" in broken(
        change_purpose("tenancy", legal_basis=" ")
    )


def test_purpose_without_a_reason_for_its_categories_is_rejected() -> None:
    assert "purpose tenancy: categories_reason: must be a non-empty string" in broken(
        change_purpose("tenancy", categories_reason="")
    )


def test_institution_kind_outside_the_four_is_rejected() -> None:
    assert "purpose tenancy: institution_kinds: 'insurer' is not one of: agency, employer, landlord, lender" in broken(
        change_purpose("tenancy", institution_kinds=["landlord", "insurer"])
    )


def test_purpose_open_to_no_institution_is_rejected() -> None:
    assert "purpose tenancy: institution_kinds: must be a non-empty list" in broken(
        change_purpose("tenancy", institution_kinds=[])
    )


def test_institution_kind_listed_twice_is_rejected() -> None:
    assert "purpose tenancy: institution_kinds: lists a name twice" in broken(
        change_purpose("tenancy", institution_kinds=["landlord", "landlord"])
    )


def test_category_not_in_the_catalogue_is_rejected() -> None:
    categories = {"COURT_ENFORCEMENT_DEFAULT": ["performance"], "TRAFFIC_OFFENCE": ["offence"]}
    assert "purpose tenancy: categories: TRAFFIC_OFFENCE is not a category of catalogue 2026.11.27" in broken(
        change_purpose("tenancy", categories=categories)
    )


def test_category_the_catalogue_never_shares_is_rejected(catalogue: Catalogue) -> None:
    raw = copy.deepcopy(catalogue.raw)
    for item in raw["categories"]:  # type: ignore[attr-defined]
        if item["code"] == "CHARITABLE_DONATION":
            item["share_scope"] = "self_only"
    private = parse_catalogue(raw)
    assert "purpose commendation_review: categories: CHARITABLE_DONATION is self_only" in broken(
        lambda d: None, private
    )


def test_purpose_without_categories_is_rejected() -> None:
    assert "purpose tenancy: categories: must be a non-empty object" in broken(change_purpose("tenancy", categories={}))


def test_categories_given_as_a_list_are_rejected() -> None:
    assert "purpose tenancy: categories: must be a non-empty object" in broken(
        change_purpose("tenancy", categories=["COURT_ENFORCEMENT_DEFAULT"])
    )


def test_field_not_in_its_category_is_rejected() -> None:
    categories = {"COURT_ENFORCEMENT_DEFAULT": ["performance", "home_address"]}
    assert "purpose tenancy: categories.COURT_ENFORCEMENT_DEFAULT: home_address is not a field of category" in broken(
        change_purpose("tenancy", categories=categories)
    )


def test_field_withheld_from_third_parties_is_rejected() -> None:
    def change(doc: Doc) -> None:
        purpose_doc(doc, "lending")["categories"]["TAX_ARREARS"].append("arrears_amount")

    assert "purpose lending: categories.TAX_ARREARS: arrears_amount is never given to third parties" in broken(change)


def test_category_with_no_fields_is_rejected() -> None:
    assert "purpose tenancy: categories.COURT_ENFORCEMENT_DEFAULT: must be a non-empty list" in broken(
        change_purpose("tenancy", categories={"COURT_ENFORCEMENT_DEFAULT": []})
    )


def test_field_listed_twice_is_rejected() -> None:
    categories = {"COURT_ENFORCEMENT_DEFAULT": ["performance", "performance"]}
    assert "purpose tenancy: categories.COURT_ENFORCEMENT_DEFAULT: lists a name twice" in broken(
        change_purpose("tenancy", categories=categories)
    )


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("max_consent", "P91D", "P91D is longer than P90D"),
        ("max_consent", "P13W", "P13W is longer than P90D"),
        ("max_consent", "P1M", "not an ISO 8601 duration in days or weeks"),
        ("max_consent", "PT24H", "not an ISO 8601 duration in days or weeks"),
        ("max_consent", "P0D", "must be at least one day"),
        ("max_consent", 30, "must be an ISO 8601 duration string"),
        ("data_life", "P31D", "P31D is longer than P30D"),
        ("data_life", "P5W", "P5W is longer than P30D"),
        ("data_life", "P1M", "not an ISO 8601 duration in days or weeks"),
        ("max_uses", 0, "must be an integer of at least 1"),
        ("max_uses", True, "must be an integer of at least 1"),
        ("max_uses", "2", "must be an integer of at least 1"),
        ("data_range", "P6Y", "P6Y is longer than P5Y"),
        ("data_range", "P4Y13M", "P4Y13M is longer than P5Y"),
        ("data_range", "P0D", "must be longer than zero"),
        ("data_range", "PT1H", "not an ISO 8601 date duration"),
        ("data_range", "three years", "not an ISO 8601 date duration"),
        ("incentive_score", "no", "must be true or false"),
    ],
)
def test_a_ceiling_out_of_bounds_is_rejected_naming_the_purpose_and_key(key: str, value: object, problem: str) -> None:
    assert f"purpose tenancy: {key}: {problem}" in broken(change_purpose("tenancy", **{key: value}))


def test_a_ceiling_at_its_bound_is_accepted(catalogue: Catalogue) -> None:
    doc = default_doc()
    purpose_doc(doc, "tenancy").update(max_consent="P90D", data_life="P30D", data_range="P5Y")
    assert parse_purposes(doc, catalogue).purpose("tenancy").max_consent == Duration(days=90)


def test_a_key_written_twice_in_the_json_is_rejected(catalogue: Catalogue) -> None:
    text = json.dumps(default_doc(), ensure_ascii=False)
    text = text.replace('"max_uses": 1,', '"max_uses": 1, "max_uses": 50,', 1)
    with pytest.raises(PurposesInvalid, match="purposes: max_uses: key appears twice in one object"):
        purposes_from_json(text, catalogue)


def test_text_that_is_not_json_is_rejected(catalogue: Catalogue) -> None:
    with pytest.raises(PurposesInvalid, match="purposes: not valid JSON"):
        purposes_from_json("{", catalogue)


def test_the_shipped_json_text_parses_to_the_default_purposes(catalogue: Catalogue) -> None:
    text = json.dumps(default_doc(), ensure_ascii=False)
    assert purposes_from_json(text, catalogue) == load_default_purposes(catalogue)


# --- incentive purposes and purposes limited to one occupational group (EVAL-1, KG-1 to KG-4) --


def test_an_incentive_purpose_that_would_receive_a_negative_category_is_rejected() -> None:
    # EVAL-1: the evaluation serves incentives only; a purpose that also screens out may not receive it.
    assert "purpose commendation_review: incentive_score: an incentive purpose receives positive records only; " \
           "ADMINISTRATIVE_PENALTY_SERIOUS is negative" in broken(
               change_purpose("commendation_review", incentive_score=True))


def test_an_incentive_purpose_that_would_receive_a_basic_category_is_rejected() -> None:
    categories = {"COMMENDATION": ["honour"], "CREDIT_COMMITMENT": ["scenario"]}
    assert "CREDIT_COMMITMENT is basic" in broken(change_purpose("incentive_credit", categories=categories))


def test_the_occupational_report_is_limited_by_the_group_with_the_catalogues_codes(
    purposes: Purposes, catalogue: Catalogue
) -> None:
    report = purposes.purpose("occupational_credit_report")
    assert report.scope == "occupational_group"
    assert report.scope_codes == {entry.code for entry in catalogue.occupational_groups}
    assert report.categories == {"ADMINISTRATIVE_LICENCE", "OCCUPATIONAL_MISCONDUCT"}
    assert report.to_public()["scope"] == "occupational_group"
    assert all(p.scope is None for p in purposes.purposes.values() if p.code != "occupational_credit_report")


def test_the_purposes_the_seeds_name_for_personal_reports_are_registered_with_reasons(purposes: Purposes) -> None:
    for code in ("civil_service_recruitment", "public_institution_hiring", "cadre_selection",
                 "professional_qualification", "professional_title_review", "soe_executive_review",
                 "legal_representative_review", "occupational_credit_report"):
        purpose = purposes.purpose(code)
        assert all((purpose.name.zh, purpose.name.en, purpose.categories_reason, purpose.legal_basis)), code
        assert not purpose.incentive_score, code


@pytest.mark.parametrize(
    ("scope", "categories", "problem"),
    [
        ("licence_number", None, "scope: must be one of: occupational_group"),
        ("", None, "scope: must be a non-empty string"),
        ("occupational_group", {"ADMINISTRATIVE_LICENCE": ["occupational_group"], "COMMENDATION": ["honour"]},
         "scope: category COMMENDATION has no occupational_group field of the occupational_groups list"),
        ("occupational_group", {"ADMINISTRATIVE_LICENCE": ["licence_name"]},
         "categories.ADMINISTRATIVE_LICENCE: must include occupational_group, the field the report is limited by"),
    ],
)
def test_a_malformed_scope_is_rejected_naming_the_purpose_and_key(
    scope: str, categories: dict[str, list[str]] | None, problem: str
) -> None:
    changes: dict[str, object] = {"scope": scope}
    if categories is not None:
        changes["categories"] = categories
    assert f"purpose occupational_credit_report: {problem}" in broken(
        change_purpose("occupational_credit_report", **changes))


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("institution_kinds", ["lender", "bank"], "institution_kinds: 'bank' is not one of"),
        ("name", {"zh": "守信激励"}, "name: en: missing key"),
        ("categories", {"COMMENDATION": ["amount"]}, "categories.COMMENDATION: amount is not a field"),
        ("categories_reason", "", "categories_reason: must be a non-empty string"),
        ("max_consent", "P91D", "max_consent: P91D is longer than P90D"),
    ],
)
def test_a_malformed_new_purpose_is_rejected(key: str, value: object, problem: str) -> None:
    assert f"purpose incentive_credit: {problem}" in broken(change_purpose("incentive_credit", **{key: value}))
