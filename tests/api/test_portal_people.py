"""The people's pages through forms: activation, consent review with narrowing and confirmation, objections,
repairs, notifications and who looked. The browser journeys (tests/browser) walk the same pages in Chromium."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient

from gateway.runtime import Runtime
from gateway.usecases import people as people_use
from tests.conftest import NOW, People, Person, Registered, penalty


def _csrf(client: FlaskClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert found is not None
    return found.group(1)


def _ask(client: FlaskClient, employer: Registered, citizen_id: str, **body: Any) -> str:
    response = client.post("/api/v1/consent-requests", headers=employer.headers, json={
        "citizen_id": citizen_id, "purpose": "employment_screening", "reason": "入职前核查", "valid_for": "P30D",
        **body})
    assert response.status_code == 201, response.json
    return str(response.json["id"])  # type: ignore[index]


def _record(client: FlaskClient, auth: Any, person: Person) -> dict[str, Any]:
    """File a penalty on the person through the API, as a new provider."""
    record = client.post("/api/v1/records", json=penalty(person.citizen_id), headers=auth.provider().headers).json
    assert record is not None
    return dict(record)


def _grant(client: FlaskClient, person: Person) -> dict[str, Any]:
    [grant] = person.client.get("/api/v1/me/consents").json  # type: ignore[misc]
    return dict(grant)


def test_activation_takes_the_counter_code_once_and_says_what_went_wrong(
        client: FlaskClient, rt: Runtime, people: People) -> None:
    citizen_id = people.new()
    code = people_use.enroll(rt, citizen_id, "王五", "counter").activation_code
    token = _csrf(client, "/activate")
    form = {"csrf_token": token, "citizen_id": citizen_id, "activation_code": code,
            "password": "a long passphrase", "password_again": "a long passphrase"}
    short = client.post("/activate", data={**form, "password": "short", "password_again": "short"})
    assert short.status_code == 422
    assert "密码至少需要 12 个字符" in short.get_data(as_text=True)
    mismatch = client.post("/activate", data={**form, "password_again": "another long phrase"})
    assert "两次输入的密码不一致" in mismatch.get_data(as_text=True)
    wrong = client.post("/activate", data={**form, "activation_code": "AAAA-BBBB-CCCC"})
    assert wrong.status_code == 401
    assert 'role="alert"' in wrong.get_data(as_text=True)
    done = client.post("/activate", data=form)
    assert done.status_code == 302
    assert done.headers["Location"] == "/login"
    assert "账户已激活" in client.get("/login").get_data(as_text=True)
    assert client.post("/activate", data=form).status_code == 401  # a code works once


def test_approving_from_the_portal_narrows_shortens_and_asks_for_confirmation_first(
        client: FlaskClient, employer: Registered, person: Person) -> None:
    request_id = _ask(client, employer, person.citizen_id)
    review = person.client.get(f"/me/consent-requests/{request_id}").get_data(as_text=True)
    assert "入职信用核查" in review
    assert "ADMINISTRATIVE_PENALTY_SERIOUS" in review  # as a checkbox value only
    assert "行政处罚信息(严重失信)" in review
    kept = ["ADMINISTRATIVE_PENALTY_SERIOUS"]
    confirm = person.client.post(f"/me/consent-requests/{request_id}/confirm",
                                 data={"csrf_token": person.csrf, "categories": kept, "days": "7"})
    assert confirm.status_code == 200
    page = confirm.get_data(as_text=True)
    assert "确认授权" in page
    assert "少于对方请求的范围" in page
    assert "短于对方请求的期限" in page
    status = client.get(f"/api/v1/consent-requests/{request_id}", headers=employer.headers).json
    assert status is not None
    assert status["status"] == "pending"  # nothing happens before the confirmation
    done = person.client.post(f"/me/consent-requests/{request_id}/approve",
                              data={"csrf_token": person.csrf, "categories": kept, "days": "7"})
    assert done.headers["Location"] == "/me/consents"
    assert "已同意" in person.client.get("/me/consents").get_data(as_text=True)
    grant = _grant(client, person)
    assert list(grant["fields"]) == kept
    assert grant["valid_until"].startswith((NOW + timedelta(days=7)).date().isoformat())


def test_a_review_that_keeps_nothing_or_a_length_not_offered_is_shown_again_with_the_reason(
        client: FlaskClient, employer: Registered, person: Person) -> None:
    request_id = _ask(client, employer, person.citizen_id)
    nothing = person.client.post(f"/me/consent-requests/{request_id}/confirm",
                                 data={"csrf_token": person.csrf, "days": "7"})
    assert nothing.status_code == 422
    assert "请至少保留一个类别" in nothing.get_data(as_text=True)
    longer = person.client.post(f"/me/consent-requests/{request_id}/confirm", data={
        "csrf_token": person.csrf, "categories": ["ADMINISTRATIVE_PENALTY_SERIOUS"], "days": "31"})
    assert longer.status_code == 422
    outside = person.client.post(f"/me/consent-requests/{request_id}/approve", data={
        "csrf_token": person.csrf, "categories": ["TAX_ARREARS"]})
    assert outside.headers["Location"] == "/me/consents"
    assert "这个请求不能这样选择" in person.client.get("/me/consents").get_data(as_text=True)
    assert person.client.get("/api/v1/me/consents").json == []


def test_someone_elses_request_cannot_be_reviewed(
        client: FlaskClient, employer: Registered, person: Person, app: Any, rt: Runtime, people: People) -> None:
    request_id = _ask(client, employer, person.citizen_id)
    other = Person(app, rt, people.new())
    shown = other.client.get(f"/me/consent-requests/{request_id}")
    assert shown.headers["Location"] == "/me/consents"
    assert "找不到这个请求" in other.client.get("/me/consents").get_data(as_text=True)


def test_a_record_is_objected_to_with_a_form_and_the_objection_is_followed_on_its_page(
        client: FlaskClient, person: Person, auth: Any) -> None:
    record = _record(client, auth, person)
    report = person.client.get("/me").get_data(as_text=True)
    assert f'/me/records/{record["id"]}/object' in report
    form = person.client.get(f'/me/records/{record["id"]}/object')
    assert "未按规定明码标价" in form.get_data(as_text=True)
    empty = person.client.post(f'/me/records/{record["id"]}/object', data={"csrf_token": person.csrf, "reason": " "})
    assert empty.status_code == 422
    done = person.client.post(f'/me/records/{record["id"]}/object',
                              data={"csrf_token": person.csrf, "reason": "已缴清罚款"})
    assert done.headers["Location"] == "/me/objections"
    page = person.client.get("/me/objections").get_data(as_text=True)
    assert "异议已提交" in page
    assert "已缴清罚款" in page
    assert "已提交，待受理" in page
    again = person.client.post(f'/me/records/{record["id"]}/object',
                               data={"csrf_token": person.csrf, "reason": "再次"})
    assert again.headers["Location"] == "/me/objections"
    assert "已有正在处理的异议" in person.client.get("/me/objections").get_data(as_text=True)


def test_a_repair_too_early_is_refused_with_the_date_it_may_be_applied_for(
        client: FlaskClient, person: Person, auth: Any) -> None:
    record = _record(client, auth, person)
    report = person.client.get("/me").get_data(as_text=True)
    assert "你可以自 2027年1月1日 起免费申请修复" in report
    assert f'/me/records/{record["id"]}/repair' not in report  # not offered before its date
    done = person.client.post(f'/me/records/{record["id"]}/repair', data={
        "csrf_token": person.csrf, "methods": ["performance"], "statement": "已缴清", "commitment": "承诺",
        "commitment_accepted": "yes"})
    assert done.headers["Location"] == "/me"
    assert "尚未到期：你可以自 2027年1月1日 起申请信用修复" in person.client.get("/me").get_data(as_text=True)


def test_notifications_are_read_in_one_language_and_marked_read(
        client: FlaskClient, employer: Registered, person: Person) -> None:
    _ask(client, employer, person.citizen_id)
    page = person.client.get("/me/notifications").get_data(as_text=True)
    assert "有机构请求查询" in page
    assert "An institution asks" not in page
    for beyond in ("9" * 40, "²"):  # no notification's id, nor a number int() reads: no 500, nothing marked
        odd = person.client.post("/me/notifications/read", data={"csrf_token": person.csrf, "id": beyond})
        assert odd.headers["Location"] == "/me/notifications"
        assert person.client.get("/api/v1/me/notifications").json["unread"] == 1  # type: ignore[index]
    done = person.client.post("/me/notifications/read", data={"csrf_token": person.csrf})
    assert done.headers["Location"] == "/me/notifications"
    assert "已标为已读" in person.client.get("/me/notifications").get_data(as_text=True)
    assert person.client.get("/api/v1/me/notifications").json["unread"] == 0  # type: ignore[index]


def test_who_looked_puts_institutions_first_and_folds_the_persons_own_views(
        client: FlaskClient, employer: Registered, person: Person) -> None:
    request_id = _ask(client, employer, person.citizen_id)
    person.approve(request_id)
    consent_id = _grant(client, person)["id"]
    assert client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=employer.headers).status_code == 201
    for _ in range(3):
        person.client.get("/me")
    page = person.client.get("/me/access").get_data(as_text=True)
    institutions = page.index('id="institutions"')
    own = page.index('id="own"')
    assert institutions < page.index("test institution") < own
    assert "<details>" in page[own:]
    assert page[:own].count("查看本人报告") == 0  # the person's own reads are folded below
    assert "查看本人报告" in page[own:]
    assert "获得 0 条记录" in page


def test_a_proposed_listing_is_shown_in_the_report_and_objected_to_with_its_form(
        client: FlaskClient, person: Person, auth: Any, clock: Any) -> None:
    from tests.api.test_listings_api import PROPOSED_ON, _propose
    from tests.api.test_repairs_api import _record, _serious, at

    county = auth.provider("ADMINISTRATIVE_PENALTY_SERIOUS", level="county")
    at(clock, PROPOSED_ON)
    listing = _propose(client, county, _record(client, county, _serious(person.citizen_id))).json
    assert listing is not None
    page = person.client.get("/me").get_data(as_text=True)
    assert 'id="listings"' in page
    assert "拟列入，公示中" in page
    assert "可提出异议至" in page
    done = person.client.post(f'/me/listings/{listing["id"]}/objection',
                              data={"csrf_token": person.csrf, "reason": "处罚已履行，不应列入"})
    assert done.headers["Location"] == "/me/objections"
    assert "名单不生效" in person.client.get("/me/objections").get_data(as_text=True)
    again = person.client.post(f'/me/listings/{listing["id"]}/objection',
                               data={"csrf_token": person.csrf, "reason": "再次"})
    assert again.headers["Location"] == "/me#listings"
