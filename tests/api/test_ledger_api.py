"""The tree-head and proof API: auditors see every proof, people the proofs of entries about themselves.

Heads are checked as an outsider would: the JWS with jwcrypto against /.well-known/jwks.json, the
proofs with the RFC 9162 verifiers against the signed root.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jwcrypto import jwk, jws
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from audit import entries as audit
from audit import merkle
from audit.entries import AuditEntry, EntryDraft
from audit.heads import TreeHead
from audit.tags import Tag
from gateway.credentials import hash_secret
from gateway.models import Token
from gateway.runtime import Runtime
from gateway.usecases import ledger
from gateway.usecases import people as people_use
from gateway.web import periodic
from gateway.web.api import ledger as ledger_api
from gateway.web.app import create_app
from gateway.web.oauth.clients import APP_CLIENT_ID
from tests.conftest import NOW, Auth, People, Registered

PASSWORD = "correct horse battery"


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def log_entries(rt: Runtime, count: int, subject_ref: str | None = None) -> None:
    with rt.sessions() as session, session.begin():
        audit.append_many(session, rt.clock, [
            EntryDraft(actor=f"inst_{i}", role="institution", action=Tag.QUERY_RELEASED, subject_ref=subject_ref)
            for i in range(count)])


def leaf_hashes(rt: Runtime) -> list[bytes]:
    with rt.sessions() as session, session.begin():
        return [bytes(h) for h in session.execute(select(AuditEntry.leaf_hash).order_by(AuditEntry.seq)).scalars()]


@pytest.fixture
def auditor(auth: Auth) -> Registered:
    return auth.register("auditor")


def get(client: FlaskClient, path: str, who: Registered | None = None, **query: Any) -> TestResponse:
    return client.get(path, query_string=query, headers=who.headers if who else {})


def problem(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


# --- the signed tree head -----------------------------------------------------------------------


def test_there_is_no_tree_head_before_the_first_checkpoint(client: FlaskClient, auditor: Registered) -> None:
    assert problem(get(client, "/api/v1/audit/tree-head", auditor), 404)["code"] == "not_found"


def test_the_tree_head_is_a_jws_that_verifies_with_the_published_keys(
    client: FlaskClient, rt: Runtime, auditor: Registered
) -> None:
    log_entries(rt, 6)
    ledger.checkpoint(rt)
    response = get(client, "/api/v1/audit/tree-head", auditor)
    assert response.status_code == 200
    head = response.json
    assert head is not None
    keys = jwk.JWKSet.from_json(client.get("/.well-known/jwks.json").get_data(as_text=True))
    token = jws.JWS()
    token.deserialize(head["jws"])
    token.verify(keys, alg="EdDSA")
    claims = json.loads(token.payload)
    assert claims == {"tree_size": head["tree_size"], "root_hash": head["root_hash"], "timestamp": head["timestamp"]}
    assert token.jose_header["typ"] == "xinyong-tree-head+jws"
    hashes = leaf_hashes(rt)
    assert head["tree_size"] == len(hashes)
    assert b64(head["root_hash"]) == merkle.root_from_leaves(hashes)
    assert head["timestamp"] == "2026-11-22T02:00:00.000000Z"


def test_the_tree_head_needs_credentials(client: FlaskClient) -> None:
    response = client.get("/api/v1/audit/tree-head")
    problem(response, 401)
    assert response.headers["WWW-Authenticate"]


def test_an_institution_may_not_read_tree_heads(client: FlaskClient, auth: Auth) -> None:
    institution = auth.register("institution", kind="employer")
    assert problem(get(client, "/api/v1/audit/tree-head", institution), 403)["code"] == "insufficient_scope"


def test_a_bad_token_is_a_401(client: FlaskClient) -> None:
    response = client.get("/api/v1/audit/tree-head", headers={"Authorization": "Bearer nope"})
    problem(response, 401)


# --- proofs for auditors ------------------------------------------------------------------------


def test_an_auditor_gets_inclusion_proofs_that_verify_against_the_signed_root(
    client: FlaskClient, rt: Runtime, auditor: Registered
) -> None:
    log_entries(rt, 13)
    head = ledger.checkpoint(rt).head
    log_entries(rt, 2)  # not yet in a head
    hashes = leaf_hashes(rt)
    for index in (0, 5, head.tree_size - 1):
        response = get(client, "/api/v1/audit/proof/inclusion", auditor, index=index)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.json
        assert body is not None
        assert (body["index"], body["tree_size"]) == (index, head.tree_size)
        assert b64(body["leaf_hash"]) == hashes[index]
        path = [b64(h) for h in body["audit_path"]]
        assert merkle.verify_inclusion(hashes[index], index, head.tree_size, path, head.root_hash)


def test_an_inclusion_proof_in_an_older_tree_verifies_against_that_tree(
    client: FlaskClient, rt: Runtime, auditor: Registered
) -> None:
    log_entries(rt, 20)
    ledger.checkpoint(rt)
    hashes = leaf_hashes(rt)
    body = get(client, "/api/v1/audit/proof/inclusion", auditor, index=3, tree_size=7).json
    assert body is not None
    path = [b64(h) for h in body["audit_path"]]
    assert merkle.verify_inclusion(hashes[3], 3, 7, path, merkle.root_from_leaves(hashes[:7]))


def test_an_auditor_gets_consistency_proofs_between_signed_heads(
    client: FlaskClient, rt: Runtime, auditor: Registered
) -> None:
    log_entries(rt, 7)
    old = ledger.checkpoint(rt).head
    log_entries(rt, 10)
    new = ledger.checkpoint(rt).head
    assert new.tree_size == old.tree_size + 10
    response = get(client, "/api/v1/audit/proof/consistency", auditor, first=old.tree_size)
    assert response.status_code == 200
    body = response.json
    assert body is not None
    assert (body["first"], body["second"]) == (old.tree_size, new.tree_size)
    path = [b64(h) for h in body["consistency_path"]]
    assert merkle.verify_consistency(old.tree_size, new.tree_size, old.root_hash, new.root_hash, path)
    same = get(client, "/api/v1/audit/proof/consistency", auditor, first=7, second=7).json
    assert same == {"first": 7, "second": 7, "consistency_path": []}


# Queries as functions of the latest head's size n.
INCLUSION_OUT_OF_RANGE: list[tuple[Any, str]] = [
    (lambda n: {"index": n}, "index"),
    (lambda n: {"index": 0, "tree_size": n + 1}, "tree_size"),
    (lambda n: {"index": 3, "tree_size": 3}, "index"),
    (lambda n: {"index": -1}, "index"),
    (lambda n: {"index": "x"}, "index"),
    (lambda n: {"index": 10**30}, "index"),
    (lambda n: {}, "index"),
    (lambda n: {"index": 0, "extra": 1}, "extra"),
]
CONSISTENCY_OUT_OF_RANGE: list[tuple[Any, str]] = [
    (lambda n: {"first": 0}, "first"),
    (lambda n: {"first": 6, "second": 5}, "first"),
    (lambda n: {"first": 1, "second": n + 1}, "second"),
    (lambda n: {"first": n + 1}, "first"),
    (lambda n: {"second": 3}, "first"),
]


@pytest.mark.parametrize(("query", "field"), INCLUSION_OUT_OF_RANGE)
def test_an_inclusion_proof_out_of_range_is_a_422_naming_the_field(
    client: FlaskClient, rt: Runtime, auditor: Registered, query: Any, field: str
) -> None:
    log_entries(rt, 9)
    size = ledger.checkpoint(rt).head.tree_size
    log_entries(rt, 3)
    body = problem(get(client, "/api/v1/audit/proof/inclusion", auditor, **query(size)), 422)
    assert body["field"] == field


@pytest.mark.parametrize(("query", "field"), CONSISTENCY_OUT_OF_RANGE)
def test_a_consistency_proof_out_of_range_is_a_422_naming_the_field(
    client: FlaskClient, rt: Runtime, auditor: Registered, query: Any, field: str
) -> None:
    log_entries(rt, 8)
    size = ledger.checkpoint(rt).head.tree_size
    log_entries(rt, 3)
    assert problem(get(client, "/api/v1/audit/proof/consistency", auditor, **query(size)), 422)["field"] == field


def test_before_any_head_no_proof_is_in_range(client: FlaskClient, rt: Runtime, auditor: Registered) -> None:
    log_entries(rt, 3)
    assert problem(get(client, "/api/v1/audit/proof/inclusion", auditor, index=0), 422)["field"] == "index"


# --- proofs for people --------------------------------------------------------------------------


def _log_in_person(rt: Runtime, client: FlaskClient, people: People) -> str:
    citizen_id = people.new()
    code = people_use.enroll(rt, citizen_id, None, "counter").activation_code
    activated = client.post("/api/v1/subjects/activate",
                            json={"citizen_id": citizen_id, "activation_code": code, "password": PASSWORD})
    assert activated.status_code == 200
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    logged_in = client.post("/login", data={"citizen_id": citizen_id, "password": PASSWORD,
                                            "csrf_token": csrf.group(1)})
    assert logged_in.status_code == 302
    return rt.vault.subject_ref(citizen_id)


def _seqs_about(rt: Runtime, ref: str | None) -> list[int]:
    with rt.sessions() as session, session.begin():
        return list(session.execute(select(AuditEntry.seq).where(AuditEntry.subject_ref == ref)
                                    .order_by(AuditEntry.seq)).scalars())


def test_a_person_gets_inclusion_proofs_only_of_entries_about_themselves(
    client: FlaskClient, rt: Runtime, people: People
) -> None:
    log_entries(rt, 3, subject_ref="f" * 64)
    ref = _log_in_person(rt, client, people)
    head = ledger.checkpoint(rt).head
    hashes = leaf_hashes(rt)
    mine = [s for s in _seqs_about(rt, ref) if s <= head.tree_size]
    assert mine
    for seq in mine:
        response = client.get("/api/v1/audit/proof/inclusion", query_string={"index": seq - 1})
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.json
        assert body is not None
        path = [b64(h) for h in body["audit_path"]]
        assert merkle.verify_inclusion(hashes[seq - 1], seq - 1, head.tree_size, path, head.root_hash)
    someone_else = _seqs_about(rt, "f" * 64)[0]
    problem(client.get("/api/v1/audit/proof/inclusion", query_string={"index": someone_else - 1}), 404)
    assert client.get("/api/v1/audit/tree-head").status_code == 200
    assert client.get("/api/v1/audit/proof/consistency", query_string={"first": 1}).status_code == 200


def test_a_person_using_the_app_token_is_treated_as_that_person(
    client: FlaskClient, rt: Runtime, people: People
) -> None:
    ref = rt.vault.subject_ref(people.new())
    log_entries(rt, 2, subject_ref=ref)
    log_entries(rt, 2, subject_ref="e" * 64)
    ledger.checkpoint(rt)
    with rt.sessions() as session, session.begin():
        session.add(Token(token_hash=hash_secret("app-token"), client_id=APP_CLIENT_ID, scope="me", subject_ref=ref,
                          issued_at=NOW, expires_at=NOW + timedelta(hours=1), revoked=False))
    headers = {"Authorization": "Bearer app-token"}
    assert client.get("/api/v1/audit/proof/inclusion", query_string={"index": 1}, headers=headers).status_code == 200
    problem(client.get("/api/v1/audit/proof/inclusion", query_string={"index": 2}, headers=headers), 404)
    assert client.get("/api/v1/audit/tree-head", headers=headers).status_code == 200


# --- heads keep coming --------------------------------------------------------------------------


def _heads(rt: Runtime) -> int:
    with rt.sessions() as session, session.begin():
        return int(session.execute(select(func.count()).select_from(TreeHead)).scalar_one())


def test_a_checkpoint_follows_a_response_once_the_interval_has_passed(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(periodic.time, "monotonic", lambda: now[0])
    app = create_app({"TESTING": True}, runtime=rt)
    client = app.test_client()
    log_entries(rt, 4)
    client.get("/api/v1/catalogue", buffered=True)
    assert _heads(rt) == 0
    now[0] += 10
    client.get("/api/v1/catalogue", buffered=True)
    assert _heads(rt) == 1
    log_entries(rt, 1)
    now[0] += 9
    client.get("/api/v1/catalogue", buffered=True)
    assert _heads(rt) == 1
    now[0] += 1
    client.get("/api/v1/catalogue", buffered=True)
    assert _heads(rt) == 2


def test_a_failing_checkpoint_never_fails_the_request(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(_rt: Runtime) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ledger_api.use, "checkpoint", boom)
    app: Flask = create_app({"TESTING": True, "AUDIT_CHECKPOINT_SECONDS": 0}, runtime=rt)
    with caplog.at_level(logging.ERROR, logger="xinyong.gateway.ledger"):
        response = app.test_client().get("/api/v1/catalogue", buffered=True)
    assert response.status_code == 200
    assert "audit checkpoint failed" in caplog.text
