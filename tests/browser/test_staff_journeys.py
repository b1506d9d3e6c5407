"""Staff of institutions, agencies and auditors in a real browser, at 1280x800 and 390x844: each sets up their
account (enrolment code, password, QR code, first TOTP code) and logs in with a password then a code; an
institution asks, the person approves, the institution reads and downloads the report; an agency files a record
from the catalogue's form and handles an objection; an auditor searches the log and verifies the tree head."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date

import pytest
from playwright.sync_api import Page, expect

from audit.clock import FrozenClock
from audit.tx import AccessContext
from gateway.usecases import clients as client_use
from gateway.usecases import ledger, objections, records
from gateway.usecases import staff as staff_use
from gateway.usecases.records import record_shape
from tests.browser.conftest import PASSWORD as PERSON_PASSWORD
from tests.browser.conftest import Live, fill_payload, look
from tests.conftest import penalty

PASSWORD = "a staff passphrase, long enough"


@dataclass
class Member:
    staff_id: str
    org_id: str


def _clock(live: Live) -> FrozenClock:
    clock = live.rt.clock
    assert isinstance(clock, FrozenClock)
    return clock


def _code(live: Live, secret: str) -> str:
    return staff_use.code_at(secret, live.rt.clock.now())


def _set_up_and_log_in(page: Page, live: Live, org_id: str, name: str, person: str) -> Member:
    """The member's first visit: enrol with the printed code, scan, confirm, then log in (both steps)."""
    added = staff_use.add_staff(live.rt, org_id, person)
    page.goto("/staff/login")
    look(page, f"{name}-staff-login")
    page.get_by_role("link", name="用开通码开通账户").click()
    look(page, f"{name}-enrol")
    page.get_by_label("工号").fill(added.staff_id)
    page.get_by_label("开通码").fill(added.enrolment_code)
    page.locator("#password").fill(PASSWORD)
    page.locator("#password_again").fill(PASSWORD)
    page.get_by_role("button", name="下一步").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("扫描二维码")
    expect(page.get_by_role("img", name="用身份验证器应用扫描的二维码")).to_be_visible()
    look(page, f"{name}-scan")
    secret = page.locator(".card code").first.inner_text().replace(" ", "")
    page.get_by_label("应用中的验证码").fill(_code(live, secret))
    page.get_by_role("button", name="完成").click()
    expect(page.get_by_role("status")).to_contain_text("账户已开通")
    _clock(live).advance(seconds=30)  # the code of the enrolment is spent: the login takes the next one
    page.get_by_label("工号").fill(added.staff_id)
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="下一步").click()
    look(page, f"{name}-login-code")
    page.get_by_label("应用中的验证码").fill(_code(live, secret))
    page.get_by_role("button", name="登录").click()
    return Member(added.staff_id, org_id)


def _person_approves(page: Page, live: Live, citizen_id: str) -> None:
    """The person, in their own browser, approves the request in their portal (review, then confirm)."""
    browser = page.context.browser
    assert browser is not None
    own = browser.new_context(viewport=page.viewport_size, locale="zh-CN", base_url=live.url)
    try:
        theirs = own.new_page()
        theirs.viewport_name = getattr(page, "viewport_name", "page")  # type: ignore[attr-defined]
        theirs.goto("/login")
        theirs.get_by_label("公民身份号码").fill(citizen_id)
        theirs.get_by_label("密码").fill(PERSON_PASSWORD)
        theirs.get_by_role("button", name="登录").click()
        theirs.get_by_role("link", name="答复请求").click()
        theirs.get_by_role("link", name="查看并同意").click()
        expect(theirs.get_by_text("某某会计师事务所").first).to_be_visible()
        look(theirs, "institution-person-review")
        theirs.get_by_role("button", name="下一步").click()
        theirs.get_by_role("button", name="同意").click()
        expect(theirs.get_by_role("status")).to_contain_text("已同意")
    finally:
        own.close()


def test_an_institution_asks_the_person_approves_and_the_institution_reads_and_downloads(
        page: Page, live: Live) -> None:
    provider = live.provider()
    citizen_id = live.activated("赵六")
    live.record(provider, citizen_id, category="ADMINISTRATIVE_PENALTY_SERIOUS")
    org = client_use.add_client(live.rt, role="institution", name="某某会计师事务所", categories=[],
                                kind="employer").client_id
    _set_up_and_log_in(page, live, org, "institution", "钱经办")
    expect(page.get_by_role("heading", level=1)).to_have_text("请求与报告")
    look(page, "institution-desk-empty")
    page.get_by_role("link", name="向个人申请授权").click()
    page.get_by_label("用途").select_option("employment_screening")
    page.get_by_role("button", name="选择此用途").click()
    look(page, "institution-ask")
    page.get_by_label("本人的身份证号").fill(citizen_id)
    page.get_by_label("理由（请用本人能看懂的话）").fill("会计岗位应聘，入职前核查")
    page.get_by_label("有效天数").fill("7")
    page.get_by_role("button", name="发送请求").click()
    expect(page.get_by_role("status")).to_contain_text("已发出")
    look(page, "institution-desk-pending")

    _person_approves(page, live, citizen_id)

    page.reload()
    page.get_by_role("button", name="获取报告（使用一次授权）").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("信用报告")
    expect(page.get_by_role("heading", name="行政处罚信息(严重失信)")).to_be_visible()
    look(page, "institution-report")
    with page.expect_download() as download:
        page.get_by_role("link", name="下载签名 JSON").click()
    saved = json.loads(download.value.path().read_text(encoding="utf-8"))
    assert set(saved) == {"report", "jws"}
    assert saved["report"]["subject"]["masked_citizen_id"].endswith(citizen_id[-4:])
    with page.expect_download() as download:
        page.get_by_role("link", name="下载 PDF").click()
    assert download.value.suggested_filename == f"{saved['report']['report_id']}.pdf"
    assert download.value.path().read_bytes().startswith(b"%PDF-")
    page.get_by_role("link", name="信用承诺").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("信用承诺")
    look(page, "institution-commitments")
    page.get_by_role("link", name="更正通知").click()
    look(page, "institution-notices")
    page.get_by_role("button", name="退出").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("工作人员登录")


def test_an_agency_files_a_record_from_the_catalogue_form_and_handles_an_objection(page: Page, live: Live) -> None:
    org = client_use.add_client(live.rt, role="provider", name="某市市场监督管理局", categories=[
        "ADMINISTRATIVE_PENALTY_GENERAL", "ADMINISTRATIVE_PENALTY_SERIOUS"], kind=None,
        agency="any_competent_authority", level="city").client_id
    citizen_id = live.people.new()
    _set_up_and_log_in(page, live, org, "agency", "孙科员")
    expect(page.get_by_role("heading", level=1)).to_have_text("待办队列")
    page.get_by_role("link", name="报送记录").first.click()
    page.get_by_role("button", name="显示表单").click()
    look(page, "agency-record-form")
    body = penalty(citizen_id, date(2026, 11, 20))  # two days before the live clock's today: filed in time
    page.locator("#citizen_id").fill(citizen_id)
    page.get_by_label("决定日期").fill(body["decided_at"])
    page.locator("#document\\.type").select_option(body["document"]["type"])
    page.get_by_label("文书编号").fill(body["document"]["number"])
    page.get_by_label("作出机关").fill(body["document"]["authority"])
    page.get_by_label("生效日期").fill(body["document"]["effective_at"])
    fill_payload(page, body["payload"])
    page.locator("#payload\\.fine_amount").fill("两千元")
    page.get_by_role("button", name="报送记录").click()
    expect(page.locator("#payload-fine_amount-error")).to_be_visible()
    expect(page.locator("#payload-fine_amount-error")).to_contain_text("请用数字填写金额")  # not the API's English
    look(page, "agency-record-error")
    page.locator("#payload\\.fine_amount").fill("2000.00")
    page.get_by_role("button", name="报送记录").click()
    expect(page.get_by_role("status")).to_contain_text("已报送")
    look(page, "agency-record-filed")
    record_id = re.search(r"rec_[A-Za-z0-9_-]+", page.get_by_role("status").inner_text())
    assert record_id is not None

    # The person objects (in their portal; here through the use case its form runs).
    objections.file_objection(live.rt, objections.FileObjection(
        live.rt.vault.subject_ref(citizen_id), record_id.group(0), "罚款金额有误"))
    page.get_by_role("link", name="待办队列").click()
    look(page, "agency-queues")
    page.locator("#objections").locator("xpath=following::table[1]").get_by_role("link").first.click()
    expect(page.get_by_text("罚款金额有误")).to_be_visible()
    expect(page.locator("main")).to_contain_text("决定是否受理，截止")  # Chinese punctuation in Chinese
    look(page, "agency-objection")
    page.get_by_role("button", name="受理并核实").click()
    expect(page.get_by_role("status")).to_contain_text("已受理")
    page.locator("#objections").locator("xpath=following::table[1]").get_by_role("link").first.click()
    page.get_by_label("维持：记录不变").check()
    page.get_by_label("理由（本人会看到）").fill("经核实，罚款金额无误")
    look(page, "agency-objection-decide")
    page.get_by_role("button", name="作出决定").click()
    expect(page.get_by_role("status")).to_contain_text("已决定")
    look(page, "agency-queues-after")

    # A serious penalty of the agency's (filed through the use case its form runs) rests a black listing.
    serious = records.submit(live.rt, client_use.provider(live.rt, org), record_shape(penalty(
        citizen_id, date(2026, 11, 20), category="ADMINISTRATIVE_PENALTY_SERIOUS")), None,
        AccessContext(actor=org, role="provider")).id
    page.reload()
    black = page.locator("form").filter(has=page.locator("input[name=list][value=black]"))
    black.get_by_label("记录编号（须为本机关报送的记录）").fill(serious)
    black.get_by_label("理由（本人会看到）").fill("拒不履行行政处罚决定")
    black.get_by_label("依据（法律、规章或决定）").fill("国办发〔2020〕49号")
    black.get_by_label("限制乘坐飞机").check()
    look(page, "agency-listing-form")
    black.get_by_role("button", name="提出列入").click()
    expect(page.get_by_role("status")).to_contain_text("已提出")
    expect(page.locator("#listings").locator("xpath=following::table[1]")).to_contain_text("拟列入")
    look(page, "agency-listing-proposed")
    black = page.locator("form").filter(has=page.locator("input[name=list][value=black]"))
    black.get_by_label("记录编号（须为本机关报送的记录）").fill(serious)
    black.get_by_label("理由（本人会看到）").fill("再次提出")
    black.get_by_label("依据（法律、规章或决定）").fill("国办发〔2020〕49号")
    black.get_by_label("限制乘坐飞机").check()
    black.get_by_role("button", name="提出列入").click()
    expect(page.get_by_role("alert")).to_contain_text("尚未结束")
    look(page, "agency-listing-refused")
    page.get_by_label("理由（本人会看到）").first.fill("认定已撤销")
    page.get_by_role("button", name="撤回或移出").click()
    expect(page.get_by_role("status")).to_contain_text("已结束")
    page.get_by_role("link", name="信用承诺").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("信用承诺")
    look(page, "agency-commitments")


def test_an_auditor_searches_the_log_by_member_of_staff_and_verifies_the_tree_head(page: Page, live: Live) -> None:
    org = client_use.add_client(live.rt, role="auditor", name="信用审计处", categories=[], kind=None).client_id
    member = _set_up_and_log_in(page, live, org, "auditor", "李审计")
    expect(page.get_by_role("heading", level=1)).to_have_text("审计日志")
    look(page, "auditor-log")
    page.get_by_label("工作人员").fill(member.staff_id)
    page.get_by_role("button", name="查询", exact=True).click()
    expect(page.get_by_text("gateway:staff:login").first).to_be_visible()
    look(page, "auditor-results")
    with page.expect_download() as download:
        page.get_by_role("button", name="导出 CSV").click()
    assert download.value.path().read_text(encoding="utf-8").startswith("index,seq,at,actor")
    page.get_by_role("link", name="异常").click()
    look(page, "auditor-anomalies")
    ledger.checkpoint(live.rt)
    page.get_by_role("link", name="树头").click()
    look(page, "auditor-tree")
    page.get_by_label("同时核验一个条目（选填）").fill("0")
    page.get_by_role("button", name="核验").click()
    expect(page.get_by_role("status")).to_contain_text("核验通过")
    look(page, "auditor-verified")


def test_an_agency_officer_recording_a_breach_on_a_withdrawn_template_reads_why_in_chinese_and_english(
        page: Page, live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace
    from datetime import timedelta

    from audit.clock import CST
    from gateway.usecases import commitments

    org = client_use.add_client(live.rt, role="provider", name="某区行政审批局", categories=[
        "ADMINISTRATIVE_LICENCE", "CREDIT_COMMITMENT_BREACH"], kind=None, agency="any_competent_authority",
        level="county").client_id
    person = live.rt.vault.subject_ref(live.activated())
    due = live.rt.clock.now().astimezone(CST).date() + timedelta(days=20)
    signed = commitments.sign(live.rt, commitments.SignCommitment(
        person, "tolerated_acceptance", org, "营业执照副本复印件", due))
    _set_up_and_log_in(page, live, org, "withdrawn", "钱科员")
    rules = live.rt.policy.commitments  # the operator then takes the template out of commitments.json
    kept = {code: t for code, t in rules.templates.items() if code != "tolerated_acceptance"}
    monkeypatch.setattr(live.rt, "policy", replace(live.rt.policy, commitments=replace(rules, templates=kept)))
    for language, reason, told in (("zh", "逾期未补交材料", "承诺书模板已不再公布"),
                                   ("en", "documents not handed in", "no longer published")):
        page.goto(f"/lang/{language}?next=/staff/agency/commitments/{signed['id']}")
        page.locator("input[name=outcome][value=breached]").check()
        page.locator("#commitment-reason").fill(reason)
        page.locator("#commitment-reason").locator("xpath=ancestor::form").locator("button[type=submit]").click()
        expect(page.get_by_role("alert")).to_contain_text(told)
        look(page, f"agency-commitment-template-withdrawn-{language}")
    page.goto("/lang/zh?next=/staff/agency/commitments")
    expect(page.locator(f"a[href$='{signed['id']}']")).to_be_visible()  # the list of those waiting still holds it
