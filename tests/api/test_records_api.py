"""Records API: submission, idempotency, revocation and every refusal."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from audit.entries import AuditEntry
from gateway.runtime import Runtime
from tests.conftest import Auth, People, penalty


def _entries(rt: Runtime) -> list[AuditEntry]:
    with rt.sessions() as session, session.begin():
        return list(session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())


def test_provider_submits_a_record_and_gets_its_display_period(client: FlaskClient, auth: Auth, people: People) -> None:
    provider = auth.provider()
    response = client.post("/api/v1/records", json=penalty(people.new()), headers=provider.headers)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "active"
    assert body["display_from"] == "2026-10-01"
    assert body["display_until"] == "2027-10-01"
    assert set(body) == {"id", "status", "display_from", "display_until", "version", "filed_late"}


def test_ingestion_is_audited_with_the_blind_index_not_the_id(
    client: FlaskClient, auth: Auth, people: People, rt: Runtime
) -> None:
    provider = auth.provider()
    citizen_id = people.new()
    record_id = client.post("/api/v1/records", json=penalty(citizen_id), headers=provider.headers).json["id"]
    entry = [e for e in _entries(rt) if e.action == "vault:record:ingested"][-1]
    assert entry.record_ids == [record_id]
    assert entry.actor == provider.client_id
    assert entry.subject_ref is not None
    assert citizen_id not in entry.subject_ref
    assert len(entry.subject_ref) == 64


def test_a_bad_citizen_id_is_a_422_naming_the_field_and_the_check(client: FlaskClient, auth: Auth) -> None:
    provider = auth.provider()
    response = client.post("/api/v1/records", json=penalty("110105194912310021"), headers=provider.headers)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["field"] == "citizen_id"
    assert response.json["check"] == "checksum"


def test_a_negative_record_without_its_document_is_refused(client: FlaskClient, auth: Auth, people: People) -> None:
    provider = auth.provider()
    body = penalty(people.new())
    del body["document"]
    response = client.post("/api/v1/records", json=body, headers=provider.headers)
    assert response.status_code == 422
    assert response.json["field"] == "document"


def test_an_unknown_payload_field_is_refused(client: FlaskClient, auth: Auth, people: People) -> None:
    provider = auth.provider()
    body = penalty(people.new())
    body["payload"]["hobby"] = "chess"
    response = client.post("/api/v1/records", json=body, headers=provider.headers)
    assert response.status_code == 422
    assert response.json["field"] == "payload.hobby"


def test_an_unknown_body_field_is_refused(client: FlaskClient, auth: Auth, people: People) -> None:
    provider = auth.provider()
    response = client.post("/api/v1/records", json={**penalty(people.new()), "extra": 1}, headers=provider.headers)
    assert response.status_code == 422
    assert response.json["field"] == "extra"


def test_a_category_outside_the_catalogue_is_refused(client: FlaskClient, auth: Auth, people: People) -> None:
    provider = auth.provider()
    response = client.post("/api/v1/records", json=penalty(people.new(), category="GOSSIP"), headers=provider.headers)
    assert response.status_code == 422
    assert response.json["field"] == "category"


def test_a_provider_may_submit_only_its_registered_categories(
    client: FlaskClient, auth: Auth, people: People, rt: Runtime
) -> None:
    provider = auth.provider("TAX_ARREARS")
    response = client.post("/api/v1/records", json=penalty(people.new()), headers=provider.headers)
    assert response.status_code == 403
    assert response.json["code"] == "category_not_allowed"
    denied = _entries(rt)[-1]
    assert denied.outcome == "denied"
    assert denied.action == "vault:record:ingest-denied"


def test_an_idempotency_key_makes_a_retry_return_the_first_record(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    provider = auth.provider()
    body = penalty(people.new())
    headers = {**provider.headers, "Idempotency-Key": "k-1"}
    first = client.post("/api/v1/records", json=body, headers=headers)
    again = client.post("/api/v1/records", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json["id"] == again.json["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = client.post("/api/v1/records", json={**body, "decided_at": "2026-09-01"}, headers=headers)
    assert other.status_code == 409


def test_an_expired_record_is_stored(client: FlaskClient, auth: Auth, people: People) -> None:
    provider = auth.provider()
    response = client.post("/api/v1/records", json=penalty(people.new(), decided=date(2020, 1, 1)),
                           headers=provider.headers)
    assert response.status_code == 201
    assert response.json["display_until"] == "2021-01-01"


def test_only_the_producing_provider_can_revoke(client: FlaskClient, auth: Auth, people: People) -> None:
    owner, other = auth.provider(), auth.provider()
    record_id = client.post("/api/v1/records", json=penalty(people.new()), headers=owner.headers).json["id"]
    assert client.post(f"/api/v1/records/{record_id}/revoke", json={"reason": "wrong person"},
                       headers=other.headers).status_code == 404
    revoked = client.post(f"/api/v1/records/{record_id}/revoke", json={"reason": "wrong person"},
                          headers=owner.headers)
    assert revoked.status_code == 200
    assert revoked.json["status"] == "revoked"
    assert client.post(f"/api/v1/records/{record_id}/revoke", json={"reason": "again"},
                       headers=owner.headers).status_code == 409


def test_records_need_a_provider_token(client: FlaskClient, auth: Auth, people: People) -> None:
    assert client.post("/api/v1/records", json=penalty(people.new())).status_code == 401
    bad = client.post("/api/v1/records", json=penalty(people.new()), headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"].startswith("Bearer")
    institution = auth.register("institution", kind="employer")
    forbidden = client.post("/api/v1/records", json=penalty(people.new()), headers=institution.headers)
    assert forbidden.status_code == 403


@pytest.mark.parametrize(("change", "field"), [
    ({"name": "张\u202e三"}, "name"),
    ({"name": "张\x00三"}, "name"),
    ({"document": {"type": "administrative_penalty_decision", "number": "常市监罚\u2066〔2026〕12号",
                   "authority": "常州市市场监督管理局", "effective_at": "2026-10-01"}}, "document.number"),
    ({"payload_violation": "未按规定\x00明码标价"}, "payload.violation"),
    ({"payload_violation": "未按规定\u202e明码标价"}, "payload.violation"),
])
def test_hidden_characters_in_names_documents_and_payloads_are_refused_naming_the_field(
        client: FlaskClient, auth: Auth, people: People, change: dict[str, Any], field: str) -> None:
    provider = auth.provider()
    body = penalty(people.new())
    if "payload_violation" in change:
        body["payload"]["violation"] = change["payload_violation"]
    else:
        body.update(change)
    response = client.post("/api/v1/records", json=body, headers=provider.headers)
    assert response.status_code == 422, response.json
    assert response.json["field"] == field


def test_a_lone_surrogate_in_a_payload_is_a_4xx_not_a_500(client: FlaskClient, auth: Auth, people: People) -> None:
    import json

    provider = auth.provider()
    record = penalty(people.new())
    record["payload"]["violation"] = "未按规定\ud800明码标价"
    body = json.dumps(record)  # ASCII JSON with the escape \ud800, as an attacker sends it
    assert "\\ud800" in body
    response = client.post("/api/v1/records", data=body, headers={**provider.headers,
                                                                   "Content-Type": "application/json"})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"


def test_a_decision_of_today_in_china_is_accepted_at_half_past_midnight_cst(
        client: FlaskClient, auth: Auth, people: People, clock: Any) -> None:
    from datetime import UTC, datetime

    clock.set(datetime(2026, 11, 22, 16, 30, tzinfo=UTC))  # 2026-11-23 00:30 in Beijing, still the 22nd in UTC
    provider = auth.provider()
    today = client.post("/api/v1/records", json=penalty(people.new(), date(2026, 11, 23)), headers=provider.headers)
    assert today.status_code == 201, today.json
    tomorrow = client.post("/api/v1/records", json=penalty(people.new(), date(2026, 11, 24)), headers=provider.headers)
    assert tomorrow.status_code == 422
    assert tomorrow.json["field"] == "decided_at"
