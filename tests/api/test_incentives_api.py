"""Incentives, explained (EVAL-1, EVAL-7), and the occupational credit report of one group (KG-1 to KG-4).

An incentive purpose (信易贷, 信易租) receives the person's evaluation and positive records only, inside the signed
report; no other purpose receives an evaluation. The three-year attribute is weighed on a movable clock: a
repaired record and an expired one do not break it. An occupational credit report holds one group's licences and
sanctions only.
"""

from __future__ import annotations

import io
import json
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from pypdf import PdfReader

from audit.clock import FrozenClock
from consent.catalogue import Polarity
from gateway.runtime import Runtime
from tests.api.test_consent_api import _entries, _verify
from tests.api.test_repairs_api import _applied, _decide, _ok, _serious, at
from tests.conftest import Auth, People, Person, Registered, penalty

NEGATIVE_FIELDS = {"violation", "penalty_type", "penalty_content", "listing_ground", "misconduct", "sanction"}


def _filed(client: FlaskClient, provider: Registered, body: dict[str, Any]) -> str:
    created = client.post("/api/v1/records", json=body, headers=provider.headers)
    assert created.status_code == 201, created.json
    return str(created.json["id"])


def _commendation(citizen_id: str, decided: date = date(2026, 9, 1)) -> dict[str, Any]:
    return {"citizen_id": citizen_id, "name": "测试人", "category": "COMMENDATION", "decided_at": decided.isoformat(),
            "payload": {"honour": "优秀志愿者", "awarding_body": "常州市精神文明建设委员会", "level": "municipal"}}


def _volunteering(citizen_id: str, decided: date = date(2026, 8, 1)) -> dict[str, Any]:
    return {"citizen_id": citizen_id, "name": "测试人", "category": "VOLUNTEER_SERVICE",
            "decided_at": decided.isoformat(),
            "payload": {"organisation": "常州市志愿者协会", "service_hours": 120, "period_start": "2026-01-01",
                        "period_end": "2026-06-30"}}


def _licence(citizen_id: str, group: str | None, number: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"licence_name": "执业证书", "licence_number": number, "valid_from": "2026-01-05"}
    if group is not None:
        payload["occupational_group"] = group
    return {"citizen_id": citizen_id, "name": "测试人", "category": "ADMINISTRATIVE_LICENCE",
            "decided_at": "2026-01-05", "payload": payload}


def _misconduct(citizen_id: str, group: str) -> dict[str, Any]:
    return {"citizen_id": citizen_id, "name": "测试人", "category": "OCCUPATIONAL_MISCONDUCT",
            "decided_at": "2026-09-10",
            "document": {"type": "professional_sanction_decision", "number": "苏律协处〔2026〕3号",
                         "authority": "江苏省律师协会", "effective_at": "2026-09-10"},
            "payload": {"occupational_group": group, "misconduct": "违规收案", "sanction": "public_censure"}}


def _ask(client: FlaskClient, institution: Registered, citizen_id: str, purpose: str, **extra: Any) -> Any:
    return client.post("/api/v1/consent-requests", headers=institution.headers, json={
        "citizen_id": citizen_id, "purpose": purpose, "reason": "守信激励: 免押金", "valid_for": "P7D", **extra})


def _consent(client: FlaskClient, institution: Registered, person: Person, purpose: str, **extra: Any) -> str:
    created = _ask(client, institution, person.citizen_id, purpose, **extra)
    assert created.status_code == 201, created.json
    return str(person.approve(created.json["id"])["id"])


def _report(client: FlaskClient, institution: Registered, consent_id: str) -> dict[str, Any]:
    return _ok(client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=institution.headers), 201)


def _incentive(client: FlaskClient, auth: Auth, lender: Registered, person: Person) -> dict[str, Any]:
    """A fresh token (the clock may have moved on), a fresh consent, and the report's evaluation."""
    lender.token = auth.token(lender.client_id, lender.secret)
    consent_id = _consent(client, lender, person, "incentive_credit")
    return dict(_report(client, lender, consent_id)["report"]["evaluation"])


def _own_evaluation(person: Person) -> dict[str, Any]:
    return dict(_ok(person.client.get("/api/v1/me/report"))["evaluation"])


@pytest.fixture
def provider(auth: Auth) -> Registered:
    return auth.provider()


@pytest.fixture
def lender(auth: Auth) -> Registered:
    return auth.register("institution", kind="lender")


# --- the evaluation: incentive purposes only ----------------------------------------------------


def test_the_printed_incentive_report_states_the_evaluation(
    client: FlaskClient, provider: Registered, lender: Registered, person: Person
) -> None:
    _filed(client, provider, _commendation(person.citizen_id))
    _filed(client, provider, _volunteering(person.citizen_id))
    report_id = _report(client, lender, _consent(client, lender, person, "incentive_credit"))["report"]["report_id"]
    response = client.get(f"/api/v1/reports/{report_id}/pdf", headers=lender.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    text = "".join(PdfReader(io.BytesIO(response.data)).pages[0].extract_text().split())
    assert "连续三年无不良信用记录：是；正面记录2条" in text



def test_an_incentive_query_returns_the_signed_evaluation_and_positive_records_only(
    client: FlaskClient, rt: Runtime, provider: Registered, lender: Registered, person: Person
) -> None:
    commended = _filed(client, provider, _commendation(person.citizen_id))
    volunteered = _filed(client, provider, _volunteering(person.citizen_id))
    _filed(client, provider, _serious(person.citizen_id, date(2026, 6, 1)))
    _filed(client, provider, penalty(person.citizen_id))

    signed = _report(client, lender, _consent(client, lender, person, "incentive_credit"))
    report = signed["report"]
    assert sorted(r["category"] for r in report["records"]) == ["COMMENDATION", "VOLUNTEER_SERVICE"]
    assert not {f for r in report["records"] for f in r["fields"]} & NEGATIVE_FIELDS
    evaluation = report["evaluation"]
    assert _verify(client, signed["jws"])["evaluation"] == evaluation  # inside what is signed
    assert evaluation["rules_version"] == rt.policy.evaluation.version == "2026.11.27"
    assert evaluation["use"]["en"].startswith("For incentives only")
    attribute = evaluation["no_adverse_record"]
    assert attribute["value"] is False  # two penalties decided this year
    assert attribute["window"] == {"length": "P3Y", "from": "2023-11-22", "to": "2026-11-22"}
    assert attribute["rule"]
    assert attribute["legal_basis"]
    # The institution learns that the attribute does not hold, never which record broke it or when.
    assert "adverse_records" not in evaluation
    assert "holds_from" not in attribute
    assert [(p["category"], p["count"]) for p in evaluation["positive"]] == [("COMMENDATION", 1),
                                                                          ("VOLUNTEER_SERVICE", 1)]
    assert all(p["reason"] for p in evaluation["positive"])
    assert evaluation["positive"][0]["records"] == [
        {"decided_at": "2026-09-01", "display_until": "2029-09-01", "why": "shown today, in a category that counts"}]
    released = _entries(rt, "consent:query:released")[-1]
    assert released.record_ids == [commended, volunteered]  # the weighed penalties are not released
    assert released.detail["evaluation"]["rules_version"] == "2026.11.27"
    assert len(released.detail["evaluation"]["weighed"]) == 2


def test_a_landlord_may_use_the_incentive_purpose_and_an_employer_may_not(
    client: FlaskClient, auth: Auth, person: Person, employer: Registered
) -> None:
    landlord = auth.register("institution", kind="landlord")
    assert "evaluation" in _report(client, landlord, _consent(client, landlord, person, "incentive_credit"))["report"]
    refused = _ask(client, employer, person.citizen_id, "incentive_credit")
    assert (refused.status_code, refused.json["code"]) == (403, "kind_not_allowed")


def test_the_same_person_under_employment_screening_gets_no_evaluation(
    client: FlaskClient, provider: Registered, employer: Registered, person: Person
) -> None:
    _filed(client, provider, _commendation(person.citizen_id))
    _filed(client, provider, _serious(person.citizen_id, date(2026, 6, 1)))
    report = _report(client, employer, _consent(client, employer, person, "employment_screening"))["report"]
    assert [r["category"] for r in report["records"]] == ["ADMINISTRATIVE_PENALTY_SERIOUS"]
    assert "evaluation" not in report
    assert "incentive_score" not in report


def _any_group(rt: Runtime, purpose: str) -> dict[str, str]:
    return {"occupational_group": "KG04"} if rt.policy.purposes.purpose(purpose).scope else {}


@pytest.mark.parametrize("purpose", [
    "employment_screening", "tenancy", "lending", "public_procurement", "administrative_licensing",
    "commendation_review", "civil_service_recruitment", "public_institution_hiring", "cadre_selection",
    "professional_qualification", "professional_title_review", "soe_executive_review",
    "legal_representative_review", "occupational_credit_report"])
def test_no_purpose_but_an_incentive_one_receives_the_evaluation(
    client: FlaskClient, auth: Auth, rt: Runtime, provider: Registered, person: Person, purpose: str
) -> None:
    found = rt.policy.purposes.purpose(purpose)
    assert not found.incentive_score
    _filed(client, provider, _commendation(person.citizen_id))
    institution = auth.register("institution", kind=sorted(found.institution_kinds)[0])
    report = _report(client, institution, _consent(client, institution, person, purpose, **_any_group(rt, purpose)))
    assert "evaluation" not in report["report"]


def test_every_purpose_is_named_in_the_test_above_so_a_new_one_is_checked_too(rt: Runtime) -> None:
    others = {code for code, p in rt.policy.purposes.purposes.items() if not p.incentive_score}
    marks = test_no_purpose_but_an_incentive_one_receives_the_evaluation.pytestmark  # type: ignore[attr-defined]
    assert set(marks[0].args[1]) == others


def test_an_incentive_purpose_receives_no_negative_category_at_all(rt: Runtime) -> None:
    for purpose in rt.policy.purposes.purposes.values():
        if purpose.incentive_score:
            assert {rt.catalogue.category(c).polarity for c in purpose.categories} == {Polarity.POSITIVE}


# --- the three-year attribute on a movable clock --------------------------------------------------


def test_the_attribute_holds_once_the_last_adverse_record_stops_being_used(
    client: FlaskClient, auth: Auth, provider: Registered, lender: Registered, person: Person, clock: FrozenClock
) -> None:
    serious = _filed(client, provider, _serious(person.citizen_id, date(2026, 6, 1)))  # shown until 2029-06-01
    _filed(client, provider, penalty(person.citizen_id))  # general, shown until 2027-10-01
    _filed(client, provider, _commendation(person.citizen_id))

    own = _own_evaluation(person)
    assert own["no_adverse_record"]["value"] is False
    assert own["no_adverse_record"]["holds_from"] == "2029-06-01"
    weighed = {r["record_id"]: r for r in own["adverse_records"]}
    assert weighed[serious]["counts"] is True
    assert (weighed[serious]["why"], weighed[serious]["counts_until"]) == ("decided_within_window", "2029-06-01")
    assert [p["category"] for p in own["positive"]] == ["COMMENDATION"]

    at(clock, date(2027, 10, 2))  # the general penalty has expired: it no longer counts, the serious one does
    own = _own_evaluation(person)
    assert sorted(r["why"] for r in own["adverse_records"]) == ["decided_within_window", "display_ended"]
    assert own["no_adverse_record"]["value"] is False
    assert _incentive(client, auth, lender, person)["no_adverse_record"]["value"] is False

    at(clock, date(2029, 5, 31))
    assert _incentive(client, auth, lender, person)["no_adverse_record"]["value"] is False
    at(clock, date(2029, 6, 1))  # the serious penalty's display ends: no adverse record is used any more
    evaluation = _incentive(client, auth, lender, person)
    assert evaluation["no_adverse_record"]["value"] is True
    assert evaluation["no_adverse_record"]["window"]["from"] == "2026-06-01"
    assert [p["count"] for p in evaluation["positive"]] == [1]  # the commendation is shown until 2029-09-01
    own = _own_evaluation(person)
    assert own["no_adverse_record"] == {**own["no_adverse_record"], "value": True, "holds_from": "2029-06-01"}
    assert {r["why"] for r in own["adverse_records"]} == {"display_ended"}


def test_a_repaired_record_does_not_break_the_attribute(
    client: FlaskClient, auth: Auth, provider: Registered, lender: Registered, person: Person, clock: FrozenClock
) -> None:
    at(clock, date(2026, 10, 12))
    record_id = _filed(client, provider, _serious(person.citizen_id))  # decided 2025-06-01, repairable from 2026-06-01
    assert _incentive(client, auth, lender, person)["no_adverse_record"]["value"] is False
    filed = _applied(person, record_id)
    at(clock, date(2026, 10, 20))
    _ok(_decide(client, provider, filed["id"], {"outcome": "repaired", "effect": "stop_sharing",
                                                "reason": "已履行处罚决定, 准予修复"}))
    assert _incentive(client, auth, lender, person)["no_adverse_record"]["value"] is True
    [weighed] = _own_evaluation(person)["adverse_records"]
    assert (weighed["record_id"], weighed["counts"], weighed["why"]) == (record_id, False, "repaired")


def test_a_revoked_record_does_not_break_the_attribute(
    client: FlaskClient, auth: Auth, provider: Registered, lender: Registered, person: Person
) -> None:
    record_id = _filed(client, provider, penalty(person.citizen_id))
    revoked = client.post(f"/api/v1/records/{record_id}/revoke", json={"reason": "decision annulled on review"},
                          headers=provider.headers)
    assert revoked.status_code == 200, revoked.json
    assert _incentive(client, auth, lender, person)["no_adverse_record"]["value"] is True
    assert [r["why"] for r in _own_evaluation(person)["adverse_records"]] == ["revoked"]


def test_a_person_with_no_record_has_the_attribute_and_sees_why(person: Person) -> None:
    own = _own_evaluation(person)
    assert own["no_adverse_record"]["value"] is True
    assert own["no_adverse_record"]["holds_from"] == "2026-11-22"
    assert own["adverse_records"] == []
    assert own["positive"] == []
    assert own["rules_version"] == "2026.11.27"


# --- the occupational credit report of one group ----------------------------------------------


def test_an_occupational_report_holds_only_the_named_groups_licences_and_sanctions(
    client: FlaskClient, rt: Runtime, provider: Registered, employer: Registered, person: Person
) -> None:
    lawyer = _filed(client, provider, _licence(person.citizen_id, "KG04", "13201202611000001"))
    _filed(client, provider, _licence(person.citizen_id, "KG05", "T-2026-0001"))
    _filed(client, provider, _licence(person.citizen_id, None, "JY-2026-0002"))
    censured = _filed(client, provider, _misconduct(person.citizen_id, "KG04"))
    _filed(client, provider, _misconduct(person.citizen_id, "KG06"))
    _filed(client, provider, _serious(person.citizen_id, date(2026, 6, 1)))

    created = _ask(client, employer, person.citizen_id, "occupational_credit_report", occupational_group="KG04")
    assert created.status_code == 201, created.json
    [asked] = person.client.get("/api/v1/me/consent-requests").json
    assert asked["occupational_group"] == "KG04"  # the person sees which group they consent to
    grant = person.approve(created.json["id"])
    assert grant["occupational_group"] == "KG04"
    assert _verify(client, grant["receipt"])["occupational_group"] == "KG04"

    signed = _report(client, employer, grant["id"])
    report = signed["report"]
    assert report["occupational_group"] == {"code": "KG04", "zh": "律师", "en": "Lawyers"}
    assert sorted((r["category"], r["fields"]["occupational_group"]) for r in report["records"]) == [
        ("ADMINISTRATIVE_LICENCE", "KG04"), ("OCCUPATIONAL_MISCONDUCT", "KG04")]
    assert _verify(client, signed["jws"]) == report
    released = _entries(rt, "consent:query:released")[-1]
    assert sorted(released.record_ids) == sorted([lawyer, censured])
    assert released.detail["occupational_group"] == "KG04"


@pytest.mark.parametrize(("purpose", "extra", "reason"), [
    ("occupational_credit_report", {"occupational_group": "KG99"}, "KG99 is not an occupational group"),
    ("occupational_credit_report", {}, "limited to one occupational group: name it"),
    ("employment_screening", {"occupational_group": "KG04"}, "not limited to an occupational group"),
])
def test_a_request_naming_no_known_group_is_refused_naming_the_field(
    client: FlaskClient, employer: Registered, people: People, purpose: str, extra: dict[str, str], reason: str
) -> None:
    refused = _ask(client, employer, people.new(), purpose, **extra)
    assert refused.status_code == 422, refused.json
    assert refused.json["code"] == "invalid_input"
    [problem] = refused.json["errors"]
    assert problem["field"] == "occupational_group"
    assert reason in problem["reason"]


@pytest.mark.parametrize(("kind", "purpose"), [
    ("lender", "civil_service_recruitment"), ("landlord", "occupational_credit_report"),
    ("employer", "cadre_selection"), ("lender", "legal_representative_review")])
def test_a_purpose_asked_for_by_the_wrong_kind_of_institution_is_refused(
    client: FlaskClient, auth: Auth, people: People, kind: str, purpose: str
) -> None:
    institution = auth.register("institution", kind=kind)
    refused = _ask(client, institution, people.new(), purpose, occupational_group="KG04")
    assert (refused.status_code, refused.json["code"]) == (403, "kind_not_allowed")
    assert f"may not query for purpose {purpose}" in refused.json["detail"]


def test_the_new_purposes_are_published_with_their_scope(client: FlaskClient) -> None:
    published = {p["code"]: p for p in _ok(client.get("/api/v1/purposes"))["purposes"]}
    assert published["occupational_credit_report"]["scope"] == "occupational_group"
    assert published["incentive_credit"]["incentive_score"] is True
    assert published["incentive_credit"]["institution_kinds"] == ["landlord", "lender"]
    assert "internal_notes" not in published["civil_service_recruitment"]


def test_the_portal_shows_the_person_their_evaluation_and_the_group_a_request_names(
    client: FlaskClient, provider: Registered, employer: Registered, person: Person
) -> None:
    _filed(client, provider, _serious(person.citizen_id, date(2026, 6, 1)))
    _filed(client, provider, _commendation(person.citizen_id))
    assert _ask(client, employer, person.citizen_id, "occupational_credit_report",
                occupational_group="KG04").status_code == 201
    page = person.client.get("/me").get_data(as_text=True)
    assert "连续三年无不良信用记录" in page
    assert "2029年6月1日" in page  # holds_from: three years after the serious record's decision
    assert "表彰奖励信息(红名单)" in page
    request_id = person.client.get("/api/v1/me/consent-requests").json[0]["id"]
    review = person.client.get(f"/me/consent-requests/{request_id}").get_data(as_text=True)
    assert "律师" in review  # the group KG04 in words


def test_the_evaluation_rules_are_published_with_their_version_and_reasons(client: FlaskClient) -> None:
    rules = _ok(client.get("/api/v1/evaluation-rules"))
    assert rules["version"] == "2026.11.27"
    assert rules["no_adverse_record"]["window"] == "P3Y"
    assert "SERIOUS_DISHONESTY_LIST" in rules["no_adverse_record"]["categories"]
    assert all(p["reason"] for p in rules["positive"])
    assert "internal_notes" not in json.dumps(rules)
