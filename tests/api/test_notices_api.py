"""Notices to past recipients (OBJ-5) through the API: a record an institution received changes.

Triggers: an objection decided corrected or revoked, a revocation by the producing agency, an early end of
display. Each institution that received the record in a report within the look-back of the report's purpose
(consent/data/notices.json: two years for employment screening, six months otherwise) gets exactly one
signed notice, sees only its own, and the person sees who was told.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from audit import verify
from audit.clock import FrozenClock
from audit.entries import AuditEntry
from consent.durations import parse_duration
from consent.models import Report
from consent.notices import NoticesInvalid, parse_rules
from gateway.runtime import Runtime
from gateway.usecases import ledger
from tests.api.test_entry_rules_api import listing
from tests.api.test_objections_api import _filed, _ok, _record, _step, at
from tests.api.test_periods_api import REFUSES, _court_default, _decision, _released
from tests.conftest import Auth, Person, Registered, penalty

DAY0 = date(2026, 9, 30)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verified(client: FlaskClient, jws: str) -> dict[str, Any]:
    """Verify a compact JWS with the service's published JWKS (as an institution would) and return its claims."""
    keys = {k["kid"]: k for k in client.get("/.well-known/jwks.json").json["keys"]}
    header_b64, claims_b64, signature_b64 = jws.split(".")
    header = json.loads(_unb64(header_b64))
    assert (header["alg"], header["typ"]) == ("EdDSA", "xinyong-notice+jws")
    key = Ed25519PublicKey.from_public_bytes(_unb64(keys[header["kid"]]["x"]))
    key.verify(_unb64(signature_b64), f"{header_b64}.{claims_b64}".encode())  # raises if forged
    claims: dict[str, Any] = json.loads(_unb64(claims_b64))
    return claims


def _notices(client: FlaskClient, institution: Registered, **query: Any) -> dict[str, Any]:
    return _ok(client.get("/api/v1/notices", query_string=query, headers=institution.headers))


def _report(client: FlaskClient, institution: Registered, person: Person, purpose: str) -> str:
    created = client.post("/api/v1/consent-requests", headers=institution.headers, json={
        "citizen_id": person.citizen_id, "purpose": purpose, "reason": "check", "valid_for": "P7D", "max_uses": 1})
    assert created.status_code == 201, created.json
    consent_id = person.approve(created.json["id"])["id"]
    response = client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=institution.headers)
    return str(_ok(response, 201)["report"]["report_id"])


def _sent(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(AuditEntry)
                                  .where(AuditEntry.action == "consent:notice:sent")).scalar_one())


def test_recipients_of_a_record_corrected_on_objection_are_told_once_each(
        client: FlaskClient, auth: Auth, person: Person, employer: Registered, clock: FrozenClock,
        rt: Runtime, connection: Connection) -> None:
    provider = auth.provider()
    other = auth.register("institution", kind="employer")
    bystander = auth.register("institution", kind="employer")
    at(clock, DAY0)
    body = penalty(person.citizen_id, date(2026, 6, 1), category="ADMINISTRATIVE_PENALTY_SERIOUS")
    record_id = _record(client, provider, body)
    mine = _report(client, employer, person, "employment_screening")
    theirs = _report(client, other, person, "employment_screening")
    assert _notices(client, employer) == {"notices": [], "next_before": None}

    filed = _filed(person, record_id)
    at(clock, date(2026, 10, 9))
    _ok(_step(client, provider, filed["id"], "accept"))
    fixed = dict(body["payload"], penalty_content="罚款人民币200元", fine_amount="200.00")
    _ok(_step(client, provider, filed["id"], "decide",
              {"outcome": "corrected", "reason": "金额更正", "correction": fixed}))

    [notice] = _notices(client, employer)["notices"]
    assert (notice["report_id"], notice["status"]) == (mine, "corrected")
    claims = verified(client, notice["jws"])
    assert claims == notice["notice"]
    assert claims["report_id"] == mine
    assert claims["status"] == "corrected"
    assert claims["record"] == {"position": 1, "category": "ADMINISTRATIVE_PENALTY_SERIOUS",
                                "decided_at": "2026-06-01"}
    assert "200" not in notice["jws"] + json.dumps(claims)  # never the corrected content
    assert person.citizen_id not in json.dumps(claims)
    [their] = _notices(client, other)["notices"]
    assert their["report_id"] == theirs  # each institution sees only its own notice
    assert their["id"] != notice["id"]
    assert _notices(client, bystander)["notices"] == []  # never received it, never told

    told = _ok(person.client.get(f"/api/v1/me/objections/{filed['id']}"))["institutions_told"]
    assert sorted((t["institution"]["id"], t["report_id"], t["status"]) for t in told) == sorted(
        [(employer.client_id, mine, "corrected"), (other.client_id, theirs, "corrected")])
    assert _sent(connection) == 2
    report = verify.verify_log(connection, ledger.head_verifier(rt))
    assert report.ok, report.differences


def test_a_revocation_tells_recipients_within_their_purposes_look_back_only(
        client: FlaskClient, auth: Auth, person: Person, employer: Registered, clock: FrozenClock,
        connection: Connection) -> None:
    provider = auth.provider()
    lender = auth.register("institution", kind="lender")
    at(clock, DAY0)
    record_id = _record(client, provider, listing(person.citizen_id, date(2026, 6, 1), date(2026, 5, 4)))
    hired = _report(client, employer, person, "employment_screening")
    lent = _report(client, lender, person, "lending")
    at(clock, date(2027, 5, 1))  # seven months on: past lending's six months, within employment's two years
    for registered in (provider, employer, lender):
        registered.token = auth.token(registered.client_id, registered.secret)
    revoked = client.post(f"/api/v1/records/{record_id}/revoke", json={"reason": "wrong person"},
                          headers=provider.headers)
    assert revoked.status_code == 200, revoked.json
    [notice] = _notices(client, employer)["notices"]
    assert (notice["report_id"], notice["status"]) == (hired, "revoked")
    assert verified(client, notice["jws"])["record"]["category"] == "SERIOUS_DISHONESTY_LIST"
    assert _notices(client, lender)["notices"] == []
    own = {r["id"]: r for r in _ok(person.client.get("/api/v1/me/report"))["records"]}
    assert [(t["institution"]["id"], t["report_id"], t["status"]) for t in own[record_id]["institutions_told"]] == [
        (employer.client_id, hired, "revoked")]
    # The lender did receive it: it is past the look-back of lending, not a stranger to the record.
    assert record_id in connection.execute(select(Report.record_ids).where(Report.id == lent)).scalar_one()
    assert _sent(connection) == 1


def test_an_early_end_tells_the_recipient_withdrawn_from_display(
        client: FlaskClient, auth: Auth, person: Person, connection: Connection, rt: Runtime) -> None:
    court = auth.provider()
    landlord = auth.register("institution", kind="landlord")
    listed = _ok(client.post("/api/v1/records", json=_court_default(person.citizen_id, date(2024, 3, 1), REFUSES),
                             headers=court.headers), 201)
    [shown] = _released(client, landlord, person, "tenancy")
    assert shown["category"] == "COURT_ENFORCEMENT_DEFAULT"
    _ok(client.post(f"/api/v1/records/{listed['id']}/end", json={"document": _decision()}, headers=court.headers))
    [notice] = _notices(client, landlord)["notices"]
    assert notice["status"] == "withdrawn from display"
    assert verified(client, notice["jws"])["record"]["decided_at"] == "2024-03-01"
    own = {r["id"]: r for r in _ok(person.client.get("/api/v1/me/report"))["records"]}
    assert [t["status"] for t in own[listed["id"]]["institutions_told"]] == ["withdrawn from display"]
    report = verify.verify_log(connection, ledger.head_verifier(rt))
    assert report.ok, report.differences


def test_notices_come_a_page_at_a_time_and_need_an_institution_token(
        client: FlaskClient, auth: Auth, person: Person, employer: Registered, clock: FrozenClock) -> None:
    provider = auth.provider()
    at(clock, DAY0)
    ids = [_record(client, provider, listing(person.citizen_id, date(2026, 6, d), date(2026, 5, 4)))
           for d in (1, 2, 3)]
    _report(client, employer, person, "employment_screening")
    for record_id in ids:
        _ok(client.post(f"/api/v1/records/{record_id}/revoke", json={"reason": "wrong person"},
                        headers=provider.headers))
    first = _notices(client, employer, limit=2)
    assert len(first["notices"]) == 2
    rest = _notices(client, employer, limit=2, before=first["next_before"])
    assert rest["next_before"] is None
    seen = [n["id"] for n in first["notices"] + rest["notices"]]
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == 3
    assert client.get("/api/v1/notices", headers=provider.headers).status_code == 403
    assert client.get("/api/v1/notices").status_code == 401
    bad = client.get("/api/v1/notices", query_string={"limit": 0}, headers=employer.headers)
    assert bad.status_code == 422
    assert "limit" in json.dumps(bad.json)


def test_the_look_back_is_data_with_its_reasons(rt: Runtime) -> None:
    rules = rt.policy.notices
    assert rules.period("employment_screening") == parse_duration("P2Y")
    assert rules.period("tenancy") == parse_duration("P6M")
    assert all(r for _, r in rules.look_back.values())
    raw = {"version": "x", "default_look_back": "P6M", "default_reason": "r", "confirmed": False,
           "look_back": [{"purpose": "astrology", "period": "P1Y", "reason": "r"}]}
    with pytest.raises(NoticesInvalid, match="astrology"):
        parse_rules(raw, rt.policy.purposes)


def test_an_agencys_own_correction_supersedes_the_record_and_tells_its_recipients(
        client: FlaskClient, auth: Auth, person: Person, employer: Registered, clock: FrozenClock,
        rt: Runtime, connection: Connection) -> None:
    provider = auth.provider()
    stranger = auth.provider()
    at(clock, DAY0)
    body = penalty(person.citizen_id, date(2026, 6, 1), category="ADMINISTRATIVE_PENALTY_SERIOUS")
    record_id = _record(client, provider, body)
    received = _report(client, employer, person, "employment_screening")
    fixed = dict(body["payload"], penalty_content="罚款人民币200元")
    path = f"/api/v1/records/{record_id}/corrections"
    request = {"payload": fixed, "decided_at": "2026-06-02", "reason": "决定书日期与金额录入有误",
               "document": dict(body["document"], effective_at="2026-06-02")}
    assert client.post(path, json=request, headers=stranger.headers).status_code == 404  # not its record
    assert client.post("/api/v1/records/nope/corrections", json=request, headers=provider.headers).status_code == 404
    missing = client.post(path, json={"payload": fixed}, headers=provider.headers)
    assert missing.status_code == 422
    assert "reason" in json.dumps(missing.json)

    corrected = _ok(client.post(path, json=request, headers=provider.headers), 201)
    assert corrected["supersedes"] == record_id
    new_id = corrected["id"]
    assert (corrected["status"], new_id != record_id) == ("active", True)
    again = client.post(path, json=request, headers=provider.headers)
    assert again.status_code == 409  # the superseded version cannot be corrected twice

    [notice] = _notices(client, employer)["notices"]
    assert (notice["report_id"], notice["status"]) == (received, "corrected")
    assert verified(client, notice["jws"])["record"]["decided_at"] == "2026-06-01"  # as the institution saw it

    own = {r["id"]: r for r in _ok(person.client.get("/api/v1/me/report"))["records"]}
    assert own[record_id]["status"] == "revoked"
    assert own[record_id]["superseded_by"] == new_id
    assert [t["status"] for t in own[record_id]["institutions_told"]] == ["corrected"]
    assert (own[new_id]["decided_at"], own[new_id]["payload"]["penalty_content"]) == ("2026-06-02", "罚款人民币200元")
    assert "已由更正后的记录取代" in person.client.get("/me").get_data(as_text=True)

    # Released again: only the corrected version, never the superseded one.
    employer.token = auth.token(employer.client_id, employer.secret)
    created = client.post("/api/v1/consent-requests", headers=employer.headers, json={
        "citizen_id": person.citizen_id, "purpose": "employment_screening", "reason": "check", "valid_for": "P7D",
        "max_uses": 1})
    consent_id = person.approve(created.json["id"])["id"]
    response = client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=employer.headers)
    [released] = _ok(response, 201)["report"]["records"]
    assert (released["decided_at"], released["fields"]["penalty_content"]) == ("2026-06-02", "罚款人民币200元")
    assert connection.execute(select(Report.record_ids).where(
        Report.id == _ok(response, 201)["report"]["report_id"])).scalar_one() == [new_id]
    report = verify.verify_log(connection, ledger.head_verifier(rt))
    assert report.ok, report.differences


def test_the_look_back_ends_on_its_last_day_in_china_time(
        client: FlaskClient, auth: Auth, person: Person, clock: FrozenClock) -> None:
    # Lending looks back six months: a report of 2026-09-30 is within it on 2027-03-30, not on 2027-04-01.
    provider = auth.provider()
    lender = auth.register("institution", kind="lender")
    at(clock, DAY0)
    first = _record(client, provider, listing(person.citizen_id, date(2026, 6, 1), date(2026, 5, 4)))
    second = _record(client, provider, listing(person.citizen_id, date(2026, 6, 2), date(2026, 5, 4)))
    lent = _report(client, lender, person, "lending")

    def revoke(record_id: str) -> None:
        for registered in (provider, lender):
            registered.token = auth.token(registered.client_id, registered.secret)
        revoked = client.post(f"/api/v1/records/{record_id}/revoke", json={"reason": "wrong person"},
                              headers=provider.headers)
        assert revoked.status_code == 200, revoked.json

    at(clock, date(2027, 3, 30), hour=23)
    revoke(first)
    assert [n["report_id"] for n in _notices(client, lender)["notices"]] == [lent]
    clock.set(datetime(2027, 3, 31, 17, 0, tzinfo=UTC))  # 01:00 on 1 April in China, still 31 March in UTC
    revoke(second)
    assert len(_notices(client, lender)["notices"]) == 1
