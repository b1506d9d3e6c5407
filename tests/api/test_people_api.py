"""People API: activation with the counter's one-time code, its rate limits, and the person's own report."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from audit.clock import FrozenClock
from audit.entries import AuditEntry
from audit.tx import AccessContext, Tx
from consent.catalogue import ShareScope
from consent.display import starts
from gateway.limits import Limit
from gateway.models import PortalSession
from gateway.runtime import Runtime
from gateway.usecases import clients as client_use
from gateway.usecases import people as people_use
from gateway.usecases import records as record_use
from gateway.web.schemas import RecordIn
from tests.conftest import NOW, Auth, People, penalty

PASSWORD = "correct horse battery"
NAME = "王小明"


def _enrol(rt: Runtime, citizen_id: str, name: str | None = NAME) -> str:
    return people_use.enroll(rt, citizen_id, name, "counter-7").activation_code


def _activate(client: FlaskClient, citizen_id: str, code: str, password: str = PASSWORD,
              **environ: Any) -> TestResponse:
    body = {"citizen_id": citizen_id, "activation_code": code, "password": password}
    return client.post("/api/v1/subjects/activate", json=body, environ_base=environ)


def _log_in(client: FlaskClient, citizen_id: str, password: str = PASSWORD) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    response = client.post("/login", data={"citizen_id": citizen_id, "password": password,
                                           "csrf_token": token.group(1)})
    assert response.status_code == 302, response.get_data(as_text=True)


def _active_person(rt: Runtime, client: FlaskClient, people: People, name: str | None = NAME) -> str:
    citizen_id = people.new()
    assert _activate(client, citizen_id, _enrol(rt, citizen_id, name)).status_code == 200
    _log_in(client, citizen_id)
    return citizen_id


def _entries(rt: Runtime, action: str) -> list[AuditEntry]:
    with rt.sessions() as session, session.begin():
        return list(session.execute(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)).scalars())


def _without_request_id(body: Any) -> dict[str, Any]:
    assert isinstance(body, dict)
    return {k: v for k, v in body.items() if k != "request_id"}


# --- enrolment and activation -------------------------------------------------------------------


def test_enrolment_returns_a_one_time_code_readable_at_a_counter(rt: Runtime, people: People) -> None:
    code = _enrol(rt, people.new())
    assert re.fullmatch(r"[A-HJ-KM-NP-TV-Z2-9]{4}-[A-HJ-KM-NP-TV-Z2-9]{4}-[A-HJ-KM-NP-TV-Z2-9]{4}", code)


def test_the_right_code_activates_the_account(client: FlaskClient, rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    response = _activate(client, citizen_id, _enrol(rt, citizen_id))
    assert response.status_code == 200, response.json
    assert response.json == {"status": "active"}
    assert [e.subject_ref for e in _entries(rt, "vault:subject:activated")] != []


def test_the_code_is_accepted_in_lower_case_and_with_spaces(client: FlaskClient, rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    code = _enrol(rt, citizen_id)
    assert _activate(client, citizen_id, f"  {code.lower()} ").status_code == 200


def test_an_activation_code_works_only_once(client: FlaskClient, rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    code = _enrol(rt, citizen_id)
    assert _activate(client, citizen_id, code).status_code == 200
    again = _activate(client, citizen_id, code, password="another password 2")
    assert again.status_code == 401
    assert again.mimetype == "application/problem+json"


def test_a_wrong_code_is_refused_and_audited(client: FlaskClient, rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    _enrol(rt, citizen_id)
    response = _activate(client, citizen_id, "AAAA-BBBB-CCCC")
    assert response.status_code == 401
    assert response.json["code"] == "unauthenticated"
    denied = _entries(rt, "gateway:subject:login-denied")[-1]
    assert denied.outcome == "denied"
    assert denied.reason == "bad_activation"


def test_an_expired_code_is_refused(client: FlaskClient, rt: Runtime, people: People, clock: FrozenClock) -> None:
    citizen_id = people.new()
    code = _enrol(rt, citizen_id)
    clock.advance(days=rt.settings.activation_ttl_days, seconds=1)
    assert _activate(client, citizen_id, code).status_code == 401


def test_a_code_still_works_one_second_before_it_expires(
    client: FlaskClient, rt: Runtime, people: People, clock: FrozenClock
) -> None:
    citizen_id = people.new()
    code = _enrol(rt, citizen_id)
    clock.advance(days=rt.settings.activation_ttl_days, seconds=-1)
    assert _activate(client, citizen_id, code).status_code == 200


def test_an_unknown_citizen_gets_the_same_answer_as_a_wrong_code(
    client: FlaskClient, rt: Runtime, people: People
) -> None:
    enrolled = people.new()
    _enrol(rt, enrolled)
    wrong_code = _activate(client, enrolled, "AAAA-BBBB-CCCC")
    unknown = _activate(client, people.new(), "AAAA-BBBB-CCCC")
    assert wrong_code.status_code == unknown.status_code == 401
    assert unknown.json["code"] == wrong_code.json["code"] == "unauthenticated"
    # Anything that differs would tell a stranger whether an ID is enrolled.
    assert _without_request_id(unknown.json) == _without_request_id(wrong_code.json)
    assert unknown.headers.get("WWW-Authenticate") == wrong_code.headers.get("WWW-Authenticate")


def test_a_bad_citizen_id_is_a_422_naming_the_field_and_the_check(client: FlaskClient) -> None:
    response = _activate(client, "110105194912310021", "AAAA-BBBB-CCCC")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["field"] == "citizen_id"
    assert response.json["check"] == "checksum"


def test_a_short_password_is_a_422_naming_the_password(client: FlaskClient, rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    response = _activate(client, citizen_id, _enrol(rt, citizen_id), password="pw-9z")
    assert response.status_code == 422
    assert response.json["field"] == "password"
    assert "pw-9z" not in response.get_data(as_text=True)


def test_an_unknown_activation_field_is_refused(client: FlaskClient, people: People) -> None:
    body = {"citizen_id": people.new(), "activation_code": "AAAA-BBBB-CCCC", "password": PASSWORD, "admin": True}
    response = client.post("/api/v1/subjects/activate", json=body)
    assert response.status_code == 422
    assert response.json["field"] == "admin"


def _limit(rt: Runtime, scope: str) -> Limit:
    return next(limit for limit in rt.settings.failure_limits.login if limit.scope == scope)


def test_five_failures_hold_that_address_back_even_with_the_right_code(
    client: FlaskClient, rt: Runtime, people: People
) -> None:
    limit = _limit(rt, "account_at_address")
    citizen_id = people.new()
    code = _enrol(rt, citizen_id)
    for _ in range(limit.failures):
        assert _activate(client, citizen_id, "AAAA-BBBB-CCCC").status_code == 401
    locked = _activate(client, citizen_id, code)
    assert locked.status_code == 429
    assert locked.mimetype == "application/problem+json"
    wait = int(limit.window.total_seconds())
    assert locked.headers["Retry-After"] == str(wait)
    assert locked.json["retry_after"] == wait
    assert f"try again in {wait} seconds" in locked.json["detail"]


def test_the_hold_lifts_after_the_window(
    client: FlaskClient, rt: Runtime, people: People, clock: FrozenClock
) -> None:
    limit = _limit(rt, "account_at_address")
    citizen_id = people.new()
    code = _enrol(rt, citizen_id)
    for _ in range(limit.failures):
        _activate(client, citizen_id, "AAAA-BBBB-CCCC")
    clock.advance(seconds=limit.window.total_seconds() + 1)
    assert _activate(client, citizen_id, code).status_code == 200


def test_twenty_failures_from_one_address_hold_that_address_back(
    client: FlaskClient, rt: Runtime, people: People
) -> None:
    for _ in range(_limit(rt, "address").failures):
        assert _activate(client, people.new(), "AAAA-BBBB-CCCC").status_code == 401
    citizen_id = people.new()
    code = _enrol(rt, citizen_id)
    locked = _activate(client, citizen_id, code)
    assert locked.status_code == 429
    assert "Retry-After" in locked.headers
    elsewhere = _activate(client, citizen_id, code, REMOTE_ADDR="198.51.100.7")
    assert elsewhere.status_code == 200


# --- the person's own report --------------------------------------------------------------------


def test_the_report_needs_a_login(client: FlaskClient) -> None:
    response = client.get("/api/v1/me/report")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "unauthenticated"


def test_the_report_shows_every_record_with_its_provider_and_period(
    client: FlaskClient, rt: Runtime, auth: Auth, people: People
) -> None:
    provider = auth.provider()
    citizen_id = _active_person(rt, client, people)
    record_id = client.post("/api/v1/records", json=penalty(citizen_id), headers=provider.headers).json["id"]
    response = client.get("/api/v1/me/report")
    assert response.status_code == 200, response.json
    assert response.headers["Cache-Control"] == "no-store"
    [record] = response.json["records"]
    assert record["id"] == record_id
    assert record["category"] == "ADMINISTRATIVE_PENALTY_GENERAL"
    assert record["category_name"]["zh"] == rt.catalogue.category("ADMINISTRATIVE_PENALTY_GENERAL").name_zh
    assert record["provider"] == {"id": provider.client_id, "name": "test provider"}
    assert record["status"] == "active"
    assert record["decided_at"] == "2026-10-01"
    assert record["display_from"] == "2026-10-01"
    assert record["display_until"] == "2027-10-01"
    assert record["visible_to_third_parties"] is True
    assert record["payload"] == penalty(citizen_id)["payload"]
    assert record["document"] == penalty(citizen_id)["document"]


def test_a_record_past_its_display_period_is_shown_to_the_person_but_not_to_others(
    client: FlaskClient, rt: Runtime, auth: Auth, people: People
) -> None:
    provider = auth.provider()
    citizen_id = _active_person(rt, client, people)
    client.post("/api/v1/records", json=penalty(citizen_id, decided=date(2020, 1, 1)), headers=provider.headers)
    [record] = client.get("/api/v1/me/report").json["records"]
    assert record["display_until"] == "2021-01-01"
    assert record["status"] == "active"
    assert record["visible_to_third_parties"] is False


def test_a_revoked_record_is_shown_to_the_person_as_revoked_and_hidden_from_others(
    client: FlaskClient, rt: Runtime, auth: Auth, people: People
) -> None:
    provider = auth.provider()
    citizen_id = _active_person(rt, client, people)
    record_id = client.post("/api/v1/records", json=penalty(citizen_id), headers=provider.headers).json["id"]
    assert client.post(f"/api/v1/records/{record_id}/revoke", json={"reason": "wrong person"},
                       headers=provider.headers).status_code == 200
    [record] = client.get("/api/v1/me/report").json["records"]
    assert record["id"] == record_id
    assert record["status"] == "revoked"
    assert record["visible_to_third_parties"] is False


def test_a_current_record_of_a_self_only_category_is_not_visible_to_third_parties(
    client: FlaskClient, rt: Runtime, auth: Auth, people: People
) -> None:
    # The catalogue in force has no self-only category yet; one with a general penalty made self-only
    # shows that the report's flag follows the share scope, not only the status and the period.
    provider = auth.provider()
    citizen_id = _active_person(rt, client, people)
    client.post("/api/v1/records", json=penalty(citizen_id), headers=provider.headers)
    assert client.get("/api/v1/me/report").json["records"][0]["visible_to_third_parties"] is True
    general = rt.catalogue.category("ADMINISTRATIVE_PENALTY_GENERAL")
    rt.policy = replace(rt.policy, catalogue=replace(rt.catalogue, categories={
        **rt.catalogue.categories, general.code: replace(general, share_scope=ShareScope.SELF_ONLY)}))
    [record] = client.get("/api/v1/me/report").json["records"]
    assert record["status"] == "active"
    assert record["visible_to_third_parties"] is False


def test_a_record_stops_being_visible_at_midnight_china_time_of_its_last_day(
    client: FlaskClient, rt: Runtime, auth: Auth, people: People, clock: FrozenClock
) -> None:
    provider = auth.provider()
    citizen_id = _active_person(rt, client, people)
    client.post("/api/v1/records", json=penalty(citizen_id), headers=provider.headers)
    end = starts(date(2027, 10, 1))
    assert end.utcoffset() == timedelta(hours=8)
    clock.set(end - timedelta(seconds=1))
    assert client.get("/api/v1/me/report").json["records"][0]["visible_to_third_parties"] is True
    clock.set(end)
    assert client.get("/api/v1/me/report").json["records"][0]["visible_to_third_parties"] is False


def test_the_report_has_no_query_log_yet(client: FlaskClient, rt: Runtime, people: People) -> None:
    _active_person(rt, client, people)
    body = client.get("/api/v1/me/report").json
    assert body["queries"] == []
    assert body["records"] == []


def test_reading_the_report_is_audited_with_the_record_ids(
    client: FlaskClient, rt: Runtime, auth: Auth, people: People
) -> None:
    provider = auth.provider()
    citizen_id = _active_person(rt, client, people)
    ids = {client.post("/api/v1/records", json=penalty(citizen_id, decided=decided), headers=provider.headers)
           .json["id"] for decided in (date(2026, 10, 1), date(2026, 9, 1))}
    before = len(_entries(rt, "vault:report:self"))
    response = client.get("/api/v1/me/report", headers={"X-Request-ID": "req-self-1"})
    assert response.status_code == 200
    entries = _entries(rt, "vault:report:self")
    assert len(entries) == before + 1
    entry = entries[-1]
    assert set(entry.record_ids) == ids
    assert entry.role == "person"
    assert entry.actor == entry.subject_ref
    assert entry.request_id == "req-self-1"
    assert citizen_id not in str(entry.subject_ref)


def test_a_shredded_persons_report_is_refused_as_erased_and_the_refusal_is_audited_as_theirs(
    client: FlaskClient, rt: Runtime, people: People
) -> None:
    citizen_id = _active_person(rt, client, people)
    ref = rt.vault.subject_ref(citizen_id)
    with rt.uow.begin(AccessContext(actor="operator-7", role="operator")) as tx:
        rt.vault.shred(tx, ref)
    response = client.get("/api/v1/me/report", headers={"X-Request-ID": "req-self-2"})
    assert response.status_code == 410, response.json
    assert response.json["code"] == "erased"
    [entry] = _entries(rt, "vault:report:self-denied")
    assert (entry.actor, entry.role, entry.subject_ref) == (ref, "person", ref)
    assert (entry.outcome, entry.reason, entry.request_id) == ("denied", "SubjectShredded", "req-self-2")
    assert (entry.purpose, entry.basis) == ("self_report", "data subject's right of access")
    assert _entries(rt, "vault:report:self") == []


def test_the_report_shows_the_masked_id_and_the_name(client: FlaskClient, rt: Runtime, people: People) -> None:
    citizen_id = _active_person(rt, client, people)
    body = client.get("/api/v1/me/report").json
    assert body["subject"] == {"citizen_id_masked": citizen_id[:4] + "*" * 10 + citizen_id[-4:], "name": NAME}
    assert citizen_id not in client.get("/api/v1/me/report").get_data(as_text=True)
    assert body["generated_at"].startswith(NOW.date().isoformat())


class _CountingHasher:
    """The runtime's hasher, counting the verifications (each one costs the same argon2 time)."""

    def __init__(self, hasher: Any) -> None:
        self._hasher = hasher
        self.verified = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._hasher, name)

    def verify(self, stored: str, given: str) -> bool:
        self.verified += 1
        return bool(self._hasher.verify(stored, given))


def test_an_unknown_id_costs_the_same_password_check_as_a_known_one_and_gets_the_same_answer(
        client: FlaskClient, rt: Runtime, people: People) -> None:
    known = people.new()
    _activate(client, known, _enrol(rt, known))
    counting = _CountingHasher(rt.hasher)
    rt.hasher = counting  # type: ignore[assignment]
    answers = []
    for citizen_id in (known, people.new()):
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        before = counting.verified
        response = client.post("/login", data={"citizen_id": citizen_id, "password": "not the password",
                                               "csrf_token": token.group(1)})
        answers.append((response.status_code, counting.verified - before))
    assert answers[0] == answers[1] == (401, 1)


def test_an_activation_for_an_unknown_id_costs_the_same_check_and_gets_the_same_answer(
        client: FlaskClient, rt: Runtime, people: People) -> None:
    pending = people.new()
    _enrol(rt, pending)
    counting = _CountingHasher(rt.hasher)
    rt.hasher = counting  # type: ignore[assignment]
    answers = []
    for citizen_id in (pending, people.new()):
        before = counting.verified
        response = client.post("/api/v1/subjects/activate", json={
            "citizen_id": citizen_id, "activation_code": "AAAA-BBBB-CCCC", "password": PASSWORD})
        answers.append((response.status_code, response.json["code"], counting.verified - before))
    assert answers[0] == answers[1]
    assert answers[0][2] == 1


def test_the_name_checked_at_the_counter_is_the_persons_name_whatever_a_provider_wrote(
        client: FlaskClient, rt: Runtime, auth: Auth, people: People) -> None:
    citizen_id = people.new()
    provider = auth.provider()
    assert client.post("/api/v1/records", json={**penalty(citizen_id), "name": "王五"},
                       headers=provider.headers).status_code == 201
    _activate(client, citizen_id, _enrol(rt, citizen_id, "王伍"))  # the identity document says 王伍
    assert client.post("/api/v1/records", json={**penalty(citizen_id, date(2026, 9, 1)), "name": "王武"},
                       headers=provider.headers).status_code == 201
    _log_in(client, citizen_id)
    assert client.get("/api/v1/me/report").json["subject"]["name"] == "王伍"


def test_a_providers_name_for_an_unenrolled_person_is_not_taken_as_theirs(
        client: FlaskClient, rt: Runtime, auth: Auth, people: People) -> None:
    citizen_id = people.new()
    provider = auth.provider()
    client.post("/api/v1/records", json={**penalty(citizen_id), "name": "王五"}, headers=provider.headers)
    _activate(client, citizen_id, _enrol(rt, citizen_id, None))
    _log_in(client, citizen_id)
    assert client.get("/api/v1/me/report").json["subject"]["name"] is None


def _between_reads_and_entry(monkeypatch: pytest.MonkeyPatch, rt: Runtime, change: Callable[[str], None]) -> None:
    """Make `change(ref)` happen once, after the report's reads and before its entry is appended (as another
    worker's write would between SQLite's read snapshot and the write lock)."""
    if not rt.uow.reads_apart:
        pytest.skip("one transaction here: nothing can come between its reads and its entry")
    read, done = people_use.report_in, []

    def reading(tx: Tx, runtime: Runtime, ref: str) -> dict[str, Any]:
        found = read(tx, runtime, ref)
        if not done:
            done.append(ref)
            change(ref)
        return found

    monkeypatch.setattr(people_use, "report_in", reading)


def test_a_record_filed_between_the_reports_reads_and_its_entry_is_shown(
        client: FlaskClient, rt: Runtime, people: People, auth: Auth, monkeypatch: pytest.MonkeyPatch) -> None:
    citizen_id = _active_person(rt, client, people)
    provider = auth.provider()
    assert client.post("/api/v1/records", json=penalty(citizen_id), headers=provider.headers).status_code == 201
    filer = client_use.provider(rt, provider.client_id)
    another = RecordIn().load(penalty(citizen_id, date(2026, 10, 2)))
    _between_reads_and_entry(monkeypatch, rt, lambda ref: record_use.submit(
        rt, filer, another, None, AccessContext(actor=filer.client_id, role="provider")))
    response = client.get("/api/v1/me/report")
    assert response.status_code == 200
    # Read again under the write lock: the report is what one at its entry's place in the log shows.
    assert [r["decided_at"] for r in response.json["records"]] == ["2026-10-02", "2026-10-01"]
    [entry] = _entries(rt, "vault:report:self")
    assert len(entry.record_ids) == 2


def test_a_person_shredded_between_the_reports_reads_and_its_entry_is_refused_as_erased(
        client: FlaskClient, rt: Runtime, people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    _active_person(rt, client, people)

    def shred(ref: str) -> None:
        with rt.uow.begin(AccessContext(actor="operator-7", role="operator")) as tx:
            rt.vault.shred(tx, ref)

    _between_reads_and_entry(monkeypatch, rt, shred)
    response = client.get("/api/v1/me/report")
    assert response.status_code == 410, response.json
    assert _entries(rt, "vault:report:self") == []
    [refused] = _entries(rt, "vault:report:self-denied")
    assert refused.reason == "SubjectShredded"



def test_a_session_that_ran_out_between_the_reports_reads_and_its_entry_shows_nothing_and_records_nothing(
        client: FlaskClient, rt: Runtime, people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    # Its absolute lifetime ends while the report is read or waits for the write lock: the check under the lock
    # counts at the time of the write, not the request's start.
    _active_person(rt, client, people)
    clock = rt.uow.clock
    assert isinstance(clock, FrozenClock)
    _between_reads_and_entry(monkeypatch, rt, lambda _ref: clock.advance(hours=rt.settings.session_max_hours))
    response = client.get("/api/v1/me/report")
    assert response.status_code == 401, response.json
    assert _entries(rt, "vault:report:self") == []

def test_a_session_ended_between_the_reports_reads_and_its_entry_shows_nothing_and_records_nothing(
        client: FlaskClient, rt: Runtime, people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    _active_person(rt, client, people)

    def log_out_elsewhere(ref: str) -> None:
        with rt.sessions() as session, session.begin():
            session.execute(update(PortalSession).where(PortalSession.subject_ref == ref).values(ended_at=NOW))

    _between_reads_and_entry(monkeypatch, rt, log_out_elsewhere)
    response = client.get("/api/v1/me/report")
    assert response.status_code == 401, response.json
    assert _entries(rt, "vault:report:self") == []
