"""The shipped catalogue keeps the policy; the parser refuses a catalogue that breaks its rules."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest

from consent.catalogue import (
    SERIOUS_DISHONESTY_FIELDS,
    Catalogue,
    Category,
    Polarity,
    Severity,
    ShareScope,
    catalogue_from_json,
    load_default,
    parse_catalogue,
)
from consent.durations import Duration, add_duration, parse_duration
from consent.errors import CatalogueInvalid, PayloadInvalid, UnknownCategory

Doc = dict[str, Any]

# The 29 Changzhou key occupational groups, in order (POLICY.md §4a, 003:220-400).
CHANGZHOU_GROUPS = [
    "公务员",
    "事业单位工作人员",
    "企业法定代表人及相关责任人",
    "律师",
    "教师",
    "医师",
    "执业药师(从业药师)",
    "食品药品关键岗位从业人员",
    "评估师",
    "税务师",
    "注册消防工程师",
    "会计师",
    "审计师",
    "统计从业人员",
    "房地产中介从业人员",
    "认证人员",
    "金融从业人员",
    "导游",
    "寄递人员",
    "安全评价师",
    "卫生评价师",
    "道路运输经营者及从业人员",
    "机动车驾驶人",
    "环境影响评价及检验监测从业人员",
    "质量检验检测人员",
    "专利代理人",
    "电子商务平台从业人员",
    "工程建设设计、施工、监理负责人",
    "工程建设设计、施工、监理注册人员",
]


@pytest.fixture
def catalogue() -> Catalogue:
    return load_default()


def category_doc(doc: Doc, code: str) -> Doc:
    for item in doc["categories"]:
        if item["code"] == code:
            return item  # type: ignore[no-any-return]
    raise AssertionError(code)


def field_doc(doc: Doc, code: str, name: str) -> Doc:
    for item in category_doc(doc, code)["fields"]:
        if item["name"] == name:
            return item  # type: ignore[no-any-return]
    raise AssertionError(name)


def broken(change: Callable[[Doc], object]) -> str:
    """Return the CatalogueInvalid message for a copy of the default catalogue after `change`."""
    doc = copy.deepcopy(load_default().raw)
    change(doc)
    with pytest.raises(CatalogueInvalid) as caught:
        parse_catalogue(doc)
    return str(caught.value)


def shorter_or_equal(a: Duration, b: Duration) -> bool:
    starts = [date(2023, 1, 31), date(2024, 2, 29), date(2025, 6, 30)]
    return all(add_duration(d, a) <= add_duration(d, b) for d in starts)


# --- the shipped catalogue --------------------------------------------------------------------


def test_default_catalogue_parses_and_is_versioned(catalogue: Catalogue) -> None:
    assert catalogue.version == "2026.11.27"
    assert catalogue.published == date(2026, 11, 27)
    assert catalogue.basis


def test_default_catalogue_is_read_once_and_cached() -> None:
    assert load_default() is load_default()


def test_default_catalogue_has_at_least_fifteen_categories(
    catalogue: Catalogue,
) -> None:
    assert len(catalogue.categories) >= 15


def test_default_catalogue_covers_every_required_domain(catalogue: Catalogue) -> None:
    required = {
        "ADMINISTRATIVE_LICENCE",
        "ADMINISTRATIVE_PENALTY_MINOR",
        "ADMINISTRATIVE_PENALTY_GENERAL",
        "ADMINISTRATIVE_PENALTY_SERIOUS",
        "COURT_ENFORCEMENT_DEFAULT",
        "TAX_ARREARS",
        "SOCIAL_INSURANCE_ARREARS",
        "SERIOUS_DISHONESTY_LIST",
        "COMMENDATION",
        "VOLUNTEER_SERVICE",
        "CHARITABLE_DONATION",
        "CREDIT_COMMITMENT",
        "CREDIT_COMMITMENT_BREACH",
        "OCCUPATIONAL_MISCONDUCT",
        "ACADEMIC_MISCONDUCT",
        "STUDENT_LOAN_DEFAULT",
    }
    assert required <= set(catalogue.categories)


def test_the_three_penalty_grades_are_negative_with_rising_severity(
    catalogue: Catalogue,
) -> None:
    grades = [
        catalogue.category(f"ADMINISTRATIVE_PENALTY_{grade}").severity
        for grade in ("MINOR", "GENERAL", "SERIOUS")
    ]
    assert grades == [Severity.MINOR, Severity.GENERAL, Severity.SERIOUS]


def test_minor_penalty_is_shown_at_most_three_months_and_repairable_at_once(
    catalogue: Catalogue,
) -> None:
    minor = catalogue.category("ADMINISTRATIVE_PENALTY_MINOR")
    assert shorter_or_equal(minor.display_period, parse_duration("P3M"))
    assert minor.repairable
    assert minor.min_period_before_repair == Duration()


def test_general_penalty_is_shown_between_three_months_and_a_year(
    catalogue: Catalogue,
) -> None:
    general = catalogue.category("ADMINISTRATIVE_PENALTY_GENERAL")
    assert shorter_or_equal(parse_duration("P3M"), general.display_period)
    assert shorter_or_equal(general.display_period, parse_duration("P1Y"))
    assert general.min_period_before_repair == parse_duration("P3M")


def test_serious_penalty_is_shown_between_one_and_three_years(
    catalogue: Catalogue,
) -> None:
    serious = catalogue.category("ADMINISTRATIVE_PENALTY_SERIOUS")
    assert shorter_or_equal(parse_duration("P1Y"), serious.display_period)
    assert shorter_or_equal(serious.display_period, parse_duration("P3Y"))
    assert serious.min_period_before_repair == parse_duration("P1Y")


def test_court_enforcement_default_is_shown_two_years_and_only_the_court_removes_it(
    catalogue: Catalogue,
) -> None:
    default = catalogue.category("COURT_ENFORCEMENT_DEFAULT")
    assert default.display_period == parse_duration("P2Y")
    assert not default.repairable
    assert default.min_period_before_repair is None
    assert default.provider_roles == ("court",)
    assert default.earliest_repair(date(2026, 1, 1)) is None


def test_catalogue_lists_all_29_changzhou_occupational_groups_in_order(
    catalogue: Catalogue,
) -> None:
    assert [group.zh for group in catalogue.occupational_groups] == CHANGZHOU_GROUPS
    assert [group.code for group in catalogue.occupational_groups] == [
        f"KG{n:02d}" for n in range(1, 30)
    ]
    assert all(group.en for group in catalogue.occupational_groups)


def test_every_negative_category_requires_a_legally_effective_document(
    catalogue: Catalogue,
) -> None:
    negatives = [
        c for c in catalogue.categories.values() if c.polarity is Polarity.NEGATIVE
    ]
    assert negatives
    for category in negatives:
        assert category.document_required, category.code
        assert category.document_types, category.code
        assert category.severity is not None, category.code


def test_positive_and_basic_records_are_never_repairable(catalogue: Catalogue) -> None:
    for category in catalogue.categories.values():
        if category.polarity is not Polarity.NEGATIVE:
            assert not category.repairable, category.code
            assert category.severity is None, category.code
            assert category.min_period_before_repair is None, category.code


def test_every_period_and_share_scope_gives_its_reason(catalogue: Catalogue) -> None:
    for category in catalogue.categories.values():
        assert len(category.display_period_reason) > 40, category.code
        assert len(category.share_scope_reason) > 40, category.code
        assert category.legal_basis, category.code


def test_serious_dishonesty_list_is_limited_to_the_four_statutory_fields(
    catalogue: Catalogue,
) -> None:
    listing = catalogue.category("SERIOUS_DISHONESTY_LIST")
    spec = next(s for s in listing.fields if s.name == "field_of_listing")
    assert (
        set(spec.enum or ())
        == SERIOUS_DISHONESTY_FIELDS
        == {
            "public_health_safety",
            "fair_competition_social_order",
            "judicial_administrative_obligations",
            "national_defence_obligations",
        }
    )
    assert spec.required


def test_occupational_misconduct_names_one_of_the_key_groups(
    catalogue: Catalogue,
) -> None:
    misconduct = catalogue.category("OCCUPATIONAL_MISCONDUCT")
    spec = next(s for s in misconduct.fields if s.name == "occupational_group")
    assert spec.code_list == "occupational_groups"
    assert spec.required
    assert len(spec.codes) == 29


def test_credit_commitment_records_its_fulfilment_and_a_breach_is_negative(
    catalogue: Catalogue,
) -> None:
    commitment = catalogue.category("CREDIT_COMMITMENT")
    fulfilment = next(s for s in commitment.fields if s.name == "fulfilment")
    assert fulfilment.enum == ("pending", "fulfilled")
    assert catalogue.category("CREDIT_COMMITMENT_BREACH").polarity is Polarity.NEGATIVE


def test_exact_amounts_are_never_given_to_third_parties(catalogue: Catalogue) -> None:
    for category in catalogue.categories.values():
        for spec in category.fields:
            if spec.type == "decimal" and spec.name != "service_hours":
                assert spec.name not in category.third_party_fields, (
                    category.code,
                    spec.name,
                )


def test_tax_arrears_tell_a_third_party_the_tax_but_not_the_amount(
    catalogue: Catalogue,
) -> None:
    tax = catalogue.category("TAX_ARREARS")
    assert "tax_type" in tax.third_party_fields
    assert "arrears_amount" not in tax.third_party_fields
    assert tax.share_scope is ShareScope.AUTHORISED_QUERY


def test_administrative_penalties_are_public_from_general_upwards(
    catalogue: Catalogue,
) -> None:
    scopes = [
        catalogue.category(f"ADMINISTRATIVE_PENALTY_{grade}").share_scope
        for grade in ("MINOR", "GENERAL", "SERIOUS")
    ]
    assert scopes == [ShareScope.AUTHORISED_QUERY, ShareScope.PUBLIC, ShareScope.PUBLIC]


def test_unknown_category_code_raises_unknown_category(catalogue: Catalogue) -> None:
    with pytest.raises(UnknownCategory) as caught:
        catalogue.category("NOT_A_CATEGORY")
    assert caught.value.code == "NOT_A_CATEGORY"


def test_categories_cannot_be_changed_after_loading(catalogue: Catalogue) -> None:
    with pytest.raises(TypeError):
        catalogue.categories["X"] = catalogue.category("TAX_ARREARS")  # type: ignore[index]


def test_public_catalogue_is_json_with_iso_durations_and_parses_back(
    catalogue: Catalogue,
) -> None:
    public = catalogue.to_public()
    text = json.dumps(public, ensure_ascii=False)
    category = category_doc(json.loads(text), "ADMINISTRATIVE_PENALTY_SERIOUS")
    assert category["display_period"] == "P3Y"
    assert category["min_period_before_repair"] == "P1Y"
    assert parse_catalogue(public) == catalogue
    assert catalogue_from_json(text) == catalogue


def test_display_until_is_the_first_day_no_longer_shown(catalogue: Catalogue) -> None:
    general = catalogue.category("ADMINISTRATIVE_PENALTY_GENERAL")
    assert general.display_until(date(2026, 3, 15)) == date(2027, 3, 15)
    assert general.earliest_repair(date(2026, 3, 15)) == date(2026, 6, 15)
    minor = catalogue.category("ADMINISTRATIVE_PENALTY_MINOR")
    assert minor.display_until(date(2026, 11, 30)) == date(2027, 2, 28)


def test_category_names_are_available_in_both_languages(catalogue: Catalogue) -> None:
    tax = catalogue.category("TAX_ARREARS")
    assert (
        (tax.name_zh, tax.name_en)
        == (tax.name.zh, tax.name.en)
        == ("欠缴税款信息", "Tax arrears")
    )


# --- payloads ---------------------------------------------------------------------------------


def penalty_payload(**changes: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "violation": "未取得食品经营许可从事食品经营活动",
        "provision_violated": "《中华人民共和国食品安全法》第三十五条",
        "penalty_basis": "《中华人民共和国食品安全法》第一百二十二条",
        "penalty_type": "fine",
        "penalty_content": "罚款人民币五万元",
        "fine_amount": "50000.00",
        "sector": "food_drug",
        "subject_role": "individual_business_owner",
    }
    payload.update(changes)
    return {key: value for key, value in payload.items() if value is not ...}


def test_a_valid_payload_is_returned_normalised(catalogue: Catalogue) -> None:
    general = catalogue.category("ADMINISTRATIVE_PENALTY_GENERAL")
    result = general.validate_payload(
        penalty_payload(fine_amount=1200, organisation_name=None)
    )
    assert result["fine_amount"] == "1200"
    assert "organisation_name" not in result
    assert list(result) == [spec.name for spec in general.fields if spec.name in result]


def test_decimal_strings_keep_their_scale(catalogue: Catalogue) -> None:
    general = catalogue.category("ADMINISTRATIVE_PENALTY_GENERAL")
    assert general.validate_payload(penalty_payload(fine_amount="1200.00"))[
        "fine_amount"
    ] == ("1200.00")
    assert (
        general.validate_payload(penalty_payload(fine_amount="007.5"))["fine_amount"]
        == "7.5"
    )


def test_dates_are_stored_as_iso_strings(catalogue: Catalogue) -> None:
    loan = catalogue.category("STUDENT_LOAN_DEFAULT")
    payload = {
        "loan_type": "origin_based",
        "lender": "国家开发银行",
        "overdue_since": date(2025, 9, 1),
        "overdue_amount": "6000.00",
    }
    assert loan.validate_payload(payload)["overdue_since"] == "2025-09-01"


def test_a_key_group_code_is_accepted_for_occupational_misconduct(
    catalogue: Catalogue,
) -> None:
    misconduct = catalogue.category("OCCUPATIONAL_MISCONDUCT")
    payload = {
        "occupational_group": "KG04",
        "misconduct": "违规收费",
        "sanction": "public_censure",
    }
    assert misconduct.validate_payload(payload)["occupational_group"] == "KG04"


@pytest.mark.parametrize(
    ("code", "payload", "field", "reason"),
    [
        pytest.param(
            "ADMINISTRATIVE_PENALTY_GENERAL",
            ["not", "an", "object"],
            "payload",
            "must be an object",
            id="a list instead of an object",
        ),
        pytest.param(
            "ADMINISTRATIVE_PENALTY_GENERAL",
            penalty_payload(religion="none"),
            "payload.religion",
            "unknown field",
            id="an unknown field",
        ),
        pytest.param(
            "ADMINISTRATIVE_PENALTY_GENERAL",
            penalty_payload(violation=...),
            "payload.violation",
            "missing required field",
            id="a missing required field",
        ),
        pytest.param(
            "ADMINISTRATIVE_PENALTY_GENERAL",
            penalty_payload(violation=None),
            "payload.violation",
            "missing required field",
            id="a required field set to null",
        ),
        pytest.param(
            "ADMINISTRATIVE_PENALTY_GENERAL",
            penalty_payload(violation=42),
            "payload.violation",
            "must be a string",
            id="a number for a string",
        ),
        pytest.param(
            "ADMINISTRATIVE_PENALTY_GENERAL",
            penalty_payload(violation="   "),
            "payload.violation",
            "must not be empty",
            id="a blank string",
        ),
        pytest.param(
            "ADMINISTRATIVE_PENALTY_GENERAL",
            penalty_payload(violation="违" * 1001),
            "payload.violation",
            "at most 1000 characters",
            id="a string over its maximum length",
        ),
        pytest.param(
            "ADMINISTRATIVE_PENALTY_GENERAL",
            penalty_payload(fine_amount=1200.5),
            "payload.fine_amount",
            "decimal string",
            id="a float for a decimal",
        ),
        pytest.param(
            "ADMINISTRATIVE_PENALTY_GENERAL",
            penalty_payload(fine_amount="1,200.00"),
            "payload.fine_amount",
            "decimal string",
            id="a decimal with a thousands separator",
        ),
        pytest.param(
            "ADMINISTRATIVE_PENALTY_GENERAL",
            penalty_payload(fine_amount="-5"),
            "payload.fine_amount",
            "non-negative",
            id="a negative decimal",
        ),
        pytest.param(
            "ADMINISTRATIVE_PENALTY_GENERAL",
            penalty_payload(fine_amount=True),
            "payload.fine_amount",
            "decimal string",
            id="a boolean for a decimal",
        ),
        pytest.param(
            "ADMINISTRATIVE_PENALTY_GENERAL",
            penalty_payload(penalty_type="flogging"),
            "payload.penalty_type",
            "must be one of",
            id="an enum value that is not allowed",
        ),
        pytest.param(
            "ADMINISTRATIVE_PENALTY_MINOR",
            penalty_payload(penalty_type="revocation_of_licence"),
            "payload.penalty_type",
            "must be one of",
            id="a heavy penalty filed as minor",
        ),
        pytest.param(
            "SOCIAL_INSURANCE_ARREARS",
            {
                "insurance_type": "basic_pension",
                "arrears_since": "2025-01-01",
                "arrears_amount": "300.00",
                "employees_affected": True,
                "subject_role": "individual_business_owner",
            },
            "payload.employees_affected",
            "must be an integer",
            id="a boolean for an integer",
        ),
        pytest.param(
            "SOCIAL_INSURANCE_ARREARS",
            {
                "insurance_type": "basic_pension",
                "arrears_since": "2025-01-01",
                "arrears_amount": "300.00",
                "employees_affected": "3",
                "subject_role": "individual_business_owner",
            },
            "payload.employees_affected",
            "must be an integer",
            id="a string for an integer",
        ),
        pytest.param(
            "TAX_ARREARS",
            {
                "tax_type": "individual_income_tax",
                "arrears_since": "2025/01/01",
                "arrears_amount": "300.00",
                "subject_role": "natural_person",
            },
            "payload.arrears_since",
            "YYYY-MM-DD",
            id="a date in the wrong format",
        ),
        pytest.param(
            "TAX_ARREARS",
            {
                "tax_type": "individual_income_tax",
                "arrears_since": "2025-02-30",
                "arrears_amount": "300.00",
                "subject_role": "natural_person",
            },
            "payload.arrears_since",
            "real calendar date",
            id="a date that does not exist",
        ),
        pytest.param(
            "TAX_ARREARS",
            {
                "tax_type": "individual_income_tax",
                "arrears_since": datetime(2025, 1, 1, 8, 0),
                "arrears_amount": "300.00",
                "subject_role": "natural_person",
            },
            "payload.arrears_since",
            "YYYY-MM-DD",
            id="a datetime for a date",
        ),
        pytest.param(
            "OCCUPATIONAL_MISCONDUCT",
            {"occupational_group": "KG30", "misconduct": "违规", "sanction": "warning"},
            "payload.occupational_group",
            "occupational_groups",
            id="a code outside its code list",
        ),
        pytest.param(
            "SERIOUS_DISHONESTY_LIST",
            {"field_of_listing": "jaywalking"},
            "payload.field_of_listing",
            "must be one of",
            id="a listing outside the four statutory fields",
        ),
    ],
)
def test_a_bad_payload_is_refused_naming_the_field(
    catalogue: Catalogue, code: str, payload: object, field: str, reason: str
) -> None:
    with pytest.raises(PayloadInvalid) as caught:
        catalogue.category(code).validate_payload(payload)
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_a_boolean_field_takes_only_true_or_false() -> None:
    doc = copy.deepcopy(load_default().raw)
    fields = category_doc(doc, "VOLUNTEER_SERVICE")["fields"]
    fields.append({"name": "verified", "type": "boolean", "required": True, "third_party": True,
                   "zh": "已核验", "en": "Verified"})  # fmt: skip
    volunteer = parse_catalogue(doc).category("VOLUNTEER_SERVICE")
    payload = {"organisation": "常州志愿者协会", "service_hours": "12.5",
               "period_start": "2026-01-01", "period_end": "2026-03-31"}  # fmt: skip
    assert (
        volunteer.validate_payload({**payload, "verified": False})["verified"] is False
    )
    with pytest.raises(PayloadInvalid) as caught:
        volunteer.validate_payload({**payload, "verified": "yes"})
    assert caught.value.field == "payload.verified"


def test_a_third_party_sees_only_fields_marked_for_third_parties(
    catalogue: Catalogue,
) -> None:
    donation: Category = catalogue.category("CHARITABLE_DONATION")
    assert donation.third_party_fields == {"recipient", "donation_type"}


# --- broken catalogues ------------------------------------------------------------------------


def test_an_unchanged_copy_of_the_default_parses_to_the_same_catalogue() -> None:
    assert parse_catalogue(copy.deepcopy(load_default().raw)) == load_default()


def test_catalogue_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(CatalogueInvalid, match="catalogue: must be an object"):
        parse_catalogue([])  # type: ignore[arg-type]


def test_catalogue_with_an_unknown_top_level_key_is_rejected() -> None:
    assert "catalogue: owner: unknown key" in broken(lambda d: d.update(owner="x"))


def test_catalogue_without_a_version_is_rejected() -> None:
    assert "catalogue: version: missing key" in broken(lambda d: d.pop("version"))


def test_catalogue_with_a_malformed_version_is_rejected() -> None:
    assert "catalogue: version:" in broken(lambda d: d.update(version="latest"))


def test_catalogue_with_an_impossible_publication_date_is_rejected() -> None:
    assert "catalogue: published:" in broken(lambda d: d.update(published="2026-02-30"))


def test_catalogue_without_categories_is_rejected() -> None:
    assert "catalogue: categories: must be a non-empty list" in broken(
        lambda d: d.update(categories=[])
    )


def test_duplicate_occupational_group_codes_are_rejected() -> None:
    def change(doc: Doc) -> None:
        doc["occupational_groups"][1]["code"] = "KG01"

    assert "occupational_groups: code 'KG01' appears twice" in broken(change)


def test_occupational_group_with_a_malformed_code_is_rejected() -> None:
    def change(doc: Doc) -> None:
        doc["occupational_groups"][0]["code"] = "K1"

    assert "occupational_groups[0]: code:" in broken(change)


def test_duplicate_category_codes_are_rejected() -> None:
    def change(doc: Doc) -> None:
        doc["categories"].append(copy.deepcopy(category_doc(doc, "TAX_ARREARS")))

    assert "category TAX_ARREARS: code: appears twice" in broken(change)


def test_category_code_that_is_not_upper_snake_case_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "TAX_ARREARS")["code"] = "tax-arrears"

    assert "category tax-arrears: code: 'tax-arrears' does not match" in broken(change)


def test_category_that_is_not_an_object_is_rejected_by_position() -> None:
    assert "categories[16]: must be an object" in broken(
        lambda d: d["categories"].append("X")
    )


def test_category_with_an_unknown_key_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "TAX_ARREARS")["score_weight"] = 3

    assert "category TAX_ARREARS: score_weight: unknown key" in broken(change)


def test_category_without_a_legal_basis_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "TAX_ARREARS")["legal_basis"] = " "

    assert "category TAX_ARREARS: legal_basis: must be a non-empty string" in broken(
        change
    )


def test_category_in_an_unknown_domain_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "TAX_ARREARS")["domain"] = "astrology"

    assert "category TAX_ARREARS: domain: 'astrology' is not a known domain" in broken(
        change
    )


def test_category_with_an_unknown_polarity_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "TAX_ARREARS")["polarity"] = "neutral"

    assert "category TAX_ARREARS: polarity: must be one of" in broken(change)


def test_category_with_an_unknown_share_scope_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "TAX_ARREARS")["share_scope"] = "everyone"

    assert "category TAX_ARREARS: share_scope: must be one of" in broken(change)


def test_category_without_a_share_scope_reason_is_rejected() -> None:
    def change(doc: Doc) -> None:
        del category_doc(doc, "TAX_ARREARS")["share_scope_reason"]

    assert "category TAX_ARREARS: share_scope_reason: missing key" in broken(change)


def test_negative_category_without_a_severity_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "TAX_ARREARS")["severity"] = None

    assert (
        "category TAX_ARREARS: severity: a negative category needs a severity"
        in broken(change)
    )


def test_negative_category_with_an_unknown_severity_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "TAX_ARREARS")["severity"] = "catastrophic"

    assert "category TAX_ARREARS: severity: must be one of" in broken(change)


def test_negative_category_without_document_requirement_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "TAX_ARREARS")["document_required"] = False

    assert "category TAX_ARREARS: document_required: must be true" in broken(change)


def test_category_requiring_a_document_without_document_types_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "TAX_ARREARS")["document_types"] = []

    assert "category TAX_ARREARS: document_types: a category that requires" in broken(
        change
    )


def test_category_naming_an_unknown_document_type_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "TAX_ARREARS")["document_types"] = ["rumour"]

    assert (
        "category TAX_ARREARS: document_types: 'rumour' is not a known code"
        in broken(change)
    )


def test_category_naming_an_unknown_provider_role_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "TAX_ARREARS")["provider_roles"] = ["tax", "neighbour"]

    assert (
        "category TAX_ARREARS: provider_roles: 'neighbour' is not a known code"
        in broken(change)
    )


def test_category_without_provider_roles_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "TAX_ARREARS")["provider_roles"] = []

    assert "category TAX_ARREARS: provider_roles: must be a non-empty list" in broken(
        change
    )


def test_positive_category_with_a_severity_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "COMMENDATION")["severity"] = "minor"

    assert (
        "category COMMENDATION: severity: must be null for a positive category"
        in broken(change)
    )


def test_positive_category_marked_repairable_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "VOLUNTEER_SERVICE")["repairable"] = True

    assert "category VOLUNTEER_SERVICE: repairable: must be false" in broken(change)


def test_basic_category_with_a_repair_period_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "ADMINISTRATIVE_LICENCE")["min_period_before_repair"] = "P1M"

    assert (
        "category ADMINISTRATIVE_LICENCE: min_period_before_repair: must be null"
        in broken(change)
    )


def test_repairable_category_without_a_minimum_period_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "ADMINISTRATIVE_PENALTY_GENERAL")[
            "min_period_before_repair"
        ] = None

    assert (
        "min_period_before_repair: a repairable category needs a minimum period"
        in broken(change)
    )


def test_non_repairable_negative_category_with_a_minimum_period_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "COURT_ENFORCEMENT_DEFAULT")["min_period_before_repair"] = (
            "P1Y"
        )

    assert (
        "category COURT_ENFORCEMENT_DEFAULT: min_period_before_repair: must be null"
        in broken(change)
    )


def test_minimum_period_longer_than_the_display_period_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "ADMINISTRATIVE_PENALTY_GENERAL")[
            "min_period_before_repair"
        ] = "P13M"

    message = broken(change)
    assert (
        "category ADMINISTRATIVE_PENALTY_GENERAL: min_period_before_repair:" in message
    )
    assert "longer than the display period" in message


def test_minimum_period_counted_in_days_that_can_outlast_the_months_is_rejected() -> (
    None
):
    def change(doc: Doc) -> None:
        category_doc(doc, "ADMINISTRATIVE_PENALTY_MINOR")[
            "min_period_before_repair"
        ] = "P90D"

    assert "longer than the display period" in broken(change)


def test_display_period_with_a_time_part_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "TAX_ARREARS")["display_period"] = "P1YT12H"

    assert (
        "category TAX_ARREARS: display_period: not an ISO 8601 date duration"
        in broken(change)
    )


def test_display_period_that_is_not_a_string_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "TAX_ARREARS")["display_period"] = 365

    assert (
        "category TAX_ARREARS: display_period: must be an ISO 8601 duration"
        in broken(change)
    )


def test_zero_display_period_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "COMMENDATION")["display_period"] = "P0D"

    assert "category COMMENDATION: display_period: must be longer than zero" in broken(
        change
    )


def test_display_period_too_long_to_count_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "COMMENDATION")["display_period"] = "P999999Y"

    assert "category COMMENDATION: display_period:" in broken(change)


def test_category_without_fields_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, "TAX_ARREARS")["fields"] = []

    assert "category TAX_ARREARS: fields: must be a non-empty list" in broken(change)


def test_two_fields_with_one_name_are_rejected() -> None:
    def change(doc: Doc) -> None:
        fields = category_doc(doc, "TAX_ARREARS")["fields"]
        fields.append(copy.deepcopy(fields[0]))

    assert "category TAX_ARREARS: fields: two fields share a name" in broken(change)


def test_field_with_an_unknown_key_is_rejected() -> None:
    def change(doc: Doc) -> None:
        field_doc(doc, "TAX_ARREARS", "tax_type")["pattern"] = ".*"

    assert "category TAX_ARREARS: field tax_type: pattern: unknown key" in broken(
        change
    )


def test_field_name_that_is_not_snake_case_is_rejected() -> None:
    def change(doc: Doc) -> None:
        field_doc(doc, "TAX_ARREARS", "tax_type")["name"] = "TaxType"

    assert "category TAX_ARREARS: field TaxType: name:" in broken(change)


def test_field_with_an_unknown_type_is_rejected() -> None:
    def change(doc: Doc) -> None:
        field_doc(doc, "TAX_ARREARS", "arrears_amount")["type"] = "float"

    assert "category TAX_ARREARS: field arrears_amount: type: must be one of" in broken(
        change
    )


def test_field_without_the_third_party_flag_is_rejected() -> None:
    def change(doc: Doc) -> None:
        del field_doc(doc, "TAX_ARREARS", "arrears_amount")["third_party"]

    assert (
        "category TAX_ARREARS: field arrears_amount: third_party: missing key"
        in broken(change)
    )


def test_field_with_a_non_boolean_required_flag_is_rejected() -> None:
    def change(doc: Doc) -> None:
        field_doc(doc, "TAX_ARREARS", "arrears_amount")["required"] = "yes"

    assert (
        "category TAX_ARREARS: field arrears_amount: required: must be true or false"
        in broken(change)
    )


def test_enum_field_without_values_is_rejected() -> None:
    def change(doc: Doc) -> None:
        del field_doc(doc, "TAX_ARREARS", "tax_type")["enum"]

    assert "category TAX_ARREARS: field tax_type: enum:" in broken(change)


def test_enum_field_listing_a_value_twice_is_rejected() -> None:
    def change(doc: Doc) -> None:
        field_doc(doc, "TAX_ARREARS", "tax_type")["enum"] = ["stamp_duty", "stamp_duty"]

    assert "category TAX_ARREARS: field tax_type: enum: lists a value twice" in broken(
        change
    )


def test_enum_values_on_a_string_field_are_rejected() -> None:
    def change(doc: Doc) -> None:
        field_doc(doc, "TAX_ARREARS", "organisation_name")["enum"] = ["a", "b"]

    assert "category TAX_ARREARS: field organisation_name: enum:" in broken(change)


def test_max_length_on_a_decimal_field_is_rejected() -> None:
    def change(doc: Doc) -> None:
        field_doc(doc, "TAX_ARREARS", "arrears_amount")["max_length"] = 12

    assert (
        "field arrears_amount: max_length: only a string field has a max_length"
        in broken(change)
    )


def test_max_length_that_is_not_a_positive_integer_is_rejected() -> None:
    def change(doc: Doc) -> None:
        field_doc(doc, "TAX_ARREARS", "organisation_name")["max_length"] = True

    assert "field organisation_name: max_length: must be a positive integer" in broken(
        change
    )


def test_code_field_without_a_code_list_is_rejected() -> None:
    def change(doc: Doc) -> None:
        del field_doc(doc, "OCCUPATIONAL_MISCONDUCT", "occupational_group")["code_list"]

    assert (
        "field occupational_group: code_list: a code field needs a code_list"
        in broken(change)
    )


def test_code_field_naming_a_missing_code_list_is_rejected() -> None:
    def change(doc: Doc) -> None:
        field_doc(doc, "OCCUPATIONAL_MISCONDUCT", "occupational_group")["code_list"] = (
            "castes"
        )

    assert "field occupational_group: code_list: 'castes' is not one of" in broken(
        change
    )


def test_serious_dishonesty_list_widened_beyond_the_four_fields_is_rejected() -> None:
    def change(doc: Doc) -> None:
        field_doc(doc, "SERIOUS_DISHONESTY_LIST", "field_of_listing")["enum"].append(
            "traffic_violations"
        )

    message = broken(change)
    assert "category SERIOUS_DISHONESTY_LIST: field field_of_listing: enum:" in message
    assert "four statutory fields" in message


def test_catalogue_json_with_a_repeated_key_is_rejected() -> None:
    text = json.dumps(load_default().raw, ensure_ascii=False)
    text = text.replace(
        '"version": "2026.11.27"', '"version": "2026.11.27", "version": "2026.11.28"'
    )
    with pytest.raises(CatalogueInvalid, match="version: key appears twice"):
        catalogue_from_json(text)


def test_text_that_is_not_json_is_rejected() -> None:
    with pytest.raises(CatalogueInvalid, match="not valid JSON"):
        catalogue_from_json("{")
