"""A person reads their integrity evaluation, declares volunteer service and signs a credit commitment, in a
real browser at desktop and phone sizes: every page screenshotted, checked for sideways scrolling and by axe."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, Live, look


def test_a_person_reads_the_evaluation_declares_volunteer_service_and_signs_a_commitment(
        page: Page, live: Live) -> None:
    citizen_id = live.activated("赵六")
    live.record(live.provider(), citizen_id)
    authority = live.auth.provider("ADMINISTRATIVE_LICENCE", "CREDIT_COMMITMENT_BREACH")
    page.goto("/login")
    page.get_by_label("公民身份号码").fill(citizen_id)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    # The evaluation, in words: the attribute fails because of the penalty, which is named with its dates.
    evaluation = page.locator("#evaluation + article")
    expect(evaluation).to_contain_text("连续三年无不良信用记录")
    expect(evaluation).to_contain_text("否")
    expect(evaluation).to_contain_text("决定日期在三年之内,计入")
    assert "ADMINISTRATIVE_PENALTY" not in evaluation.inner_text()
    look(page, "evaluation")
    # Declare volunteer service: the form is the catalogue's fields, with the commitment box.
    page.get_by_role("navigation").get_by_role("link", name="自愿注册").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("自愿注册")
    look(page, "declarations-empty")
    page.get_by_role("link", name="志愿服务信息").click()
    look(page, "declare-volunteer")
    page.get_by_label("志愿服务组织").fill("常州市青年志愿者协会")
    page.get_by_label("服务时长(小时)").fill("120")
    page.get_by_label("服务起始日期").fill("2026-01-01")
    page.get_by_label("服务截止日期").fill("2026-06-30")
    page.get_by_role("button", name="申报").click()
    expect(page.locator("#promise-error")).to_be_visible()  # no box ticked: nothing filed
    look(page, "declare-refused")
    page.get_by_label("我作出此项承诺：所申报的信息真实。").check()
    page.get_by_role("button", name="申报").click()
    expect(page.get_by_role("status")).to_contain_text("已申报")
    expect(page.locator("main")).to_contain_text("待核实")
    look(page, "declarations")
    # Sign a commitment to an authority the letter allows; the confirmation page shows what was signed.
    page.get_by_role("navigation").get_by_role("link", name="信用承诺").click()
    look(page, "commitments-empty")
    page.get_by_role("link", name="行政审批信用承诺书").click()
    look(page, "commitment-sign")
    page.get_by_label("承诺对象").select_option(authority.client_id)
    page.get_by_label("我已阅读承诺书，并作出此项承诺。").check()
    page.get_by_role("button", name="签署承诺").click()
    expect(page.get_by_role("status")).to_contain_text("已签署")
    expect(page.get_by_role("heading", level=1)).to_have_text("行政审批信用承诺书")
    look(page, "commitment-signed")
    page.get_by_role("link", name="返回信用承诺").click()
    expect(page.locator("main")).to_contain_text("已签署，履行中")
    look(page, "commitments")
