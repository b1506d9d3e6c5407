"""The person's access log: every access to their data, each entry proved against the signed tree head."""

from __future__ import annotations

import base64
import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from jwcrypto import jwk, jws
from sqlalchemy import update

from audit import merkle
from audit.entries import AuditEntry, canonical_json
from gateway.runtime import Runtime
from gateway.usecases import ledger
from tests.api.test_consent_api import _granted, _query, _serious, _submit
from tests.conftest import Auth, People, Person, Registered


def _log(person: Person, **params: Any) -> dict[str, Any]:
    response = person.client.get("/api/v1/me/access-log", query_string=params)
    assert response.status_code == 200, response.json
    return dict(response.json)


def _independently_verified(client: FlaskClient, log: dict[str, Any], item: dict[str, Any]) -> bool:
    """What a person's own tool would do: leaf from the entry, path to the root, root signed by the service."""
    head = log["tree_head"]
    keys = jwk.JWKSet.from_json(client.get("/.well-known/jwks.json").get_data(as_text=True))
    token = jws.JWS()
    token.deserialize(head["jws"])
    token.verify(keys.get_key(token.jose_header["kid"]), alg="EdDSA")
    claims = json.loads(token.payload)
    assert claims["root_hash"] == head["root_hash"]
    leaf = merkle.leaf_hash(canonical_json(item["entry"]))
    assert base64.b64encode(leaf).decode() == item["leaf_hash"]
    path = [base64.b64decode(h) for h in item["proof"]["audit_path"]]
    return merkle.verify_inclusion(leaf, item["index"], item["proof"]["tree_size"], path,
                                   base64.b64decode(claims["root_hash"]))


def test_every_access_is_listed_with_a_proof_that_verifies(
    app: Flask, client: FlaskClient, auth: Auth, employer: Registered, person: Person, rt: Runtime
) -> None:
    record_id = _submit(client, auth.provider(), _serious(person.citizen_id))
    assert _query(client, employer, _granted(client, employer, person)).status_code == 201
    ledger.checkpoint(rt)
    log = _log(person)
    actions = [e["action"] for e in log["entries"]]
    assert "vault:record:ingested" in actions
    assert "consent:query:released" in actions
    assert "consent:grant:approved" in actions
    released = next(e for e in log["entries"] if e["action"] == "consent:query:released")
    assert released["actor"] == employer.client_id
    assert released["role"] == "institution"
    assert released["purpose"] == "employment_screening"
    assert released["released"]["records"] == [record_id]
    assert "ADMINISTRATIVE_PENALTY_SERIOUS" in released["released"]["categories"]
    assert log["tree_head_signature_valid"] is True
    assert all(e["verified"] for e in log["entries"])
    assert all(_independently_verified(client, log, e) for e in log["entries"])
    assert person.citizen_id not in json.dumps(log)


def test_an_entry_newer_than_the_latest_head_is_pending_not_verified(
    client: FlaskClient, auth: Auth, person: Person, rt: Runtime
) -> None:
    ledger.checkpoint(rt)
    _submit(client, auth.provider(), _serious(person.citizen_id))
    newest = _log(person)["entries"][0]
    assert newest["action"] == "vault:record:ingested"
    assert newest["proof"] is None
    assert newest["verified"] is False


def test_an_edited_entry_no_longer_verifies(client: FlaskClient, auth: Auth, person: Person, rt: Runtime) -> None:
    _submit(client, auth.provider(), _serious(person.citizen_id))
    ledger.checkpoint(rt)
    entries = _log(person)["entries"]
    target = next(e for e in entries if e["action"] == "vault:record:ingested")
    with rt.sessions() as session, session.begin():
        session.execute(update(AuditEntry).where(AuditEntry.seq == target["index"] + 1).values(actor="someone-else"))
    after = {e["index"]: e for e in _log(person)["entries"]}
    assert after[target["index"]]["verified"] is False
    assert all(e["verified"] for i, e in after.items() if i != target["index"])


def test_another_persons_accesses_are_not_shown(
    app: Flask, client: FlaskClient, auth: Auth, person: Person, people: People, rt: Runtime
) -> None:
    other = Person(app, rt, people.new())
    _submit(client, auth.provider(), _serious(other.citizen_id))
    mine = {e["index"] for e in _log(person)["entries"]}
    theirs = {e["index"] for e in _log(other)["entries"]}
    assert mine
    assert theirs
    assert not mine & theirs


def test_the_log_pages_with_before(client: FlaskClient, auth: Auth, person: Person) -> None:
    provider = auth.provider()
    for _ in range(3):
        _submit(client, provider, _serious(person.citizen_id))
    first = _log(person, limit=2)
    assert len(first["entries"]) == 2
    rest = _log(person, before=first["next_before"], limit=500)
    seen = [e["index"] for e in first["entries"] + rest["entries"]]
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen))
    assert person.client.get("/api/v1/me/access-log?limit=0").status_code == 422


def test_the_me_page_shows_the_log_with_verified_marks(client: FlaskClient, auth: Auth, person: Person,
                                                       rt: Runtime) -> None:
    _submit(client, auth.provider(), _serious(person.citizen_id))
    ledger.checkpoint(rt)
    page = person.client.get("/me/access").get_data(as_text=True)
    assert "他人的其他访问" in page
    assert "✓ 已验证" in page


def test_the_access_log_needs_a_person(client: FlaskClient, employer: Registered) -> None:
    assert client.get("/api/v1/me/access-log").status_code == 401
    assert client.get("/api/v1/me/access-log", headers=employer.headers).status_code == 403


def test_the_access_log_is_in_the_page_body_once_and_not_in_its_title(person: Person) -> None:
    page = person.client.get("/me/access").get_data(as_text=True)
    title = page[page.index("<title>") + len("<title>"):page.index("</title>")]
    assert title == "谁查看了 · 信用"
    assert page.count('id="own"') == 1


def test_a_cursor_beyond_any_sequence_number_is_a_422_not_a_500(person: Any) -> None:
    response = person.client.get(f"/api/v1/me/access-log?before={2**63}")
    assert response.status_code == 422
    assert response.json["field"] == "before"
