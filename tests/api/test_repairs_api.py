"""Credit repair (信用修复) through the API, on a movable clock.

A serious penalty decided on 1 June 2025 may be repaired from 1 June 2026 (the catalogue's minimum period of a
year). Applied for on Monday 12 October 2026, it must be decided within fifteen working days: by Monday
2 November 2026. (The clock stays before the tests' login time, so tokens and portal sessions stay valid.)
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
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
from tests.api.test_periods_api import REFUSES, _court_default
from tests.conftest import Auth, People, Person, Registered, penalty

PDF = b"%PDF-1.7\n% receipt of the fine, paid\n"
STATEMENT = "罚款已于2026年10月全额缴纳, 违法行为已整改"
COMMITMENT = "本人承诺今后诚信守法, 如有违反愿承担相应责任"
APPLIED_ON = date(2026, 10, 12)


def at(clock: FrozenClock, day: date, hour: int = 10) -> None:
    """Move the clock to `hour` o'clock China Standard Time on `day`."""
    clock.set(datetime(day.year, day.month, day.day, hour - 8, tzinfo=UTC))


def _record(client: FlaskClient, provider: Registered, body: dict[str, Any]) -> str:
    created = client.post("/api/v1/records", json=body, headers=provider.headers)
    assert created.status_code == 201, created.json
    return str(created.json["id"])


def _serious(citizen_id: str, decided: date = date(2025, 6, 1)) -> dict[str, Any]:
    return penalty(citizen_id, decided, category="ADMINISTRATIVE_PENALTY_SERIOUS")


def _apply(person: Person, record_id: str, **extra: Any) -> Any:
    return person.post("/api/v1/me/repairs", {
        "record_id": record_id, "methods": ["performance", "credit_commitment"], "statement": STATEMENT,
        "commitment": {"text": COMMITMENT, "accepted": True}, **extra})


def _applied(person: Person, record_id: str, **extra: Any) -> dict[str, Any]:
    response = _apply(person, record_id, **extra)
    assert response.status_code == 201, response.json
    return dict(response.json)


def _decide(client: FlaskClient, provider: Registered, repair_id: str, body: dict[str, Any]) -> Any:
    return client.post(f"/api/v1/repairs/{repair_id}/decide", json=body, headers=provider.headers)


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.json
    return dict(response.json)


def _grant(client: FlaskClient, employer: Registered, person: Person) -> str:
    created = client.post("/api/v1/consent-requests", headers=employer.headers, json={
        "citizen_id": person.citizen_id, "purpose": "employment_screening", "reason": "hiring",
        "valid_for": "P7D", "max_uses": 2})
    assert created.status_code == 201, created.json
    return str(person.approve(created.json["id"])["id"])


def _own(person: Person) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in _ok(person.client.get("/api/v1/me/report"))["records"]}


@pytest.fixture
def provider(auth: Auth) -> Registered:
    return auth.provider()


@pytest.fixture
def record_id(client: FlaskClient, provider: Registered, person: Person, clock: FrozenClock) -> str:
    at(clock, APPLIED_ON)
    return _record(client, provider, _serious(person.citizen_id))


def test_a_repaired_record_reaches_no_institution_and_the_person_sees_it_marked(
        client: FlaskClient, provider: Registered, person: Person, employer: Registered, record_id: str,
        clock: FrozenClock, rt: Runtime, connection: Connection) -> None:
    consent_id = _grant(client, employer, person)

    def report() -> list[dict[str, Any]]:
        response = client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=employer.headers)
        return list(_ok(response, 201)["report"]["records"])

    assert [r["category"] for r in report()] == ["ADMINISTRATIVE_PENALTY_SERIOUS"]
    pdf = {"filename": "缴款凭证.pdf", "content_type": "application/pdf",
           "content_base64": base64.b64encode(PDF).decode()}
    filed = _applied(person, record_id, evidence=[pdf])
    assert (filed["status"], filed["record_id"], filed["decide_by"]) == ("submitted", record_id, "2026-11-02")
    assert filed["methods"] == ["performance", "credit_commitment"]
    assert not _keys(filed) & MONEY  # free of charge (REP-10): no fee field or payment step
    assert _own(person)[record_id]["repair"]["open_application"] == filed["id"]

    queue = _ok(client.get("/api/v1/repairs", headers=provider.headers))["repairs"]
    assert [(r["id"], r["decide_by"]) for r in queue] == [(filed["id"], "2026-11-02")]
    assert "statement" not in queue[0]  # the queue shows no personal text; opening one is a release
    opened = _ok(client.get(f"/api/v1/repairs/{filed['id']}", headers=provider.headers))
    assert (opened["statement"], opened["commitment"]) == (STATEMENT, {"text": COMMITMENT, "accepted": True})
    assert base64.b64decode(opened["evidence"][0]["content_base64"]) == PDF

    at(clock, date(2026, 10, 20))
    decided = _ok(_decide(client, provider, filed["id"], {
        "outcome": "repaired", "effect": "stop_sharing", "reason": "已履行处罚决定并作出信用承诺, 准予修复"}))
    assert (decided["status"], decided["effect"], decided["decided_on"]) == ("repaired", "stop_sharing", "2026-10-20")
    # What changed, for a notice to the record's past recipients.
    assert decided["changed"] == {"record_id": record_id, "outcome": "repaired", "effect": "stop_sharing",
                                  "released_to_third_parties": False, "decided_at": "2026-10-20T02:00:00.000000Z"}

    # The employer that received the record is told, in a signed notice, and the person sees it was.
    [notice] = _ok(client.get("/api/v1/notices", headers=employer.headers))["notices"]
    assert (notice["status"], notice["notice"]["status"]) == ("repaired", "repaired")
    assert [t["institution"]["id"] for t in _own(person)[record_id]["institutions_told"]] == [employer.client_id]
    assert any(n["status"] == "repaired" and n["kind"] == "notice_sent"
               for n in _ok(person.client.get("/api/v1/me/notifications"))["notifications"])

    consent_id = _grant(client, employer, person)  # the first consent ran out with the days
    assert report() == []  # the institution's next query no longer gets it
    assert not _keys(decided) & MONEY
    own = _own(person)[record_id]
    assert own["repaired"] == {"on": "2026-10-20", "effect": "stop_sharing"}
    assert own["visible_to_third_parties"] is False
    assert "repair" not in own
    assert "他人不可见：已于 2026年10月20日 完成信用修复" in person.client.get("/me").get_data(as_text=True)
    mine = _ok(person.client.get(f"/api/v1/me/repairs/{filed['id']}"))
    assert mine["agency_words"] == "已履行处罚决定并作出信用承诺, 准予修复"
    assert [e["filename"] for e in mine["evidence"]] == ["缴款凭证.pdf"]
    assert "content_base64" not in mine["evidence"][0]

    actions = list(connection.execute(select(AuditEntry.action).order_by(AuditEntry.seq)).scalars())
    for tag in ("vault:repair:submitted", "vault:repair:released", "vault:repair:decided", "vault:repair:read"):
        assert tag in actions, tag
    checked = verify.verify_log(connection, ledger.head_verifier(rt))
    assert checked.ok, checked.differences


def test_a_refusal_tells_the_person_why_and_what_would_qualify(
        client: FlaskClient, provider: Registered, person: Person, employer: Registered, record_id: str) -> None:
    filed = _applied(person, record_id)
    refused = _ok(_decide(client, provider, filed["id"], {"outcome": "refused", "reason": "罚款尚未缴清"}))
    assert (refused["status"], refused["effect"]) == ("refused", None)
    assert refused["changed"]["released_to_third_parties"] is True
    [mine] = _ok(person.client.get("/api/v1/me/repairs"))["repairs"]
    assert mine["agency_words"] == "罚款尚未缴清"
    qualify = mine["what_would_qualify"]
    assert qualify["from"] == "2026-06-01"
    assert "performance" in [m["code"] for m in qualify["methods"]]
    assert all(m["reason"] for m in qualify["methods"])
    consent_id = _grant(client, employer, person)
    response = client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=employer.headers)
    assert [r["category"] for r in _ok(response, 201)["report"]["records"]] == ["ADMINISTRATIVE_PENALTY_SERIOUS"]
    assert _applied(person, record_id)["id"] != filed["id"]  # closed: a new application may be made


def test_a_non_repairable_category_cites_its_basis(
        client: FlaskClient, provider: Registered, person: Person, clock: FrozenClock) -> None:
    at(clock, APPLIED_ON)
    listed = _record(client, provider, _court_default(person.citizen_id, date(2026, 6, 1), REFUSES))
    refused = _apply(person, listed)
    assert refused.status_code == 422
    assert (refused.json["code"], refused.json["field"], refused.json["category"]) == (
        "not_repairable", "record_id", "COURT_ENFORCEMENT_DEFAULT")
    assert refused.json["basis"]
    own = _own(person)[listed]["repair"]
    assert own["repairable"] is False
    assert own["basis"] == refused.json["basis"]


def test_too_early_names_the_earliest_date_and_the_report_says_it(
        client: FlaskClient, provider: Registered, person: Person, clock: FrozenClock) -> None:
    at(clock, APPLIED_ON)
    recent = _record(client, provider, _serious(person.citizen_id, date(2025, 10, 20)))
    early = _apply(person, recent)
    assert early.status_code == 422
    assert (early.json["code"], early.json["earliest"]) == ("too_early", "2026-10-20")
    assert "2026-10-20" in early.json["detail"]
    own = _own(person)[recent]["repair"]
    assert (own["repairable"], own["from"], own["free_of_charge"]) == (True, "2026-10-20", True)
    assert "performance" in own["methods"]
    clock.set(datetime(2026, 10, 19, 15, 30, tzinfo=UTC))  # 23:30 on the 19th in China: still a day early
    assert _apply(person, recent).json["code"] == "too_early"
    clock.set(datetime(2026, 10, 19, 16, 30, tzinfo=UTC))  # 00:30 on the 20th in China, still the 19th in UTC
    assert _applied(person, recent)["status"] == "submitted"


def test_one_open_application_per_record_and_only_ones_own_records(
        app: Any, rt: Runtime, people: People, person: Person, record_id: str) -> None:
    _applied(person, record_id)
    second = _apply(person, record_id)
    assert second.status_code == 409
    assert second.json["code"] == "repair_open"
    stranger = Person(app, rt, people.new())
    assert _apply(stranger, record_id).status_code == 404
    assert stranger.client.get("/api/v1/me/repairs").json == {"repairs": []}


def test_another_agency_cannot_see_or_decide(
        client: FlaskClient, auth: Auth, person: Person, record_id: str) -> None:
    filed = _applied(person, record_id)
    other = auth.provider()
    assert _ok(client.get("/api/v1/repairs", headers=other.headers)) == {"repairs": []}
    assert client.get(f"/api/v1/repairs/{filed['id']}", headers=other.headers).status_code == 404
    decided = _decide(client, other, filed["id"], {"outcome": "refused", "reason": "x"})
    assert decided.status_code == 404
    assert person.client.get("/api/v1/me/repairs/rp_" + "0" * 24).status_code == 404


def test_a_second_decision_is_a_conflict_naming_the_status_and_bad_input_names_the_field(
        client: FlaskClient, provider: Registered, person: Person, record_id: str, connection: Connection) -> None:
    filed = _applied(person, record_id)
    no_effect = _decide(client, provider, filed["id"], {"outcome": "repaired", "reason": "准予"})
    assert (no_effect.status_code, no_effect.json["field"]) == (422, "effect")
    _ok(_decide(client, provider, filed["id"], {"outcome": "repaired", "effect": "mask", "reason": "准予"}))
    again = _decide(client, provider, filed["id"], {"outcome": "refused", "reason": "迟了"})
    assert again.status_code == 409
    assert (again.json["code"], again.json["current_status"]) == ("repair_step_out_of_order", "repaired")
    # The refusal is audited with the status it found.
    refused = connection.execute(select(AuditEntry.reason).where(AuditEntry.action == "consent:repair:denied")
                                 .order_by(AuditEntry.seq.desc())).scalars().first()
    assert refused == "RepairStepOutOfOrder:repaired"
    repaired_again = _apply(person, record_id)
    assert repaired_again.status_code == 409  # nothing left to repair
    for body, field in (({"methods": ["bribe"]}, "methods.0"), ({"methods": []}, "methods"),
                        ({"commitment": {"text": COMMITMENT, "accepted": False}}, "commitment.accepted")):
        bad = _apply(person, record_id, **body)
        assert bad.status_code == 422, body
        assert bad.json["field"] == field


def test_a_method_named_twice_is_refused_and_nothing_is_filed(person: Person, record_id: str) -> None:
    twice = _apply(person, record_id, methods=["performance", "performance"])
    assert (twice.status_code, twice.json["field"]) == (422, "methods")
    assert "twice" in str(twice.json)
    assert _ok(person.client.get("/api/v1/me/repairs"))["repairs"] == []
    assert _applied(person, record_id, methods=["performance"])["methods"] == ["performance"]


def test_an_overdue_decision_is_an_audit_entry_and_an_anomaly(
        client: FlaskClient, auth: Auth, provider: Registered, person: Person, record_id: str,
        clock: FrozenClock) -> None:
    auditor = auth.register("auditor")
    filed = _applied(person, record_id)

    def overdue() -> list[dict[str, Any]]:
        auditor.token = auth.token(auditor.client_id, auditor.secret)  # the clock jumps days
        found = _ok(client.get("/api/v1/audit/anomalies", headers=auditor.headers))["anomalies"]
        return [a for a in found if a["kind_of_anomaly"] == "overdue"]

    at(clock, date(2026, 11, 2))
    assert overdue() == []
    at(clock, date(2026, 11, 3))
    [late] = overdue()
    assert (late["agency"]["id"], late["repair_id"], late["step"], late["deadline"]) == (
        provider.client_id, filed["id"], "repair_decide", "2026-11-02")
    assert _ok(person.client.get(f"/api/v1/me/repairs/{filed['id']}"))["overdue"] is True


def test_the_repair_rules_are_published_free_of_charge(client: FlaskClient) -> None:
    rules = _ok(client.get("/api/v1/repair-rules"))
    assert rules["free_of_charge"] is True
    assert rules["decide"]["working_days"] == 15
    codes = {m["code"] for m in rules["methods"]}
    assert {"performance", "credit_commitment", "volunteer_service", "charitable_donation", "training",
            "credit_report"} <= codes
    assert {e["code"] for e in rules["effects"]} == {"stop_sharing", "mask", "delete", "mark"}
    assert "internal_notes" not in str(rules)
    assert not _keys(rules) & MONEY


MONEY = {"fee", "fees", "price", "amount_due", "payment", "pay", "charge", "cost"}


def _keys(document: Any) -> set[str]:
    """Every key anywhere in a JSON document."""
    if isinstance(document, dict):
        return set(document) | {k for v in document.values() for k in _keys(v)}
    if isinstance(document, list):
        return {k for v in document for k in _keys(v)}
    return set()
