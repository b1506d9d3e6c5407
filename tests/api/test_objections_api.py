"""Objections (异议) through the API, on a clock that crosses the 2026 National Day holiday.

The holiday runs from Thursday 1 to Wednesday 7 October 2026 and Saturday 10 October is an adjusted working
day, so an objection filed on Wednesday 30 September must be accepted by Friday 9 October, and one accepted
on 9 October must be decided by Thursday 22 October (the Saturday counts; without it, the 23rd).
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
from tests.api.test_entry_rules_api import listing
from tests.conftest import Auth, People, Person, Registered, penalty

PDF = b"%PDF-1.7\n% the decision, scanned\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
REASON = "罚款金额有误, 决定书写明罚款人民币200元"
SUBMITTED_ON = date(2026, 9, 30)


def at(clock: FrozenClock, day: date, hour: int = 10) -> None:
    """Move the clock to `hour` o'clock China Standard Time on `day`."""
    clock.set(datetime(day.year, day.month, day.day, hour - 8, tzinfo=UTC))


def evidence(content: bytes = PDF, content_type: str = "application/pdf", name: str = "决定书.pdf") -> dict[str, str]:
    return {"filename": name, "content_type": content_type, "content_base64": base64.b64encode(content).decode()}


def _record(client: FlaskClient, provider: Registered, body: dict[str, Any]) -> str:
    created = client.post("/api/v1/records", json=body, headers=provider.headers)
    assert created.status_code == 201, created.json
    return str(created.json["id"])


def _object(person: Person, record_id: str, **extra: Any) -> Any:
    return person.post("/api/v1/me/objections", {"record_id": record_id, "reason": REASON, **extra})


def _filed(person: Person, record_id: str, **extra: Any) -> dict[str, Any]:
    response = _object(person, record_id, **extra)
    assert response.status_code == 201, response.json
    return dict(response.json)


def _step(client: FlaskClient, provider: Registered, objection_id: str, step: str, body: Any = None) -> Any:
    return client.post(f"/api/v1/objections/{objection_id}/{step}", json=body, headers=provider.headers)


def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.json
    return dict(response.json)


def _actions(connection: Connection, since: int = 0) -> list[str]:
    return list(connection.execute(select(AuditEntry.action).where(AuditEntry.seq > since)
                                   .order_by(AuditEntry.seq)).scalars())


@pytest.fixture
def provider(auth: Auth) -> Registered:
    return auth.provider()


@pytest.fixture
def record_id(client: FlaskClient, provider: Registered, person: Person, clock: FrozenClock) -> str:
    at(clock, SUBMITTED_ON)
    return _record(client, provider, penalty(person.citizen_id, date(2026, 6, 1)))


def test_submitted_accepted_corrected_across_national_day(
        client: FlaskClient, provider: Registered, person: Person, record_id: str, clock: FrozenClock,
        rt: Runtime, connection: Connection) -> None:
    filed = _filed(person, record_id, evidence=[evidence()])
    assert (filed["status"], filed["record_id"], filed["accept_by"]) == ("submitted", record_id, "2026-10-09")
    assert filed["open_step"] == "accept"
    assert filed["deadline"] == "2026-10-09"

    queue = _ok(client.get("/api/v1/objections", headers=provider.headers))["objections"]
    assert [(o["id"], o["deadline"]) for o in queue] == [(filed["id"], "2026-10-09")]
    assert "reason" not in queue[0]  # the queue shows no personal text; opening one is a release
    opened = _ok(client.get(f"/api/v1/objections/{filed['id']}", headers=provider.headers))
    assert opened["reason"] == REASON
    assert base64.b64decode(opened["evidence"][0]["content_base64"]) == PDF
    assert opened["evidence"][0]["filename"] == "决定书.pdf"

    at(clock, date(2026, 10, 9))
    accepted = _ok(_step(client, provider, filed["id"], "accept"))
    assert (accepted["status"], accepted["decide_by"]) == ("accepted", "2026-10-22")

    at(clock, date(2026, 10, 10))  # the adjusted working Saturday
    corrected_payload = dict(penalty(person.citizen_id)["payload"], penalty_content="罚款人民币200元",
                             fine_amount="200.00")
    decided = _ok(_step(client, provider, filed["id"], "decide", {
        "outcome": "corrected", "reason": "经核实, 罚款金额录入有误, 已更正", "correction": corrected_payload}))
    assert decided["status"] == "corrected"
    new_id = decided["corrected_record_id"]
    assert new_id
    assert new_id != record_id

    mine = _ok(person.client.get(f"/api/v1/me/objections/{filed['id']}"))
    assert mine["reason"] == REASON
    assert mine["agency_words"] == "经核实, 罚款金额录入有误, 已更正"
    steps = {s["step"]: s for s in mine["steps"]}
    assert steps["submitted"]["date"] == "2026-09-30"
    assert (steps["accept"]["status"], steps["accept"]["date"], steps["accept"]["deadline"]) == (
        "accepted", "2026-10-09", "2026-10-09")
    assert (steps["decide"]["status"], steps["decide"]["date"], steps["decide"]["deadline"]) == (
        "corrected", "2026-10-10", "2026-10-22")
    assert steps["decide"]["words"] == "经核实, 罚款金额录入有误, 已更正"
    assert steps["correct"]["corrected_record_id"] == new_id
    assert [e["filename"] for e in mine["evidence"]] == ["决定书.pdf"]
    assert "content_base64" not in mine["evidence"][0]

    records = {r["id"]: r for r in _ok(person.client.get("/api/v1/me/report"))["records"]}
    assert records[record_id]["status"] == "revoked"
    assert records[new_id]["status"] == "active"
    assert records[new_id]["payload"]["fine_amount"] == "200.00"
    assert "objection" not in records[new_id]

    actions = _actions(connection)
    for tag in ("vault:objection:submitted", "vault:objection:evidence-released", "consent:objection:accepted",
                "vault:record:corrected", "vault:objection:answered", "vault:objection:read"):
        assert tag in actions, tag
    report = verify.verify_log(connection, ledger.head_verifier(rt))
    assert report.ok, report.differences


def test_a_refusal_tells_the_person_why_and_closes_the_objection(
        client: FlaskClient, provider: Registered, person: Person, record_id: str) -> None:
    filed = _filed(person, record_id)
    refused = _ok(_step(client, provider, filed["id"], "refuse", {"reason": "异议材料不全, 请补充处罚决定书"}))
    assert refused["status"] == "refused"
    mine = _ok(person.client.get("/api/v1/me/objections"))["objections"]
    accept = next(s for s in mine[0]["steps"] if s["step"] == "accept")
    assert (accept["status"], accept["words"]) == ("refused", "异议材料不全, 请补充处罚决定书")
    assert mine[0]["open_step"] is None
    again = _filed(person, record_id)  # closed: a new objection may be filed
    assert again["id"] != filed["id"]


def test_an_upheld_record_stays(client: FlaskClient, provider: Registered, person: Person, record_id: str) -> None:
    filed = _filed(person, record_id)
    _ok(_step(client, provider, filed["id"], "accept"))
    upheld = _ok(_step(client, provider, filed["id"], "decide", {"outcome": "upheld", "reason": "经核实, 记录无误"}))
    assert upheld["status"] == "upheld"
    records = {r["id"]: r for r in _ok(person.client.get("/api/v1/me/report"))["records"]}
    assert records[record_id]["status"] == "active"


def test_a_revocation_uses_the_producers_revocation(
        client: FlaskClient, provider: Registered, person: Person, record_id: str) -> None:
    filed = _filed(person, record_id)
    _ok(_step(client, provider, filed["id"], "accept"))
    _ok(_step(client, provider, filed["id"], "decide", {"outcome": "revoked", "reason": "处罚决定已被撤销"}))
    records = {r["id"]: r for r in _ok(person.client.get("/api/v1/me/report"))["records"]}
    assert records[record_id]["status"] == "revoked"


def test_a_step_out_of_order_is_a_conflict_naming_the_current_status(
        client: FlaskClient, provider: Registered, person: Person, record_id: str) -> None:
    filed = _filed(person, record_id)
    early = _step(client, provider, filed["id"], "decide", {"outcome": "upheld", "reason": "无误"})
    assert early.status_code == 409
    assert (early.json["code"], early.json["current_status"]) == ("objection_step_out_of_order", "submitted")
    _ok(_step(client, provider, filed["id"], "accept"))
    for step, body in (("accept", None), ("refuse", {"reason": "迟了"})):
        again = _step(client, provider, filed["id"], step, body)
        assert again.status_code == 409
        assert again.json["current_status"] == "accepted"
    bad = _step(client, provider, filed["id"], "decide", {"outcome": "corrected", "reason": "改"})
    assert bad.status_code == 422
    assert bad.json["field"] == "correction"


def test_one_open_objection_per_record_and_only_ones_own_records(
        client: FlaskClient, provider: Registered, person: Person, record_id: str, app: Any, rt: Runtime,
        people: People) -> None:
    _filed(person, record_id)
    second = _object(person, record_id)
    assert second.status_code == 409
    assert second.json["code"] == "objection_open"
    stranger = Person(app, rt, people.new())
    assert _object(stranger, record_id).status_code == 404
    assert stranger.client.get("/api/v1/me/objections").json == {"objections": []}


def test_another_agency_cannot_see_or_act(
        client: FlaskClient, auth: Auth, person: Person, record_id: str) -> None:
    filed = _filed(person, record_id)
    other = auth.provider()
    assert _ok(client.get("/api/v1/objections", headers=other.headers)) == {"objections": []}
    assert client.get(f"/api/v1/objections/{filed['id']}", headers=other.headers).status_code == 404
    for step, body in (("accept", None), ("refuse", {"reason": "x"}), ("decide", {"outcome": "upheld", "reason": "x"})):
        assert _step(client, other, filed["id"], step, body).status_code == 404
    assert person.client.get("/api/v1/me/objections/ob_" + "0" * 24).status_code == 404


def test_a_look_up_of_an_objection_that_is_not_ones_own_is_refused_and_recorded(
        client: FlaskClient, provider: Registered, person: Person, record_id: str, app: Any, rt: Runtime,
        people: People, connection: Connection) -> None:
    filed = _filed(person, record_id)
    stranger = Person(app, rt, people.new())
    before = int(connection.execute(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one())
    for objection_id in (filed["id"], "ob_" + "0" * 24):  # another person's, and none at all: the same answer
        assert stranger.client.get(f"/api/v1/me/objections/{objection_id}").status_code == 404
    denied = connection.execute(select(AuditEntry.actor, AuditEntry.outcome, AuditEntry.reason)
                                .where(AuditEntry.seq > before, AuditEntry.action == "consent:objection:denied")).all()
    stranger_ref = rt.vault.subject_ref(stranger.citizen_id)
    assert [(d.actor, d.outcome, d.reason) for d in denied] == [(stranger_ref, "denied", "ObjectionNotFound")] * 2


def test_evidence_is_checked_by_its_bytes_count_and_size(person: Person, record_id: str) -> None:
    lying = _object(person, record_id, evidence=[evidence(PNG, "application/pdf")])
    assert lying.status_code == 422
    assert lying.json["field"] == "evidence.0.content_base64"
    too_many = _object(person, record_id, evidence=[evidence(PNG, "image/png", "p.png")] * 6)
    assert too_many.status_code == 422
    assert too_many.json["field"] == "evidence"
    exe = _object(person, record_id, evidence=[evidence(b"MZ\x90\x00", "application/x-msdownload", "a.exe")])
    assert exe.status_code == 422
    # A right-to-left override would show the agency "photo.exe.png" as "photo.gnp.exe": refused.
    disguised = _object(person, record_id, evidence=[evidence(PNG, "image/png", "photo\u202egnp.exe")])
    assert (disguised.status_code, disguised.json["field"]) == (422, "evidence.0.filename")
    assert _filed(person, record_id, evidence=[evidence(PNG, "image/png", "photo.png"), evidence()])["id"]


def test_an_overdue_step_is_an_audit_entry_and_an_anomaly(
        client: FlaskClient, auth: Auth, provider: Registered, person: Person, record_id: str, clock: FrozenClock,
        connection: Connection) -> None:
    auditor = auth.register("auditor")
    filed = _filed(person, record_id)

    def overdue() -> list[dict[str, Any]]:
        auditor.token = auth.token(auditor.client_id, auditor.secret)  # a token lasts an hour: the clock jumps days
        found = _ok(client.get("/api/v1/audit/anomalies", headers=auditor.headers))["anomalies"]
        return [a for a in found if a["kind_of_anomaly"] == "overdue"]

    at(clock, date(2026, 10, 9))  # the last day to accept: not late yet
    assert overdue() == []
    at(clock, date(2026, 10, 10))
    [late] = overdue()
    assert (late["agency"]["id"], late["objection_id"], late["step"], late["deadline"]) == (
        provider.client_id, filed["id"], "accept", "2026-10-09")
    assert overdue() == [late]
    assert _actions(connection).count("consent:objection:overdue") == 1  # recorded once per lapsed step
    actor, detail = connection.execute(select(AuditEntry.actor, AuditEntry.detail).where(
        AuditEntry.action == "consent:objection:overdue")).one()
    assert (actor, detail["step"], detail["institution"]) == ("xinyong", "accept", provider.client_id)
    mine = _ok(person.client.get(f"/api/v1/me/objections/{filed['id']}"))
    assert mine["overdue"] is True
    assert next(s for s in mine["steps"] if s["step"] == "accept")["status"] == "overdue"

    accepted = _ok(_step(client, provider, filed["id"], "accept"))
    assert accepted["decide_by"] == "2026-10-23"
    assert overdue() == []
    at(clock, date(2026, 10, 24))
    assert [a["step"] for a in overdue()] == ["decide"]
    assert _actions(connection).count("consent:objection:overdue") == 2


def _grant(client: FlaskClient, employer: Registered, person: Person) -> str:
    created = client.post("/api/v1/consent-requests", headers=employer.headers, json={
        "citizen_id": person.citizen_id, "purpose": "employment_screening", "reason": "hiring",
        "valid_for": "P7D", "max_uses": 2})
    assert created.status_code == 201, created.json
    return str(person.approve(created.json["id"])["id"])


def test_an_institutions_report_during_and_after_the_objection(
        client: FlaskClient, auth: Auth, provider: Registered, person: Person, employer: Registered,
        clock: FrozenClock) -> None:
    at(clock, SUBMITTED_ON)
    serious = _record(client, provider, penalty(person.citizen_id, date(2026, 6, 1),
                                                category="ADMINISTRATIVE_PENALTY_SERIOUS"))
    listed = _record(client, provider, listing(person.citizen_id, date(2026, 6, 1), date(2026, 5, 4)))
    consent_id = _grant(client, employer, person)  # two uses: before and during

    def report() -> list[dict[str, Any]]:
        response = client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=employer.headers)
        return list(_ok(response, 201)["report"]["records"])

    before = report()
    assert sorted(r["category"] for r in before) == ["ADMINISTRATIVE_PENALTY_SERIOUS", "SERIOUS_DISHONESTY_LIST"]
    assert all("dispute" not in r for r in before)

    on_penalty = _filed(person, serious)
    on_listing = _filed(person, listed)
    during = report()
    # The penalty is released marked; the listing carries joint punishment and is withheld until the decision.
    assert [(r["category"], r.get("dispute")) for r in during] == [
        ("ADMINISTRATIVE_PENALTY_SERIOUS", {"status": "under_review", "since": "2026-09-30"})]
    own = {r["id"]: r for r in _ok(person.client.get("/api/v1/me/report"))["records"]}
    assert own[serious]["objection"]["id"] == on_penalty["id"]
    assert own[serious]["objection"]["withheld_from_third_parties"] is False
    assert own[listed]["objection"]["withheld_from_third_parties"] is True
    assert own[listed]["visible_to_third_parties"] is False
    page = person.client.get("/me").get_data(as_text=True)
    assert page.count("已于 2026年9月30日 提出") == 2
    assert page.count("异议核实期间他人不可见") == 1  # the listing, withheld; the penalty is released marked

    at(clock, date(2026, 10, 9))
    for filed in (on_penalty, on_listing):
        _ok(_step(client, provider, filed["id"], "accept"))
        _ok(_step(client, provider, filed["id"], "decide", {"outcome": "upheld", "reason": "经核实, 记录无误"}))
    employer.token = auth.token(employer.client_id, employer.secret)
    consent_id = _grant(client, employer, person)
    after = report()
    assert sorted(r["category"] for r in after) == ["ADMINISTRATIVE_PENALTY_SERIOUS", "SERIOUS_DISHONESTY_LIST"]
    assert all("dispute" not in r for r in after)


def test_the_deadlines_table_is_published(client: FlaskClient) -> None:
    rules = _ok(client.get("/api/v1/objection-rules"))
    assert [(s["step"], s["working_days"]) for s in rules["steps"]] == [("accept", 2), ("decide", 10), ("correct", 5)]
    assert all(s["reason"] and s["confirmed"] is False for s in rules["steps"])
    assert "internal_notes" not in str(rules)
    assert {w["category"] for w in rules["withheld_while_disputed"]} == {
        "SERIOUS_DISHONESTY_LIST", "COURT_ENFORCEMENT_DEFAULT"}


def test_after_a_correction_only_the_corrected_record_is_released(
        client: FlaskClient, provider: Registered, person: Person, employer: Registered, clock: FrozenClock) -> None:
    at(clock, SUBMITTED_ON)
    body = penalty(person.citizen_id, date(2026, 6, 1), category="ADMINISTRATIVE_PENALTY_SERIOUS")
    serious = _record(client, provider, body)
    filed = _filed(person, serious)
    _ok(_step(client, provider, filed["id"], "accept"))
    fixed = dict(body["payload"], penalty_content="罚款人民币200元", fine_amount="200.00")
    decided = _ok(_step(client, provider, filed["id"], "decide", {
        "outcome": "corrected", "reason": "金额更正", "correction": fixed}))
    consent_id = _grant(client, employer, person)
    response = client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=employer.headers)
    [released] = _ok(response, 201)["report"]["records"]
    assert released["fields"]["penalty_content"] == "罚款人民币200元"
    assert "dispute" not in released
    assert decided["corrected_record_id"] != serious


def test_evidence_may_be_larger_than_other_bodies_up_to_its_limit(person: Person, record_id: str) -> None:
    scan = b"%PDF-1.7\n" + bytes(3 << 20)  # 3 MB: over the 1 MB body limit of every other endpoint
    filed = _filed(person, record_id, evidence=[evidence(scan)])
    mine = _ok(person.client.get(f"/api/v1/me/objections/{filed['id']}"))
    assert mine["evidence"][0]["size"] == len(scan)
    over = person.client.post("/api/v1/me/objections", data=b"x" * (15 << 20), content_type="application/json",
                              headers={"X-CSRF-Token": person.csrf})
    assert over.status_code == 413
