"""The people's portal: the login form, its CSRF check, the session cookie, /me and logout."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import request
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from audit.clock import FrozenClock
from audit.entries import AuditEntry
from gateway.runtime import Runtime
from gateway.usecases import people as people_use
from gateway.web import sessions
from tests.conftest import Auth, People, penalty

PASSWORD = "correct horse battery"


class _Inputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str | None]] = []
        self.inputs: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "form":
            self.forms.append(dict(attrs))
        if tag == "input":
            found = dict(attrs)
            self.inputs[found.get("name") or ""] = found


def _parse(html: str) -> _Inputs:
    parser = _Inputs()
    parser.feed(html)
    return parser


def _csrf(client: FlaskClient, path: str = "/login") -> str:
    token = _parse(client.get(path).get_data(as_text=True)).inputs["csrf_token"]["value"]
    assert token
    return token


def _post_login(client: FlaskClient, citizen_id: str, password: str, query: str = "") -> TestResponse:
    return client.post("/login" + query, data={"citizen_id": citizen_id, "password": password,
                                               "csrf_token": _csrf(client)})


@pytest.fixture
def person(rt: Runtime, client: FlaskClient, people: People) -> str:
    """An activated person's citizen ID; the password is PASSWORD."""
    citizen_id = people.new()
    code = people_use.enroll(rt, citizen_id, "李小红", "counter-7").activation_code
    response = client.post("/api/v1/subjects/activate",
                           json={"citizen_id": citizen_id, "activation_code": code, "password": PASSWORD})
    assert response.status_code == 200
    return citizen_id


def _session_cookie(response: TestResponse) -> str:
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("xinyong_session=")]
    return cookie


def test_the_login_page_is_a_form_with_id_password_and_csrf_token(client: FlaskClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = _parse(response.get_data(as_text=True))
    assert [f.get("method") for f in page.forms] == ["post"]
    assert {"citizen_id", "password", "csrf_token"} <= set(page.inputs)
    assert page.inputs["password"]["type"] == "password"
    assert page.inputs["csrf_token"]["type"] == "hidden"
    assert response.headers["Cache-Control"] == "no-store"


def test_the_people_s_login_page_links_to_the_staff_login(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/staff/login"' in page
    assert client.get("/staff/login").status_code == 200


def test_a_login_without_the_csrf_token_is_refused(client: FlaskClient, person: str) -> None:
    client.get("/login")
    response = client.post("/login", data={"citizen_id": person, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/me").status_code == 302


def test_a_login_with_a_forged_csrf_token_is_refused(client: FlaskClient, person: str) -> None:
    client.get("/login")
    response = client.post("/login", data={"citizen_id": person, "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 400
    assert client.get("/me").status_code == 302


def test_a_wrong_password_shows_the_form_again_with_a_401(client: FlaskClient, person: str) -> None:
    response = _post_login(client, person, "not the password")
    assert response.status_code == 401
    assert response.mimetype == "text/html"
    assert 'role="alert"' in response.get_data(as_text=True)
    assert client.get("/me").status_code == 302


def test_the_right_password_redirects_to_me_with_a_locked_down_session_cookie(
    client: FlaskClient, person: str, rt: Runtime
) -> None:
    assert rt.settings.development is False
    response = _post_login(client, person, PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/me"
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in _session_cookie(response).split(";")}
    assert "httponly" in attributes
    assert "secure" in attributes
    assert attributes["samesite"].lower() == "samesite=lax"


def test_me_shows_the_persons_records_with_chinese_category_names_and_is_not_cached(
    client: FlaskClient, person: str, auth: Auth, rt: Runtime
) -> None:
    provider = auth.provider()
    assert client.post("/api/v1/records", json=penalty(person), headers=provider.headers).status_code == 201
    _post_login(client, person, PASSWORD)
    response = client.get("/me")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert rt.catalogue.category("ADMINISTRATIVE_PENALTY_GENERAL").name_zh in page
    assert "常市监罚〔2026〕12号" in page
    assert "李小红" in page
    assert person[:4] + "*" * 10 + person[-4:] in page
    assert person not in page


def test_me_without_a_login_redirects_to_the_login_page(client: FlaskClient) -> None:
    response = client.get("/me")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_logout_ends_the_session(client: FlaskClient, person: str) -> None:
    _post_login(client, person, PASSWORD)
    assert client.get("/me").status_code == 200
    response = client.post("/logout", data={"csrf_token": _csrf(client, "/me")})
    assert response.status_code == 302
    assert client.get("/me").status_code == 302
    assert client.get("/api/v1/me/report").status_code == 401


def test_logout_needs_the_csrf_token(client: FlaskClient, person: str) -> None:
    _post_login(client, person, PASSWORD)
    assert client.post("/logout").status_code == 400
    assert client.get("/me").status_code == 200


@pytest.mark.parametrize("target", [
    "//evil.example",
    "//evil.example/me",
    "https://evil.example/",
    "/\\evil.example",
    "/%5Cevil.example",
    "/%09/evil.example",
    "\\\\evil.example",
])
def test_login_refuses_to_redirect_to_another_site(client: FlaskClient, person: str, target: str) -> None:
    response = _post_login(client, person, PASSWORD, f"?next={target}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/me"


def test_login_follows_a_same_site_next_path(client: FlaskClient, person: str) -> None:
    response = _post_login(client, person, PASSWORD, "?next=/me?tab=records")
    assert response.headers["Location"] == "/me?tab=records"


def test_too_many_wrong_passwords_answer_a_429_page_saying_how_long_to_wait(
        client: FlaskClient, person: str, rt: Runtime, clock: FrozenClock) -> None:
    limit = next(limit for limit in rt.settings.failure_limits.login if limit.scope == "account_at_address")
    assert limit.window == timedelta(minutes=15)
    for _ in range(limit.failures):
        assert _post_login(client, person, "not the password").status_code == 401
    locked = _post_login(client, person, PASSWORD)
    assert locked.status_code == 429
    assert locked.mimetype == "text/html"
    assert locked.headers["Retry-After"] == "900"
    alert = re.search(r'role="alert">(.*?)</p>', locked.get_data(as_text=True), re.S)
    assert alert is not None
    assert "请 15 分钟后再试" in alert.group(1)
    assert client.get("/me").status_code == 302
    clock.advance(seconds=14 * 60 + 30)
    client.set_cookie("xinyong_lang", "en")
    later = _post_login(client, person, PASSWORD)
    assert later.headers["Retry-After"] == "30"
    assert "try again in 30 seconds" in later.get_data(as_text=True)
    clock.advance(seconds=30)
    assert _post_login(client, person, PASSWORD).status_code == 302


def test_a_login_is_audited_without_the_citizen_id(client: FlaskClient, person: str, rt: Runtime) -> None:
    _post_login(client, person, PASSWORD)
    with rt.sessions() as session, session.begin():
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "gateway:subject:login")
                                .order_by(AuditEntry.seq.desc())).scalars().first()
        assert entry is not None
        assert entry.role == "person"
        assert person not in str(entry.subject_ref)


def test_a_copy_of_the_cookie_opens_nothing_after_logout(app: Any, client: FlaskClient, person: str,
                                                         rt: Runtime) -> None:
    _post_login(client, person, PASSWORD)
    cookie = client.get_cookie("xinyong_session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("xinyong_session", cookie.value)
    assert thief.get("/api/v1/me/report").status_code == 200  # a copy works while the session lives
    client.post("/logout", data={"csrf_token": _csrf(client, "/me")})
    assert thief.get("/api/v1/me/report").status_code == 401
    assert thief.get("/me").status_code == 302
    with rt.sessions() as session, session.begin():
        logouts = session.execute(select(AuditEntry).where(AuditEntry.action == "gateway:subject:logout")).all()
    assert len(logouts) == 1


def test_the_session_cookie_is_signed_again_only_once_it_is_a_minute_old(app: Any, client: FlaskClient,
                                                                         person: str) -> None:
    login = _post_login(client, person, PASSWORD)
    assert _session_cookie(login)
    still = client.get("/api/v1/me/report")
    assert still.status_code == 200
    assert not [c for c in still.headers.getlist("Set-Cookie") if c.startswith("xinyong_session=")]
    assert still.headers["Vary"] == "Cookie"
    interface = app.session_interface
    interface.clock = lambda: time.time() + sessions.REFRESH_SECONDS
    later = client.get("/api/v1/me/report")
    assert later.status_code == 200
    refreshed = _session_cookie(later)
    assert {"Expires", "HttpOnly", "SameSite"} <= {part.split("=")[0].strip() for part in refreshed.split(";")}
    del interface.clock
    assert client.get("/api/v1/me/report").status_code == 200


def test_a_cookie_signed_longer_ago_than_the_idle_limit_opens_nothing(app: Any, client: FlaskClient,
                                                                      person: str, monkeypatch: Any) -> None:
    _post_login(client, person, PASSWORD)
    cookie = client.get_cookie("xinyong_session")
    assert cookie is not None

    def opened() -> Any:
        with app.test_request_context(headers={"Cookie": f"xinyong_session={cookie.value}"}):
            return app.session_interface.open_session(app, request)

    assert "sid" in opened()
    idle_limit = app.permanent_session_lifetime.total_seconds()
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + idle_limit + 1)
    assert "sid" not in opened()


def test_a_session_ends_at_its_absolute_end_however_active(client: FlaskClient, person: str, rt: Runtime,
                                                           clock: Any) -> None:
    from dataclasses import replace

    rt.settings = replace(rt.settings, session_max_hours=12)
    _post_login(client, person, PASSWORD)
    for _ in range(23):  # a request every half hour keeps the cookie's idle limit from ever running out
        clock.advance(minutes=30)
        assert client.get("/api/v1/me/report").status_code == 200
    clock.advance(minutes=30, seconds=1)
    assert client.get("/api/v1/me/report").status_code == 401
    assert client.get("/me").status_code == 302
