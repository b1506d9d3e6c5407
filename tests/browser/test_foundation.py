"""The portal's frame in a real browser: language by default and by switch, error pages, the phone layout."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.browser.conftest import Live, look


def test_a_stranger_reads_the_login_page_in_chinese_switches_to_english_and_the_choice_stays(
        page: Page, live: Live) -> None:
    page.goto("/login")
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert page.get_by_role("heading", level=1).inner_text() == "登录"
    look(page, "login-zh")
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Log in"
    assert page.url.endswith("/login")
    look(page, "login-en")
    page.goto("/no/such/page")
    assert page.get_by_role("heading", level=1).inner_text() == "Page not found"
    page.get_by_role("link", name="中文").click()
    assert page.get_by_role("heading", level=1).inner_text() == "找不到页面"
    look(page, "error-404")


def test_an_unknown_page_is_an_html_page_with_its_status_while_the_api_keeps_problem_json(
        page: Page, live: Live) -> None:
    response = page.goto("/nowhere")
    assert response is not None
    assert response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    api = page.goto("/api/v1/nowhere")
    assert api is not None
    assert api.status == 404
    assert api.headers["content-type"].startswith("application/problem+json")
