"""What an app holds for a person, and taking it back: token revocation (RFC 7009), the person's list of app
logins with its revoke button and API, and the consent screen shown the first time an app asks for `me`."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from audit.clock import FrozenClock
from audit.entries import AuditEntry
from gateway.runtime import Runtime
from gateway.usecases import apps
from gateway.usecases import clients as client_use
from gateway.web.oauth.bearer import CLIENT_TOKENS
from tests.api.test_oauth_apps import (
    APP,
    ASSERTION_TYPE,
    Browser,
    _assertion,
    _bearer,
    _callback,
    _exchange,
    _key,
    _oauth_error,
    _refresh,
    _tokens,
    _with_assertion,
)
from tests.conftest import Auth, People, Registered, penalty

REPORT = "/api/v1/me/report"


@pytest.fixture
def browser(app: Flask, rt: Runtime, people: People) -> Browser:
    return Browser(app, rt, people.new())


@pytest.fixture
def logged_in(browser: Browser) -> Browser:
    """Logged in, and the app allowed once."""
    assert browser.log_in().status_code == 302
    assert "code" in _callback(browser.answer_consent("allow"))
    return browser


def _revoke(client: FlaskClient, token: str, hint: str | None = None, **auth: Any) -> TestResponse:
    data = {"token": token, **({"token_type_hint": hint} if hint else {})}
    headers = {}
    if "basic" in auth:
        client_id, secret = auth["basic"]
        headers["Authorization"] = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    else:
        data["client_id"] = auth.get("client_id", APP)
    return client.post("/oauth/revoke", data=data, headers=headers)


def _actions(rt: Runtime, prefix: str) -> list[AuditEntry]:
    with rt.sessions() as session, session.begin():
        found = session.execute(select(AuditEntry).where(AuditEntry.action.startswith(prefix))
                                .order_by(AuditEntry.seq)).scalars().all()
        session.expunge_all()
        return list(found)


def _csrf(client: FlaskClient, page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).get_data(as_text=True))
    assert found is not None
    return found.group(1)


def _problem(response: TestResponse, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.json is not None
    assert response.json["code"] == code


# --- RFC 7009 revocation ------------------------------------------------------------------------


def test_revoking_an_apps_refresh_token_ends_its_access_tokens_at_once_and_is_audited(
    client: FlaskClient, logged_in: Browser, rt: Runtime
) -> None:
    first = _tokens(client, logged_in)
    second = _refresh(client, first["refresh_token"]).json
    assert second is not None
    assert client.get(REPORT, headers=_bearer(first["access_token"])).status_code == 200
    response = _revoke(client, second["refresh_token"], "refresh_token")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json == {}
    assert response.headers["Cache-Control"] == "no-store"
    for access in (first["access_token"], second["access_token"]):  # the whole login, older tokens too
        _problem(client.get(REPORT, headers=_bearer(access)), 401, "unauthenticated")
    _oauth_error(_refresh(client, second["refresh_token"]), "invalid_grant")
    [entry] = _actions(rt, "gateway:token:revoked")
    assert (entry.actor, entry.role, entry.outcome) == (APP, "app", "allowed")
    assert entry.subject_ref is not None
    assert entry.detail["token_type"] == "refresh_token"
    assert entry.detail["tokens_revoked"] == 2


def test_revoking_an_apps_access_token_ends_its_refresh_token_too(client: FlaskClient, logged_in: Browser) -> None:
    tokens = _tokens(client, logged_in)
    other = _tokens(client, logged_in)  # another login (another device) is untouched
    assert _revoke(client, tokens["access_token"]).status_code == 200
    assert client.get(REPORT, headers=_bearer(tokens["access_token"])).status_code == 401
    _oauth_error(_refresh(client, tokens["refresh_token"]), "invalid_grant")
    assert client.get(REPORT, headers=_bearer(other["access_token"])).status_code == 200


def test_a_wrong_type_hint_still_finds_the_token(client: FlaskClient, logged_in: Browser) -> None:
    tokens = _tokens(client, logged_in)
    assert _revoke(client, tokens["access_token"], "refresh_token").status_code == 200
    assert client.get(REPORT, headers=_bearer(tokens["access_token"])).status_code == 401


def test_an_unknown_or_already_revoked_token_is_answered_200_and_nothing_is_audited(
    client: FlaskClient, logged_in: Browser, rt: Runtime
) -> None:
    assert _revoke(client, "no-such-token").status_code == 200
    tokens = _tokens(client, logged_in)
    assert _revoke(client, tokens["refresh_token"]).status_code == 200
    assert _revoke(client, tokens["refresh_token"]).status_code == 200
    assert len(_actions(rt, "gateway:token:revoked")) == 1


def test_a_client_revokes_its_own_token_and_it_is_refused_at_once_though_cached(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    CLIENT_TOKENS.clear()
    provider = auth.provider()
    assert client.post("/api/v1/records", json=penalty(people.new()), headers=provider.headers).status_code == 201
    assert _revoke(client, provider.token, basic=(provider.client_id, provider.secret)).status_code == 200
    response = client.post("/api/v1/records", json=penalty(people.new()), headers=provider.headers)
    _problem(response, 401, "unauthenticated")


def test_a_client_cannot_revoke_another_clients_token(client: FlaskClient, auth: Auth, people: People,
                                                      logged_in: Browser) -> None:
    provider, other = auth.provider(), auth.register("institution", kind="employer")
    _oauth_error(_revoke(client, provider.token, basic=(other.client_id, other.secret)), "invalid_grant")
    app_tokens = _tokens(client, logged_in)
    _oauth_error(_revoke(client, app_tokens["refresh_token"], basic=(other.client_id, other.secret)), "invalid_grant")
    _oauth_error(_revoke(client, provider.token), "invalid_grant")  # the app, for a client's token
    assert client.post("/api/v1/records", json=penalty(people.new()), headers=provider.headers).status_code == 201
    assert client.get(REPORT, headers=_bearer(app_tokens["access_token"])).status_code == 200


def test_a_revocation_needs_client_authentication(client: FlaskClient, auth: Auth) -> None:
    provider: Registered = auth.provider()
    _oauth_error(_revoke(client, provider.token, basic=(provider.client_id, "wrong")), "invalid_client", 401)
    _oauth_error(client.post("/oauth/revoke", data={"token": provider.token}), "invalid_client", 401)
    # A registered client cannot pass as a public one by naming itself without its secret.
    _oauth_error(_revoke(client, provider.token, client_id=provider.client_id), "invalid_client", 401)


def test_a_private_key_jwt_client_revokes_with_an_assertion_as_at_the_token_endpoint(
    client: FlaskClient, rt: Runtime, clock: FrozenClock, people: People
) -> None:
    CLIENT_TOKENS.clear()
    key, alg = _key("P-256")
    made = client_use.add_client(rt, role="institution", name="keyed employer", categories=[], kind="employer",
                                 jwks={"keys": [key.as_dict(private=False)]})
    issued = _with_assertion(client, _assertion(made.client_id, key, alg, clock.now().timestamp()))
    token = issued.json["access_token"]  # type: ignore[index]
    ask = {"citizen_id": people.new(), "purpose": "employment_screening", "reason": "applicant", "valid_for": "P7D"}
    assert client.post("/api/v1/consent-requests", headers=_bearer(token), json=ask).status_code == 201
    assertion = _assertion(made.client_id, key, alg, clock.now().timestamp())
    revoked = client.post("/oauth/revoke", data={"token": token, "client_assertion_type": ASSERTION_TYPE,
                                                 "client_assertion": assertion})
    assert revoked.status_code == 200, revoked.get_data(as_text=True)
    _problem(client.post("/api/v1/consent-requests", headers=_bearer(token), json=ask), 401, "unauthenticated")
    again = client.post("/oauth/revoke", data={"token": token, "client_assertion_type": ASSERTION_TYPE,
                                               "client_assertion": assertion})
    _oauth_error(again, "invalid_client", 401)  # each assertion once, here too


def test_failed_client_authentication_at_revocation_is_audited_and_limited_as_at_the_token_endpoint(
    client: FlaskClient, auth: Auth, rt: Runtime
) -> None:
    provider = auth.provider()
    limit = next(x for x in rt.settings.failure_limits.client_authentication if x.scope == "account_at_address")
    for _ in range(limit.failures):
        _oauth_error(_revoke(client, provider.token, basic=(provider.client_id, "wrong")), "invalid_client", 401)
    held = _revoke(client, provider.token, basic=(provider.client_id, provider.secret))
    assert held.status_code == 429
    assert int(held.headers["Retry-After"]) > 0
    denials = _actions(rt, "gateway:client:auth-denied")
    assert len(denials) == limit.failures
    assert denials[0].detail["endpoint"] == "revocation"


def test_a_revocation_without_a_token_or_with_an_unknown_hint_is_refused(client: FlaskClient) -> None:
    _oauth_error(client.post("/oauth/revoke", data={"client_id": APP}), "invalid_request")
    _oauth_error(client.post("/oauth/revoke", data={"client_id": APP, "token": ""}), "invalid_request")
    _oauth_error(_revoke(client, "x", "id_token"), "unsupported_token_type")


# --- the consent screen -------------------------------------------------------------------------


def test_the_consent_screen_shows_the_app_and_what_it_will_see_once(browser: Browser, rt: Runtime) -> None:
    assert browser.log_in().status_code == 302
    screen = browser.authorize()
    assert screen.status_code == 200
    assert screen.headers["Cache-Control"] == "no-store"
    page = screen.get_data(as_text=True)
    assert "信用 App" in page
    assert "读取你的信用报告" in page
    assert 'value="allow"' in page
    assert 'value="deny"' in page
    answer = _callback(browser.answer_consent("allow"))
    assert set(answer) == {"code", "state"}
    assert answer["state"] == "xyz-state"
    assert set(_callback(browser.authorize(state="again"))) == {"code", "state"}  # remembered: no screen
    [entry] = _actions(rt, "gateway:app-consent:")
    assert (entry.action, entry.role, entry.outcome) == ("gateway:app-consent:granted", "person", "allowed")
    assert entry.actor == entry.subject_ref
    assert entry.detail == {"client_id": APP, "scope": "me"}


def test_deny_returns_access_denied_to_the_app_and_asks_again_next_time(browser: Browser, rt: Runtime) -> None:
    assert browser.log_in().status_code == 302
    answer = _callback(browser.answer_consent("deny"))
    assert (answer["error"], answer["state"]) == ("access_denied", "xyz-state")
    assert "code" not in answer
    assert browser.authorize().status_code == 200  # nothing remembered
    [entry] = _actions(rt, "gateway:app-consent:")
    assert (entry.action, entry.outcome) == ("gateway:app-consent:denied", "denied")


@pytest.mark.parametrize("decision", ["", "ALLOW", "allow ", "allow\x00", "yes"])
def test_an_answer_that_is_not_exactly_allow_is_a_denial(browser: Browser, decision: str) -> None:
    # Fail closed: only the form's own "allow" grants; a missing or garbled answer is no consent.
    assert browser.log_in().status_code == 302
    answer = _callback(browser.answer_consent(decision))
    assert answer["error"] == "access_denied"
    assert "code" not in answer
    assert browser.authorize().status_code == 200  # nothing remembered


def test_a_state_in_any_script_comes_back_unchanged_after_the_consent_screen(browser: Browser) -> None:
    assert browser.log_in().status_code == 302
    answer = _callback(browser.answer_consent("allow", state="状态 a&b=c"))
    assert answer["state"] == "状态 a&b=c"


def test_an_answer_without_the_csrf_token_is_refused_and_nothing_remembered(browser: Browser) -> None:
    assert browser.log_in().status_code == 302
    action = browser.authorize().request.full_path
    for data in ({"decision": "allow"}, {"decision": "allow", "csrf_token": "forged"}):
        response = browser.client.post(action, data=data)
        assert response.status_code == 400
        assert "Location" not in response.headers
    assert browser.authorize().status_code == 200


def test_an_answer_from_a_browser_not_logged_in_goes_to_the_login(browser: Browser, app: Flask) -> None:
    stranger = app.test_client()
    action = browser.authorize().request.full_path
    response = stranger.post(action, data={"decision": "allow", "csrf_token": _csrf(stranger, "/login")})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_an_invalid_request_is_refused_before_the_consent_screen(browser: Browser) -> None:
    assert browser.log_in().status_code == 302
    assert _callback(browser.authorize(scope="me records:write"))["error"] == "invalid_scope"
    assert browser.authorize(redirect_uri="https://evil.example/callback").status_code == 400


# --- the person's list of app logins ------------------------------------------------------------


def test_the_list_shows_the_app_what_it_may_see_since_when_and_last_use(
    client: FlaskClient, logged_in: Browser, clock: FrozenClock
) -> None:
    allowed_at = clock.now()
    tokens = _tokens(client, logged_in)
    clock.advance(minutes=10)
    assert client.get(REPORT, headers=_bearer(tokens["access_token"])).status_code == 200
    [login] = client.get("/api/v1/me/apps", headers=_bearer(tokens["access_token"])).json  # type: ignore[misc]
    assert login["client_id"] == APP
    assert login["name"] == {"zh": "信用 App", "en": "Xinyong app"}
    assert login["scope"] == "me"
    assert "credit report" in login["may"][0]["en"]
    assert login["since"].startswith(allowed_at.strftime("%Y-%m-%dT%H:%M"))
    assert login["last_used_at"].startswith(clock.now().strftime("%Y-%m-%dT%H:%M"))
    assert login["logins"] == 1


def test_last_use_is_written_at_most_every_five_minutes(client: FlaskClient, logged_in: Browser,
                                                        clock: FrozenClock) -> None:
    tokens = _tokens(client, logged_in)
    first_use = clock.now()
    assert client.get(REPORT, headers=_bearer(tokens["access_token"])).status_code == 200
    clock.advance(minutes=4)
    assert client.get(REPORT, headers=_bearer(tokens["access_token"])).status_code == 200
    [login] = logged_in.client.get("/api/v1/me/apps").json  # type: ignore[misc]
    assert login["last_used_at"].startswith(first_use.strftime("%Y-%m-%dT%H:%M"))
    clock.advance(minutes=2)
    assert client.get(REPORT, headers=_bearer(tokens["access_token"])).status_code == 200
    [login] = logged_in.client.get("/api/v1/me/apps").json  # type: ignore[misc]
    assert login["last_used_at"].startswith(clock.now().strftime("%Y-%m-%dT%H:%M"))


def test_the_list_shows_only_the_persons_own_apps(client: FlaskClient, logged_in: Browser, app: Flask,
                                                  rt: Runtime, people: People) -> None:
    _tokens(client, logged_in)
    other = Browser(app, rt, people.new())
    assert other.log_in().status_code == 302
    assert other.client.get("/api/v1/me/apps").json == []
    assert "没有已授权的应用" in other.client.get("/me/apps").get_data(as_text=True)
    assert len(logged_in.client.get("/api/v1/me/apps").json) == 1  # type: ignore[arg-type]


def test_the_list_needs_a_login(client: FlaskClient) -> None:
    _problem(client.get("/api/v1/me/apps"), 401, "unauthenticated")
    assert client.get("/me/apps").headers["Location"].startswith("/login?next=")


def test_revoking_the_app_through_the_api_ends_its_tokens_at_once_and_asks_consent_again(
    client: FlaskClient, logged_in: Browser, rt: Runtime
) -> None:
    tokens = _tokens(client, logged_in)
    _problem(logged_in.client.delete(f"/api/v1/me/apps/{APP}"), 403, "csrf_failed")  # a session needs CSRF
    assert client.get(REPORT, headers=_bearer(tokens["access_token"])).status_code == 200
    csrf = _csrf(logged_in.client, "/me/apps")
    response = logged_in.client.delete(f"/api/v1/me/apps/{APP}", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200, response.json
    assert response.json == {"client_id": APP, "tokens_revoked": 1}
    _problem(client.get(REPORT, headers=_bearer(tokens["access_token"])), 401, "unauthenticated")
    _oauth_error(_refresh(client, tokens["refresh_token"]), "invalid_grant")
    assert logged_in.client.get("/api/v1/me/apps").json == []
    assert logged_in.authorize().status_code == 200  # the consent screen again
    [entry] = _actions(rt, "gateway:app-consent:revoked")
    assert entry.role == "person"
    assert entry.actor == entry.subject_ref
    assert entry.detail == {"client_id": APP, "tokens_revoked": 1}
    _problem(logged_in.client.delete(f"/api/v1/me/apps/{APP}", headers={"X-CSRF-Token": csrf}), 404, "not_found")


def test_a_code_issued_before_the_revocation_cannot_be_exchanged_after_it(
    client: FlaskClient, logged_in: Browser
) -> None:
    code = logged_in.code()
    response = logged_in.client.delete(f"/api/v1/me/apps/{APP}",
                                       headers={"X-CSRF-Token": _csrf(logged_in.client, "/me/apps")})
    assert response.status_code == 200
    _oauth_error(_exchange(client, code), "invalid_grant")
    assert logged_in.client.get("/api/v1/me/apps").json == []


def test_an_app_token_may_revoke_its_own_app(client: FlaskClient, logged_in: Browser) -> None:
    tokens = _tokens(client, logged_in)
    assert client.delete(f"/api/v1/me/apps/{APP}", headers=_bearer(tokens["access_token"])).status_code == 200
    assert client.get(REPORT, headers=_bearer(tokens["access_token"])).status_code == 401


def test_another_person_cannot_revoke_someone_elses_app(client: FlaskClient, logged_in: Browser, app: Flask,
                                                        rt: Runtime, people: People) -> None:
    tokens = _tokens(client, logged_in)
    other = Browser(app, rt, people.new())
    assert other.log_in().status_code == 302
    response = other.client.delete(f"/api/v1/me/apps/{APP}", headers={"X-CSRF-Token": _csrf(other.client, "/me")})
    _problem(response, 404, "not_found")
    page = other.client.post(f"/me/apps/{APP}/revoke", data={"csrf_token": _csrf(other.client, "/me")})
    assert page.headers["Location"] == "/me/apps"
    assert "这个应用已不能代表你" in other.client.get("/me/apps").get_data(as_text=True)
    assert client.get(REPORT, headers=_bearer(tokens["access_token"])).status_code == 200


def test_the_portal_page_lists_the_app_and_its_revoke_button_revokes_it(
    client: FlaskClient, logged_in: Browser
) -> None:
    tokens = _tokens(client, logged_in)
    page = logged_in.client.get("/me/apps")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    assert "信用 App" in text
    assert "Words(" not in text  # the reader's half of the pair, not its repr
    assert "读取你的信用报告" in text
    assert "北京时间" in text
    assert f'action="/me/apps/{APP}/revoke"' in text
    assert 'href="/me/apps"' in logged_in.client.get("/me/settings").get_data(as_text=True)
    refused = logged_in.client.post(f"/me/apps/{APP}/revoke", data={})  # no CSRF token
    assert refused.status_code == 400
    assert client.get(REPORT, headers=_bearer(tokens["access_token"])).status_code == 200
    done = logged_in.client.post(f"/me/apps/{APP}/revoke", data={"csrf_token": _csrf(logged_in.client, "/me/apps")})
    assert done.status_code == 302
    after = logged_in.client.get(done.headers["Location"]).get_data(as_text=True)
    assert "已撤销" in after
    assert "没有已授权的应用" in after
    assert client.get(REPORT, headers=_bearer(tokens["access_token"])).status_code == 401


def test_a_login_past_its_refresh_tokens_life_is_not_counted(client: FlaskClient, logged_in: Browser,
                                                              rt: Runtime, clock: FrozenClock) -> None:
    _tokens(client, logged_in)
    ref = rt.vault.subject_ref(logged_in.citizen_id)
    assert [a.logins for a in apps.app_logins(rt.uow, ref)] == [1]
    clock.advance(days=31)  # past the refresh token's 30 days; the consent is still remembered
    assert [a.logins for a in apps.app_logins(rt.uow, ref)] == [0]
