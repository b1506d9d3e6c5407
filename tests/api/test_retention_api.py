"""The end of a record's life, on both backends with the movable clock: kept after its display for its
category's retention period, then a tombstone; and a person erased by an operator, crypto-shredded."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Connection, select, update

from audit.clock import FrozenClock
from audit.entries import AuditEntry
from audit.tags import Tag
from audit.verify import verify_log
from consent.models import Freeze, Notification
from gateway.errors import InvalidInput
from gateway.models import Account, PortalSession
from gateway.runtime import Runtime
from gateway.usecases import ledger, retention
from gateway.usecases import people as people_use
from gateway.web import app as app_module
from gateway.web.app import create_app
from tests.api.test_freeze_api import _ask, _query, _seen, _statements
from tests.api.test_listings_api import _propose, county, record_id
from tests.conftest import PASSWORD, Auth, People, Person, Registered, penalty
from tests.test_privacy import _log_in
from vault.errors import SubjectNotFound
from vault.models import Listing, ListingVersion, Objection, Record, RecordPeriodChange, Subject

__all__ = ["county", "record_id"]

# A general penalty decided on 1 June 2021 is shown for a year, to 1 June 2022, then kept five years.
DECIDED = date(2021, 6, 1)
DISPLAY_ENDS = date(2022, 6, 1)
ERASED_ON = date(2027, 6, 1)


def _cst_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=8)


def _submit(client: FlaskClient, provider: Registered, citizen_id: str, decided: date = DECIDED) -> str:
    response = client.post("/api/v1/records", json=penalty(citizen_id, decided), headers=provider.headers)
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def _row(rt: Runtime, record_id: str) -> Record:
    with rt.sessions() as session, session.begin():
        return session.execute(select(Record).where(Record.id == record_id)).scalar_one()


def _entries(rt: Runtime, action: str) -> list[AuditEntry]:
    with rt.sessions() as session, session.begin():
        return list(session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                    .order_by(AuditEntry.seq)).scalars())


def _own_ids(rt: Runtime, citizen_id: str) -> list[str]:
    report = people_use.self_report(rt, rt.vault.subject_ref(citizen_id), None)
    return [r["id"] for r in report["records"]]


def _verifies(rt: Runtime, connection: Connection) -> None:
    ledger.checkpoint(rt)
    report = verify_log(connection, ledger.head_verifier(rt), chunk_bits=16)
    assert report.ok, report.differences
    assert report.entries == report.tree_size > 0


@pytest.fixture
def provider(auth: Auth) -> Registered:
    return auth.provider("ADMINISTRATIVE_PENALTY_GENERAL")


# --- records past retention ------------------------------------------------------------------------


def test_a_record_past_display_but_inside_retention_is_kept_for_its_person_and_shown_to_no_one_else(
    client: FlaskClient, rt: Runtime, provider: Registered, people: People, clock: FrozenClock,
) -> None:
    citizen_id = people.new()
    record_id = _submit(client, provider, citizen_id)
    clock.set(_cst_midnight(ERASED_ON) - timedelta(seconds=1))  # the last instant inside retention
    assert retention.preview(rt).counts == []
    assert retention.expire(rt).erased == {}
    [own] = people_use.self_report(rt, rt.vault.subject_ref(citizen_id), None)["records"]
    assert (own["id"], own["visible_to_third_parties"]) == (record_id, False)
    assert own["payload"]["violation"] == "未按规定明码标价"
    assert _row(rt, record_id).erased_at is None
    assert _entries(rt, Tag.RECORD_ERASED) == []


def test_past_retention_a_record_becomes_a_tombstone_once_with_one_audit_entry_and_the_log_verifies(
    client: FlaskClient, rt: Runtime, provider: Registered, people: People, clock: FrozenClock,
    connection: Connection,
) -> None:
    citizen_id, other = people.new(), people.new()
    record_id = _submit(client, provider, citizen_id)
    kept = _submit(client, provider, other, decided=date(2022, 6, 1))  # ends a year later: kept a year longer
    before = _row(rt, record_id)
    clock.set(_cst_midnight(ERASED_ON))
    preview = retention.preview(rt)
    assert [(c.category, c.due, c.held) for c in preview.counts] == [("ADMINISTRATIVE_PENALTY_GENERAL", 1, 0)]
    assert _row(rt, record_id).erased_at is None  # a preview erases nothing
    run = retention.expire(rt)
    assert run.erased == {"ADMINISTRATIVE_PENALTY_GENERAL": 1}
    assert run.to_public()["erased"] == 1
    tomb = _row(rt, record_id)
    # The tombstone: id, person, category, provider, status and dates stay; nothing sealed is left.
    assert (tomb.category, tomb.provider_id, tomb.status, tomb.decided_at, tomb.display_until) == (
        before.category, before.provider_id, "active", DECIDED, DISPLAY_ENDS)
    assert tomb.sealed == b""
    assert before.sealed
    assert tomb.erased_at == clock.now()
    assert tomb.erasure_basis is not None
    assert "retention P5Y" in tomb.erasure_basis
    assert _own_ids(rt, citizen_id) == []
    assert _own_ids(rt, other) == [kept]
    [entry] = _entries(rt, Tag.RECORD_ERASED)
    assert (entry.subject_ref, list(entry.record_ids)) == (rt.vault.subject_ref(citizen_id), [record_id])
    assert entry.detail == {"category": "ADMINISTRATIVE_PENALTY_GENERAL", "display_ended": "2022-06-01",
                            "basis": tomb.erasure_basis}
    # Idempotent: a second run finds nothing and records nothing.
    assert retention.expire(rt).erased == {}
    assert len(_entries(rt, Tag.RECORD_ERASED)) == 1
    _verifies(rt, connection)


def test_a_revoked_record_counts_its_retention_from_its_revocation_and_loses_its_sealed_reason(
    client: FlaskClient, rt: Runtime, auth: Auth, provider: Registered, people: People, clock: FrozenClock,
) -> None:
    record_id = _submit(client, provider, people.new(), decided=date(2026, 10, 1))  # shown until 2027-10-01
    revoked = client.post(f"/api/v1/records/{record_id}/revoke", json={"reason": "录入错误"},
                          headers=provider.headers)
    assert revoked.status_code == 200, revoked.json
    assert _row(rt, record_id).revoke_reason_ct is not None
    clock.set(_cst_midnight(date(2031, 11, 22)) - timedelta(seconds=1))  # revoked on 2026-11-22 (CST)
    assert retention.expire(rt).erased == {}
    clock.set(_cst_midnight(date(2031, 11, 22)))
    assert retention.expire(rt).erased == {"ADMINISTRATIVE_PENALTY_GENERAL": 1}
    tomb = _row(rt, record_id)
    assert (tomb.status, tomb.sealed, tomb.revoke_reason_ct) == ("revoked", b"", None)
    # Its agency is told it is erased, not that it never was.
    provider.token = auth.token(provider.client_id, provider.secret)
    again = client.post(f"/api/v1/records/{record_id}/revoke", json={"reason": "again"}, headers=provider.headers)
    assert again.status_code == 409
    assert "erased" in again.json["detail"]


def test_a_record_shown_until_its_agency_ends_it_is_never_erased_while_shown(
    client: FlaskClient, rt: Runtime, provider: Registered, people: People, clock: FrozenClock,
) -> None:
    record_id = _submit(client, provider, people.new())
    with rt.sessions() as session, session.begin():
        session.execute(update(Record).where(Record.id == record_id).values(display_until=None, period_source="rule"))
    clock.set(datetime(2040, 1, 1, tzinfo=UTC))
    assert retention.expire(rt).erased == {}
    assert _row(rt, record_id).erased_at is None


def test_an_open_objection_holds_its_record_and_a_decided_one_goes_with_it(
    client: FlaskClient, rt: Runtime, auth: Auth, provider: Registered, person: Person, clock: FrozenClock,
) -> None:
    record_id = _submit(client, provider, person.citizen_id)
    filed = person.post("/api/v1/me/objections", {"record_id": record_id, "reason": "金额有误"})
    assert filed.status_code == 201, filed.json
    clock.set(_cst_midnight(ERASED_ON))
    [count] = retention.preview(rt).counts
    assert (count.due, count.held) == (1, 1)
    assert retention.expire(rt).erased == {}
    provider.token = auth.token(provider.client_id, provider.secret)
    objection = filed.json["id"]
    assert client.post(f"/api/v1/objections/{objection}/refuse", json={"reason": "逾期"},
                       headers=provider.headers).status_code == 200
    assert retention.expire(rt).erased == {"ADMINISTRATIVE_PENALTY_GENERAL": 1}
    with rt.sessions() as session, session.begin():
        assert session.get(Objection, objection) is None  # its reason and evidence went with the record
        assert session.execute(select(RecordPeriodChange).where(RecordPeriodChange.record_id == record_id)).first() \
            is None


# --- a person erased ---------------------------------------------------------------------------------


def _erase(rt: Runtime, citizen_id: str, basis: str = "《个人信息保护法》第四十七条, 删除申请 2026-118") -> Any:
    return retention.erase_subject(rt, retention.EraseSubject(citizen_id, basis, "operator-7"))


def test_an_erased_persons_key_identity_and_records_are_gone_and_no_key_opens_what_was_sealed(
    client: FlaskClient, rt: Runtime, provider: Registered, person: Person, people: People,
) -> None:
    ref = rt.vault.subject_ref(person.citizen_id)
    record_id = _submit(client, provider, person.citizen_id)
    other = people.new()
    kept = _submit(client, provider, other)
    sealed = _row(rt, record_id).sealed
    erased = _erase(rt, person.citizen_id)
    assert (erased.records, erased.categories) == (1, {"ADMINISTRATIVE_PENALTY_GENERAL": 1})
    with rt.sessions() as session, session.begin():
        assert session.execute(select(Subject).where(Subject.subject_ref == ref)).first() is None
        subject = session.execute(select(Subject).join(Record, Record.subject_id == Subject.id)
                                  .where(Record.id == record_id)).scalar_one()
    # The subject's tombstone: a random blind index, no key, no identity, the basis and the time.
    assert subject.subject_ref.startswith("erased:")
    assert (subject.wrapped_dek, subject.kek_version, subject.citizen_id_ct, subject.name_ct) == (None,) * 4
    assert subject.shredded_at == rt.clock.now()
    assert subject.erasure_basis == "《个人信息保护法》第四十七条, 删除申请 2026-118"
    tomb = _row(rt, record_id)
    assert (tomb.sealed, tomb.erasure_basis) == (b"", "subject_erased")
    assert sealed  # what was there (tests/vault/test_crypto.py tries every key on it)
    assert _own_ids(rt, other) == [kept]


def test_an_erasure_is_one_audit_entry_without_personal_data_and_the_log_still_verifies(
    client: FlaskClient, rt: Runtime, provider: Registered, person: Person, employer: Registered,
    connection: Connection,
) -> None:
    record_id = _submit(client, provider, person.citizen_id)
    grant = person.approve(_ask(client, employer, person.citizen_id).json["id"])
    _erase(rt, person.citizen_id)
    [entry] = _entries(rt, Tag.SUBJECT_ERASED)
    assert (entry.actor, entry.role, entry.outcome) == ("operator-7", "operator", "allowed")
    assert entry.subject_ref == rt.vault.subject_ref(person.citizen_id)
    assert list(entry.record_ids) == [record_id]
    assert entry.basis == "《个人信息保护法》第四十七条, 删除申请 2026-118"
    assert entry.detail == {"records": 1, "categories": {"ADMINISTRATIVE_PENALTY_GENERAL": 1}}
    [revoked] = [e for e in _entries(rt, Tag.CONSENT_REVOKED) if e.detail.get("by") == "erasure"]
    assert revoked.basis == grant["id"]
    _verifies(rt, connection)


def test_after_erasure_an_institution_is_answered_as_for_an_unknown_person_and_its_grant_is_revoked(
    client: FlaskClient, provider: Registered, person: Person, people: People, employer: Registered, rt: Runtime,
    connection: Connection,
) -> None:
    _submit(client, provider, person.citizen_id)
    grant = person.approve(_ask(client, employer, person.citizen_id).json["id"])
    report = _query(client, employer, grant["id"])
    assert report.status_code == 201
    _erase(rt, person.citizen_id)
    # The report stored earlier is purged; the signed copy the institution holds still verifies, as any does.
    gone = client.get(f"/api/v1/reports/{report.json['report']['report_id']}", headers=employer.headers)
    assert gone.status_code == 410
    # The grant given before is revoked: its next query is refused, with its reason.
    refused = _query(client, employer, grant["id"])
    assert (refused.status_code, refused.json["code"]) == (403, "consent_revoked")
    # A new request: the same answer, and the same work, as for a person the service never knew.
    record = _statements(connection)
    with record() as erased_work:
        erased = _ask(client, employer, person.citizen_id)
    unknown_id = people.new()
    with record() as unknown_work:
        unknown = _ask(client, employer, unknown_id)
    assert erased.status_code == 201
    assert _seen(erased, erased.json["id"]) == _seen(unknown, unknown.json["id"])
    assert erased_work == unknown_work


def test_after_erasure_the_person_cannot_log_in_and_their_session_is_over(
    client: FlaskClient, app: Any, rt: Runtime, person: Person, people: People,
) -> None:
    assert person.client.get("/api/v1/me/report").status_code == 200
    _erase(rt, person.citizen_id)
    assert person.client.get("/api/v1/me/report").status_code == 401
    # The right password for the erased ID fails exactly as any password for an ID nobody has.
    assert _log_in(app.test_client(), person.citizen_id, PASSWORD) == 401
    assert _log_in(app.test_client(), people.new(), PASSWORD) == 401
    assert [e.reason for e in _entries(rt, Tag.SUBJECT_LOGIN_DENIED)] == ["bad_credentials"] * 2


def test_an_erased_person_cannot_be_erased_again_and_the_refusal_is_audited(
    client: FlaskClient, rt: Runtime, provider: Registered, people: People,
) -> None:
    citizen_id = people.new()
    _submit(client, provider, citizen_id)
    _erase(rt, citizen_id)
    with pytest.raises(SubjectNotFound):
        _erase(rt, citizen_id)
    denied = [e for e in _entries(rt, Tag.SUBJECT_ERASED) if e.outcome == "denied"]
    assert [(e.subject_ref, e.reason) for e in denied] == [(rt.vault.subject_ref(citizen_id), "SubjectNotFound")]


def test_a_new_record_after_erasure_starts_a_new_file(
    client: FlaskClient, rt: Runtime, provider: Registered, people: People,
) -> None:
    citizen_id = people.new()
    _submit(client, provider, citizen_id)
    _erase(rt, citizen_id)
    fresh = _submit(client, provider, citizen_id, decided=date(2026, 11, 1))
    assert _own_ids(rt, citizen_id) == [fresh]


@pytest.mark.parametrize("basis", ["", "  ", "删除 11010519491231002X 的档案", "a" * 301, "依法\u202e删除"])
def test_an_erasure_basis_that_is_empty_too_long_hidden_or_quotes_an_id_is_refused(
    rt: Runtime, people: People, basis: str,
) -> None:
    with pytest.raises(InvalidInput) as refused:
        _erase(rt, people.new(), basis)
    assert refused.value.field == "basis"


def test_an_erasure_with_grants_requests_and_reports_ends_them_all(
    client: FlaskClient, rt: Runtime, provider: Registered, person: Person, employer: Registered,
) -> None:
    _submit(client, provider, person.citizen_id)
    grant = person.approve(_ask(client, employer, person.citizen_id).json["id"])
    assert _query(client, employer, grant["id"]).status_code == 201
    pending = _ask(client, employer, person.citizen_id).json["id"]
    ref = rt.vault.subject_ref(person.citizen_id)
    assert person.client.put("/api/v1/me/freeze", json={}, headers={"X-CSRF-Token": person.csrf}).status_code == 200
    with rt.sessions() as session, session.begin():
        assert session.execute(select(Notification).where(Notification.subject_ref == ref)).first() is not None
        assert session.get(Freeze, ref) is not None
    done = _erase(rt, person.citizen_id)
    assert (done.grants_revoked, done.requests_lapsed, done.reports_purged) == (1, 1, 1)
    assert client.get(f"/api/v1/consent-requests/{pending}", headers=employer.headers).json["status"] == "lapsed"
    with rt.sessions() as session, session.begin():
        for table, column in ((Notification, Notification.subject_ref), (Freeze, Freeze.subject_ref),
                              (Account, Account.subject_ref), (PortalSession, PortalSession.subject_ref)):
            assert session.execute(select(column).where(column == ref)).first() is None, table


def test_the_housekeeping_expires_records_after_a_response(
    client: FlaskClient, rt: Runtime, provider: Registered, people: People, monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = [_submit(client, provider, people.new(), decided=date(2015, 3, 1)) for _ in range(3)]
    assert all(_row(rt, record_id).erased_at is None for record_id in ids)  # not due yet on this app
    monkeypatch.setattr(app_module, "RETENTION_SECONDS", 0.0)
    due = create_app({"TESTING": True}, runtime=rt).test_client()
    due.get("/api/v1/catalogue").close()  # the job runs once the response is closed
    assert all(_row(rt, record_id).erased_at is not None for record_id in ids)


def test_a_run_of_a_few_batches_leaves_the_rest_to_the_next(
    client: FlaskClient, rt: Runtime, provider: Registered, people: People,
) -> None:
    ids = [_submit(client, provider, people.new(), decided=date(2015, 3, 1)) for _ in range(3)]
    assert retention.expire(rt, batch=1, max_batches=2, counted=False).erased == {"ADMINISTRATIVE_PENALTY_GENERAL": 2}
    assert retention.expire(rt, batch=1).erased == {"ADMINISTRATIVE_PENALTY_GENERAL": 1}
    assert all(_row(rt, record_id).erased_at is not None for record_id in ids)


def _listing(rt: Runtime, record_id: str, status: str) -> str:
    """A listing resting on the record, as consent/listings.py stores one (its texts sealed: here, any bytes)."""
    with rt.sessions() as session, session.begin():
        record = session.execute(select(Record).where(Record.id == record_id)).scalar_one()
        session.add(Listing(id="ls_" + record_id[4:], subject_id=record.subject_id, record_id=record_id,
                            provider_id=record.provider_id, kind="black", status=status, version=1,
                            measures="restrict_office", proposed_at=rt.clock.now(), texts_ct=b"\x01sealed"))
        session.flush()
        session.add(ListingVersion(listing_id="ls_" + record_id[4:], version=1, status=status, cause="proposed",
                                   actor=record.provider_id, at=rt.clock.now(), words_ct=b"\x02sealed"))
    return "ls_" + record_id[4:]


def test_a_listing_in_force_holds_its_record_and_an_ended_one_goes_with_it(
    client: FlaskClient, rt: Runtime, provider: Registered, people: People, clock: FrozenClock,
) -> None:
    record_id = _submit(client, provider, people.new())
    listing = _listing(rt, record_id, "in_effect")
    clock.set(_cst_midnight(ERASED_ON))
    [count] = retention.preview(rt).counts
    assert (count.due, count.held) == (1, 1)
    assert retention.expire(rt).erased == {}
    with rt.sessions() as session, session.begin():
        session.execute(update(Listing).where(Listing.id == listing).values(status="ended"))
    assert retention.expire(rt).erased == {"ADMINISTRATIVE_PENALTY_GENERAL": 1}
    with rt.sessions() as session, session.begin():
        assert session.get(Listing, listing) is None
        assert session.execute(select(ListingVersion).where(ListingVersion.listing_id == listing)).first() is None


def test_an_erased_persons_listings_go_with_them_even_in_force(
    client: FlaskClient, rt: Runtime, provider: Registered, people: People,
) -> None:
    citizen_id = people.new()
    listing = _listing(rt, _submit(client, provider, citizen_id), "in_effect")
    _erase(rt, citizen_id)
    with rt.sessions() as session, session.begin():
        assert session.get(Listing, listing) is None
        assert session.execute(select(ListingVersion).where(ListingVersion.listing_id == listing)).first() is None


def test_no_listing_may_rest_on_a_tombstone(
    client: FlaskClient, rt: Runtime, county: Registered, record_id: str,
) -> None:
    with rt.sessions() as session, session.begin():
        session.execute(update(Record).where(Record.id == record_id)
                        .values(sealed=b"", erased_at=rt.clock.now(), erasure_basis="retention P5Y"))
    refused = _propose(client, county, record_id)
    assert refused.status_code == 409
    assert "erased" in refused.json["detail"]
