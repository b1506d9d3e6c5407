"""Voluntary registration (自愿注册, VOL-1) through the API, on a movable clock, on both backends.

Declared on Monday 12 October 2026, a declaration must be verified within fifteen working days: by Monday
2 November 2026. Until then it is no record, and no institution's report can hold it.
"""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from audit import verify
from audit.clock import FrozenClock
from audit.entries import AuditEntry
from gateway.runtime import Runtime
from gateway.usecases import declarations as use
from gateway.usecases import ledger
from tests.api.test_repairs_api import at
from tests.conftest import Auth, Person, Registered

DECLARED_ON = date(2026, 10, 12)
PROMISE = "本人承诺所申报信息真实, 如有虚假愿承担责任"
PDF = b"%PDF-1.7\n% certificate of volunteer hours\n"
HOURS = {"organisation": "常州市青年志愿者协会", "service_area": "社区助老", "service_hours": "120",
         "period_start": "2026-01-10", "period_end": "2026-09-30"}


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.json
    return dict(response.json)


def _declare(person: Person, category: str = "VOLUNTEER_SERVICE", payload: dict[str, Any] | None = None,
             **extra: Any) -> Any:
    return person.post("/api/v1/me/declarations", {
        "category": category, "payload": HOURS if payload is None else payload,
        "commitment": {"text": PROMISE, "accepted": True}, **extra})


def _verify(client: FlaskClient, agency: Registered, declaration_id: str, outcome: str, reason: str) -> Any:
    return client.post(f"/api/v1/declarations/{declaration_id}/verify", headers=agency.headers,
                       json={"outcome": outcome, "reason": reason})


def _report(client: FlaskClient, institution: Registered, person: Person, purpose: str) -> list[dict[str, Any]]:
    asked = _ok(client.post("/api/v1/consent-requests", headers=institution.headers, json={
        "citizen_id": person.citizen_id, "purpose": purpose, "reason": "review", "valid_for": "P7D",
        "max_uses": 1}), 201)
    consent_id = person.approve(asked["id"])["id"]
    response = client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=institution.headers)
    return list(_ok(response, 201)["report"]["records"])


def _own(person: Person) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in _ok(person.client.get("/api/v1/me/report"))["records"]}


@pytest.fixture
def civil_affairs(auth: Auth) -> Registered:
    """The agency competent for volunteer service: it files those records and the breach a false one becomes."""
    return auth.provider("VOLUNTEER_SERVICE", "CREDIT_COMMITMENT_BREACH")


@pytest.fixture
def reviewer(auth: Auth) -> Registered:
    """An agency institution reviewing a commendation, whose purpose covers volunteer service."""
    return auth.register("institution", kind="agency")


@pytest.fixture
def declared(person: Person, clock: FrozenClock) -> dict[str, Any]:
    at(clock, DECLARED_ON)
    pdf = {"filename": "志愿服务证明.pdf", "content_type": "application/pdf",
           "content_base64": base64.b64encode(PDF).decode()}
    return _ok(_declare(person, evidence=[pdf]), 201)


def test_a_verified_declaration_reaches_an_institution_only_after_verification(
        client: FlaskClient, person: Person, civil_affairs: Registered, reviewer: Registered,
        declared: dict[str, Any], clock: FrozenClock, rt: Runtime, connection: Connection) -> None:
    assert (declared["status"], declared["verify_by"], declared["record_id"]) == ("unverified", "2026-11-02", None)
    assert declared["released_to_third_parties"] is False
    # Unverified, it is released to no one: the reviewer's report (whose purpose covers the category) lacks it.
    assert [r["category"] for r in _report(client, reviewer, person, "commendation_review")] == []

    queue = _ok(client.get("/api/v1/declarations", headers=civil_affairs.headers))["declarations"]
    assert [(d["id"], d["verify_by"]) for d in queue] == [(declared["id"], "2026-11-02")]
    assert "payload" not in queue[0]  # the queue shows no personal data; opening one is a release
    opened = _ok(client.get(f"/api/v1/declarations/{declared['id']}", headers=civil_affairs.headers))
    assert opened["payload"]["service_hours"] == "120"
    assert opened["commitment"] == {"text": PROMISE, "accepted": True}
    assert opened["authorisation"]["accepted"] is True
    assert base64.b64decode(opened["evidence"][0]["content_base64"]) == PDF

    at(clock, date(2026, 10, 20))
    verified = _ok(_verify(client, civil_affairs, declared["id"], "verified", "与志愿服务记录一致"))
    assert (verified["status"], verified["decided_on"]) == ("verified", "2026-10-20")
    assert verified["agency"]["id"] == civil_affairs.client_id
    record_id = verified["record_id"]
    [shown] = _report(client, reviewer, person, "commendation_review")
    assert (shown["category"], shown["fields"].get("organisation")) == ("VOLUNTEER_SERVICE", "常州市青年志愿者协会")
    assert shown["self_reported"] == {"verified": True}  # flagged as the person's own, verified (item 10)
    own = _own(person)[record_id]
    assert (own["category"], own["self_reported"]) == ("VOLUNTEER_SERVICE", {"declaration_id": declared["id"]})

    [mine] = _ok(person.client.get("/api/v1/me/declarations"))["declarations"]
    assert (mine["status"], mine["record_id"], mine["agency_words"]) == ("verified", record_id, "与志愿服务记录一致")
    assert mine["self_reported"] is True
    assert mine["released_to_third_parties"] is True
    assert "content_base64" not in mine["evidence"][0]
    told = _ok(person.client.get("/api/v1/me/notifications"))["notifications"]
    assert any(n["kind"] == "declaration_step" and n["ref"] == declared["id"] and n["status"] == "verified"
               for n in told)
    actions = list(connection.execute(select(AuditEntry.action)).scalars())
    for tag in ("vault:declaration:submitted", "vault:declaration:released", "vault:declaration:verified",
                "vault:declaration:read", "vault:record:ingested"):
        assert tag in actions, tag
    checked = verify.verify_log(connection, ledger.head_verifier(rt))
    assert checked.ok, checked.differences


def test_a_declaration_found_false_becomes_a_broken_commitment_with_the_persons_remedies(
        client: FlaskClient, person: Person, civil_affairs: Registered, employer: Registered,
        declared: dict[str, Any]) -> None:
    for hidden in ("\u202e", "\x85"):  # the agency's reason is the finding recorded: refused by its own name
        refused = _verify(client, civil_affairs, declared["id"], "false", f"协会无此{hidden}服务记录")
        assert (refused.status_code, refused.json["field"]) == (422, "reason"), refused.json
    found = _ok(_verify(client, civil_affairs, declared["id"], "false", "协会无此服务记录"))
    assert found["status"] == "false"
    breach = _own(person)[found["record_id"]]
    assert breach["category"] == "CREDIT_COMMITMENT_BREACH"
    assert "self_reported" not in breach  # the agency's finding, not the person's declaration
    assert breach["payload"]["breach"] == "false_commitment"
    assert breach["payload"]["scenario"] == "voluntary_registration"
    assert (breach["payload"]["commitment"], breach["payload"]["finding"]) == (PROMISE, "协会无此服务记录")
    assert breach["document"]["type"] == "commitment_breach_determination"

    [mine] = _ok(person.client.get("/api/v1/me/declarations"))["declarations"]
    assert (mine["agency_words"], mine["released_to_third_parties"]) == ("协会无此服务记录", False)
    remedies = mine["remedies"]
    assert remedies["objection"] == {"apply_at": "/api/v1/me/objections", "record_id": found["record_id"]}
    assert (remedies["repair"]["repairable"], remedies["repair"]["from"]) == (True, "2027-01-12")
    told = _ok(person.client.get("/api/v1/me/notifications"))["notifications"]
    assert any(n["kind"] == "declaration_step" and n["status"] == "false" for n in told)
    # The breach is a record like others: an employer screening for it receives it; the declaration it is not.
    assert [r["category"] for r in _report(client, employer, person, "employment_screening")] == [
        "CREDIT_COMMITMENT_BREACH"]


def test_a_category_not_open_to_declaration_is_refused_naming_those_that_are_and_audited(
        person: Person, clock: FrozenClock, connection: Connection) -> None:
    at(clock, DECLARED_ON)
    refused = _declare(person, "ADMINISTRATIVE_PENALTY_GENERAL", {"violation": "x"})
    assert refused.status_code == 422
    assert (refused.json["code"], refused.json["field"]) == ("not_declarable", "category")
    assert "VOLUNTEER_SERVICE" in refused.json["errors"][0]["reason"]
    denied = connection.execute(select(AuditEntry.reason).where(
        AuditEntry.action == "consent:declaration:denied")).scalars().all()
    assert denied == ["NotDeclarable"]
    assert _ok(person.client.get("/api/v1/me/declarations"))["declarations"] == []


def test_a_payload_is_checked_by_the_catalogues_rules_for_its_category(person: Person, clock: FrozenClock) -> None:
    at(clock, DECLARED_ON)
    unknown = _declare(person, payload={**HOURS, "salary": "1"})
    assert (unknown.status_code, unknown.json["field"]) == (422, "payload.salary")
    future = _declare(person, payload={**HOURS, "period_end": "2026-12-31"})
    assert (future.status_code, future.json["field"]) == (422, "payload.period_end")
    missing = _declare(person, payload={k: v for k, v in HOURS.items() if k != "organisation"})
    assert (missing.status_code, missing.json["field"]) == (422, "payload.organisation")
    unaccepted = person.post("/api/v1/me/declarations", {"category": "VOLUNTEER_SERVICE", "payload": HOURS,
                                                         "commitment": {"text": PROMISE, "accepted": False}})
    assert unaccepted.status_code == 422


def test_the_same_item_waits_once_but_another_may_be_declared(
        person: Person, declared: dict[str, Any], client: FlaskClient, civil_affairs: Registered) -> None:
    again = _declare(person)
    assert (again.status_code, again.json["code"]) == (409, "declaration_open")
    other = _ok(_declare(person, payload={**HOURS, "service_hours": "8"}), 201)
    assert other["id"] != declared["id"]
    _ok(_verify(client, civil_affairs, declared["id"], "verified", "一致"))
    assert _ok(_declare(person), 201)["status"] == "unverified"  # no longer waiting: it may be declared anew


def test_a_decided_declaration_cannot_be_decided_again(
        client: FlaskClient, civil_affairs: Registered, declared: dict[str, Any], connection: Connection) -> None:
    _ok(_verify(client, civil_affairs, declared["id"], "verified", "一致"))
    again = _verify(client, civil_affairs, declared["id"], "false", "改判")
    assert (again.status_code, again.json["code"], again.json["current_status"]) == (
        409, "declaration_step_out_of_order", "verified")
    breaches = connection.execute(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "vault:declaration:verified")).scalar_one()
    assert breaches == 1


def test_an_agency_not_competent_for_the_category_neither_sees_nor_verifies_it(
        client: FlaskClient, auth: Auth, declared: dict[str, Any]) -> None:
    tax = auth.provider("TAX_ARREARS", "CREDIT_COMMITMENT_BREACH")
    assert _ok(client.get("/api/v1/declarations", headers=tax.headers))["declarations"] == []
    assert client.get(f"/api/v1/declarations/{declared['id']}", headers=tax.headers).status_code == 404
    assert _verify(client, tax, declared["id"], "verified", "x").status_code == 404
    # Every competent agency sees a waiting declaration; once one decides it, no other does.
    deciding, other = (auth.provider("VOLUNTEER_SERVICE", "CREDIT_COMMITMENT_BREACH") for _ in range(2))
    assert client.get(f"/api/v1/declarations/{declared['id']}", headers=other.headers).status_code == 200
    _ok(_verify(client, deciding, declared["id"], "verified", "一致"))
    assert client.get(f"/api/v1/declarations/{declared['id']}", headers=other.headers).status_code == 404
    assert client.get(f"/api/v1/declarations/{declared['id']}", headers=deciding.headers).status_code == 200
    # Registered for the category but not for the breach a false one becomes: it cannot verify either.
    partial = auth.provider("VOLUNTEER_SERVICE")
    assert _ok(client.get("/api/v1/declarations", headers=partial.headers))["declarations"] == []


def test_a_verification_past_its_deadline_is_shown_overdue_and_recorded_once(
        person: Person, declared: dict[str, Any], clock: FrozenClock, rt: Runtime, connection: Connection) -> None:
    at(clock, date(2026, 11, 2))
    assert use.record_overdue(rt) == 0
    assert _ok(person.client.get("/api/v1/me/declarations"))["declarations"][0]["overdue"] is False
    at(clock, date(2026, 11, 3))
    assert (use.record_overdue(rt), use.record_overdue(rt)) == (1, 0)
    assert _ok(person.client.get("/api/v1/me/declarations"))["declarations"][0]["overdue"] is True
    late = connection.execute(select(AuditEntry.detail).where(
        AuditEntry.action == "consent:declaration:overdue")).scalar_one()
    assert (late["declaration_id"], late["deadline"], late["days_late"]) == (declared["id"], "2026-11-02", 1)


def test_the_rules_name_the_open_categories_with_reasons_and_the_fate_of_a_false_one(client: FlaskClient) -> None:
    rules = _ok(client.get("/api/v1/declaration-rules"))
    assert {c["category"] for c in rules["categories"]} == {
        "ADMINISTRATIVE_LICENCE", "COMMENDATION", "VOLUNTEER_SERVICE", "CHARITABLE_DONATION"}
    assert all(c["reason"] for c in rules["categories"])
    assert rules["verify"]["working_days"] == 15
    assert rules["if_found_false"]["category"] == "CREDIT_COMMITMENT_BREACH"
    assert "internal_notes" not in rules


def test_a_commitment_that_would_keep_a_false_finding_from_being_recorded_is_refused(
        person: Person, clock: FrozenClock) -> None:
    # Found false, the commitment is the breach record's "what was promised", which holds no hidden characters:
    # were they accepted here, the agency could never record the finding (its record would be refused).
    at(clock, DECLARED_ON)
    for hidden in ("\u202e", "\x00", "\x85"):
        refused = _declare(person, commitment={"text": f"{PROMISE}{hidden}", "accepted": True})
        assert (refused.status_code, refused.json["field"]) == (422, "commitment.text"), refused.json
    assert _ok(person.client.get("/api/v1/me/declarations"))["declarations"] == []
