"""The person's notifications through the API: kinds and ids stored, words rendered when read, Chinese first."""

from __future__ import annotations

from datetime import date

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import Connection

from audit import verify
from audit.clock import FrozenClock
from consent.models import Notification
from gateway.runtime import Runtime
from gateway.usecases import ledger
from tests.api.test_notices_api import DAY0, _report
from tests.api.test_objections_api import _filed, _ok, _record, _step, at
from tests.conftest import Auth, People, Person, Registered, penalty


def test_requests_objection_steps_changes_and_notices_reach_the_person_and_are_marked_read(
        app: Flask, client: FlaskClient, auth: Auth, people: People, person: Person, employer: Registered,
        clock: FrozenClock, rt: Runtime, connection: Connection) -> None:
    provider = auth.provider()
    at(clock, DAY0)
    body = penalty(person.citizen_id, date(2026, 6, 1), category="ADMINISTRATIVE_PENALTY_SERIOUS")
    record_id = _record(client, provider, body)
    report_id = _report(client, employer, person, "employment_screening")
    filed = _filed(person, record_id)
    at(clock, date(2026, 10, 9))
    _ok(_step(client, provider, filed["id"], "accept"))
    fixed = dict(body["payload"], fine_amount="200.00")
    _ok(_step(client, provider, filed["id"], "decide", {"outcome": "corrected", "reason": "金额更正",
                                                         "correction": fixed}))

    listed = _ok(person.client.get("/api/v1/me/notifications"))
    kinds = [(n["kind"], n["status"]) for n in listed["notifications"]]
    assert kinds == [("objection_step", "corrected"), ("notice_sent", "corrected"), ("record_changed", "corrected"),
                     ("objection_step", "accepted"), ("consent_request", None)]  # newest first
    assert listed["unread"] == 5
    by_kind = {n["kind"]: n for n in listed["notifications"]}
    assert by_kind["consent_request"]["text"]["zh"].startswith("有机构请求查询")
    assert by_kind["record_changed"]["ref"] == record_id
    assert by_kind["objection_step"]["ref"] == filed["id"]
    assert "更正" in by_kind["notice_sent"]["text"]["zh"]
    assert by_kind["notice_sent"]["text"]["en"].endswith("corrected.")
    assert report_id

    assert "5 条未读通知" in person.client.get("/me").get_data(as_text=True)
    page = person.client.get("/me/notifications").get_data(as_text=True)
    assert "已代您通知" in page
    assert "An institution that received one of your records" not in page  # one language at a time

    first = listed["notifications"][-1]["id"]
    marked = _ok(person.post("/api/v1/me/notifications/read", {"ids": [first]}))
    assert marked == {"marked": 1, "unread": 4}
    assert _ok(person.post("/api/v1/me/notifications/read"))["unread"] == 0
    assert all(n["read"] for n in _ok(person.client.get("/api/v1/me/notifications"))["notifications"])

    # Another person sees none of them and cannot mark them.
    stranger = Person(app, rt, people.new())
    assert _ok(stranger.client.get("/api/v1/me/notifications")) == {"notifications": [], "unread": 0,
                                                                    "next_before": None}
    assert _ok(stranger.post("/api/v1/me/notifications/read", {"ids": [first]})) == {"marked": 0, "unread": 0}
    # A session write needs the CSRF token; no session, no notifications.
    assert person.client.post("/api/v1/me/notifications/read", json={}).status_code == 403
    assert client.get("/api/v1/me/notifications").status_code == 401

    # Nothing stored identifies the person or quotes their data: kinds, ids and statuses only.
    stored = connection.execute(select(Notification.kind, Notification.ref, Notification.status)).all()
    # (The corrected fine, "200.00", is the payload value to look for; a bare "200" could occur in a random hex id.)
    assert all(person.citizen_id not in str(row) and "200.00" not in str(row) and "罚款" not in str(row)
               for row in stored)
    report = verify.verify_log(connection, ledger.head_verifier(rt))
    assert report.ok, report.differences


def test_notifications_come_a_page_at_a_time(person: Person, employer: Registered, client: FlaskClient) -> None:
    for _ in range(3):
        created = client.post("/api/v1/consent-requests", headers=employer.headers, json={
            "citizen_id": person.citizen_id, "purpose": "employment_screening", "reason": "hiring",
            "valid_for": "P7D", "max_uses": 1})
        assert created.status_code == 201, created.json
    first = _ok(person.client.get("/api/v1/me/notifications", query_string={"limit": 2}))
    assert len(first["notifications"]) == 2
    assert first["unread"] == 3
    rest = _ok(person.client.get("/api/v1/me/notifications",
                                 query_string={"limit": 2, "before": first["next_before"]}))
    assert [len(rest["notifications"]), rest["next_before"]] == [1, None]
    bad = person.client.get("/api/v1/me/notifications", query_string={"limit": 500})
    assert bad.status_code == 422


def test_a_cursor_past_the_databases_integers_is_a_422_not_a_500(
        person: Person, employer: Registered, client: FlaskClient) -> None:
    huge = 2**31  # their ids are INTEGER, 32 bits on PostgreSQL
    listed = person.client.get("/api/v1/me/notifications", query_string={"before": huge})
    assert listed.status_code == 422, listed.json
    assert "before" in str(listed.json)
    notices = client.get("/api/v1/notices", headers=employer.headers, query_string={"before": huge})
    assert notices.status_code == 422, notices.json
    assert "before" in str(notices.json)
    assert person.client.get("/api/v1/me/notifications", query_string={"before": huge - 1}).status_code == 200


def test_marking_an_id_past_the_databases_integers_is_a_422_not_a_500(person: Person) -> None:
    marked = person.post("/api/v1/me/notifications/read", {"ids": [2**31]})
    assert marked.status_code == 422, marked.json
    assert "ids" in str(marked.json)
    assert _ok(person.post("/api/v1/me/notifications/read", {"ids": [2**31 - 1, 2**31 - 1]})) == {
        "marked": 0, "unread": 0}
