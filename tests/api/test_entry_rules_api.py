"""The catalogue's entry rules through POST /api/v1/records: ages, dates, notice before listing, credit codes.

Each refusal is a 422 problem naming the field and the reason; the import refuses the same lines
(tests/gateway/test_import_rules.py).
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient

from gateway.runtime import Runtime
from tests.conftest import Auth, People, penalty


def academic(citizen_id: str, decided: date) -> dict[str, Any]:
    """An academic-misconduct record body (a student-integrity category, 18 or over)."""
    return {
        "citizen_id": citizen_id, "category": "ACADEMIC_MISCONDUCT", "decided_at": decided.isoformat(),
        "document": {"type": "academic_misconduct_decision", "number": "常大学〔2026〕3号", "authority": "常州大学",
                     "effective_at": decided.isoformat()},
        "payload": {"institution": "常州大学", "misconduct_type": "exam_cheating", "finding": "期末考试夹带",
                    "sanction": "demerit"},
    }


def listing(citizen_id: str, decided: date, notified: date) -> dict[str, Any]:
    """A serious-dishonesty list entry body, the person told on `notified`."""
    return {
        "citizen_id": citizen_id, "category": "SERIOUS_DISHONESTY_LIST", "decided_at": decided.isoformat(),
        "document": {"type": "list_determination", "number": "常信用〔2026〕9号", "authority": "常州市发展和改革委员会",
                     "effective_at": decided.isoformat()},
        "payload": {"field_of_listing": "fair_competition_social_order", "list_name": "严重失信主体名单",
                    "listing_standard": "国办发〔2020〕49号", "listing_reason": "拒不履行",
                    "punishment_measures": "限制高消费", "removal_conditions": "履行后申请移出",
                    "remedies": "行政复议或行政诉讼",
                    "notified_on": notified.isoformat(), "subject_role": "natural_person"},
    }


def with_credit_code(citizen_id: str, code: str) -> dict[str, Any]:
    """A general penalty of a legal representative, naming the organisation's code."""
    body = penalty(citizen_id)
    body["payload"].update(subject_role="legal_representative", organisation_name="常州星海科技有限公司",
                           organisation_credit_code=code)
    return body


def _refused(client: FlaskClient, auth: Auth, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/records", json=body, headers=auth.provider().headers)
    assert response.status_code == 422, response.json
    assert response.mimetype == "application/problem+json"
    problem: dict[str, Any] = response.json  # type: ignore[assignment]
    assert problem["errors"] == [{"field": problem["field"], "reason": problem["errors"][0]["reason"]}]
    return problem


def _accepted(client: FlaskClient, auth: Auth, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/records", json=body, headers=auth.provider().headers)
    assert response.status_code == 201, response.json
    return response.json  # type: ignore[no-any-return]


# --- item 3: minors (DATA-8) --------------------------------------------------------------------


def test_a_student_record_about_a_seventeen_year_old_is_a_422_naming_the_decision_date(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    problem = _refused(client, auth, academic(people.new(born=date(2009, 3, 1)), date(2026, 10, 1)))
    assert problem["field"] == "decided_at"
    assert "under 18" in problem["detail"]
    assert "aged 18 or over" in problem["errors"][0]["reason"]


def test_a_student_record_about_an_adult_is_accepted(client: FlaskClient, auth: Auth, people: People) -> None:
    assert _accepted(client, auth, academic(people.new(born=date(2008, 9, 30)), date(2026, 10, 1)))


def test_a_student_loan_default_decided_the_day_the_person_turned_eighteen_is_refused(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    body = {
        "citizen_id": people.new(born=date(2008, 10, 1)), "category": "STUDENT_LOAN_DEFAULT",
        "decided_at": "2026-10-01",
        "document": {"type": "student_loan_default_determination", "number": "常助贷〔2026〕1号",
                     "authority": "常州市学生资助管理中心", "effective_at": "2026-10-01"},
        "payload": {"loan_type": "origin_based", "lender": "国家开发银行", "overdue_since": "2026-09-01",
                    "overdue_amount": "6000.00"},
    }
    assert _refused(client, auth, body)["field"] == "decided_at"
    body["decided_at"] = body["document"]["effective_at"] = "2026-10-02"
    assert _accepted(client, auth, body)


def test_a_record_decided_before_the_person_was_born_is_a_422(client: FlaskClient, auth: Auth, people: People) -> None:
    problem = _refused(client, auth, penalty(people.new(born=date(2001, 1, 1)), date(2000, 12, 31)))
    assert problem["field"] == "decided_at"
    assert "birth" in problem["detail"]


# --- item 4: dates ------------------------------------------------------------------------------


@pytest.mark.parametrize("decided", ["0001-01-01", "1949-09-30"])
def test_a_decision_dated_before_the_first_of_october_1949_is_a_422(
    client: FlaskClient, auth: Auth, people: People, decided: str
) -> None:
    body = penalty(people.new(born=date(1920, 1, 1)))
    body["decided_at"] = decided
    problem = _refused(client, auth, body)
    assert problem["field"] == "decided_at"
    assert "1949-10-01" in problem["detail"]


def test_a_document_effective_before_the_first_of_october_1949_is_a_422(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    body = penalty(people.new())
    body["document"]["effective_at"] = "1900-01-01"
    assert _refused(client, auth, body)["field"] == "document.effective_at"


def test_a_payload_date_before_the_first_of_october_1949_is_a_422(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    body = listing(people.new(), date(2026, 10, 30), date(1949, 9, 1))
    assert _refused(client, auth, body)["field"] == "payload.notified_on"


def test_a_document_after_today_in_china_is_a_422(client: FlaskClient, auth: Auth, people: People) -> None:
    body = penalty(people.new())
    body["document"]["effective_at"] = "2026-11-23"  # the test clock's today is 2026-11-22 in China
    assert _refused(client, auth, body)["field"] == "document.effective_at"


def test_a_penalty_decision_effective_before_it_was_decided_is_a_422(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    body = penalty(people.new(), date(2026, 10, 8))
    body["document"]["effective_at"] = "2026-10-07"
    problem = _refused(client, auth, body)
    assert problem["field"] == "document.effective_at"
    assert "administrative_penalty_decision takes effect on or after its decision" in problem["detail"]
    body["document"]["effective_at"] = "2026-10-22"  # served two weeks later: in force from then
    assert _accepted(client, auth, body)


def test_a_judgment_not_yet_in_force_on_the_decision_date_is_a_422(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    body = {
        "citizen_id": people.new(), "category": "STUDENT_LOAN_DEFAULT", "decided_at": "2026-10-08",
        "document": {"type": "court_judgment", "number": "(2026)苏04民初1号", "authority": "常州市中级人民法院",
                     "effective_at": "2026-10-09"},
        "payload": {"loan_type": "campus_based", "lender": "国家开发银行", "overdue_since": "2025-09-01",
                    "overdue_amount": "8000.00"},
    }
    problem = _refused(client, auth, body)
    assert problem["field"] == "document.effective_at"
    assert "must be in force when the record is decided" in problem["detail"]
    body["document"]["effective_at"] = "2026-06-30"
    assert _accepted(client, auth, body)


def test_arrears_dated_after_the_decision_about_them_are_a_422(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    body = {
        "citizen_id": people.new(), "category": "TAX_ARREARS", "decided_at": "2026-10-08",
        "document": {"type": "tax_decision", "number": "常税欠〔2026〕1号", "authority": "国家税务总局常州市税务局",
                     "effective_at": "2026-10-08"},
        "payload": {"tax_type": "individual_income_tax", "arrears_since": "2026-11-01", "arrears_amount": "100.00",
                    "subject_role": "natural_person"},
    }
    problem = _refused(client, auth, body)
    assert problem["field"] == "payload.arrears_since"
    assert "is after decided_at" in problem["detail"]


# --- item 5: notice before listing (LIST-4) -----------------------------------------------------


def test_a_listing_whose_notice_is_dated_nineteen_days_after_it_is_a_422(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    problem = _refused(client, auth, listing(people.new(), date(2026, 10, 12), date(2026, 10, 31)))
    assert problem["field"] == "payload.notified_on"
    assert "before the decision" in problem["detail"]


def test_a_listing_decided_before_the_objection_window_closed_is_a_422(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    problem = _refused(client, auth, listing(people.new(), date(2026, 10, 20), date(2026, 10, 16)))
    assert problem["field"] == "payload.notified_on"
    assert "5 working days" in problem["detail"]
    assert "2026-10-23" in problem["detail"]


def test_a_listing_decided_after_the_objection_window_is_accepted(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    assert _accepted(client, auth, listing(people.new(), date(2026, 10, 26), date(2026, 10, 16)))


# --- item 8: the organisation's unified social credit code (DATA-9) ------------------------------


@pytest.mark.parametrize(("code", "says"), [
    ("91110000600037341M", "check character"),
    ("9111000060003734", "18 characters"),
    ("9111000060003734OL", "capital letters other than I, O, S, V and Z"),
    ("9I110000600037341L", "two code characters, 6 digits"),
    ("91A10000600037341L", "6 digits of the registering area"),
])
def test_an_organisation_credit_code_that_fails_gb_32100_is_a_422_naming_the_field(
    client: FlaskClient, auth: Auth, people: People, code: str, says: str
) -> None:
    problem = _refused(client, auth, with_credit_code(people.new(), code))
    assert problem["field"] == "payload.organisation_credit_code"
    assert says in problem["detail"]


@pytest.mark.parametrize("code", [
    "91110000600037341L",
    "N2330182MF00000012",  # a rural collective economic organisation: letters in the first two places
    "y1440300mj0000001f",  # stored upper-case
])
def test_a_valid_organisation_credit_code_is_accepted(
    client: FlaskClient, auth: Auth, people: People, code: str
) -> None:
    assert _accepted(client, auth, with_credit_code(people.new(), code))


# --- item 7: the four grades, published -----------------------------------------------------------


def test_the_catalogue_publishes_the_four_grades_with_their_responses_and_periods(client: FlaskClient) -> None:
    catalogue = client.get("/api/v1/catalogue").json
    grades = {grade["code"]: grade for grade in catalogue["severities"]}
    assert list(grades) == ["minor", "general", "serious", "especially_serious"]
    especially = grades["especially_serious"]
    assert (especially["zh"], especially["display_period_min"], especially["display_period_max"]) == (
        "特别严重", "P3Y", "P5Y")
    assert especially["response"]["zh"].startswith("依法纳入联合惩戒对象")
    assert especially["reason"]
    academic_category = next(c for c in catalogue["categories"] if c["code"] == "ACADEMIC_MISCONDUCT")
    assert academic_category["minimum_age"]["years"] == 18
    listing_category = next(c for c in catalogue["categories"] if c["code"] == "SERIOUS_DISHONESTY_LIST")
    assert listing_category["notice_before_decision"]["working_days"] == 5
    assert catalogue["dates"]["earliest"] == "1949-10-01"


# --- item 10: the public catalogue's text ---------------------------------------------------------

# What only the maintainers read: seed line references ("seeds 002:16-18", "003:186"), policy item ids
# ("RPT-3", "DISC-1"), pointers into POLICY.md, and notes of what is still to check.
_INTERNAL = re.compile(r"\bseeds?\b|\b\d{3}:\d+|\b[A-Z]{2,6}-[0-9]+\b|POLICY\.md|outside-the-seeds|\bverify\b"
                       r"|internal_notes", re.IGNORECASE)


def test_the_public_catalogue_shows_no_internal_references(client: FlaskClient) -> None:
    text = client.get("/api/v1/catalogue").get_data(as_text=True)
    assert _INTERNAL.findall(json.dumps(json.loads(text), ensure_ascii=False)) == []


def test_the_internal_references_are_kept_with_the_data(rt: Runtime) -> None:
    raw = rt.catalogue.raw
    assert "002:16-18" in str(raw["internal_notes"])
    notes = {str(c["code"]): str(c["internal_notes"]) for c in raw["categories"]}  # type: ignore[attr-defined]
    assert "RPT-3" in notes["OCCUPATIONAL_MISCONDUCT"]
    assert "verify" in notes["ADMINISTRATIVE_PENALTY_MINOR"]


def test_public_texts_cite_the_source_documents_by_name(client: FlaskClient) -> None:
    catalogue = client.get("/api/v1/catalogue").json
    bases = {c["code"]: c["legal_basis"] for c in catalogue["categories"]}
    assert "常信用办〔2019〕10号" in bases["OCCUPATIONAL_MISCONDUCT"]
    assert "桂政发〔2018〕3号" in bases["ACADEMIC_MISCONDUCT"]
    assert "国办发〔2020〕49号" in catalogue["basis"]
