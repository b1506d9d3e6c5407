"""The declaration and commitment rules as data: a broken file is refused naming what is wrong."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from consent import applications
from consent import commitments as cm
from consent import declarations as dc
from consent.catalogue import Catalogue, load_default
from consent.errors import CommitmentsInvalid, DeclarationsInvalid, NotDeclarable, RequestInvalid
from consent.repairs import load_default_rules as repair_rules
from vault.types import Provider

TODAY = date(2026, 10, 12)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_default()


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["verify"].update(working_days=0), "working_days must be 1 to 60"),
    (lambda d: d["verify"].update(reason=" "), "verify.reason is empty"),
    (lambda d: d["categories"][0].update(category="NO_SUCH"), "not in the catalogue"),
    (lambda d: d["categories"][0].update(category="TAX_ARREARS"), "only good or basic facts"),
    (lambda d: d["categories"][0].update(reason=""), "reason is empty"),
    (lambda d: d.update(categories=[]), "categories is empty"),
    (lambda d: d["commitment"].update(en=""), "commitment: zh, en and reason"),
    (lambda d: d["false_finding"].update(category="COMMENDATION"), "negative category"),
    (lambda d: d["false_finding"].update(document_type="licence"), "document types"),
    (lambda d: d.pop("authorisation"), "malformed"),
])
def test_a_broken_declarations_file_is_refused_naming_what_is_wrong(
        catalogue: Catalogue, change: Callable[[dict[str, Any]], object], message: str) -> None:
    raw = copy.deepcopy(applications.shipped("declarations.json"))
    change(raw)
    with pytest.raises(DeclarationsInvalid, match=message):
        dc.parse_rules(raw, catalogue)


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["templates"][0].update(scenario="no_such"), "scenario"),
    (lambda d: d["templates"][0].update(accepted_by=["auditor"]), "accepted_by"),
    (lambda d: d["templates"][0].update(accepted_by=[]), "accepted_by"),
    (lambda d: d["templates"][3].update(repair_method="bribery"), "repair_method"),
    (lambda d: d["templates"][0]["due"].update(max="six months"), "due.max"),
    (lambda d: d["templates"][0]["text"].update(zh=" "), "text and reason"),
    (lambda d: d.update(templates=[]), "templates is empty"),
    (lambda d: d["breach"].update(category="CREDIT_COMMITMENT"), "negative category"),
    (lambda d: d["breach_record"].pop("institution"), "malformed"),
])
def test_a_broken_commitments_file_is_refused_naming_what_is_wrong(
        catalogue: Catalogue, change: Callable[[dict[str, Any]], object], message: str) -> None:
    raw = copy.deepcopy(applications.shipped("commitments.json"))
    change(raw)
    with pytest.raises(CommitmentsInvalid, match=message):
        cm.parse_rules(raw, catalogue, repair_rules())


def test_only_the_open_categories_may_be_declared_and_the_refusal_names_them(catalogue: Catalogue) -> None:
    rules = dc.load_default_rules(catalogue)
    assert dc.check_declarable(rules, catalogue, "CHARITABLE_DONATION").code == "CHARITABLE_DONATION"
    with pytest.raises(NotDeclarable) as refused:
        dc.check_declarable(rules, catalogue, "ADMINISTRATIVE_PENALTY_GENERAL")
    assert set(refused.value.open) == set(rules.categories)


def test_an_agency_verifies_only_what_it_may_file_and_the_breach_a_false_one_becomes(catalogue: Catalogue) -> None:
    rules = dc.load_default_rules(catalogue)
    civil = Provider("c", frozenset({"VOLUNTEER_SERVICE", "CHARITABLE_DONATION", "CREDIT_COMMITMENT_BREACH"}),
                     "civil_affairs", "city")
    assert dc.competent_categories(rules, catalogue, civil) == ["VOLUNTEER_SERVICE", "CHARITABLE_DONATION"]
    # A court is no administrative authority: it may not file a broken commitment, so it verifies nothing.
    court = Provider("j", frozenset({"COMMENDATION", "CREDIT_COMMITMENT_BREACH"}), "court", "city")
    assert dc.competent_categories(rules, catalogue, court) == []
    # Registered for volunteer service but under another role: the catalogue's roles decide (DET-4).
    tax = Provider("t", frozenset({"VOLUNTEER_SERVICE", "CREDIT_COMMITMENT_BREACH"}), "tax", "city")
    assert dc.competent_categories(rules, catalogue, tax) == []


@pytest.mark.parametrize(("template", "role", "due", "field"), [
    ("nothing", "provider", None, "template"),
    ("tolerated_acceptance", "institution", date(2026, 11, 1), "accepting_body"),
    ("tolerated_acceptance", None, date(2026, 11, 1), "accepting_body"),
    ("tolerated_acceptance", "provider", None, "due_date"),
    ("tolerated_acceptance", "provider", TODAY, "due_date"),
    ("tolerated_acceptance", "provider", date(2027, 4, 13), "due_date"),
    ("onboarding", "institution", date(2026, 11, 1), "due_date"),
])
def test_signing_is_refused_naming_the_field(template: str, role: str | None, due: date | None, field: str,
                                            catalogue: Catalogue) -> None:
    rules = cm.load_default_rules(catalogue, repair_rules())
    with pytest.raises(RequestInvalid) as refused:
        cm.check_signing(rules, template, role, due, TODAY)
    assert refused.value.field == field


@pytest.mark.parametrize("details", ["", "x" * 1001, "营业执照\u202e副本", "营业执照\x00副本", "营业执照\r副本"])
def test_details_the_breach_record_could_not_hold_are_refused(details: str, catalogue: Catalogue) -> None:
    # Any caller (the portal's form too, which no API schema checks): broken, the details become the record's
    # "what was promised", so what that record refuses is refused at signing.
    rules = cm.load_default_rules(catalogue, repair_rules())
    with pytest.raises(RequestInvalid) as refused:
        cm.check_signing(rules, "tolerated_acceptance", "provider", date(2026, 11, 1), TODAY, details)
    assert refused.value.field == "details"
    assert cm.check_signing(rules, "tolerated_acceptance", "provider", date(2026, 11, 1), TODAY,
                            "x" * 998 + "\n\t").code == "tolerated_acceptance"


def test_a_due_date_up_to_the_templates_longest_is_accepted(catalogue: Catalogue) -> None:
    rules = cm.load_default_rules(catalogue, repair_rules())
    assert cm.check_signing(rules, "tolerated_acceptance", "provider", date(2027, 4, 12), TODAY).code == \
        "tolerated_acceptance"
    assert cm.check_signing(rules, "onboarding", "institution", None, TODAY).due is None
