"""Auditors read the log (查询使用登记和审查): filters, pages, exports, anomalies, and their own reads logged."""

from __future__ import annotations

import base64
import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from audit import entries as audit
from audit.clock import FrozenClock
from audit.entries import AuditEntry, EntryDraft
from audit.tags import Outcome, Tag
from gateway.config import from_environ
from gateway.runtime import Runtime
from tests.api.test_consent_api import Person
from tests.api.test_schemathesis import CHECKS
from tests.conftest import Auth, People, Registered, penalty

ENTRIES = "/api/v1/audit/entries"
SEARCH = "/api/v1/audit/entries/search"
ANOMALIES = "/api/v1/audit/anomalies"
CST = timezone(timedelta(hours=8))
# Words of the records' payloads and the people's names: none may ever reach an auditor.
PAYLOAD_WORDS = ("未按规定明码标价", "罚款人民币2000元", "2000.00", "测试人", "李四")


@dataclass
class Log:
    """A log made by the real journeys: a record, a consent and its query, a refusal, a denial."""

    provider: Registered
    employer: Registered
    landlord: Registered
    person: Person
    other: Person
    consent_id: str
    started: datetime
    queried: datetime


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_data(as_text=True)
    return response.json


def _all_entries(rt: Runtime) -> list[AuditEntry]:
    with rt.sessions() as session, session.begin():
        return list(session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())


@pytest.fixture
def log(app: Flask, client: FlaskClient, rt: Runtime, auth: Auth, people: People, clock: FrozenClock) -> Log:
    started = clock.now()
    provider = auth.provider()
    employer = auth.register("institution", kind="employer")
    landlord = auth.register("institution", kind="landlord")
    person, other = Person(app, rt, people.new()), Person(app, rt, people.new())
    _ok(client.post("/api/v1/records", json=penalty(person.citizen_id, category="ADMINISTRATIVE_PENALTY_SERIOUS"),
                    headers=provider.headers), 201)
    _ok(client.post("/api/v1/records", json=penalty(other.citizen_id), headers=provider.headers), 201)
    clock.advance(minutes=5)
    created = _ok(client.post("/api/v1/consent-requests", headers=employer.headers, json={
        "citizen_id": person.citizen_id, "purpose": "employment_screening", "reason": "accountant post",
        "valid_for": "P7D"}), 201)
    consent_id = str(person.approve(created["id"])["id"])
    clock.advance(minutes=5)
    queried = clock.now()
    _ok(client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=employer.headers), 201)
    assert client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=employer.headers).status_code == 403
    clock.advance(minutes=5)
    asked = _ok(client.post("/api/v1/consent-requests", headers=landlord.headers, json={
        "citizen_id": other.citizen_id, "purpose": "tenancy", "reason": "flat", "valid_for": "P7D"}), 201)
    assert other.post(f"/api/v1/me/consent-requests/{asked['id']}/deny").status_code == 200
    return Log(provider, employer, landlord, person, other, consent_id, started, queried)


@pytest.fixture
def auditor(auth: Auth) -> Registered:
    return auth.register("auditor")


def _page(client: FlaskClient, auditor: Registered, **query: Any) -> Any:
    return _ok(client.get(ENTRIES, query_string=query, headers=auditor.headers))


def _seqs(page: Any) -> list[int]:
    return [entry["seq"] for entry in page["entries"]]


# --- reading ----------------------------------------------------------------------------------


def test_an_auditor_walks_every_entry_exactly_once_newest_first_with_index_and_leaf_hash(
    client: FlaskClient, rt: Runtime, log: Log, auditor: Registered
) -> None:
    before = _all_entries(rt)
    seen: list[int] = []
    query: dict[str, Any] = {"limit": 4}
    while True:
        page = _page(client, auditor, **query)
        seen += _seqs(page)
        if page["next_cursor"] is None:
            break
        query["cursor"] = page["next_cursor"]
    # Each page is logged as it is read, after the walk began: the walk never meets those entries.
    assert seen == [e.seq for e in reversed(before)]
    first = _page(client, auditor, limit=500)["entries"][-1]
    stored = before[0]
    assert first["index"] == 0
    assert first["seq"] == 1
    assert base64.b64decode(first["leaf_hash"]) == stored.leaf_hash
    assert first["at"] == stored.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert set(first) == {"index", "seq", "at", "actor", "role", "action", "subject_ref", "purpose", "basis",
                          "record_ids", "outcome", "reason", "request_id", "detail", "leaf_hash"}


def _expected(entries: list[AuditEntry], keep: Any) -> list[int]:
    return [e.seq for e in reversed(entries) if keep(e)]


def test_each_filter_selects_exactly_the_matching_entries(
    client: FlaskClient, rt: Runtime, log: Log, auditor: Registered
) -> None:
    employer, landlord = log.employer.client_id, log.landlord.client_id
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"actor": employer}, lambda e: e.actor == employer),
        ({"institution": employer},
         lambda e: e.actor == employer or e.detail.get("institution") == employer),
        ({"institution": landlord},
         lambda e: e.actor == landlord or e.detail.get("institution") == landlord),
        ({"action": "consent:query:denied"}, lambda e: e.action == "consent:query:denied"),
        ({"action": "consent:"}, lambda e: e.action.startswith("consent:")),
        ({"action": "vault:record:"}, lambda e: e.action.startswith("vault:record:")),
        ({"outcome": "denied"}, lambda e: e.outcome == "denied"),
        ({"outcome": "allowed", "action": "consent:query:"}, lambda e: e.action == "consent:query:released"),
        ({"since": log.queried.astimezone(CST).isoformat(),
          "until": (log.queried + timedelta(minutes=5)).isoformat()},
         lambda e: log.queried <= e.at < log.queried + timedelta(minutes=5)),
    ]
    for query, keep in cases:
        expected = _expected(_all_entries(rt), keep)
        assert expected, query
        assert _seqs(_page(client, auditor, limit=500, **query)) == expected, query
    # The institution filter finds the person's approval (actor: the person) and the landlord's denial.
    approvals = _page(client, auditor, institution=employer, action="consent:grant:approved")["entries"]
    assert [e["role"] for e in approvals] == ["person"]
    assert _seqs(_page(client, auditor, actor="nobody")) == []


def test_the_person_filter_finds_a_persons_entries_by_citizen_id_in_the_query_or_the_body(
    client: FlaskClient, rt: Runtime, log: Log, auditor: Registered
) -> None:
    ref = rt.vault.subject_ref(log.person.citizen_id)
    expected = _expected(_all_entries(rt), lambda e: e.subject_ref == ref)
    assert {"vault:record:ingested", "consent:request:created", "consent:grant:approved",
            "consent:query:released", "consent:query:denied"} <= {e.action for e in _all_entries(rt)
                                                                   if e.subject_ref == ref}
    by_get = client.get(ENTRIES, query_string={"person": log.person.citizen_id.lower()}, headers=auditor.headers)
    by_post = client.post(SEARCH, json={"person": log.person.citizen_id}, headers=auditor.headers)
    # The auditor's first look-up is logged under the person's blind index, so the second one finds it too.
    looked = [e.seq for e in _all_entries(rt) if e.action == "audit:entries:read"]
    assert len(looked) == 2
    for response, extra in ((by_get, []), (by_post, looked[:1])):
        body = _ok(response)
        assert _seqs(body) == extra + expected
        assert {e["subject_ref"] for e in body["entries"]} == {ref}
        assert log.person.citizen_id not in response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("person", ["110105194912310021", "11010519491231002", "abc", "110105194912310029"])
def test_a_malformed_citizen_id_is_a_422_naming_person(
    client: FlaskClient, auditor: Registered, person: str
) -> None:
    for response in (client.get(ENTRIES, query_string={"person": person}, headers=auditor.headers),
                     client.post(SEARCH, json={"person": person}, headers=auditor.headers)):
        assert response.status_code == 422, response.json
        assert response.mimetype == "application/problem+json"
        assert response.json["field"] == "person"


BAD_FILTERS: dict[str, tuple[dict[str, Any], str]] = {
    "a cursor not given out": ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
    "a cursor that is not base64": ({"cursor": "!!!"}, "cursor"),
    "a zero limit": ({"limit": 0}, "limit"),
    "a limit over 500": ({"limit": 501}, "limit"),
    "an unknown outcome": ({"outcome": "maybe"}, "outcome"),
    "an action that is not a tag": ({"action": "Consent Query"}, "action"),
    "a time without an offset": ({"since": "2026-11-01T00:00:00"}, "since"),
    "a time that is not a time": ({"until": "yesterday"}, "until"),
    "a year far in the past": ({"since": "0001-01-01T00:00:00+08:00"}, "since"),
    "until before since": ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "until"),
    "an unknown filter": ({"subject_ref": "ab" * 32}, "subject_ref"),
    "an unknown format": ({"format": "xml"}, "format"),
    "a NUL in an actor": ({"actor": "a\x00b"}, "actor"),
    "an export with a cursor": ({"format": "csv", "cursor": "djE6MTA"}, "cursor"),
    "an export with a limit": ({"format": "jsonl", "limit": 10}, "limit"),
}


@pytest.mark.parametrize(("query", "field"), BAD_FILTERS.values(), ids=BAD_FILTERS.keys())
def test_bad_filters_and_cursors_are_a_422_naming_the_field(
    client: FlaskClient, auditor: Registered, query: dict[str, Any], field: str
) -> None:
    for response in (client.get(ENTRIES, query_string=query, headers=auditor.headers),
                     client.post(SEARCH, json=query, headers=auditor.headers)):
        assert response.status_code == 422, response.json
        assert response.mimetype == "application/problem+json"
        assert response.json["field"] == field


def test_without_a_token_it_is_401_and_other_roles_get_403(client: FlaskClient, auth: Auth) -> None:
    calls = [lambda h: client.get(ENTRIES, headers=h), lambda h: client.post(SEARCH, json={}, headers=h),
             lambda h: client.get(ANOMALIES, headers=h), lambda h: client.get(ENTRIES + "?format=csv", headers=h)]
    for call in calls:
        response = call({})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    for other in (auth.provider(), auth.register("institution", kind="employer")):
        for call in calls:
            response = call(other.headers)
            assert response.status_code == 403, response.json
            assert response.mimetype == "application/problem+json"


# --- exports ----------------------------------------------------------------------------------


def _export(client: FlaskClient, auditor: Registered, fmt: str, by_accept: bool = False, **query: Any) -> Any:
    if by_accept:
        accept = {"jsonl": "application/x-ndjson", "csv": "text/csv"}[fmt]
        response = client.get(ENTRIES, query_string=query, headers={**auditor.headers, "Accept": accept})
    else:
        response = client.post(SEARCH, json={**query, "format": fmt}, headers=auditor.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


@pytest.mark.parametrize("by_accept", [False, True], ids=["format field", "Accept header"])
def test_exports_hold_every_entry_and_no_payload_or_citizen_id(
    client: FlaskClient, rt: Runtime, log: Log, auditor: Registered, by_accept: bool
) -> None:
    stored = _all_entries(rt)
    jsonl = _export(client, auditor, "jsonl", by_accept)
    assert jsonl.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in jsonl.get_data(as_text=True).splitlines()]
    assert [line["seq"] for line in lines] == [e.seq for e in stored]
    assert jsonl.headers["X-Entry-Count"] == str(len(stored))
    assert jsonl.headers["Content-Disposition"] == f'attachment; filename="audit-entries-{stored[-1].seq}.jsonl"'
    assert all(base64.b64decode(line["leaf_hash"]) == e.leaf_hash for line, e in zip(lines, stored, strict=True))

    table = _export(client, auditor, "csv", by_accept)
    assert table.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(table.get_data(as_text=True))))
    # The first export's own read entry is in the second export: reading is logged before the stream.
    assert [int(row["seq"]) for row in rows] == [e.seq for e in stored] + [stored[-1].seq + 1]
    assert rows[-1]["action"] == "audit:entries:read"
    assert rows[0]["index"] == "0"
    for body in (jsonl.get_data(as_text=True), table.get_data(as_text=True)):
        for secret in (log.person.citizen_id, log.other.citizen_id, *PAYLOAD_WORDS):
            assert secret not in body


def test_an_export_can_be_filtered_and_an_empty_one_has_only_the_header(
    client: FlaskClient, rt: Runtime, log: Log, auditor: Registered
) -> None:
    ref = rt.vault.subject_ref(log.other.citizen_id)
    expected = [e.seq for e in _all_entries(rt) if e.subject_ref == ref and e.action.startswith("consent:")]
    jsonl = _export(client, auditor, "jsonl", person=log.other.citizen_id, action="consent:")
    assert [json.loads(line)["seq"] for line in jsonl.get_data(as_text=True).splitlines()] == expected
    empty = _export(client, auditor, "csv", actor="nobody")
    assert empty.get_data(as_text=True).splitlines() == [
        "index,seq,at,actor,role,action,subject_ref,purpose,basis,record_ids,outcome,reason,request_id,detail,"
        "leaf_hash"]
    assert empty.headers["X-Entry-Count"] == "0"


def test_an_export_larger_than_the_maximum_is_refused_with_a_422(
    client: FlaskClient, rt: Runtime, log: Log, auditor: Registered
) -> None:
    rt.settings = rt.settings.with_overrides(audit_export_max_entries=5)
    response = client.get(ENTRIES, query_string={"format": "jsonl"}, headers=auditor.headers)
    assert response.status_code == 422
    assert response.json["code"] == "export_too_large"
    narrow = _export(client, auditor, "jsonl", action="consent:query:")
    assert len(narrow.get_data(as_text=True).splitlines()) == 2


def test_csv_cells_that_would_run_as_formulas_are_defused(
    client: FlaskClient, rt: Runtime, clock: FrozenClock, auditor: Registered
) -> None:
    with rt.sessions() as session, session.begin():
        audit.append(session, clock, EntryDraft(actor="=cmd|' /C calc'!A0", role="institution",
                                                action=Tag.QUERY_DENIED, outcome=Outcome.DENIED, reason="@SUM(1)"))
    rows = list(csv.DictReader(io.StringIO(_export(client, auditor, "csv", action="consent:").get_data(as_text=True))))
    assert rows[0]["actor"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["reason"] == "'@SUM(1)"


# --- reads are accesses -------------------------------------------------------------------------


def _reads(rt: Runtime) -> list[AuditEntry]:
    return [e for e in _all_entries(rt) if e.action == "audit:entries:read"]


def test_every_read_and_export_is_itself_audited_with_the_blind_index_not_the_citizen_id(
    client: FlaskClient, rt: Runtime, log: Log, auditor: Registered
) -> None:
    ref = rt.vault.subject_ref(log.person.citizen_id)
    page = _ok(client.post(SEARCH, json={"person": log.person.citizen_id, "outcome": "allowed", "limit": 2},
                           headers={**auditor.headers, "X-Request-ID": "audit-req-1"}))
    _export(client, auditor, "csv", since="2026-11-01T00:00:00+08:00")
    _ok(client.get(ANOMALIES, headers=auditor.headers))
    first, export, anomalies = _reads(rt)
    assert (first.actor, first.role, first.outcome, first.request_id) == (
        auditor.client_id, "auditor", "allowed", "audit-req-1")
    assert first.subject_ref == ref
    assert first.detail["operation"] == "page"
    assert first.detail["filters"] == {"subject_ref": ref, "outcome": "allowed"}
    assert first.detail["returned"] == len(page["entries"]) == 2
    assert first.detail["seqs"] == [page["entries"][-1]["seq"], page["entries"][0]["seq"]]
    assert export.detail["operation"] == "export"
    assert export.detail["format"] == "csv"
    assert export.detail["filters"] == {"since": "2026-10-31T16:00:00.000000Z"}
    assert export.subject_ref is None
    assert anomalies.detail["operation"] == "anomalies"
    assert log.person.citizen_id not in json.dumps([e.detail for e in _reads(rt)])
    # An auditor's reads are themselves in the log that auditors read.
    mine = _page(client, auditor, actor=auditor.client_id, action="audit:entries:read")
    assert [e["seq"] for e in mine["entries"]] == [anomalies.seq, export.seq, first.seq]


def test_a_refused_read_is_not_logged_as_a_read(client: FlaskClient, rt: Runtime, auth: Auth,
                                                auditor: Registered) -> None:
    assert client.get(ENTRIES, query_string={"limit": 0}, headers=auditor.headers).status_code == 422
    assert client.get(ENTRIES, headers=auth.provider().headers).status_code == 403
    assert _reads(rt) == []


# --- anomalies ----------------------------------------------------------------------------------

# A Tuesday, 10:00 China Standard Time; the default window (30 days) holds National Day 2026 (Oct 1-7)
# and Saturday Oct 10, a working day swapped for it.
REVIEW_AT = datetime(2026, 10, 20, 2, 0, tzinfo=UTC)


def _cst(day: int, hour: int, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=CST)


def _queries(rt: Runtime, clock: FrozenClock, institution: str, times: list[datetime], purpose: str,
             denied: int = 0) -> None:
    """Append query entries as the gateway writes them, at the given times; the first `denied` are refusals."""
    with rt.sessions() as session, session.begin():
        for n, at in enumerate(times):
            clock.set(at)
            refused = n < denied
            audit.append(session, clock, EntryDraft(
                actor=institution, role="institution",
                action=Tag.QUERY_DENIED if refused else Tag.QUERY_RELEASED,
                outcome=Outcome.DENIED if refused else Outcome.ALLOWED, purpose=purpose, basis=f"cn_{n}",
                reason="consent_exhausted" if refused else None, detail={"institution": institution}))


def _working_hours(count: int) -> list[datetime]:
    """`count` times between 09:00 and 18:00 CST on the working days of Oct 12-16 and the swapped Oct 10."""
    days = [10, 12, 13, 14, 15, 16]
    return [_cst(days[n % len(days)], 9 + n % 9) + timedelta(minutes=n % 60) for n in range(count)]


def _anomalies(client: FlaskClient, auditor: Registered, **query: Any) -> Any:
    return _ok(client.get(ANOMALIES, query_string=query, headers=auditor.headers))


def test_anomalies_name_each_kind_with_its_reason_and_leave_a_normal_institution_out(
    client: FlaskClient, rt: Runtime, auth: Auth, clock: FrozenClock
) -> None:
    clock.set(REVIEW_AT)
    steady, calm = (auth.register("institution", kind="employer") for _ in range(2))
    busy, refusing = (auth.register("institution", kind="employer") for _ in range(2))
    nightly = auth.register("institution", kind="landlord")
    wrong = auth.register("institution", kind="lender")
    auditor = auth.register("auditor")
    _queries(rt, clock, steady.client_id, _working_hours(20), "employment_screening")
    _queries(rt, clock, calm.client_id, _working_hours(20), "employment_screening", denied=6)  # 30%: not above
    _queries(rt, clock, busy.client_id, _working_hours(120), "employment_screening")
    _queries(rt, clock, refusing.client_id, _working_hours(20), "employment_screening", denied=9)
    night = [_cst(13, 2) + timedelta(minutes=n) for n in range(4)]  # 02:00 on a Tuesday
    late = [_cst(14, 20) + timedelta(minutes=n) for n in range(2)]  # 20:00: after hours
    holiday = [_cst(1, 10) + timedelta(minutes=n) for n in range(3)]  # Thursday Oct 1, National Day
    _queries(rt, clock, nightly.client_id, night + late + holiday + _working_hours(11), "tenancy")
    _queries(rt, clock, wrong.client_id, _working_hours(3), "employment_screening")
    _queries(rt, clock, wrong.client_id, _working_hours(1), "debt_collection")
    _queries(rt, clock, wrong.client_id, _working_hours(2), "lending")
    clock.set(REVIEW_AT)

    report = _anomalies(client, auditor)
    assert report["since"] == "2026-09-20T02:00:00.000000Z"
    assert report["until"] == "2026-10-20T02:00:00.000000Z"
    assert report["thresholds"] == {"volume_factor": 5.0, "min_queries": 20, "refusal_rate": 0.3,
                                    "off_hours_share": 0.25}
    assert report["median_queries"] == 20
    found = {(a["institution"]["id"], a["kind_of_anomaly"], a.get("purpose")): a for a in report["anomalies"]}
    assert set(found) == {
        (busy.client_id, "volume", None),
        (refusing.client_id, "refusal_rate", None),
        (nightly.client_id, "off_hours", None),
        (wrong.client_id, "purpose_mismatch", "employment_screening"),
        (wrong.client_id, "purpose_mismatch", "debt_collection"),
    }
    volume = found[(busy.client_id, "volume", None)]
    assert (volume["value"], volume["threshold"]) == (120, 100)
    assert volume["institution"] == {"id": busy.client_id, "name": "test institution", "kind": "employer"}
    assert "median of 20" in volume["reason"]
    refused = found[(refusing.client_id, "refusal_rate", None)]
    assert (refused["value"], refused["threshold"]) == (0.45, 0.3)
    assert refused["reason"].startswith("9 of 20 queries were refused (45%)")
    off = found[(nightly.client_id, "off_hours", None)]
    assert (off["value"], off["threshold"]) == (0.45, 0.25)
    assert off["reason"].startswith("9 of 20 queries were made outside 08:00-20:00 China Standard Time")
    mismatch = found[(wrong.client_id, "purpose_mismatch", "employment_screening")]
    assert mismatch["value"] == 3
    assert "purpose employment_screening is for employer institutions, but this institution is a lender" in (
        mismatch["reason"])
    stored = {e.seq: e for e in _all_entries(rt)}
    assert [stored[s].purpose for s in mismatch["entries"]] == ["employment_screening"] * 3
    assert all(stored[s].actor == wrong.client_id for s in mismatch["entries"])
    unknown = found[(wrong.client_id, "purpose_mismatch", "debt_collection")]
    assert "not a registered purpose" in unknown["reason"]
    assert len(unknown["entries"]) == 1


def test_the_anomaly_window_and_thresholds_come_from_the_query_and_the_settings(
    client: FlaskClient, rt: Runtime, auth: Auth, clock: FrozenClock
) -> None:
    clock.set(REVIEW_AT)
    nightly = auth.register("institution", kind="landlord")
    auditor = auth.register("auditor")
    _queries(rt, clock, nightly.client_id, [_cst(1, 10) + timedelta(minutes=n) for n in range(5)], "tenancy")
    clock.set(REVIEW_AT)
    assert _anomalies(client, auditor)["anomalies"] == []  # 5 queries: too few to judge with the default 20
    rt.settings = rt.settings.with_overrides(anomaly_min_queries=5, anomaly_window_days=10)
    assert _anomalies(client, auditor)["anomalies"] == []  # Oct 1 is outside the last 10 days
    since = _cst(1, 0).isoformat()
    found = _anomalies(client, auditor, since=since)["anomalies"]
    assert [(a["kind_of_anomaly"], a["value"], a["threshold"]) for a in found] == [("off_hours", 1.0, 0.25)]
    assert _anomalies(client, auditor, since=since, until=_cst(1, 10).isoformat())["anomalies"] == []
    bad = client.get(ANOMALIES, query_string={"since": since, "until": since}, headers=auditor.headers)
    assert bad.status_code == 422
    assert bad.json["field"] == "until"
    assert client.get(ANOMALIES, query_string={"window": "P1D"}, headers=auditor.headers).status_code == 422


# --- the description ------------------------------------------------------------------------------

SPEC_URL = "/api/v1/openapi.json"
OPERATIONS = {"GET /api/v1/audit/entries": ENTRIES, "POST /api/v1/audit/entries/search": SEARCH,
              "GET /api/v1/audit/anomalies": ANOMALIES}


def _conforms(api: Any, label: str, response: Any) -> None:
    operation = api.find_operation_by_label(label)
    assert operation is not None, label
    operation.validate_response(response)
    assert str(response.status_code) in operation.definition.raw["responses"], (label, response.status_code)


def test_answers_conform_to_the_description(
    app: Flask, client: FlaskClient, rt: Runtime, log: Log, auditor: Registered
) -> None:
    api = schemathesis.openapi.from_wsgi(SPEC_URL, app)
    spec = _ok(client.get(SPEC_URL))
    for label in OPERATIONS:
        method, path = label.split()
        op = spec["paths"][path][method.lower()]
        assert op["security"] == [{"bearer": []}]
        assert {"200", "401", "403", "422", "5XX"} <= set(op["responses"])
    assert set(spec["paths"][ENTRIES]["get"]["responses"]["200"]["content"]) == {
        "application/json", "application/x-ndjson", "text/csv"}
    page = client.get(ENTRIES, query_string={"limit": 2}, headers=auditor.headers)
    _conforms(api, "GET /api/v1/audit/entries", page)
    _conforms(api, "GET /api/v1/audit/entries", client.get(ENTRIES, query_string={"format": "csv"},
                                                            headers=auditor.headers))
    _conforms(api, "GET /api/v1/audit/entries", client.get(ENTRIES, query_string={"limit": 0},
                                                            headers=auditor.headers))
    _conforms(api, "GET /api/v1/audit/entries", client.get(ENTRIES))
    search = client.post(SEARCH, json={"cursor": page.json["next_cursor"], "person": log.person.citizen_id},
                         headers=auditor.headers)
    _conforms(api, "POST /api/v1/audit/entries/search", search)
    _conforms(api, "POST /api/v1/audit/entries/search", client.post(SEARCH, data=b"{", headers=auditor.headers,
                                                                    content_type="application/json"))
    _conforms(api, "GET /api/v1/audit/anomalies", client.get(ANOMALIES, headers=auditor.headers))
    _conforms(api, "GET /api/v1/audit/anomalies", client.get(ANOMALIES, headers=log.employer.headers))


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(
    app: Flask, engine: Engine, rt: Runtime, log: Log, auditor: Registered, label: str
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("schemathesis runs on SQLite only: it is slow, and the tests above cover PostgreSQL")
    config = schemathesis.Config.from_dict({"generation": {"with-security-parameters": False}})
    operation = schemathesis.openapi.from_wsgi(SPEC_URL, app, config=config).find_operation_by_label(label)
    assert operation is not None
    strategy = st.one_of(operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                         operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))

    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(case=strategy)
    def check(case: Any) -> None:
        case.call_and_validate(checks=CHECKS, headers=auditor.headers)

    check()


# --- configuration --------------------------------------------------------------------------------


def test_anomaly_thresholds_come_from_the_environment(tmp_path: Path) -> None:
    default = from_environ({"XINYONG_HOME": str(tmp_path)})
    assert (default.anomaly_volume_factor, default.anomaly_min_queries, default.anomaly_refusal_rate,
            default.anomaly_off_hours_share, default.anomaly_window_days, default.audit_export_max_entries) == (
        5.0, 20, 0.3, 0.25, 30, 100_000)
    chosen = from_environ({"XINYONG_HOME": str(tmp_path), "XINYONG_ANOMALY_VOLUME_FACTOR": "3.5",
                           "XINYONG_ANOMALY_MIN_QUERIES": "50", "XINYONG_ANOMALY_REFUSAL_RATE": "0.1",
                           "XINYONG_ANOMALY_OFF_HOURS_SHARE": "0.5", "XINYONG_ANOMALY_WINDOW_DAYS": "7",
                           "XINYONG_AUDIT_EXPORT_MAX": "1000"})
    assert (chosen.anomaly_volume_factor, chosen.anomaly_min_queries, chosen.anomaly_refusal_rate,
            chosen.anomaly_off_hours_share, chosen.anomaly_window_days, chosen.audit_export_max_entries) == (
        3.5, 50, 0.1, 0.5, 7, 1000)


@pytest.mark.parametrize(("name", "value"), [
    ("XINYONG_ANOMALY_VOLUME_FACTOR", "five"), ("XINYONG_ANOMALY_VOLUME_FACTOR", "0.5"),
    ("XINYONG_ANOMALY_VOLUME_FACTOR", "nan"), ("XINYONG_ANOMALY_MIN_QUERIES", "0"),
    ("XINYONG_ANOMALY_MIN_QUERIES", "2.5"), ("XINYONG_ANOMALY_REFUSAL_RATE", "1.5"),
    ("XINYONG_ANOMALY_OFF_HOURS_SHARE", "-0.1"), ("XINYONG_ANOMALY_WINDOW_DAYS", "0"),
    ("XINYONG_AUDIT_EXPORT_MAX", "0"),
])
def test_a_threshold_out_of_range_stops_the_start_naming_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        from_environ({"XINYONG_HOME": str(tmp_path), name: value})
