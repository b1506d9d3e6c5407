"""A freeze of one's own file: new requests withheld from the person and lapsing, the institution answered
exactly as for an unknown person, existing grants kept (or all revoked on request), every change audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.engine import Connection
from werkzeug.test import TestResponse

from audit.clock import FrozenClock
from audit.entries import AuditEntry
from gateway.runtime import Runtime
from tests.api.test_oauth_apps import Browser, _bearer, _callback, _tokens
from tests.conftest import NOW, Auth, People, Person, Registered, penalty


def _ask(client: FlaskClient, employer: Registered, citizen_id: str) -> TestResponse:
    return client.post("/api/v1/consent-requests", headers=employer.headers, json={
        "citizen_id": citizen_id, "purpose": "employment_screening", "reason": "applicant for accountant post",
        "valid_for": "P7D"})


def _query(client: FlaskClient, employer: Registered, consent_id: str) -> TestResponse:
    return client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=employer.headers)


def _freeze(person: Person, **body: Any) -> TestResponse:
    return person.client.put("/api/v1/me/freeze", json=body, headers={"X-CSRF-Token": person.csrf})


def _unfreeze(person: Person) -> TestResponse:
    return person.client.delete("/api/v1/me/freeze", headers={"X-CSRF-Token": person.csrf})


def _entries(rt: Runtime, action: str) -> list[AuditEntry]:
    with rt.sessions() as session, session.begin():
        return list(session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                    .order_by(AuditEntry.seq)).scalars())


def _rt(client: FlaskClient) -> Runtime:
    found: Runtime = client.application.extensions["xinyong"]
    return found


def _seen(response: TestResponse, *ids: str) -> tuple[int, str | None, bytes]:
    """Return what an institution sees of an answer: status, media type and body, its own ids (and the HTTP
    request's id, different for every call) made alike."""
    body = re.sub(rb'"request_id": "[^"]*"', b'"request_id": "-"', response.get_data())
    for i, found in enumerate(ids):
        body = body.replace(found.encode(), f"<id{i}>".encode())
    return response.status_code, response.mimetype, body


def _statements(connection: Connection) -> Any:
    @contextmanager
    def record() -> Iterator[list[str]]:
        seen: list[str] = []

        def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            text = re.sub(r"sa_savepoint_\d+", "sa_savepoint", " ".join(statement.split()))
            seen.append(text.split(" VALUES")[0])

        event.listen(connection, "before_cursor_execute", listen)
        try:
            yield seen
        finally:
            event.remove(connection, "before_cursor_execute", listen)

    return record


# --- what the institution sees ------------------------------------------------------------------


def test_a_frozen_person_is_answered_byte_for_byte_as_an_unknown_one(
    client: FlaskClient, auth: Auth, employer: Registered, person: Person, people: People, clock: FrozenClock,
    connection: Connection,
) -> None:
    assert _freeze(person).status_code == 200
    _ask(client, employer, people.new())  # the token is read once, then cached
    record = _statements(connection)
    with record() as frozen_work:
        frozen = _ask(client, employer, person.citizen_id)
    unknown_id = people.new()
    with record() as unknown_work:
        unknown = _ask(client, employer, unknown_id)
    f_id, u_id = frozen.json["id"], unknown.json["id"]
    assert frozen.status_code == 201
    assert _seen(frozen, f_id) == _seen(unknown, u_id)
    # The same statements, in the same order (the freeze is read for every request, found or not).
    assert frozen_work == unknown_work, (frozen_work, unknown_work)
    assert any("freezes" in s for s in unknown_work)

    def alike(path: str, body: dict[str, Any] | None = None) -> None:
        answers = []
        for rid in (f_id, u_id):
            if body is None:
                r = client.get(path.format(rid), headers=employer.headers)
            else:
                r = client.post(path, json={k: v.format(rid) for k, v in body.items()}, headers=employer.headers)
            answers.append(_seen(r, rid))
        assert answers[0] == answers[1], answers

    alike("/api/v1/consent-requests/{}")
    alike("/api/v1/queries", {"consent_id": "{}"})  # consent_pending, as for anyone who has not answered
    assert _query(client, employer, f_id).json["code"] == "consent_pending"
    clock.set(NOW + timedelta(days=7, seconds=1))  # both lapse unanswered
    employer.token = auth.token(employer.client_id, employer.secret)
    alike("/api/v1/consent-requests/{}")
    assert client.get(f"/api/v1/consent-requests/{f_id}", headers=employer.headers).json["status"] == "lapsed"
    alike("/api/v1/queries", {"consent_id": "{}"})


# --- what the person sees -----------------------------------------------------------------------


def test_the_person_never_sees_a_request_made_while_frozen_even_after_unfreezing(
    client: FlaskClient, employer: Registered, person: Person
) -> None:
    done = _freeze(person).json
    assert done == {"frozen": True, "since": done["since"], "revoked_grants": []}
    assert person.client.get("/api/v1/me/freeze").json == done
    withheld = _ask(client, employer, person.citizen_id).json["id"]
    assert person.client.get("/api/v1/me/consent-requests").json == []
    assert withheld not in person.client.get("/me").get_data(as_text=True)
    refused = person.post(f"/api/v1/me/consent-requests/{withheld}/approve")
    missing = person.post("/api/v1/me/consent-requests/cr_000000000000000000000000/approve")
    assert refused.status_code == missing.status_code == 404
    assert refused.json["type"] == missing.json["type"]
    assert person.post(f"/api/v1/me/consent-requests/{withheld}/deny").status_code == 404
    # Nor is the person notified of it.
    told = person.client.get("/api/v1/me/notifications").json
    assert withheld not in [n["ref"] for n in told["notifications"]]
    assert told["unread"] == 0
    assert person.post("/api/v1/me/notifications/read").json["marked"] == 0

    assert _unfreeze(person).json == {"frozen": False, "since": None, "revoked_grants": []}
    fresh = _ask(client, employer, person.citizen_id).json["id"]
    assert [r["id"] for r in person.client.get("/api/v1/me/consent-requests").json] == [fresh]
    assert [n["ref"] for n in person.client.get("/api/v1/me/notifications").json["notifications"]] == [fresh]
    grant = person.approve(fresh)
    assert _query(client, employer, grant["id"]).status_code == 201
    assert person.post(f"/api/v1/me/consent-requests/{withheld}/approve").status_code == 404
    assert client.get(f"/api/v1/consent-requests/{withheld}", headers=employer.headers).json["status"] == "pending"


def test_a_grant_given_before_the_freeze_keeps_working(
    client: FlaskClient, auth: Auth, employer: Registered, person: Person
) -> None:
    client.post("/api/v1/records", json=penalty(person.citizen_id, category="ADMINISTRATIVE_PENALTY_SERIOUS"),
                headers=auth.provider().headers)
    grant = person.approve(_ask(client, employer, person.citizen_id).json["id"])
    assert _freeze(person).json["revoked_grants"] == []
    response = _query(client, employer, grant["id"])
    assert response.status_code == 201, response.json
    assert len(response.json["report"]["records"]) == 1
    assert person.client.get(f"/api/v1/me/consents/{grant['id']}").json["status"] == "exhausted"  # one use, spent


def test_revoke_grants_ends_every_grant_in_force_in_the_same_call(
    client: FlaskClient, employer: Registered, person: Person, auth: Auth
) -> None:
    other = auth.register("institution", kind="employer")
    first = person.approve(_ask(client, employer, person.citizen_id).json["id"])
    second = person.approve(_ask(client, other, person.citizen_id).json["id"])
    done = _freeze(person, revoke_grants=True)
    assert done.status_code == 200
    assert done.json["frozen"] is True
    assert done.json["revoked_grants"] == sorted([first["id"], second["id"]])
    assert _query(client, employer, first["id"]).json["code"] == "consent_revoked"
    assert _query(client, other, second["id"]).json["code"] == "consent_revoked"
    assert {g["status"] for g in person.client.get("/api/v1/me/consents").json} == {"revoked"}
    revoked = _entries(_rt(client), "consent:grant:revoked")
    assert sorted(e.basis or "" for e in revoked) == sorted([first["id"], second["id"]])
    assert {e.detail["by"] for e in revoked} == {"freeze"}


def test_revoke_grants_must_be_a_json_boolean(person: Person) -> None:
    for bad in ("true", 1, None):
        response = _freeze(person, revoke_grants=bad)
        assert response.status_code == 422, bad
        assert "revoke_grants" in response.get_data(as_text=True)
    assert person.client.get("/api/v1/me/freeze").json["frozen"] is False


# --- audit --------------------------------------------------------------------------------------


def test_each_change_is_audited_once_and_at_once(
    client: FlaskClient, employer: Registered, person: Person
) -> None:
    rt = _rt(client)
    ref = rt.vault.subject_ref(person.citizen_id)
    assert _freeze(person).status_code == 200
    assert _freeze(person).json["frozen"] is True  # already frozen: nothing changes, nothing is recorded
    frozen = _entries(rt, "consent:file:frozen")
    assert [(e.actor, e.role, e.subject_ref) for e in frozen] == [(ref, "person", ref)]
    _ask(client, employer, person.citizen_id)
    asked = _entries(rt, "consent:request:created")[-1]
    assert asked.detail["withheld"] == "file frozen"
    assert _unfreeze(person).status_code == 200
    assert _unfreeze(person).json["frozen"] is False
    unfrozen = _entries(rt, "consent:file:unfrozen")
    assert [(e.actor, e.subject_ref) for e in unfrozen] == [(ref, ref)]
    assert unfrozen[0].seq > frozen[0].seq
    _ask(client, employer, person.citizen_id)
    assert "withheld" not in _entries(rt, "consent:request:created")[-1].detail


# --- who may freeze -----------------------------------------------------------------------------


def test_a_person_freezes_only_their_own_file(
    client: FlaskClient, app: Flask, rt: Runtime, employer: Registered, person: Person, people: People
) -> None:
    other = Person(app, rt, people.new())
    # No member names a person: the caller's own file is the only one there is.
    named = _freeze(person, citizen_id=other.citizen_id)
    assert named.status_code == 422
    assert _freeze(person).status_code == 200
    assert other.client.get("/api/v1/me/freeze").json["frozen"] is False
    asked = _ask(client, employer, other.citizen_id).json["id"]
    assert [r["id"] for r in other.client.get("/api/v1/me/consent-requests").json] == [asked]
    assert _unfreeze(other).json["frozen"] is False
    assert person.client.get("/api/v1/me/freeze").json["frozen"] is True


def test_institutions_and_strangers_cannot_freeze(client: FlaskClient, employer: Registered) -> None:
    assert client.put("/api/v1/me/freeze", json={}, headers=employer.headers).status_code == 403
    assert client.delete("/api/v1/me/freeze", headers=employer.headers).status_code == 403
    assert client.put("/api/v1/me/freeze", json={}).status_code == 401


def test_a_me_token_freezes_and_unfreezes(client: FlaskClient, app: Flask, rt: Runtime, people: People) -> None:
    browser = Browser(app, rt, people.new())
    assert browser.log_in().status_code == 302
    assert "code" in _callback(browser.answer_consent("allow"))
    me = _bearer(_tokens(client, browser)["access_token"])
    assert client.put("/api/v1/me/freeze", json={}, headers=me).json["frozen"] is True
    assert client.get("/api/v1/me/freeze", headers=me).json["frozen"] is True
    assert client.delete("/api/v1/me/freeze", headers=me).json["frozen"] is False


def test_a_session_needs_the_csrf_header_to_freeze(person: Person) -> None:
    put = person.client.put("/api/v1/me/freeze", json={})
    delete = person.client.delete("/api/v1/me/freeze")
    assert put.status_code == delete.status_code == 403
    assert put.mimetype == "application/problem+json"
    assert person.client.get("/api/v1/me/freeze").json["frozen"] is False


# --- the portal ---------------------------------------------------------------------------------


def test_the_portal_freezes_with_a_csrf_protected_form_and_says_so_in_chinese_first(
    client: FlaskClient, employer: Registered, person: Person
) -> None:
    page = person.client.get("/me/settings").get_data(as_text=True)
    assert re.search(r'<form method="post" action="/me/freeze"><input type="hidden" name="csrf_token"', page)
    assert person.client.post("/me/freeze", data={}).status_code == 400
    assert person.client.post("/me/freeze", data={"csrf_token": "forged"}).status_code == 400
    assert person.client.get("/api/v1/me/freeze").json["frozen"] is False

    grant = person.approve(_ask(client, employer, person.citizen_id).json["id"])
    done = person.client.post("/me/freeze", data={"csrf_token": person.csrf, "revoke_grants": "yes"})
    assert done.status_code == 302
    assert done.headers["Location"].endswith("/me/settings#freeze")
    shown = person.client.get("/me/settings").get_data(as_text=True)
    assert "已冻结，并已撤回你给出的全部授权。" in shown
    assert 'action="/me/unfreeze"' in shown
    assert _query(client, employer, grant["id"]).json["code"] == "consent_revoked"

    assert person.client.post("/me/unfreeze", data={}).status_code == 400
    undone = person.client.post("/me/unfreeze", data={"csrf_token": person.csrf})
    assert undone.headers["Location"].endswith("/me/settings#freeze")
    assert "已解除冻结" in person.client.get("/me/settings").get_data(as_text=True)
    assert person.client.get("/api/v1/me/freeze").json["frozen"] is False
