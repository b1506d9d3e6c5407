"""OAuth for apps: the first-party app's authorization code with PKCE and rotating refresh tokens, and
institutions authenticating with private_key_jwt. Every refusal the issue names has its test."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey
from sqlalchemy import select
from werkzeug.test import TestResponse

from audit.clock import FrozenClock
from audit.entries import AuditEntry
from gateway import cli
from gateway.runtime import Runtime
from gateway.usecases import clients as client_use
from gateway.usecases import people as people_use
from tests.conftest import NOW, Auth, People, Registered, penalty

PASSWORD = "a long enough passphrase"
APP = "xinyong-app"
CALLBACK = "http://127.0.0.1:53682/callback"
TOKEN_URL = "http://localhost/oauth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class Browser:
    """A person's browser: their own test client, with an account that is activated but not logged in."""

    verifier = secrets.token_urlsafe(48)  # the app's PKCE secret (RFC 7636 §4.1: 43 to 128 characters)

    def __init__(self, app: Flask, rt: Runtime, citizen_id: str) -> None:
        self.citizen_id = citizen_id
        self.client = app.test_client()
        code = people_use.enroll(rt, citizen_id, "王五", "counter").activation_code
        activated = self.client.post("/api/v1/subjects/activate", json={
            "citizen_id": citizen_id, "activation_code": code, "password": PASSWORD})
        assert activated.status_code == 200

    def log_in(self, login_url: str = "/login") -> TestResponse:
        page = self.client.get(login_url).get_data(as_text=True)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found is not None
        return self.client.post(login_url, data={"citizen_id": self.citizen_id, "password": PASSWORD,
                                                 "csrf_token": found.group(1)})

    def authorize(self, **params: str | None) -> TestResponse:
        """GET /oauth/authorize with a valid request, changed by `params` (None leaves one out)."""
        query = {"response_type": "code", "client_id": APP, "redirect_uri": CALLBACK, "state": "xyz-state",
                 "code_challenge": _s256(self.verifier), "code_challenge_method": "S256", "scope": "me"}
        query.update(params)  # type: ignore[arg-type]
        return self.client.get("/oauth/authorize", query_string={k: v for k, v in query.items() if v is not None})

    def answer_consent(self, decision: str = "allow", **params: str | None) -> TestResponse:
        """Answer the consent screen that an authorization request shows (the browser must be logged in)."""
        screen = self.authorize(**params)
        assert screen.status_code == 200, screen.headers
        page = screen.get_data(as_text=True)
        action = re.search(r'<form method="post" action="([^"]+)"', page)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert action is not None
        assert csrf is not None
        return self.client.post(html.unescape(action.group(1)),
                                data={"csrf_token": csrf.group(1), "decision": decision})

    def code(self) -> str:
        """Return a fresh code (the browser must be logged in, and the app allowed)."""
        return _callback(self.authorize())["code"]


@pytest.fixture
def browser(app: Flask, rt: Runtime, people: People) -> Browser:
    return Browser(app, rt, people.new())


@pytest.fixture
def logged_in(browser: Browser) -> Browser:
    """A browser logged in, whose person allowed the app once already."""
    assert browser.log_in().status_code == 302
    assert "code" in _callback(browser.answer_consent("allow"))
    return browser


def _callback(response: TestResponse) -> dict[str, str]:
    """Return the query of a redirect to the app's loopback callback."""
    assert response.status_code == 302, response.get_data(as_text=True)
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("http", "127.0.0.1:53682", "/callback")
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def _exchange(client: FlaskClient, code: str, verifier: str = Browser.verifier, **extra: str) -> TestResponse:
    return client.post("/oauth/token", data={"grant_type": "authorization_code", "code": code, "client_id": APP,
                                             "redirect_uri": CALLBACK, "code_verifier": verifier, **extra})


def _refresh(client: FlaskClient, refresh_token: str) -> TestResponse:
    return client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token,
                                             "client_id": APP})


def _tokens(client: FlaskClient, browser: Browser) -> dict[str, Any]:
    response = _exchange(client, browser.code())
    assert response.status_code == 200, response.json
    return dict(response.json)  # type: ignore[arg-type]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _oauth_error(response: TestResponse, error: str, status: int = 400) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.json is not None
    assert response.json["error"] == error
    assert response.json["error_description"]


# --- the journey --------------------------------------------------------------------------------


def test_the_app_logs_the_person_in_gets_a_code_and_a_token_and_reads_their_report(
    client: FlaskClient, auth: Auth, browser: Browser
) -> None:
    record = client.post("/api/v1/records", json=penalty(browser.citizen_id), headers=auth.provider().headers)
    assert record.status_code == 201
    to_login = browser.authorize()
    assert to_login.status_code == 302
    login_url = to_login.headers["Location"]
    assert urlsplit(login_url).path == "/login"
    logged_in = browser.log_in(login_url)
    assert logged_in.status_code == 302
    back = logged_in.headers["Location"]
    assert back.startswith("/oauth/authorize?")
    assert "允许" in browser.client.get(back).get_data(as_text=True)  # the consent screen, the first time
    answer = _callback(browser.answer_consent("allow"))
    assert set(answer) == {"code", "state"}
    assert answer["state"] == "xyz-state"

    issued = _exchange(client, answer["code"])
    assert issued.status_code == 200, issued.json
    assert issued.headers["Cache-Control"] == "no-store"
    token = issued.json
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "me"
    assert token["expires_in"] == 3600
    assert token["refresh_token"] != token["access_token"]

    report = client.get("/api/v1/me/report", headers=_bearer(token["access_token"]))
    assert report.status_code == 200, report.json
    assert report.json["subject"]["citizen_id_masked"] == browser.citizen_id[:4] + "*" * 10 + browser.citizen_id[-4:]
    assert [r["id"] for r in report.json["records"]] == [record.json["id"]]


def test_a_person_who_allowed_the_app_is_sent_straight_back_with_a_code_and_no_consent_screen(
    logged_in: Browser
) -> None:
    response = logged_in.authorize()
    assert response.headers["Cache-Control"] == "no-store"
    assert len(_callback(response)["code"]) >= 40


@pytest.mark.parametrize("redirect_uri", ["http://[::1]:8080/callback", "http://127.0.0.1:1/callback",
                                          "http://127.0.0.1:65535/callback"])
def test_every_loopback_port_and_ipv6_loopback_are_accepted(logged_in: Browser, redirect_uri: str) -> None:
    response = logged_in.authorize(redirect_uri=redirect_uri)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(redirect_uri + "?code=")


def test_the_token_expires_by_the_runtime_clock(
    client: FlaskClient, logged_in: Browser, clock: FrozenClock
) -> None:
    access = _tokens(client, logged_in)["access_token"]
    clock.set(NOW + timedelta(seconds=3599))
    assert client.get("/api/v1/me/report", headers=_bearer(access)).status_code == 200
    clock.set(NOW + timedelta(seconds=3600))
    assert client.get("/api/v1/me/report", headers=_bearer(access)).status_code == 401


# --- PKCE ---------------------------------------------------------------------------------------


def test_a_wrong_code_verifier_is_invalid_grant(client: FlaskClient, logged_in: Browser) -> None:
    code = logged_in.code()
    _oauth_error(_exchange(client, code, verifier=secrets.token_urlsafe(48)), "invalid_grant")
    assert _exchange(client, code).status_code == 200  # a wrong guess does not burn the code


def test_a_missing_code_verifier_is_refused(client: FlaskClient, logged_in: Browser) -> None:
    response = client.post("/oauth/token", data={"grant_type": "authorization_code", "code": logged_in.code(),
                                                 "client_id": APP, "redirect_uri": CALLBACK})
    _oauth_error(response, "invalid_request")


@pytest.mark.parametrize("params", [
    {"code_challenge": None, "code_challenge_method": None},
    {"code_challenge": None},
    {"code_challenge_method": None},
    {"code_challenge_method": "plain"},
    {"code_challenge_method": "S512"},
    {"code_challenge": "too-short"},
], ids=["no-pkce", "no-challenge", "no-method", "plain", "unknown-method", "malformed-challenge"])
def test_an_authorization_request_without_an_s256_challenge_is_sent_back_with_an_error(
    logged_in: Browser, params: dict[str, str | None]
) -> None:
    answer = _callback(logged_in.authorize(**params))
    assert answer["error"] == "invalid_request"
    assert answer["state"] == "xyz-state"
    assert "code" not in answer


def test_an_unsupported_response_type_is_sent_back_with_an_error(logged_in: Browser) -> None:
    answer = _callback(logged_in.authorize(response_type="token"))
    assert answer["error"] == "unsupported_response_type"


def test_a_scope_beyond_me_is_sent_back_with_invalid_scope(logged_in: Browser) -> None:
    assert _callback(logged_in.authorize(scope="me records:write"))["error"] == "invalid_scope"


# --- redirect URIs ------------------------------------------------------------------------------


@pytest.mark.parametrize("redirect_uri", [
    "http://127.0.0.1:53682/other",
    "http://127.0.0.1:53682/callback/",
    "http://127.0.0.1:53682/callback?next=x",
    "http://127.0.0.1/callback",
    "http://127.0.0.1:0/callback",
    "http://127.0.0.1:65536/callback",
    "http://127.0.0.1:053682/callback",
    "http://localhost:53682/callback",
    "https://127.0.0.1:53682/callback",
    "http://127.0.0.2:53682/callback",
    "http://evil.example:53682/callback",
    "http://127.0.0.1:53682@evil.example/callback",
    "https://evil.example/callback",
    None,
])
def test_a_redirect_uri_other_than_a_loopback_callback_gets_a_400_page_and_no_redirect(
    browser: Browser, redirect_uri: str | None
) -> None:
    for logged_in in (False, True):
        if logged_in:
            assert browser.log_in().status_code == 302
        response = browser.authorize(redirect_uri=redirect_uri)
        assert response.status_code == 400
        assert "Location" not in response.headers
        assert response.mimetype == "text/html"
        assert "evil.example" not in response.get_data(as_text=True)


def test_an_unknown_or_confidential_client_gets_a_400_page(browser: Browser, auth: Auth) -> None:
    for client_id in ("no-such-app", auth.register("institution", kind="employer").client_id, None):
        response = browser.authorize(client_id=client_id)
        assert response.status_code == 400
        assert "Location" not in response.headers


def test_the_code_is_bound_to_its_redirect_uri(client: FlaskClient, logged_in: Browser) -> None:
    code = logged_in.code()
    _oauth_error(_exchange(client, code, redirect_uri="http://127.0.0.1:9999/callback"), "invalid_grant")


# --- codes --------------------------------------------------------------------------------------


def test_a_code_works_once_and_its_replay_revokes_the_tokens_it_gave(
    client: FlaskClient, logged_in: Browser
) -> None:
    code = logged_in.code()
    first = _exchange(client, code)
    assert first.status_code == 200
    _oauth_error(_exchange(client, code), "invalid_grant")
    assert client.get("/api/v1/me/report", headers=_bearer(first.json["access_token"])).status_code == 401
    _oauth_error(_refresh(client, first.json["refresh_token"]), "invalid_grant")


def test_a_code_expires_after_five_minutes(client: FlaskClient, logged_in: Browser, clock: FrozenClock) -> None:
    fresh, stale = logged_in.code(), logged_in.code()
    clock.set(NOW + timedelta(minutes=5) - timedelta(seconds=1))
    assert _exchange(client, fresh).status_code == 200
    clock.set(NOW + timedelta(minutes=5))
    _oauth_error(_exchange(client, stale), "invalid_grant")


def test_an_unknown_code_is_invalid_grant(client: FlaskClient) -> None:
    _oauth_error(_exchange(client, secrets.token_urlsafe(36)), "invalid_grant")


def test_a_code_cannot_be_exchanged_by_a_confidential_client(
    client: FlaskClient, auth: Auth, logged_in: Browser
) -> None:
    institution = auth.register("institution", kind="employer")
    basic = base64.b64encode(f"{institution.client_id}:{institution.secret}".encode()).decode()
    response = client.post("/oauth/token", headers={"Authorization": f"Basic {basic}"}, data={
        "grant_type": "authorization_code", "code": logged_in.code(), "redirect_uri": CALLBACK,
        "code_verifier": Browser.verifier})
    assert response.status_code in (400, 401)
    assert response.json["error"] in ("invalid_client", "unauthorized_client")


# --- refresh tokens -----------------------------------------------------------------------------


def test_a_refresh_rotates_and_the_old_refresh_token_is_refused(client: FlaskClient, logged_in: Browser) -> None:
    first = _tokens(client, logged_in)
    second = _refresh(client, first["refresh_token"])
    assert second.status_code == 200, second.json
    assert second.json["scope"] == "me"
    assert {second.json["access_token"], second.json["refresh_token"]}.isdisjoint(set(first.values()))
    assert client.get("/api/v1/me/report", headers=_bearer(second.json["access_token"])).status_code == 200
    _oauth_error(_refresh(client, first["refresh_token"]), "invalid_grant")


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client: FlaskClient, logged_in: Browser) -> None:
    first = _tokens(client, logged_in)
    second = _refresh(client, first["refresh_token"]).json
    _oauth_error(_refresh(client, first["refresh_token"]), "invalid_grant")  # a stolen copy comes back
    _oauth_error(_refresh(client, second["refresh_token"]), "invalid_grant")
    assert client.get("/api/v1/me/report", headers=_bearer(second["access_token"])).status_code == 401
    other = _tokens(client, logged_in)  # another login's family is untouched
    assert _refresh(client, other["refresh_token"]).status_code == 200
    rt: Runtime = client.application.extensions["xinyong"]
    with rt.sessions() as session, session.begin():
        revoked = session.execute(select(AuditEntry).where(
            AuditEntry.action == "gateway:token:family-revoked")).scalars().all()
    assert len(revoked) == 1
    assert revoked[0].subject_ref is not None


def test_a_refresh_token_lasts_thirty_days(client: FlaskClient, logged_in: Browser, clock: FrozenClock) -> None:
    kept, lapsed = _tokens(client, logged_in), _tokens(client, logged_in)
    clock.set(NOW + timedelta(days=30) - timedelta(seconds=1))
    refreshed = _refresh(client, kept["refresh_token"])
    assert refreshed.status_code == 200
    clock.set(NOW + timedelta(days=30))
    _oauth_error(_refresh(client, lapsed["refresh_token"]), "invalid_grant")


def test_a_refresh_token_is_bound_to_the_app(client: FlaskClient, logged_in: Browser, auth: Auth) -> None:
    institution = auth.register("institution", kind="employer")
    basic = base64.b64encode(f"{institution.client_id}:{institution.secret}".encode()).decode()
    response = client.post("/oauth/token", headers={"Authorization": f"Basic {basic}"}, data={
        "grant_type": "refresh_token", "refresh_token": _tokens(client, logged_in)["refresh_token"]})
    assert response.status_code in (400, 401)


# --- what each token may do ---------------------------------------------------------------------


def test_a_me_token_cannot_call_institution_or_provider_endpoints(
    client: FlaskClient, logged_in: Browser, people: People
) -> None:
    me = _bearer(_tokens(client, logged_in)["access_token"])
    asked = client.post("/api/v1/consent-requests", headers=me, json={
        "citizen_id": people.new(), "purpose": "employment_screening", "reason": "r", "valid_for": "P7D"})
    assert asked.status_code == 403
    submitted = client.post("/api/v1/records", headers=me, json=penalty(logged_in.citizen_id))
    assert submitted.status_code == 403
    assert submitted.json["code"] == "insufficient_scope"


def test_a_provider_token_cannot_read_a_persons_report(client: FlaskClient, auth: Auth) -> None:
    response = client.get("/api/v1/me/report", headers=auth.provider().headers)
    assert response.status_code == 403


# --- private_key_jwt ----------------------------------------------------------------------------


def _key(kind: str) -> tuple[Any, str]:
    if kind == "Ed25519":
        return OKPKey.generate_key("Ed25519"), "Ed25519"
    return ECKey.generate_key("P-256"), "ES256"


def _assertion(client_id: str, key: Any, alg: str, now: float, drop: tuple[str, ...] = (), **claims: Any) -> str:
    body = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "iat": int(now), "exp": int(now) + 300,
            "jti": secrets.token_urlsafe(16), **claims}
    return jwt.encode({"alg": alg}, {k: v for k, v in body.items() if k not in drop}, key, algorithms=[alg])


def _with_assertion(client: FlaskClient, assertion: str) -> TestResponse:
    return client.post("/oauth/token", data={"grant_type": "client_credentials",
                                             "client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion})


@pytest.fixture(params=["P-256", "Ed25519"])
def keyed(request: pytest.FixtureRequest, rt: Runtime) -> tuple[str, Any, str]:
    """An employer registered with a public JWK Set: (client_id, its private key, alg)."""
    key, alg = _key(request.param)
    made = client_use.add_client(rt, role="institution", name="keyed employer", categories=[], kind="employer",
                                 jwks={"keys": [key.as_dict(private=False)]})
    assert made.client_secret is None
    assert made.auth_method == "private_key_jwt"
    return made.client_id, key, alg


def test_an_institution_authenticates_with_private_key_jwt_and_asks_for_consent(
    client: FlaskClient, keyed: tuple[str, Any, str], clock: FrozenClock, people: People
) -> None:
    client_id, key, alg = keyed
    issued = _with_assertion(client, _assertion(client_id, key, alg, clock.now().timestamp()))
    assert issued.status_code == 200, issued.json
    assert issued.json["scope"] == "consent:request reports:read"
    assert "refresh_token" not in issued.json
    asked = client.post("/api/v1/consent-requests", headers=_bearer(issued.json["access_token"]), json={
        "citizen_id": people.new(), "purpose": "employment_screening", "reason": "applicant", "valid_for": "P7D"})
    assert asked.status_code == 201, asked.json


def test_a_replayed_assertion_is_refused(
    client: FlaskClient, keyed: tuple[str, Any, str], clock: FrozenClock
) -> None:
    client_id, key, alg = keyed
    assertion = _assertion(client_id, key, alg, clock.now().timestamp())
    assert _with_assertion(client, assertion).status_code == 200
    _oauth_error(_with_assertion(client, assertion), "invalid_client", 401)


def test_an_assertion_signed_with_another_key_is_refused(
    client: FlaskClient, keyed: tuple[str, Any, str], clock: FrozenClock
) -> None:
    client_id, key, alg = keyed
    other, _ = _key(key.as_dict()["crv"])
    _oauth_error(_with_assertion(client, _assertion(client_id, other, alg, clock.now().timestamp())),
                 "invalid_client", 401)


@pytest.mark.parametrize(("drop", "claims"), [
    ((), {"aud": "https://elsewhere.example/oauth/token"}),
    (("exp",), {}),
    ((), {"exp": -120}),
    ((), {"exp": 7200}),
    (("jti",), {}),
    ((), {"iss": "inst_someone_else"}),
], ids=["other-audience", "no-exp", "expired", "lives-too-long", "no-jti", "iss-not-sub"])
def test_an_assertion_with_wrong_claims_is_refused(
    client: FlaskClient, keyed: tuple[str, Any, str], clock: FrozenClock, drop: tuple[str, ...],
    claims: dict[str, Any]
) -> None:
    client_id, key, alg = keyed
    now = clock.now().timestamp()
    if "exp" in claims:
        claims = {**claims, "exp": int(now) + claims["exp"]}
    _oauth_error(_with_assertion(client, _assertion(client_id, key, alg, now, drop, **claims)), "invalid_client", 401)


def test_a_jwks_client_has_no_secret_and_a_secret_client_cannot_use_an_assertion(
    client: FlaskClient, auth: Auth, clock: FrozenClock
) -> None:
    key, alg = _key("P-256")
    secret_client: Registered = auth.register("institution", kind="employer")
    _oauth_error(_with_assertion(client, _assertion(secret_client.client_id, key, alg, clock.now().timestamp())),
                 "invalid_client", 401)


# --- registering keys ---------------------------------------------------------------------------


def _add(rt: Runtime, monkeypatch: pytest.MonkeyPatch, jwks_file: Path) -> Any:
    monkeypatch.setattr(cli, "_runtime", lambda: rt)
    return CliRunner().invoke(cli.main, ["clients", "add", "--role", "institution", "--name", "bank",
                                         "--kind", "lender", "--jwks", str(jwks_file), "--json"])


def test_clients_add_with_a_public_jwks_registers_a_private_key_jwt_client(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}))
    result = _add(rt, monkeypatch, path)
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["client_secret"] is None
    assert created["auth_method"] == "private_key_jwt"


@pytest.mark.parametrize("document", [
    {"keys": [ECKey.generate_key("P-256").as_dict(private=True)]},
    {"keys": [OKPKey.generate_key("Ed25519").as_dict(private=True)]},
    {"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}]},
], ids=["ec-private", "okp-private", "symmetric"])
def test_clients_add_refuses_a_jwks_file_with_private_key_material(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, document: Any
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(document))
    result = _add(rt, monkeypatch, path)
    assert result.exit_code == 1
    assert "private key material" in result.output


@pytest.mark.parametrize("document", [{"keys": []}, [ECKey.generate_key("P-256").as_dict(private=False)],
                                      {"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}]}],
                         ids=["empty", "not-a-set", "not-a-key"])
def test_clients_add_refuses_a_jwks_file_that_is_not_a_set_of_public_keys(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, document: Any
) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(document))
    result = _add(rt, monkeypatch, path)
    assert result.exit_code == 1
    assert "Error:" in result.output


def test_only_institutions_are_registered_with_keys(rt: Runtime) -> None:
    with pytest.raises(client_use.ClientInvalid):
        client_use.add_client(rt, role="auditor", name="a", categories=[], kind=None,
                              jwks={"keys": [ECKey.generate_key("P-256").as_dict(private=False)]})


def test_in_production_without_a_public_url_no_assertion_is_accepted(
    rt: Any, keyed: tuple[str, Any, str], clock: FrozenClock
) -> None:
    from gateway.web.app import create_app

    client = create_app({"TESTING": True}, runtime=rt).test_client()  # no XINYONG_TOKEN_ENDPOINT
    client_id, key, alg = keyed
    # Minted for this very Host: still refused, since the Host is whatever the sender chose.
    _oauth_error(_with_assertion(client, _assertion(client_id, key, alg, clock.now().timestamp())),
                 "invalid_client", 401)


@pytest.mark.parametrize("redirect_uri", [
    "http://127.0.0.1:53682/callback\r\nSet-Cookie: x=1", "http://127.0.0.1:53682/callback\n",
    "http://127.0.0.1:53682\\callback", "http://127.0.0.1:53682/call\\back", "\\\\evil.example/callback",
])
def test_a_redirect_uri_with_line_breaks_or_backslashes_is_a_400_page_not_a_500(
        browser: Browser, redirect_uri: str) -> None:
    browser.log_in()
    response = browser.authorize(redirect_uri=redirect_uri)
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_the_token_endpoint_over_plain_http_on_another_host_is_an_oauth_error_not_a_500(app: Any) -> None:
    response = app.test_client().post("/oauth/token", data={"grant_type": "client_credentials"},
                                      base_url="http://credit.example.gov.cn")
    assert response.status_code == 400
    assert response.json["error"] == "invalid_request"


@pytest.mark.parametrize("response_type", ["co\x00de", 'co"de', "co\\de", "授权码"])
@pytest.mark.parametrize("client_id", [APP, "no-such-app"])
def test_a_response_type_authlib_cannot_quote_is_a_400_page_not_a_500(
        browser: Browser, response_type: str, client_id: str) -> None:
    # Authlib quotes an unsupported response_type in its error description, and refuses to word one with
    # characters RFC 6749 §5.2 does not allow there.
    browser.log_in()
    response = browser.authorize(response_type=response_type, client_id=client_id)
    assert response.status_code == 400
    assert "Location" not in response.headers
