"""Who may file what (谁主管、谁认定、谁负责, DET-4): agency roles and levels, in the catalogue and at entry."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from consent.catalogue import ANY_COMPETENT_AUTHORITY, LEGACY_AGENCY, Catalogue, load_default, parse_catalogue
from consent.entry import prepare
from consent.errors import CatalogueInvalid, CategoryNotAllowed
from gateway.runtime import Runtime
from tests.conftest import NOW, People, new_record
from vault.types import Document, NewRecord, Provider

Doc = dict[str, Any]
TODAY = NOW.date()
LIST = "SERIOUS_DISHONESTY_LIST"
COURT = "COURT_ENFORCEMENT_DEFAULT"
GENERAL = "ADMINISTRATIVE_PENALTY_GENERAL"


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_default()


def broken(change: Callable[[Doc], object]) -> str:
    doc = copy.deepcopy(load_default().raw)
    change(doc)
    with pytest.raises(CatalogueInvalid) as caught:
        parse_catalogue(doc)
    return str(caught.value)


def category_doc(doc: Doc, code: str) -> Doc:
    return next(item for item in doc["categories"] if item["code"] == code)  # type: ignore[no-any-return]


def listing(citizen_id: str, decided: date = date(2026, 10, 1)) -> NewRecord:
    """A serious-dishonesty listing whose person was told two months before the decision."""
    return NewRecord(
        citizen_id=citizen_id, name="测试人", category=LIST, decided_at=decided,
        document=Document("list_determination", "常市监信〔2026〕3号", "常州市市场监督管理局", decided),
        payload={
            "field_of_listing": "fair_competition_social_order", "list_name": "市场监督管理严重违法失信名单",
            "listing_standard": "《市场监督管理严重违法失信名单管理办法》第二条",
            "listing_reason": "提供虚假材料骗取登记", "punishment_measures": "依法限制",
            "removal_conditions": "公示满三年且已履行", "remedies": "行政复议或行政诉讼",
            "notified_on": (decided - timedelta(days=60)).isoformat(), "subject_role": "natural_person",
        },
    )


# --- the catalogue ------------------------------------------------------------------------------


def test_the_shipped_roles_say_which_are_administrative_and_why_a_court_is_not(catalogue: Catalogue) -> None:
    administrative = {role.code for role in catalogue.provider_roles if role.administrative}
    assert ANY_COMPETENT_AUTHORITY in administrative
    assert "tax" in administrative
    court = catalogue.role("court")
    assert court is not None
    assert not court.administrative
    assert court.reason
    office = catalogue.role("credit_office")
    assert office is not None
    assert not office.administrative
    assert "谁主管" in (office.reason or "")


def test_levels_run_from_township_to_national_and_the_list_needs_county_with_its_reason(
    catalogue: Catalogue,
) -> None:
    assert catalogue.level_codes == ("township", "county", "city", "province", "national")
    listed = catalogue.category(LIST)
    assert listed.min_provider_level == "county"
    assert "县级以上" in (listed.min_provider_level_reason or "")
    assert catalogue.category(GENERAL).min_provider_level is None


def test_the_public_catalogue_shows_roles_levels_and_the_minimum_level(catalogue: Catalogue) -> None:
    public = catalogue.to_public()
    roles: list[dict[str, Any]] = public["provider_roles"]  # type: ignore[assignment]
    assert {"code": "tax", "zh": "税务部门", "en": "Tax authority", "administrative": True} in roles
    assert [level["code"] for level in public["agency_levels"]] == list(catalogue.level_codes)  # type: ignore[attr-defined]
    listed = next(c for c in public["categories"] if c["code"] == LIST)  # type: ignore[attr-defined]
    assert listed["min_provider_level"] == "county"
    assert parse_catalogue(public) == catalogue


@pytest.mark.parametrize(("agency", "level", "code", "allowed"), [
    ("court", "county", COURT, True),
    ("tax", "city", COURT, False),  # the case the audit found: a tax office filing a court's default
    ("tax", "city", "TAX_ARREARS", True),
    ("tax", "city", GENERAL, True),  # a tax office is an administrative authority
    ("court", "city", GENERAL, False),  # a court is not one
    ("credit_office", "city", GENERAL, False),  # nor is the credit office
    ("credit_office", "city", "CREDIT_COMMITMENT", True),  # named by the category
    ("education", "city", "ACADEMIC_MISCONDUCT", True),
    ("civil_affairs", "city", "ACADEMIC_MISCONDUCT", False),
    ("any_competent_authority", "county", LIST, True),
    ("any_competent_authority", "township", LIST, False),
    ("any_competent_authority", None, LIST, False),
    ("any_competent_authority", "national", LIST, True),
    ("any_competent_authority", None, GENERAL, True),  # only the list needs a level
    ("neighbour", "city", GENERAL, False),
    (LEGACY_AGENCY, None, COURT, True),  # a legacy agency files what it is registered for
])
def test_who_may_file_what(catalogue: Catalogue, agency: str, level: str | None, code: str, allowed: bool) -> None:
    assert (catalogue.filing_refusal(code, agency, level) is None) is allowed


def test_a_refusal_names_the_category_the_role_and_who_files_it(catalogue: Catalogue) -> None:
    reason = catalogue.filing_refusal(COURT, "tax", "city")
    assert reason is not None
    assert COURT in reason
    assert "tax" in reason
    assert "税务部门" in reason
    assert "filed by court" in reason
    below = catalogue.filing_refusal(LIST, "tax", "township")
    assert below is not None
    assert "township" in below
    assert "county or above" in below


@pytest.mark.parametrize(("categories", "derived"), [
    (["TAX_ARREARS"], "tax"),
    ([GENERAL, "ADMINISTRATIVE_LICENCE"], ANY_COMPETENT_AUTHORITY),  # the generic role where it covers them
    (["SOCIAL_INSURANCE_ARREARS", "TAX_ARREARS"], "tax"),
    (["COMMENDATION", "VOLUNTEER_SERVICE", "CHARITABLE_DONATION"], "civil_affairs"),
    ([COURT], "court"),
    (["SOCIAL_INSURANCE_ARREARS"], LEGACY_AGENCY),  # tax or human resources: which one is it?
    ([COURT, "TAX_ARREARS"], LEGACY_AGENCY),  # no single role files both
    ([GENERAL, LIST], LEGACY_AGENCY),  # the list needs a level nobody recorded
    (["GOSSIP"], LEGACY_AGENCY),  # not in this catalogue
])
def test_an_existing_providers_role_is_derived_from_what_it_files(
    catalogue: Catalogue, categories: list[str], derived: str
) -> None:
    assert catalogue.derive_agency(categories) == derived
    if derived != LEGACY_AGENCY:
        assert all(catalogue.filing_refusal(c, derived, None) is None for c in categories)


def test_a_category_naming_a_level_that_is_not_one_is_rejected() -> None:
    def change(doc: Doc) -> None:
        category_doc(doc, LIST)["min_provider_level"] = "village"

    assert f"category {LIST}: min_provider_level: 'village' is not one of the agency_levels" in broken(change)


def test_a_minimum_level_without_its_reason_is_rejected() -> None:
    def change(doc: Doc) -> None:
        del category_doc(doc, LIST)["min_provider_level_reason"]

    assert f"category {LIST}: min_provider_level_reason:" in broken(change)


def test_a_role_without_saying_whether_it_is_administrative_is_rejected() -> None:
    def change(doc: Doc) -> None:
        del doc["provider_roles"][2]["administrative"]

    assert "catalogue: provider_roles[2]: administrative: missing key" in broken(change)


def test_the_legacy_marker_cannot_be_a_role() -> None:
    def change(doc: Doc) -> None:
        doc["provider_roles"].append({"code": LEGACY_AGENCY, "zh": "旧", "en": "Old", "administrative": True})

    assert "'legacy' marks agencies registered before roles" in broken(change)


def test_a_catalogue_without_levels_is_rejected() -> None:
    def change(doc: Doc) -> None:
        del doc["agency_levels"]

    assert "catalogue: agency_levels: missing key" in broken(change)


# --- where records enter ------------------------------------------------------------------------


def test_a_tax_office_registered_for_a_courts_category_is_refused_at_entry(rt: Runtime, people: People) -> None:
    # Registered before roles were checked (or under an older catalogue): the entry check still holds.
    tax = Provider("prov_t", frozenset({COURT, "TAX_ARREARS"}), "tax", "city")
    with pytest.raises(CategoryNotAllowed) as caught:
        prepare(rt.catalogue, rt.vault.fingerprint, tax, new_record(people.new(), category=COURT), TODAY)
    assert caught.value.code == COURT
    assert "tax" in caught.value.reason
    assert COURT in caught.value.reason


def test_a_list_is_accepted_from_a_county_agency_and_refused_below_or_without_a_level(
    rt: Runtime, people: People
) -> None:
    record = listing(people.new())
    county = Provider("prov_c", frozenset({LIST}), ANY_COMPETENT_AUTHORITY, "county")
    assert prepare(rt.catalogue, rt.vault.fingerprint, county, record, TODAY).record.category == LIST
    for level in ("township", None):
        below = Provider("prov_c", frozenset({LIST}), ANY_COMPETENT_AUTHORITY, level)
        with pytest.raises(CategoryNotAllowed) as caught:
            prepare(rt.catalogue, rt.vault.fingerprint, below, record, TODAY)
        assert "county or above" in caught.value.reason


def test_a_legacy_provider_files_its_registered_categories_and_nothing_else(rt: Runtime, people: People) -> None:
    legacy = Provider("prov_l", frozenset({LIST}), LEGACY_AGENCY)
    assert prepare(rt.catalogue, rt.vault.fingerprint, legacy, listing(people.new()), TODAY)
    with pytest.raises(CategoryNotAllowed):
        prepare(rt.catalogue, rt.vault.fingerprint, legacy, new_record(people.new()), TODAY)


def test_a_provider_without_a_known_role_files_nothing(rt: Runtime, people: People) -> None:
    nobody = Provider("prov_n", frozenset({GENERAL}), "")
    with pytest.raises(CategoryNotAllowed):
        prepare(rt.catalogue, rt.vault.fingerprint, nobody, new_record(people.new()), TODAY)
