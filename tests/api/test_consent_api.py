"""Consent and the authorised query: the whole journey, every refusal, ceilings, deadlines and boundaries."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from jwcrypto import jwk, jws
from sqlalchemy import select

from audit.clock import FrozenClock
from audit.entries import AuditEntry
from consent.display import starts
from consent.durations import Duration
from consent.models import Report
from gateway.runtime import Runtime
from tests.conftest import NOW, Auth, People, Person, Registered, penalty


def _submit(client: FlaskClient, provider: Registered, body: dict[str, Any]) -> str:
    response = client.post("/api/v1/records", json=body, headers=provider.headers)
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def _serious(citizen_id: str, decided: date = date(2026, 6, 1)) -> dict[str, Any]:
    return penalty(citizen_id, decided, category="ADMINISTRATIVE_PENALTY_SERIOUS")


def _request(client: FlaskClient, institution: Registered, citizen_id: str, **extra: Any) -> Any:
    body = {"citizen_id": citizen_id, "purpose": "employment_screening", "reason": "applicant for accountant post",
            "valid_for": "P7D", **extra}
    return client.post("/api/v1/consent-requests", json=body, headers=institution.headers)


def _granted(client: FlaskClient, institution: Registered, person: Person, **extra: Any) -> str:
    created = _request(client, institution, person.citizen_id, **extra)
    assert created.status_code == 201, created.json
    return str(person.approve(created.json["id"])["id"])


def _query(client: FlaskClient, institution: Registered, consent_id: str) -> Any:
    return client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=institution.headers)


def _entries(rt: Runtime, action: str) -> list[AuditEntry]:
    with rt.sessions() as session, session.begin():
        return list(session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                    .order_by(AuditEntry.seq)).scalars())


def _verify(client: FlaskClient, token: str) -> dict[str, Any]:
    """Verify with jwcrypto (not the library that signed) against the published JWK Set."""
    keys = jwk.JWKSet.from_json(client.get("/.well-known/jwks.json").get_data(as_text=True))
    signed = jws.JWS()
    signed.deserialize(token)
    kid = signed.jose_header["kid"]
    signed.verify(keys.get_key(kid), alg="EdDSA")
    return dict(json.loads(signed.payload))


# --- the journey --------------------------------------------------------------------------------


def test_an_employer_sees_only_what_the_purpose_needs_after_the_person_approves(
    client: FlaskClient, auth: Auth, employer: Registered, person: Person
) -> None:
    provider = auth.provider()
    serious = _submit(client, provider, _serious(person.citizen_id))
    _submit(client, provider, penalty(person.citizen_id))  # general penalty: not needed for employment
    created = _request(client, employer, person.citizen_id)
    assert created.status_code == 201
    assert created.json == {"id": created.json["id"], "status": "pending"}
    listed = person.client.get("/api/v1/me/consent-requests").json
    assert [r["id"] for r in listed] == [created.json["id"]]
    assert listed[0]["institution"]["id"] == employer.client_id
    grant = person.approve(created.json["id"])
    status = client.get(f"/api/v1/consent-requests/{created.json['id']}", headers=employer.headers).json
    assert status["status"] == "approved"
    assert status["consent_id"] == grant["id"]

    response = _query(client, employer, grant["id"])
    assert response.status_code == 201, response.json
    report = response.json["report"]
    assert [r["category"] for r in report["records"]] == ["ADMINISTRATIVE_PENALTY_SERIOUS"]
    assert set(report["records"][0]["fields"]) <= {"violation", "provision_violated", "penalty_basis",
                                                   "penalty_type", "penalty_content", "sector", "subject_role"}
    assert "fine_amount" not in report["records"][0]["fields"]
    masked = report["subject"]["masked_citizen_id"]
    assert masked == person.citizen_id[:4] + "*" * 10 + person.citizen_id[-4:]
    assert person.citizen_id not in json.dumps(response.json)
    assert report["consent_id"] == grant["id"]
    assert {"report_id", "generated_at", "policy_version", "catalogue_version", "retrieval_deadline"} <= set(report)
    assert _verify(client, response.json["jws"]) == report
    released = _entries(rt_of(client), "consent:query:released")[-1]
    assert released.record_ids == [serious]
    assert released.detail["consent_receipt_sha256"]


def rt_of(client: FlaskClient) -> Runtime:
    app = client.application
    rt: Runtime = app.extensions["xinyong"]
    return rt


def test_the_consent_receipt_is_signed_and_both_sides_can_fetch_it(
    client: FlaskClient, employer: Registered, person: Person
) -> None:
    consent_id = _granted(client, employer, person)
    mine = person.client.get(f"/api/v1/me/consents/{consent_id}").json
    theirs = client.get(f"/api/v1/consents/{consent_id}/receipt", headers=employer.headers).json
    assert mine["receipt"] == theirs["receipt"]
    claims = _verify(client, theirs["receipt"])
    assert claims["consent_id"] == consent_id
    assert claims["purpose"] == "employment_screening"
    assert claims["institution"]["id"] == employer.client_id
    assert claims["max_uses"] == 1
    assert {"fields", "valid_from", "valid_until", "policy_version"} <= set(claims)


def test_the_person_can_narrow_categories_and_shorten_validity(
    client: FlaskClient, employer: Registered, person: Person
) -> None:
    created = _request(client, employer, person.citizen_id, valid_for="P10D")
    grant = person.approve(created.json["id"], categories=["SERIOUS_DISHONESTY_LIST"], valid_for="P2D")
    assert grant["categories"] == ["SERIOUS_DISHONESTY_LIST"]
    assert grant["valid_until"].startswith((NOW + timedelta(days=2)).date().isoformat())
    wider = _request(client, employer, person.citizen_id, categories=["SERIOUS_DISHONESTY_LIST"])
    refused = person.post(f"/api/v1/me/consent-requests/{wider.json['id']}/approve",
                          {"categories": ["OCCUPATIONAL_MISCONDUCT"]})
    assert refused.status_code == 422
    longer = person.post(f"/api/v1/me/consent-requests/{wider.json['id']}/approve", {"valid_for": "P30D"})
    assert longer.status_code == 422
    assert longer.json["field"] == "valid_for"


def test_approving_from_the_portal_session_needs_the_csrf_header(
    client: FlaskClient, employer: Registered, person: Person
) -> None:
    created = _request(client, employer, person.citizen_id)
    bare = person.client.post(f"/api/v1/me/consent-requests/{created.json['id']}/approve", json={})
    assert bare.status_code == 403
    assert bare.json["code"] == "csrf_failed"


def test_an_institution_cannot_approve_or_see_the_persons_requests(
    client: FlaskClient, employer: Registered, person: Person
) -> None:
    created = _request(client, employer, person.citizen_id)
    response = client.post(f"/api/v1/me/consent-requests/{created.json['id']}/approve", json={},
                           headers=employer.headers)
    assert response.status_code in (401, 403)
    assert client.get("/api/v1/me/consent-requests", headers=employer.headers).status_code in (401, 403)


# --- refusals -----------------------------------------------------------------------------------


def _refused(response: Any, code: str) -> None:
    assert response.status_code == 403, response.json
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == code


def test_every_refusal_has_its_code_and_is_audited(
    client: FlaskClient, auth: Auth, employer: Registered, person: Person, clock: FrozenClock
) -> None:
    rt = rt_of(client)
    _refused(_query(client, employer, "cn_nonexistent"), "consent_missing")
    pending = _request(client, employer, person.citizen_id).json["id"]
    _refused(_query(client, employer, pending), "consent_pending")
    denied = _request(client, employer, person.citizen_id).json["id"]
    assert person.post(f"/api/v1/me/consent-requests/{denied}/deny").status_code == 200
    _refused(_query(client, employer, denied), "consent_denied")
    revoked = _granted(client, employer, person)
    assert person.client.delete(f"/api/v1/me/consents/{revoked}",
                                headers={"X-CSRF-Token": person.csrf}).status_code == 200
    _refused(_query(client, employer, revoked), "consent_revoked")
    once = _granted(client, employer, person)
    assert _query(client, employer, once).status_code == 201
    _refused(_query(client, employer, once), "consent_exhausted")
    other = auth.register("institution", kind="employer")
    _refused(_query(client, other, _granted(client, employer, person)), "wrong_institution")
    reasons = [e.reason for e in _entries(rt, "consent:query:denied")]
    assert reasons == ["consent_missing", "consent_pending", "consent_denied", "consent_revoked",
                       "consent_exhausted", "wrong_institution"]
    assert all(e.outcome == "denied" for e in _entries(rt, "consent:query:denied"))


def _at(clock: FrozenClock, auth: Auth, when: Any, *institutions: Registered) -> None:
    """Move the clock; access tokens live an hour, so fetch fresh ones at the new time."""
    clock.set(when)
    for institution in institutions:
        institution.token = auth.token(institution.client_id, institution.secret)


def test_a_consent_works_one_second_before_expiry_and_not_one_second_after(
    client: FlaskClient, auth: Auth, employer: Registered, person: Person, clock: FrozenClock
) -> None:
    consent_id = _granted(client, employer, person, max_uses=2)
    _at(clock, auth, NOW + timedelta(days=7) - timedelta(seconds=1), employer)
    assert _query(client, employer, consent_id).status_code == 201
    _at(clock, auth, NOW + timedelta(days=7) + timedelta(seconds=1), employer)
    _refused(_query(client, employer, consent_id), "consent_expired")


def test_an_unanswered_request_lapses_after_seven_days(
    client: FlaskClient, auth: Auth, employer: Registered, person: Person, clock: FrozenClock
) -> None:
    request_id = _request(client, employer, person.citizen_id).json["id"]
    _at(clock, auth, NOW + timedelta(days=7, seconds=1), employer)
    _refused(_query(client, employer, request_id), "consent_expired")
    assert client.get(f"/api/v1/consent-requests/{request_id}", headers=employer.headers).json["status"] == "lapsed"
    late = person.post(f"/api/v1/me/consent-requests/{request_id}/approve")
    assert late.status_code == 409


# --- ceilings and the request's rules -----------------------------------------------------------


def test_categories_outside_the_purpose_are_named_in_a_422(
    client: FlaskClient, employer: Registered, people: People
) -> None:
    response = _request(client, employer, people.new(), categories=["CHARITABLE_DONATION", "SERIOUS_DISHONESTY_LIST"])
    assert response.status_code == 422
    assert response.json["field"] == "categories"
    assert response.json["categories"] == ["CHARITABLE_DONATION"]


@pytest.mark.parametrize(("extra", "field"), [({"valid_for": "P31D"}, "valid_for"), ({"max_uses": 3}, "max_uses"),
                                              ({"valid_for": "P1M"}, "valid_for"), ({"purpose": "gossip"}, "purpose"),
                                              ({"color": "red"}, "color")])
def test_a_request_over_the_ceilings_or_malformed_is_a_422(
    client: FlaskClient, employer: Registered, people: People, extra: dict[str, Any], field: str
) -> None:
    response = _request(client, employer, people.new(), **extra)
    assert response.status_code == 422, response.json
    assert response.json["field"] == field



def test_a_refused_request_is_audited_under_the_person_with_its_reason_and_nothing_else_is_kept(
    client: FlaskClient, rt: Runtime, employer: Registered, auth: Auth, person: Person
) -> None:
    over = _request(client, employer, person.citizen_id, valid_for="P31D")  # beyond the purpose's ceiling
    assert over.status_code == 422, over.json
    landlord = auth.register("institution", kind="landlord")
    wrong_kind = _request(client, landlord, person.citizen_id)
    assert wrong_kind.status_code == 403, wrong_kind.json
    bad_id = _request(client, employer, person.citizen_id[:-1] + ("0" if person.citizen_id[-1] != "0" else "1"))
    assert bad_id.status_code == 422, bad_id.json
    refused = _entries(rt, "consent:request:refused")
    ref = rt.vault.subject_ref(person.citizen_id)
    assert [(e.actor, e.subject_ref, e.outcome) for e in refused] == [
        (employer.client_id, ref, "denied"), (landlord.client_id, ref, "denied"), (employer.client_id, None, "denied")]
    assert refused[0].reason == "CeilingExceeded:valid_for"
    assert refused[1].reason == "KindNotAllowed"
    assert refused[2].reason.startswith("InvalidCitizenId")
    assert person.citizen_id not in json.dumps([(e.reason, e.detail) for e in refused])
    assert _entries(rt, "consent:request:created") == []  # nothing of the refused requests was kept
    assert person.client.get("/api/v1/me/consent-requests").json == []

def test_an_institution_kind_the_purpose_does_not_allow_is_a_403(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    landlord = auth.register("institution", kind="landlord")
    response = _request(client, landlord, people.new())
    assert response.status_code == 403
    assert response.json["code"] == "kind_not_allowed"


def test_the_answer_says_nothing_about_whether_the_person_is_known(
    client: FlaskClient, employer: Registered, person: Person, people: People
) -> None:
    known = _request(client, employer, person.citizen_id)
    unknown = _request(client, employer, people.new())
    assert known.status_code == unknown.status_code == 201
    assert set(known.json) == set(unknown.json) == {"id", "status"}
    assert known.json["status"] == unknown.json["status"] == "pending"


# --- what a report contains ---------------------------------------------------------------------


def test_revoked_and_out_of_period_records_are_left_out_without_a_trace(
    client: FlaskClient, auth: Auth, employer: Registered, person: Person
) -> None:
    provider = auth.provider()
    kept = _submit(client, provider, _serious(person.citizen_id))
    gone = _submit(client, provider, _serious(person.citizen_id, date(2026, 5, 1)))
    client.post(f"/api/v1/records/{gone}/revoke", json={"reason": "annulled"}, headers=provider.headers)
    _submit(client, provider, _serious(person.citizen_id, date(2022, 1, 1)))  # display ended 2025-01-01
    report = _query(client, employer, _granted(client, employer, person)).json["report"]
    assert len(report["records"]) == 1
    assert kept in _entries(rt_of(client), "consent:query:released")[-1].record_ids
    assert "revoked" not in json.dumps(report)


def test_a_record_is_released_until_the_first_second_of_its_display_until_day_in_china_time(
    client: FlaskClient, auth: Auth, employer: Registered, person: Person, clock: FrozenClock
) -> None:
    provider = auth.provider()
    decided = date(2023, 11, 25)  # serious penalty: P3Y, display_until 2026-11-25
    body = _serious(person.citizen_id, decided)
    assert client.post("/api/v1/records", json=body, headers=provider.headers).json["display_until"] == "2026-11-25"
    consent_id = _granted(client, employer, person, max_uses=2)
    edge = starts(date(2026, 11, 25))
    _at(clock, auth, edge - timedelta(seconds=1), employer)
    assert len(_query(client, employer, consent_id).json["report"]["records"]) == 1
    _at(clock, auth, edge, employer)
    assert _query(client, employer, consent_id).json["report"]["records"] == []


def test_the_person_sees_who_looked_including_refusals(
    client: FlaskClient, auth: Auth, employer: Registered, person: Person
) -> None:
    _submit(client, auth.provider(), _serious(person.citizen_id))
    consent_id = _granted(client, employer, person)
    assert _query(client, employer, consent_id).status_code == 201
    _refused(_query(client, employer, consent_id), "consent_exhausted")
    queries = person.client.get("/api/v1/me/report").json["queries"]
    assert [q["outcome"] for q in queries] == ["denied: consent_exhausted", "allowed"]
    allowed = queries[1]
    assert allowed["institution_id"] == employer.client_id
    assert allowed["purpose"] == "employment_screening"
    assert allowed["consent_id"] == consent_id
    assert "ADMINISTRATIVE_PENALTY_SERIOUS" in allowed["categories"]
    page = person.client.get("/me/access").get_data(as_text=True)
    assert "employment_screening" not in page  # words, not codes
    assert "入职信用核查" in page
    assert "授权次数已用完" in page
    assert "被拒绝：授权次数已用完" in page  # a sentence in Chinese, with its full-width colon


# --- retrieval window ---------------------------------------------------------------------------


def test_a_report_can_be_retrieved_until_its_deadline_then_is_gone_and_purged(
    client: FlaskClient, auth: Auth, employer: Registered, person: Person, clock: FrozenClock
) -> None:
    signed = _query(client, employer, _granted(client, employer, person)).json
    report_id = signed["report"]["report_id"]
    deadline = signed["report"]["retrieval_deadline"]
    again = client.get(f"/api/v1/reports/{report_id}", headers=employer.headers)
    assert again.status_code == 200
    assert again.json["jws"] == signed["jws"]
    other = auth.register("institution", kind="employer")
    assert client.get(f"/api/v1/reports/{report_id}", headers=other.headers).status_code == 404
    # employment: data life 7 days, consent 7 days -> the deadline is 7 days after the query
    assert deadline.startswith((NOW + timedelta(days=7)).date().isoformat())
    _at(clock, auth, NOW + timedelta(days=7) - timedelta(seconds=1), employer)
    assert client.get(f"/api/v1/reports/{report_id}", headers=employer.headers).status_code == 200
    _at(clock, auth, NOW + timedelta(days=7) + timedelta(seconds=1), employer)
    gone = client.get(f"/api/v1/reports/{report_id}", headers=employer.headers)
    assert gone.status_code == 410
    rt = rt_of(client)
    with rt.sessions() as session, session.begin():
        assert session.get(Report, report_id).sealed is None  # type: ignore[union-attr]


def test_a_person_can_download_their_own_report_signed(client: FlaskClient, person: Person) -> None:
    signed = person.client.get("/api/v1/me/report/signed").json
    assert _verify(client, signed["jws"]) == signed["report"]


def test_signatures_stay_verifiable_after_the_signing_key_rotates(
    client: FlaskClient, employer: Registered, person: Person
) -> None:
    first = _query(client, employer, _granted(client, employer, person)).json
    rt = rt_of(client)
    rt.vault.add_signing_key()
    second = _query(client, employer, _granted(client, employer, person)).json
    assert _verify(client, first["jws"]) == first["report"]
    assert _verify(client, second["jws"]) == second["report"]
    kids = {k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]}
    assert len(kids) >= 2


def test_the_person_can_approve_and_revoke_from_the_portal_page(
    client: FlaskClient, employer: Registered, person: Person
) -> None:
    request_id = _request(client, employer, person.citizen_id).json["id"]
    page = person.client.get("/me/consents").get_data(as_text=True)
    assert f"/me/consent-requests/{request_id}" in page
    assert person.client.post(f"/me/consent-requests/{request_id}/approve").status_code == 400  # no CSRF token
    done = person.client.post(f"/me/consent-requests/{request_id}/approve", data={"csrf_token": person.csrf})
    assert done.status_code == 302
    consent_id = client.get(f"/api/v1/consent-requests/{request_id}", headers=employer.headers).json["consent_id"]
    assert consent_id
    person.client.post(f"/me/consents/{consent_id}/revoke", data={"csrf_token": person.csrf})
    _refused(_query(client, employer, consent_id), "consent_revoked")


def test_when_the_audit_append_fails_no_report_is_released_and_nothing_is_committed(
    client: FlaskClient, auth: Auth, employer: Registered, person: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audit import entries
    from audit.errors import AuditAppendFailed
    from consent.models import Grant

    _submit(client, auth.provider(), _serious(person.citizen_id))
    consent_id = _granted(client, employer, person)
    real = entries.append_many

    def failing(session: Any, clock: Any, drafts: Any) -> list[int]:
        if any(d.action == "consent:query:released" for d in drafts):
            raise AuditAppendFailed("disk full")
        return real(session, clock, drafts)

    monkeypatch.setattr(entries, "append_many", failing)
    response = _query(client, employer, consent_id)
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "report" not in response.json
    rt = rt_of(client)
    with rt.sessions() as session, session.begin():
        grant = session.get(Grant, consent_id)
        assert grant is not None
        assert grant.uses == 0
        assert session.execute(select(Report).where(Report.grant_id == consent_id)).first() is None
    monkeypatch.setattr(entries, "append_many", real)
    assert _query(client, employer, consent_id).status_code == 201


def test_control_characters_are_a_clear_error_on_every_backend(
    client: FlaskClient, employer: Registered, people: People
) -> None:
    reason = _request(client, employer, people.new(), reason="hiring\x00")
    assert reason.status_code == 422
    assert reason.json["field"] == "reason"
    assert _request(client, employer, people.new(), reason="line one\nline two").status_code == 201
    query = client.post("/api/v1/queries", json={"consent_id": "cn_\x00"}, headers=employer.headers)
    assert query.status_code == 422
    assert query.json["field"] == "consent_id"
    for path in ("/api/v1/reports/rp_%00x", "/api/v1/consent-requests/cr_%01", "/api/v1/consents/cn_%00/receipt"):
        response = client.get(path, headers=employer.headers)
        assert response.status_code == 404, path
        assert response.mimetype == "application/problem+json"


def test_expired_reports_are_purged_even_if_nobody_asks_again(
    client: FlaskClient, employer: Registered, person: Person, clock: FrozenClock
) -> None:
    from gateway.usecases.consents import purge_expired_reports

    rt = rt_of(client)
    report_id = _query(client, employer, _granted(client, employer, person)).json["report"]["report_id"]
    clock.set(NOW + timedelta(days=7) - timedelta(seconds=1))
    assert purge_expired_reports(rt.uow) == 0
    clock.set(NOW + timedelta(days=7) + timedelta(seconds=1))
    assert purge_expired_reports(rt.uow) == 1
    with rt.sessions() as session, session.begin():
        row = session.get(Report, report_id)
        assert row is not None
        assert row.sealed is None
        assert row.purged_at is not None


def test_records_decided_before_the_purposes_data_range_are_left_out(
    client: FlaskClient, auth: Auth, employer: Registered, person: Person
) -> None:
    rt = rt_of(client)
    provider = auth.provider()
    recent = _submit(client, provider, _serious(person.citizen_id, date(2026, 9, 1)))
    _submit(client, provider, _serious(person.citizen_id, date(2026, 1, 2)))  # still displayed (P3Y)
    purpose = rt.purposes.purpose("employment_screening")
    assert len(_query(client, employer, _granted(client, employer, person)).json["report"]["records"]) == 2
    narrow = replace(purpose, data_range=Duration(months=6))  # 2026-05-22 and later, on 2026-11-22
    purposes = replace(rt.purposes, purposes={**rt.purposes.purposes, purpose.code: narrow})
    rt.policy = replace(rt.policy, purposes=purposes)
    report = _query(client, employer, _granted(client, employer, person)).json["report"]
    assert [r["decided_at"] for r in report["records"]] == ["2026-09-01"]
    assert _entries(rt, "consent:query:released")[-1].record_ids == [recent]


def test_a_portal_form_that_cannot_be_done_returns_to_the_page_with_a_notice(
    client: FlaskClient, employer: Registered, person: Person
) -> None:
    request_id = _request(client, employer, person.citizen_id).json["id"]
    assert person.post(f"/api/v1/me/consent-requests/{request_id}/deny").status_code == 200
    again = person.client.post(f"/me/consent-requests/{request_id}/approve", data={"csrf_token": person.csrf})
    assert again.status_code == 302
    assert again.headers["Location"] == "/me/consents"
    page = person.client.get(again.headers["Location"]).get_data(as_text=True)
    assert "这个请求已经处理或已过期" in page
    missing = person.client.post("/me/consents/cn_nothing/revoke", data={"csrf_token": person.csrf})
    assert missing.headers["Location"] == "/me/consents"
    assert "找不到这个请求或授权" in person.client.get("/me/consents").get_data(as_text=True)


@pytest.mark.parametrize("uses", [1.5, "2", True])
def test_max_uses_must_be_a_whole_number_not_a_string_or_a_fraction(
        client: FlaskClient, employer: Registered, people: People, uses: Any) -> None:
    response = _request(client, employer, people.new(), max_uses=uses)
    assert response.status_code == 422, response.json
    assert response.json["field"] == "max_uses"


def test_a_lone_surrogate_in_free_text_is_a_4xx_not_a_500(client: FlaskClient, employer: Registered,
                                                         people: People) -> None:
    body = json.dumps({"citizen_id": people.new(), "purpose": "employment_screening", "reason": "应聘\ud800",
                       "valid_for": "P7D"})  # ASCII JSON with the escape \ud800
    response = client.post("/api/v1/consent-requests", data=body,
                           headers={**employer.headers, "Content-Type": "application/json"})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"


def test_a_well_formed_query_skips_the_schema_and_any_other_body_gets_the_schemas_answer(
    client: FlaskClient, employer: Registered, person: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gateway.web.api.base import XinyongBlueprint

    consent_id = _granted(client, employer, person, max_uses=2)
    parser = XinyongBlueprint.ARGUMENTS_PARSER
    parsed: list[str] = []
    real = parser.parse

    def counting(*args: Any, **kwargs: Any) -> Any:
        parsed.append("schema")
        return real(*args, **kwargs)

    monkeypatch.setattr(parser, "parse", counting)
    assert _query(client, employer, consent_id).status_code == 201
    assert parsed == [], "the hot path answers a plain body without webargs and marshmallow"
    # The same query in another charset spelling goes through the schema, with the same answer.
    raw = json.dumps({"consent_id": consent_id})
    headers = {**employer.headers, "Content-Type": "application/json; charset=utf-8"}
    assert client.post("/api/v1/queries", data=raw, headers=headers).status_code == 201
    assert parsed == ["schema"]
    # Bodies the schema refuses keep its answers: the field and the reason, or a 400 for unreadable JSON.
    for body, status, field in (
        ({"consent_id": consent_id, "extra": 1}, 422, "extra"),
        ({"consent_id": consent_id + "\n"}, 403, None),  # QueryIn's pattern lets a final newline by: no such consent
        ({"consent_id": 7}, 422, "consent_id"),
        ({}, 422, "consent_id"),
        ([consent_id], 422, None),
    ):
        answer = client.post("/api/v1/queries", json=body, headers=employer.headers)
        assert answer.status_code == status, (body, answer.json)
        assert answer.mimetype == "application/problem+json"
        if field is not None:
            assert answer.json["field"] == field, (body, answer.json)
    broken = client.post("/api/v1/queries", data=b'{"consent_id": ', headers={
        **employer.headers, "Content-Type": "application/json"})
    assert broken.status_code == 400
    assert broken.mimetype == "application/problem+json"
    # Without a token the answer is the 401 it always was, before the body is looked at.
    assert client.post("/api/v1/queries", json={"consent_id": consent_id}).status_code == 401


# --- the public purposes' text (as for the catalogue, issue 9 item 10) -----------------------------

# What only the maintainers read: seed line references ("seeds 002:36", "001:194"), policy item ids
# ("AUTH-1", "RPT-3"), pointers into POLICY.md, and notes of what is still to check.
_INTERNAL = re.compile(r"\bseeds?\b|\b\d{3}:\d+|\b[A-Z]{2,6}-[0-9]+\b|POLICY\.md|outside-the-seeds|\bverify\b"
                       r"|internal_notes", re.IGNORECASE)


def test_the_public_purposes_show_no_internal_references_and_the_data_keeps_them(
    client: FlaskClient, rt: Runtime
) -> None:
    served = client.get("/api/v1/purposes").json
    assert served["version"] == rt.purposes.version
    assert _INTERNAL.findall(json.dumps(served, ensure_ascii=False)) == []
    assert "国办发〔2020〕49号" in served["basis"]
    raw = rt.purposes.raw
    assert "AUTH-1" in str(raw["internal_notes"])
    notes = {str(p["code"]): str(p["internal_notes"]) for p in raw["purposes"]}  # type: ignore[attr-defined]
    assert set(notes) == {p["code"] for p in served["purposes"]}
    assert "LIST-14" in notes["lending"]
    assert "001:194" in notes["employment_screening"]
