"""Credit commitments (信用承诺, COM-1 to COM-5) through the API, on a movable clock, on both backends."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import Connection

from audit import verify
from audit.clock import FrozenClock
from audit.entries import AuditEntry
from gateway.runtime import Runtime
from gateway.usecases import ledger
from tests.api.test_repairs_api import at
from tests.conftest import Auth, Person, Registered

SIGNED_ON = date(2026, 10, 12)
DETAILS = "营业执照副本复印件, 于2026年10月30日前补交"


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.json
    return dict(response.json)


def _sign(person: Person, body: Registered, template: str = "tolerated_acceptance", **extra: Any) -> Any:
    fields = {"template": template, "accepting_body": body.client_id, "accepted": True}
    if template == "tolerated_acceptance":
        fields |= {"details": DETAILS, "due_date": "2026-10-30"}
    return person.post("/api/v1/me/commitments", fields | extra)


def _outcome(client: FlaskClient, body: Registered, commitment_id: str, outcome: str, reason: str,
             **extra: Any) -> Any:
    return client.post(f"/api/v1/commitments/{commitment_id}/outcome", headers=body.headers,
                       json={"outcome": outcome, "reason": reason, **extra})


def _own(person: Person) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in _ok(person.client.get("/api/v1/me/report"))["records"]}


@pytest.fixture
def authority(auth: Auth) -> Registered:
    """An administrative authority that accepts commitments and records broken ones."""
    return auth.provider("ADMINISTRATIVE_LICENCE", "CREDIT_COMMITMENT_BREACH")


@pytest.fixture
def signed(person: Person, authority: Registered, clock: FrozenClock) -> dict[str, Any]:
    at(clock, SIGNED_ON)
    return _ok(_sign(person, authority), 201)


def test_a_commitment_kept_is_recorded_fulfilled_and_makes_no_record(
        client: FlaskClient, person: Person, authority: Registered, signed: dict[str, Any], clock: FrozenClock,
        rt: Runtime, connection: Connection) -> None:
    assert (signed["status"], signed["due_date"], signed["scenario"]) == ("pending", "2026-10-30",
                                                                         "tolerated_acceptance")
    assert signed["accepting_body"]["id"] == authority.client_id
    pending = _ok(client.get("/api/v1/commitments", headers=authority.headers))["commitments"]
    assert [c["id"] for c in pending] == [signed["id"]]
    assert "details" not in pending[0]  # the list shows no personal text; opening one is a release
    opened = _ok(client.get(f"/api/v1/commitments/{signed['id']}", headers=authority.headers))
    assert opened["details"] == DETAILS
    assert opened["text"] == rt.policy.commitments.templates["tolerated_acceptance"].text_zh

    at(clock, date(2026, 10, 20))
    kept = _ok(_outcome(client, authority, signed["id"], "fulfilled", "材料已补齐"))
    assert (kept["status"], kept["decided_on"], kept["record_id"]) == ("fulfilled", "2026-10-20", None)
    [mine] = _ok(person.client.get("/api/v1/me/commitments"))["commitments"]
    assert (mine["status"], mine["body_words"], mine["details"]) == ("fulfilled", "材料已补齐", DETAILS)
    assert "remedies" not in mine
    assert _own(person) == {}
    told = _ok(person.client.get("/api/v1/me/notifications"))["notifications"]
    assert any(n["kind"] == "commitment_step" and n["status"] == "fulfilled" for n in told)
    actions = list(connection.execute(select(AuditEntry.action)).scalars())
    for tag in ("vault:commitment:signed", "vault:commitment:released", "vault:commitment:outcome",
                "vault:commitment:read"):
        assert tag in actions, tag
    assert verify.verify_log(connection, ledger.head_verifier(rt)).ok


def test_a_commitment_broken_to_an_authority_becomes_its_breach_record(
        client: FlaskClient, person: Person, authority: Registered, employer: Registered, signed: dict[str, Any],
        clock: FrozenClock) -> None:
    at(clock, date(2026, 11, 2))  # (the clock stays before the login, so the tokens stay valid)
    assert _ok(person.client.get("/api/v1/me/commitments"))["commitments"][0]["overdue"] is True
    broken = _ok(_outcome(client, authority, signed["id"], "breached", "逾期未补交材料"))
    assert broken["status"] == "breached"
    record = _own(person)[broken["record_id"]]
    assert record["category"] == "CREDIT_COMMITMENT_BREACH"
    assert record["provider"]["id"] == authority.client_id
    assert (record["payload"]["breach"], record["payload"]["scenario"]) == ("not_fulfilled", "tolerated_acceptance")
    assert DETAILS in record["payload"]["commitment"]
    assert record["payload"]["finding"] == "逾期未补交材料"
    [mine] = _ok(person.client.get("/api/v1/me/commitments"))["commitments"]
    assert mine["remedies"]["objection"]["record_id"] == broken["record_id"]
    assert mine["remedies"]["repair"]["from"] == "2027-02-02"
    again = _outcome(client, authority, signed["id"], "fulfilled", "补交了")
    assert (again.status_code, again.json["current_status"]) == (409, "breached")
    asked = _ok(client.post("/api/v1/consent-requests", headers=employer.headers, json={
        "citizen_id": person.citizen_id, "purpose": "employment_screening", "reason": "hiring",
        "valid_for": "P7D", "max_uses": 1}), 201)
    consent_id = person.approve(asked["id"])["id"]
    report = _ok(client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=employer.headers), 201)
    assert [r["category"] for r in report["report"]["records"]] == ["CREDIT_COMMITMENT_BREACH"]


def test_an_onboarding_letter_to_an_employer_is_followed_by_it_without_a_public_record(
        client: FlaskClient, person: Person, employer: Registered, clock: FrozenClock) -> None:
    at(clock, SIGNED_ON)
    letter = _ok(_sign(person, employer, "onboarding"), 201)
    assert (letter["due_date"], letter["scenario"]) == (None, "onboarding")
    assert [c["id"] for c in _ok(client.get("/api/v1/commitments", headers=employer.headers))["commitments"]] == [
        letter["id"]]
    broken = _ok(_outcome(client, employer, letter["id"], "breached", "学历信息不实", breach="false_commitment"))
    assert (broken["status"], broken["record_id"]) == ("breached", None)
    assert "authority" in broken["if_breached"]
    assert _own(person) == {}


def test_signing_is_refused_naming_the_field_at_fault_and_audited(
        person: Person, authority: Registered, employer: Registered, auth: Auth, clock: FrozenClock,
        connection: Connection) -> None:
    at(clock, SIGNED_ON)
    cases = [
        (_sign(person, authority, "no_such_template"), "template"),
        (_sign(person, employer), "accepting_body"),  # tolerated acceptance is made to an authority
        (person.post("/api/v1/me/commitments", {"template": "onboarding", "accepting_body": "nobody",
                                                "accepted": True}), "accepting_body"),
        (_sign(person, authority, due_date=None), "due_date"),
        (_sign(person, authority, due_date="2026-10-12"), "due_date"),  # today: not after it
        (_sign(person, authority, due_date="2027-06-01"), "due_date"),  # beyond the template's six months
        (_sign(person, authority, "onboarding", due_date="2026-10-30"), "due_date"),
        (_sign(person, auth.provider("ADMINISTRATIVE_LICENCE")), "accepting_body"),  # records no breaches
    ]
    for response, field in cases:
        assert (response.status_code, response.json["field"]) == (422, field), response.json
    denied = connection.execute(select(AuditEntry.action).where(
        AuditEntry.action == "consent:commitment:denied")).scalars().all()
    assert len(denied) == len(cases) - 1  # the schema refuses a null due date before any use case runs
    assert _ok(person.client.get("/api/v1/me/commitments"))["commitments"] == []


def test_another_body_neither_sees_nor_closes_a_commitment(
        client: FlaskClient, auth: Auth, employer: Registered, signed: dict[str, Any]) -> None:
    other = auth.provider("ADMINISTRATIVE_LICENCE", "CREDIT_COMMITMENT_BREACH")
    assert _ok(client.get("/api/v1/commitments", headers=other.headers))["commitments"] == []
    assert client.get(f"/api/v1/commitments/{signed['id']}", headers=other.headers).status_code == 404
    assert _outcome(client, other, signed["id"], "breached", "x").status_code == 404
    assert _outcome(client, employer, signed["id"], "fulfilled", "x").status_code == 404


def test_the_templates_are_published_with_reasons_and_repair_links_to_its_method(client: FlaskClient) -> None:
    published = _ok(client.get("/api/v1/commitment-templates"))
    templates = {t["code"]: t for t in published["templates"]}
    assert {"tolerated_acceptance", "onboarding", "credit_repair"} <= set(templates)
    assert templates["credit_repair"]["repair_method"] == "credit_commitment"
    assert templates["onboarding"]["accepted_by"] == ["institution", "provider"]
    assert templates["tolerated_acceptance"]["due"]["required"] is True
    assert all(t["reason"] and t["text"]["zh"] for t in templates.values())
    assert published["if_breached"]["category"] == "CREDIT_COMMITMENT_BREACH"
    assert "internal_notes" not in published


def test_the_repair_method_credit_commitment_points_to_its_template(client: FlaskClient) -> None:
    methods = {m["code"]: m for m in _ok(client.get("/api/v1/repair-rules"))["methods"]}
    assert methods["credit_commitment"]["commitment"] == {"template": "credit_repair",
                                                          "sign_at": "/api/v1/me/commitments"}
    assert "commitment" not in methods["performance"]


def test_a_person_cannot_sign_words_that_would_keep_a_breach_from_being_recorded(
        client: FlaskClient, person: Person, authority: Registered, clock: FrozenClock) -> None:
    # The details become the breach record's "what was promised", which holds no hidden characters: were they
    # accepted here, the authority could never record the breach (its record would be refused).
    at(clock, SIGNED_ON)
    for hidden in ("\u202e", "\u200f", "\x85"):
        refused = _sign(person, authority, details=f"营业执照{hidden}副本")
        assert (refused.status_code, refused.json["field"]) == (422, "details"), refused.json
    assert _ok(person.client.get("/api/v1/me/commitments"))["commitments"] == []
    signed = _ok(_sign(person, authority, details="营业执照副本\n\t于月底前补交"), 201)  # lines and tabs are fine
    at(clock, date(2026, 11, 2))
    for hidden in ("\u202e", "\u200f", "\x85"):  # the authority's reason is the finding recorded: named as itself
        refused = _outcome(client, authority, signed["id"], "breached", f"逾期{hidden}未补交材料")
        assert (refused.status_code, refused.json["field"]) == (422, "reason"), refused.json
    broken = _ok(_outcome(client, authority, signed["id"], "breached", "逾期未补交材料\n详见附件"))
    assert broken["record_id"] is not None


def test_a_breach_on_a_template_no_longer_published_is_refused_plainly_and_nothing_is_written(
        client: FlaskClient, person: Person, authority: Registered, signed: dict[str, Any], clock: FrozenClock,
        rt: Runtime, connection: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    # The operator took the template out of commitments.json after the person signed on it. The breach record's
    # scenario is the template's, so the authority is told why nothing was recorded: never a 500.
    rules = rt.policy.commitments
    kept = {code: t for code, t in rules.templates.items() if code != "tolerated_acceptance"}
    monkeypatch.setattr(rt, "policy", replace(rt.policy, commitments=replace(rules, templates=kept)))
    at(clock, date(2026, 11, 2))
    refused = _outcome(client, authority, signed["id"], "breached", "逾期未补交材料")
    assert refused.status_code == 409, refused.json
    assert refused.json["code"] == "commitment_template_withdrawn"
    assert "tolerated_acceptance" in refused.json["detail"]
    [mine] = _ok(person.client.get("/api/v1/me/commitments"))["commitments"]
    assert mine["status"] == "pending"
    assert mine["name"] is None  # the person's list still shows the commitment, without the template's name
    assert _own(person) == {}
    denied = list(connection.execute(select(AuditEntry.reason).where(
        AuditEntry.action == "consent:commitment:denied")).scalars())
    assert denied == ["CommitmentTemplateWithdrawn"]
    # Kept is still recorded: it files nothing, so it needs no template.
    assert _ok(_outcome(client, authority, signed["id"], "fulfilled", "材料已补齐"))["status"] == "fulfilled"
    # Once closed, a breach is refused as a step out of order: publishing the template again would change nothing.
    again = _outcome(client, authority, signed["id"], "breached", "逾期未补交材料")
    assert (again.status_code, again.json["code"]) == (409, "commitment_step_out_of_order"), again.json
