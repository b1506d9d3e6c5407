"""Client tokens are cached for a short while; the cache never outlives the token or its window."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import delete

from audit.clock import FrozenClock
from gateway.credentials import hash_secret
from gateway.models import Token
from gateway.runtime import Runtime
from gateway.web.oauth.bearer import CLIENT_TOKENS, Caller
from tests.conftest import Auth, People, penalty


def _forget_token(rt: Runtime, token: str) -> None:
    with rt.sessions() as session, session.begin():
        session.execute(delete(Token).where(Token.token_hash == hash_secret(token)))


def test_a_client_token_is_served_from_the_cache_for_at_most_thirty_seconds(
    client: FlaskClient, auth: Auth, people: People, rt: Runtime, clock: FrozenClock
) -> None:
    CLIENT_TOKENS.clear()
    provider = auth.provider()
    assert client.post("/api/v1/records", json=penalty(people.new()), headers=provider.headers).status_code == 201
    _forget_token(rt, provider.token)  # as if it were revoked in the database
    assert client.post("/api/v1/records", json=penalty(people.new()), headers=provider.headers).status_code == 201
    clock.advance(seconds=31)
    assert client.post("/api/v1/records", json=penalty(people.new()), headers=provider.headers).status_code == 401


def test_a_cached_token_still_expires_on_time(
    client: FlaskClient, auth: Auth, people: People, clock: FrozenClock
) -> None:
    CLIENT_TOKENS.clear()
    provider = auth.provider()
    assert client.post("/api/v1/records", json=penalty(people.new()), headers=provider.headers).status_code == 201
    clock.advance(hours=1, seconds=1)
    assert client.post("/api/v1/records", json=penalty(people.new()), headers=provider.headers).status_code == 401


def test_the_cache_forgets_entries_when_the_clock_goes_back(auth: Auth, clock: FrozenClock) -> None:
    CLIENT_TOKENS.clear()
    provider = auth.provider()
    key = hash_secret(provider.token)
    assert CLIENT_TOKENS.get(key, clock.now()) is None  # the token endpoint does not fill it
    caller = Caller(actor="x", role="provider", scope=frozenset())
    CLIENT_TOKENS.put(key, caller, clock.now() + timedelta(hours=1), clock.now())
    assert CLIENT_TOKENS.get(key, clock.now()) is not None
    assert CLIENT_TOKENS.get(key, clock.now() - timedelta(seconds=1)) is None


def test_a_disabled_clients_token_is_refused_once_no_worker_holds_it_in_its_cache(
        client: FlaskClient, auth: Auth, rt: Runtime, people: People) -> None:
    from gateway.usecases import clients as client_use

    provider = auth.provider()
    body = penalty(people.new())
    assert client.post("/api/v1/records", json=body, headers=provider.headers).status_code == 201
    assert client_use.disable_client(rt, provider.client_id) == 1
    CLIENT_TOKENS.clear()  # another worker, or this one 30 s later
    assert client.post("/api/v1/records", json=body, headers=provider.headers).status_code == 401
    basic = base64.b64encode(f"{provider.client_id}:{provider.secret}".encode()).decode()
    again = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                        headers={"Authorization": f"Basic {basic}"})
    assert again.status_code == 401


def test_a_cached_token_is_checked_without_authlib_and_keeps_its_scope_and_expiry(
    client: FlaskClient, auth: Auth, people: People, clock: FrozenClock, monkeypatch: Any
) -> None:
    from gateway.web.oauth import bearer

    CLIENT_TOKENS.clear()
    provider = auth.provider()
    assert client.post("/api/v1/records", json=penalty(people.new()), headers=provider.headers).status_code == 201
    seen: list[str] = []
    real = bearer.protector.acquire_token

    def counting(*args: Any, **kwargs: Any) -> Any:
        seen.append("authlib")
        return real(*args, **kwargs)

    monkeypatch.setattr(bearer.protector, "acquire_token", counting)
    assert client.post("/api/v1/records", json=penalty(people.new()), headers=provider.headers).status_code == 201
    assert seen == [], "a cached token is served from the cache"
    # A scope the token lacks, another spelling of the header, an expired token: Authlib answers, as before.
    assert client.get("/api/v1/audit/entries", headers=provider.headers).status_code == 403
    assert seen == ["authlib"]
    odd = {"Authorization": provider.headers["Authorization"] + " "}
    assert client.post("/api/v1/records", json=penalty(people.new()), headers=odd).status_code == 401
    clock.advance(hours=1, seconds=1)
    assert client.post("/api/v1/records", json=penalty(people.new()), headers=provider.headers).status_code == 401
    assert len(seen) == 3
