"""The portal's frame: languages, error pages for browsers (problem+json for programs), words for codes."""

from __future__ import annotations

from datetime import UTC, datetime

from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient

from gateway.web import labels
from gateway.web.i18n import TRANSLATIONS

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_pages_are_chinese_by_default_and_english_when_the_browser_prefers_it(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-Hans">' in page
    assert "<h1>登录</h1>" in page
    english = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in english
    assert "<h1>Log in</h1>" in english
    chinese = client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}).get_data(as_text=True)
    assert "<h1>登录</h1>" in chinese


def test_the_switch_remembers_the_choice_over_the_browsers_language_and_returns_to_the_page(
        client: FlaskClient) -> None:
    switched = client.get("/lang/en?next=/login")
    assert switched.status_code == 302
    assert switched.headers["Location"] == "/login"
    assert "xinyong_lang=en" in switched.headers["Set-Cookie"]
    page = client.get("/login", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "<h1>Log in</h1>" in page
    client.get("/lang/zh")
    assert "<h1>登录</h1>" in client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)


def test_the_switch_goes_back_only_to_a_page_of_this_site(client: FlaskClient) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        assert client.get("/lang/en", query_string={"next": target}).headers["Location"] == "/"
    assert "Set-Cookie" not in client.get("/lang/fr?next=/login").headers


def test_a_browser_gets_error_pages_in_html_and_a_program_gets_problem_json(client: FlaskClient) -> None:
    page = client.get("/no/such/page", headers=BROWSER)
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    assert "找不到页面" in page.get_data(as_text=True)
    program = client.get("/no/such/page")
    assert program.mimetype == "application/problem+json"
    api = client.get("/api/v1/no/such/thing", headers=BROWSER)
    assert api.status_code == 404
    assert api.mimetype == "application/problem+json"
    wrong_method = client.delete("/login", headers=BROWSER)
    assert wrong_method.status_code == 405
    assert wrong_method.mimetype == "text/html"
    assert "GET" in wrong_method.headers["Allow"]
    expired_form = client.post("/login", data={"citizen_id": "x", "password": "y"}, headers=BROWSER)
    assert expired_form.status_code == 400
    assert "表单可能已过期" in expired_form.get_data(as_text=True)


def test_a_read_only_page_says_when_to_try_again(app: Flask) -> None:
    from gateway.errors import DatabaseReadOnly

    @app.get("/test-read-only")
    def read_only() -> str:
        raise DatabaseReadOnly("read only", retry_after=30)

    page = app.test_client().get("/test-read-only", headers=BROWSER)
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "30"
    assert "服务暂时只读" in page.get_data(as_text=True)
    assert "30" in page.get_data(as_text=True)


def test_every_portal_string_has_a_chinese_translation() -> None:
    with (TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as source:
        catalogue = read_po(source)
    untranslated = [m.id for m in catalogue if m.id and not (m.string[0] if isinstance(m.string, tuple)
                                                             else m.string)]
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert untranslated == []
    assert fuzzy == []


def test_every_enumerated_value_of_the_catalogue_has_words_in_both_languages(app: Flask) -> None:
    with app.app_context():
        catalogue = app.extensions["xinyong"].catalogue
    named = labels.labels_data()["values"]
    missing = [(c.code, f.name, v) for c in catalogue.categories.values() for f in c.fields
               for v in (f.enum or ()) if not (named.get(f.name, {}).get(v, {}).get("zh")
                                               and named.get(f.name, {}).get(v, {}).get("en"))]
    assert missing == []


def test_times_read_in_beijing_time_to_the_minute_and_codes_read_as_words(app: Flask) -> None:
    with app.test_request_context("/", headers={"Accept-Language": "zh"}):
        assert labels.bjt(datetime(2026, 11, 22, 2, 0, 30, 123456, tzinfo=UTC)) == "2026-11-22 10:00 北京时间"
        assert labels.bjt("2026-11-22T16:30:00.5Z") == "2026-11-23 00:30 北京时间"
        assert labels.day("2026-10-01") == "2026年10月1日"
        assert labels.category("ADMINISTRATIVE_PENALTY_SERIOUS") == \
            app.extensions["xinyong"].catalogue.category("ADMINISTRATIVE_PENALTY_SERIOUS").name_zh
        assert labels.value("TAX_ARREARS", "tax_type", "land_value_added_tax") == "土地增值税"
        assert labels.label("refusals", "consent_exhausted") == "授权次数已用完"
        assert labels.purpose("employment_screening") == "入职信用核查"
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        assert labels.bjt(datetime(2026, 11, 22, 2, 0, tzinfo=UTC)) == "2026-11-22 10:00 Beijing time"
        assert labels.day("2026-10-01") == "1 Oct 2026"
        assert labels.field("TAX_ARREARS", "tax_type") != "tax_type"
        assert labels.label("statuses", "active") == "In force"
        assert labels.label("refusals", "never_heard_of") == "Never heard of"
