"""A person's journeys in a real browser, at desktop and phone sizes: every page screenshotted, checked for
sideways scrolling and by axe-core."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, Live, look


def _log_in(page: Page, citizen_id: str) -> None:
    page.goto("/login")
    page.get_by_label("公民身份号码").fill(citizen_id)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("我的信用报告")


def test_a_person_activates_logs_in_reads_the_report_narrows_a_consent_revokes_it_and_denies_another(
        page: Page, live: Live) -> None:
    citizen_id, code = live.enroll("张三")
    provider = live.provider()
    live.record(provider, citizen_id)
    employer = live.institution()
    first = live.ask(employer, citizen_id)
    # Activation with the code from the counter.
    page.goto("/login")
    page.get_by_role("link", name="用服务窗口给你的激活码激活账户").click()
    look(page, "activate")
    page.get_by_label("公民身份号码").fill(citizen_id)
    page.get_by_label("激活码").fill(code)
    page.get_by_label("新密码", exact=True).fill(PASSWORD)
    page.get_by_label("再次输入新密码").fill(PASSWORD)
    page.get_by_role("button", name="激活").click()
    expect(page.get_by_role("status")).to_contain_text("账户已激活")
    # Log in: the report, in words.
    page.get_by_label("公民身份号码").fill(citizen_id)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("我的信用报告")
    body = page.locator("main").inner_text()
    assert "一般行政处罚信息" in body or "行政处罚" in body
    assert "ADMINISTRATIVE_PENALTY" not in body
    assert "北京时间" in body
    look(page, "report")
    # Approve with narrowing: keep one category, a shorter validity, confirm.
    page.get_by_role("link", name="答复请求").click()
    look(page, "consents-pending")
    page.get_by_role("link", name="查看并同意").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("请求你的授权")
    look(page, "consent-review")
    boxes = page.get_by_role("checkbox")
    assert boxes.count() >= 2
    for n in range(1, boxes.count()):
        boxes.nth(n).uncheck()
    page.get_by_label("授权有效期").select_option("7")
    page.get_by_role("button", name="下一步").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("确认授权")
    assert "少于对方请求的范围" in page.locator("main").inner_text()
    look(page, "consent-confirm")
    page.get_by_role("button", name="同意").click()
    expect(page.get_by_role("status")).to_contain_text("已同意")
    grant = live.client.get(f"/api/v1/consent-requests/{first['id']}", headers=employer.headers).json
    assert grant is not None
    assert grant["status"] == "approved"
    look(page, "consents-given")
    # Revoke it.
    page.get_by_role("button", name="撤回").click()
    expect(page.get_by_role("status")).to_contain_text("已撤回")
    # A second request: deny.
    live.ask(employer, citizen_id)
    page.reload()
    page.get_by_role("button", name="拒绝").click()
    expect(page.get_by_role("status")).to_contain_text("已拒绝")
    look(page, "consents-answered")


def test_a_person_objects_to_a_record_sees_who_looked_and_the_notifications_switches_language_and_logs_out(
        page: Page, live: Live) -> None:
    citizen_id = live.activated("李四")
    live.record(live.provider(), citizen_id)
    employer = live.institution()
    live.ask(employer, citizen_id)
    _log_in(page, citizen_id)
    # Object to the record.
    page.get_by_role("link", name="对这条记录提出异议").first.click()
    look(page, "object")
    page.get_by_label("记录错在哪里").fill("罚款已于决定前缴清，决定书的日期有误。")
    page.get_by_role("button", name="提交异议").click()
    expect(page.get_by_role("status")).to_contain_text("异议已提交")
    look(page, "objections")
    # Who looked: institutions first, the person's own views folded.
    page.goto("/me/access")
    expect(page.get_by_role("heading", level=1)).to_have_text("谁查看了你的档案")
    own = page.locator("details summary")
    expect(own).to_contain_text("你本人的操作")
    look(page, "who-looked")
    page.goto("/me/notifications")
    look(page, "notifications")
    page.get_by_role("button", name="全部标为已读").click()
    expect(page.get_by_role("status")).to_contain_text("已标为已读")
    page.goto("/me/repairs")
    look(page, "repairs")
    page.goto("/me/settings")
    look(page, "settings")
    # Switch language on the report: English, remembered.
    page.goto("/me")
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My credit report")
    assert page.locator("html").get_attribute("lang") == "en"
    look(page, "report-en")
    page.goto("/me/consents")
    expect(page.get_by_role("heading", level=1)).to_have_text("Consent")
    # Log out, with feedback.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_contain_text("You are logged out.")
    look(page, "logged-out")
    page.goto("/me")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
