"""Failed client authentication at the token endpoint: audited without the secret, and limited per client at
an address, per address and per client across addresses, with a 429 and Retry-After."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from audit.clock import FrozenClock
from audit.entries import AuditEntry
from gateway.limits import Limit
from gateway.models import ClientAuthFailure
from gateway.runtime import Runtime
from tests.conftest import Auth, Registered

DENIED = "gateway:client:auth-denied"
PROBE = "203.0.113.66"
SERVER = "198.51.100.20"


def _limit(rt: Runtime, scope: str) -> Limit:
    return next(limit for limit in rt.settings.failure_limits.client_authentication if limit.scope == scope)


def _token(client: FlaskClient, client_id: str, secret: str, address: str) -> TestResponse:
    return client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret),
                       environ_base={"REMOTE_ADDR": address})


def _denials(rt: Runtime) -> list[AuditEntry]:
    with rt.sessions() as session, session.begin():
        return list(session.execute(select(AuditEntry).where(AuditEntry.action == DENIED)
                                    .order_by(AuditEntry.seq)).scalars())


@pytest.fixture
def lender(auth: Auth) -> Registered:
    return auth.register("institution", kind="lender")


def test_a_wrong_secret_is_audited_as_a_denial_naming_the_client_and_never_the_secret(
        client: FlaskClient, rt: Runtime, lender: Registered) -> None:
    wrong = "not-the-secret-" + lender.secret[:8]
    assert _token(client, lender.client_id, wrong, PROBE).status_code == 401
    [entry] = _denials(rt)
    assert entry.outcome == "denied"
    assert entry.reason == "bad_client_credentials"
    assert entry.detail == {"client_id": lender.client_id, "method": "client_secret_basic", "endpoint": "token",
                            "institution": lender.client_id}
    written = json.dumps([entry.actor, entry.role, entry.reason, entry.detail, entry.basis])
    assert wrong not in written
    assert lender.secret not in written


def test_a_name_that_is_no_client_is_audited_and_counted_without_storing_the_name(
        client: FlaskClient, rt: Runtime) -> None:
    sent = "11010519491231002X"  # anything can be sent as a client id, even a citizen ID
    assert _token(client, sent, "whatever", PROBE).status_code == 401
    [entry] = _denials(rt)
    assert entry.detail["client_id"] is None
    assert sent not in json.dumps(entry.detail)
    with rt.sessions() as session, session.begin():
        rows = session.execute(select(ClientAuthFailure)).scalars().all()
        assert [(row.client_id, row.address) for row in rows] == [(None, PROBE)]


def test_a_failed_client_assertion_counts_for_the_client_it_names(
        client: FlaskClient, rt: Runtime, lender: Registered) -> None:
    claims = base64.urlsafe_b64encode(json.dumps({"sub": lender.client_id}).encode()).decode().rstrip("=")
    response = client.post("/oauth/token", environ_base={"REMOTE_ADDR": PROBE}, data={
        "grant_type": "client_credentials", "client_assertion": f"e30.{claims}.c2ln",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
    assert response.status_code in (400, 401)
    [entry] = _denials(rt)
    assert (entry.detail["client_id"], entry.detail["method"]) == (lender.client_id, "private_key_jwt")


def test_wrong_secrets_from_one_address_hold_back_that_address_not_the_clients_own_servers(
        client: FlaskClient, rt: Runtime, lender: Registered) -> None:
    limit = _limit(rt, "account_at_address")
    for _ in range(limit.failures):
        assert _token(client, lender.client_id, "wrong", PROBE).status_code == 401
    limited = _token(client, lender.client_id, lender.secret, PROBE)
    assert limited.status_code == 429
    assert limited.mimetype == "application/json"
    assert limited.json["error"] == "invalid_client"
    wait = int(limit.window.total_seconds())
    assert limited.headers["Retry-After"] == str(wait)
    assert f"try again in {wait} seconds" in limited.json["error_description"]
    assert limited.headers["Cache-Control"] == "no-store"
    assert _token(client, lender.client_id, lender.secret, SERVER).status_code == 200


def test_a_held_back_attempt_is_not_checked_nor_audited_again(
        client: FlaskClient, rt: Runtime, lender: Registered) -> None:
    failures = _limit(rt, "account_at_address").failures
    for _ in range(failures + 5):
        _token(client, lender.client_id, "wrong", PROBE)
    assert len(_denials(rt)) == failures


def test_probing_many_client_ids_from_one_address_holds_that_address_back(
        client: FlaskClient, rt: Runtime, lender: Registered) -> None:
    for n in range(_limit(rt, "address").failures):
        assert _token(client, f"inst_probe{n}", "wrong", PROBE).status_code == 401
    assert _token(client, lender.client_id, lender.secret, PROBE).status_code == 429
    assert _token(client, lender.client_id, lender.secret, SERVER).status_code == 200


def test_failures_for_one_client_spread_over_many_addresses_hold_back_only_those_addresses(
        client: FlaskClient, rt: Runtime, lender: Registered) -> None:
    spread = _limit(rt, "account_across_addresses")
    probes = [f"203.0.{n // 250}.{n % 250 + 1}" for n in range(spread.failures)]
    for address in probes:
        assert _token(client, lender.client_id, "wrong", address).status_code == 401
    assert _token(client, lender.client_id, lender.secret, probes[-1]).status_code == 429
    assert _token(client, lender.client_id, lender.secret, SERVER).status_code == 200


def test_the_client_hold_lifts_when_the_failures_leave_the_window(
        client: FlaskClient, rt: Runtime, lender: Registered, clock: FrozenClock) -> None:
    limit = _limit(rt, "account_at_address")
    for _ in range(limit.failures):
        _token(client, lender.client_id, "wrong", PROBE)
    assert _token(client, lender.client_id, lender.secret, PROBE).status_code == 429
    clock.advance(seconds=limit.window.total_seconds())
    assert _token(client, lender.client_id, lender.secret, PROBE).status_code == 200


def test_the_app_is_counted_too(client: FlaskClient, rt: Runtime) -> None:
    # The public app has no secret: sending one is a failed client authentication like any other.
    response: Any = client.post("/oauth/token", environ_base={"REMOTE_ADDR": PROBE}, data={
        "grant_type": "authorization_code", "code": "x", "client_id": "xinyong-app", "client_secret": "guess",
        "redirect_uri": "http://127.0.0.1:5000/callback", "code_verifier": "v" * 43})
    assert response.json["error"] == "invalid_client"
    [entry] = _denials(rt)
    assert entry.detail["client_id"] == "xinyong-app"


def test_token_requests_wait_on_the_app_only_by_address_but_on_a_registered_client_by_name(
    client: FlaskClient, lender: Registered, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The people's app has no secret to guess: a lock on its name would make every person's sign-in wait.
    import gateway.web.oauth.failures as failures

    taken: list[tuple[str, ...]] = []
    real = failures.serialise
    monkeypatch.setattr(failures, "serialise", lambda session, *keys: (taken.append(keys), real(session, *keys)))
    client.post("/oauth/token", environ_base={"REMOTE_ADDR": PROBE}, data={
        "grant_type": "authorization_code", "code": "x", "client_id": "xinyong-app",
        "redirect_uri": "http://127.0.0.1:5000/callback", "code_verifier": "v" * 43})
    _token(client, lender.client_id, lender.secret, SERVER)
    assert taken == [(f"client:address:{PROBE}",),
                     (f"client:account:{lender.client_id}", f"client:address:{SERVER}")]


@pytest.mark.parametrize("path", ["/oauth/token", "/oauth/revoke"])
def test_a_client_id_with_a_nul_is_an_unknown_client_not_a_500(client: FlaskClient, path: str) -> None:
    # PostgreSQL's text refuses a NUL: such a name must not reach a query.
    for sent in ({"auth": ("cl\x00ient", "secret")},
                 {"data": {"client_id": "cl\x00ient", "client_secret": "secret"}}):
        data = {"grant_type": "client_credentials", "token": "t", **sent.get("data", {})}
        response = client.post(path, data=data, auth=sent.get("auth"))
        assert response.status_code == 401, response.get_data(as_text=True)
        assert response.json["error"] == "invalid_client"
