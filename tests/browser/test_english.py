"""The portal in English, in a real browser at desktop and phone sizes: a person's pages and the staff's main
pages, each screenshotted (<name>-en-<viewport>.png), checked for sideways scrolling and by axe-core, and read
for Chinese left on an English page (the other journeys read the Chinese pages)."""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import Page, expect

from gateway.usecases import clients as client_use
from tests.browser.conftest import PASSWORD, Live, fill_payload, look
from tests.browser.test_staff_journeys import _set_up_and_log_in
from tests.conftest import penalty

HAN = re.compile(r"[\u4e00-\u9fff]")
# What people typed, not the portal's words: the person's name, the institution's reason, the record's texts.
_RECORD = penalty("")
DATA = ("周七", "入职前核查", *(str(v) for v in (*_RECORD["payload"].values(), *_RECORD["document"].values())))


def _english(page: Page, name: str, allowed: tuple[str, ...] = ()) -> None:
    """Screenshot and check the page, then: no Chinese in its main part but people's data and `allowed`."""
    look(page, f"{name}-en")
    # Text marked as Chinese (the binding text of a commitment, shown with its translation) is meant to be.
    text = page.locator("main").evaluate(
        "m => { const c = m.cloneNode(true); c.querySelectorAll('[lang|=zh]').forEach(e => e.remove());"
        " c.querySelectorAll('details:not([open]) > :not(summary)').forEach(e => e.remove());"
        " return c.textContent; }")
    for words in (*DATA, *allowed):
        text = text.replace(words, "")
    assert not HAN.search(text), f"{page.url} has Chinese on an English page: {HAN.findall(text)[:20]}"


def test_a_person_reads_acts_and_is_answered_in_english_on_every_page(page: Page, live: Live) -> None:
    citizen_id = live.activated("周七")
    live.record(live.provider(), citizen_id)
    live.ask(live.institution(), citizen_id)
    page.goto("/lang/en?next=/login")
    page.locator("#citizen_id").fill(citizen_id)
    page.locator("#password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My credit report")
    _english(page, "report")
    page.get_by_role("link", name="Answer the requests").click()
    _english(page, "consents")
    page.get_by_role("link", name=re.compile("Review")).first.click()
    _english(page, "consent-review")
    page.goto("/me/access")
    _english(page, "who-looked")
    page.goto("/me")
    page.get_by_role("link", name="Object to this record").first.click()
    _english(page, "object")
    page.locator("#reason").fill("The fine was paid before the decision.")
    page.get_by_role("button", name=re.compile("objection", re.I)).click()
    expect(page.get_by_role("status")).to_be_visible()
    _english(page, "objections")
    page.goto("/me/repairs")
    _english(page, "repairs")
    page.goto("/me/declarations/new/VOLUNTEER_SERVICE")
    page.locator("#payload\\.organisation").fill("Changzhou volunteers")
    page.locator("#payload\\.service_hours").fill("12")
    page.locator("#payload\\.period_start").fill("2026-01-01")
    page.locator("#payload\\.period_end").fill("2099-01-01")
    page.locator("input[name=promise]").check()
    page.get_by_role("button", name="Declare").click()
    expect(page.locator("#payload-period_end-error")).to_be_visible()
    _english(page, "declare-refused")
    page.goto("/me/declarations")
    _english(page, "declarations", allowed=("自愿注册",))  # the Chinese term, glossed on purpose
    page.goto("/me/commitments")
    _english(page, "commitments", allowed=("信用承诺",))
    page.goto("/me/notifications")
    _english(page, "notifications")
    page.goto("/me/settings")
    page.get_by_role("button", name="Freeze").click()
    expect(page.get_by_role("status")).to_contain_text("Frozen")
    _english(page, "settings-frozen")
    page.get_by_role("button", name="Unfreeze").click()
    expect(page.get_by_role("status")).to_contain_text("Unfrozen")
    page.goto("/me/apps")
    _english(page, "apps")
    page.goto("/verify")
    _english(page, "verify")


def test_an_agency_and_an_auditor_work_in_english(page: Page, live: Live) -> None:
    org = client_use.add_client(live.rt, role="provider", name="Market Regulation Bureau", categories=[
        "ADMINISTRATIVE_PENALTY_GENERAL"], kind=None, agency="any_competent_authority", level="city").client_id
    _set_up_and_log_in(page, live, org, "agency2", "Sun")
    page.goto("/lang/en?next=/staff/agency")
    _english(page, "agency-queues")
    page.goto("/staff/agency/records/new?category=ADMINISTRATIVE_PENALTY_GENERAL")
    body = penalty(live.people.new(), date(2026, 11, 20))
    page.locator("#citizen_id").fill(body["citizen_id"][:-1] + ("0" if body["citizen_id"][-1] != "0" else "1"))
    page.locator("#decided_at").fill(body["decided_at"])
    fill_payload(page, body["payload"])
    page.get_by_role("button", name=re.compile("File", re.I)).last.click()
    expect(page.get_by_role("alert").first).to_be_visible()
    # The payload typed in is the catalogue's Chinese example; the form's own words are English.
    _english(page, "agency-record-refused", allowed=tuple(str(v) for v in body["payload"].values()))
    auditor = client_use.add_client(live.rt, role="auditor", name="Credit Audit Office", categories=[],
                                    kind=None).client_id
    page.context.clear_cookies()
    _set_up_and_log_in(page, live, auditor, "auditor2", "Li")
    page.goto("/lang/en?next=/staff/auditor/anomalies")
    _english(page, "auditor-anomalies")
