"""The staff's pages through the Flask client: enrolment and login forms, each kind of organisation's pages,
and what they refuse (another kind of organisation, a viewer acting, a logged-out member)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from audit.clock import FrozenClock
from audit.tags import Tag
from gateway.runtime import Runtime
from gateway.usecases import clients as client_use
from gateway.usecases import ledger
from gateway.usecases import staff as use
from tests.api.test_incentives_api import _commendation, _volunteering
from tests.api.test_incentives_api import _filed as _file_record
from tests.conftest import Auth, People, Person, penalty

PASSWORD = "a staff passphrase, long enough"


@dataclass
class Member:
    staff_id: str
    org_id: str
    secret: str
    client: FlaskClient

    def csrf(self, page: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', self.client.get(page).get_data(as_text=True))
        assert found is not None, page
        return found.group(1)

    def post(self, path: str, data: dict[str, object], page: str | None = None) -> TestResponse:
        return self.client.post(path, data={**data, "csrf_token": self.csrf(page or path)})


def _member(app: Flask, rt: Runtime, clock: FrozenClock, org_id: str, role: str | None = None) -> Member:
    added = use.add_staff(rt, org_id, "王经办", role)
    client = app.test_client()
    member = Member(added.staff_id, org_id, "", client)
    done = member.post("/staff/enrol", {"staff_id": added.staff_id, "enrolment_code": added.enrolment_code,
                                        "password": PASSWORD, "password_again": PASSWORD})
    assert done.status_code == 302, done.get_data(as_text=True)
    page = client.get("/staff/enrol/scan").get_data(as_text=True)
    assert "<svg" in page
    secret = re.search(r"<code>([A-Z2-7 ]+)</code>", page)
    assert secret is not None
    member.secret = secret.group(1).replace(" ", "")
    assert member.post("/staff/enrol/scan", {"code": use.code_at(member.secret, clock.now())}).status_code == 302
    clock.advance(seconds=30)
    assert member.post("/staff/login", {"staff_id": added.staff_id, "password": PASSWORD}).status_code == 302
    assert member.post("/staff/login/code", {"code": use.code_at(member.secret, clock.now())}).status_code == 302
    return member


def _org(rt: Runtime, role: str, **kw: object) -> str:
    return client_use.add_client(rt, role=role, name=f"某{role}", categories=kw.pop("categories", []),  # type: ignore[arg-type]
                                 kind=kw.pop("kind", None), **kw).client_id  # type: ignore[arg-type]


def test_an_institution_s_officer_asks_follows_reads_and_downloads_a_report(
        app: Flask, rt: Runtime, clock: FrozenClock, person: Person) -> None:
    officer = _member(app, rt, clock, _org(rt, "institution", kind="employer"))
    assert "employment_screening" in officer.client.get("/staff/institution/ask?purpose=employment_screening") \
        .get_data(as_text=True)
    asked = officer.post("/staff/institution/ask", {
        "purpose": "employment_screening", "citizen_id": person.citizen_id, "reason": "会计岗位应聘",
        "valid_days": "7", "max_uses": "1",
        "categories": ["ADMINISTRATIVE_PENALTY_SERIOUS", "SERIOUS_DISHONESTY_LIST"]},
        page="/staff/institution/ask?purpose=employment_screening")
    assert asked.status_code == 302, re.findall(r"msg error[^>]*>([^<]+)", asked.get_data(as_text=True))
    request_id = person.client.get("/api/v1/me/consent-requests").json[0]["id"]  # type: ignore[index]
    grant = person.approve(request_id)["id"]
    desk = officer.client.get("/staff/institution").get_data(as_text=True)
    assert grant in desk
    english = officer.client.get("/staff/institution", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Categories granted" in english
    assert "、" not in english  # the categories granted, listed with the reader's separator
    made = officer.post(f"/staff/institution/consents/{grant}/report", {}, page="/staff/institution")
    assert made.status_code == 302
    report_page = made.headers["Location"]
    assert "/staff/institution/reports/rp_" in report_page
    assert officer.client.get(report_page).status_code == 200
    download = officer.client.get(report_page + ".json")
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert set(download.json) == {"report", "jws"}  # type: ignore[arg-type]
    with rt.sessions() as session, session.begin():
        from sqlalchemy import select

        from audit.entries import AuditEntry
        actions = {(e.action, e.actor, e.detail.get("staff")) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action.in_([Tag.CONSENT_REQUESTED, Tag.QUERY_RELEASED,
                                                            Tag.REPORT_RETRIEVED])))}
    assert {a for a, _, _ in actions} == {Tag.CONSENT_REQUESTED, Tag.QUERY_RELEASED, Tag.REPORT_RETRIEVED}
    assert {(actor, who) for _, actor, who in actions} == {(officer.org_id, officer.staff_id)}


def test_an_incentive_report_page_states_the_evaluation_in_the_readers_language(
        app: Flask, rt: Runtime, clock: FrozenClock, person: Person, auth: Auth, client: FlaskClient) -> None:
    provider = auth.provider()
    _file_record(client, provider, _commendation(person.citizen_id))
    _file_record(client, provider, _volunteering(person.citizen_id))
    officer = _member(app, rt, clock, _org(rt, "institution", kind="lender"))
    asked = officer.post("/staff/institution/ask", {
        "purpose": "incentive_credit", "citizen_id": person.citizen_id, "reason": "免押金租房", "valid_days": "7",
        "max_uses": "1"}, page="/staff/institution/ask?purpose=incentive_credit")
    assert asked.status_code == 302, re.findall(r"msg error[^>]*>([^<]+)", asked.get_data(as_text=True))
    grant = person.approve(person.client.get("/api/v1/me/consent-requests").json[0]["id"])["id"]  # type: ignore[index]
    made = officer.post(f"/staff/institution/consents/{grant}/report", {}, page="/staff/institution")
    assert made.status_code == 302
    page = officer.client.get(made.headers["Location"]).get_data(as_text=True)
    assert "仅用于激励：连续三年无不良信用记录：是；正面记录：2 条。" in page
    english = officer.client.get(made.headers["Location"], headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "For incentives only: " in english
    assert "yes; positive records: 2." in english


def test_an_institution_s_officer_downloads_the_report_as_a_pdf_audited_and_another_institution_cannot(
        app: Flask, rt: Runtime, clock: FrozenClock, person: Person) -> None:
    officer = _member(app, rt, clock, _org(rt, "institution", kind="employer"))
    officer.post("/staff/institution/ask", {
        "purpose": "employment_screening", "citizen_id": person.citizen_id, "reason": "会计岗位应聘",
        "valid_days": "7", "max_uses": "1", "categories": ["ADMINISTRATIVE_PENALTY_SERIOUS"]},
        page="/staff/institution/ask?purpose=employment_screening")
    grant = person.approve(person.client.get("/api/v1/me/consent-requests").json[0]["id"])["id"]  # type: ignore[index]
    report_page = officer.post(f"/staff/institution/consents/{grant}/report", {},
                               page="/staff/institution").headers["Location"]
    report_id = report_page.rsplit("/", 1)[1]
    assert f"/staff/institution/reports/{report_id}.pdf" in officer.client.get(report_page).get_data(as_text=True)
    before = _retrievals(rt)
    pdf = officer.client.get(report_page + ".pdf")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"] == f'attachment; filename="{report_id}.pdf"'
    assert pdf.headers["Cache-Control"] == "no-store"
    assert report_id in _pdf_text(pdf.data)
    after = _retrievals(rt)
    assert after[len(before):] == [(report_id, officer.org_id, officer.staff_id)]
    other = _member(app, rt, clock, _org(rt, "institution", kind="employer"))
    refused = other.client.get(f"/staff/institution/reports/{report_id}.pdf")
    assert refused.status_code == 302
    assert refused.mimetype != "application/pdf"
    assert _retrievals(rt) == after


def _retrievals(rt: Runtime) -> list[tuple[str, str, str | None]]:
    from sqlalchemy import select

    from audit.entries import AuditEntry
    with rt.sessions() as session, session.begin():
        return [(e.detail["report_id"], e.actor, e.detail.get("staff")) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.action == Tag.REPORT_RETRIEVED).order_by(AuditEntry.seq))]


def _pdf_text(data: bytes) -> str:
    import io

    from pypdf import PdfReader
    assert data.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_a_request_for_too_long_is_refused_beside_its_field(app: Flask, rt: Runtime, clock: FrozenClock,
                                                            people: People) -> None:
    officer = _member(app, rt, clock, _org(rt, "institution", kind="employer"))
    refused = officer.post("/staff/institution/ask", {
        "purpose": "employment_screening", "citizen_id": people.new(), "reason": "应聘", "valid_days": "400"},
        page="/staff/institution/ask?purpose=employment_screening")
    assert refused.status_code == 422
    assert 'id="valid_for-error"' in refused.get_data(as_text=True)
    beyond = officer.post("/staff/institution/ask", {  # more days than a timedelta holds: the same refusal
        "purpose": "employment_screening", "citizen_id": people.new(), "reason": "应聘", "valid_days": "9" * 30},
        page="/staff/institution/ask?purpose=employment_screening")
    assert beyond.status_code == 422
    assert 'id="valid_for-error"' in beyond.get_data(as_text=True)
    wordy = officer.post("/staff/institution/ask", {  # the API's limit: PostgreSQL's column would refuse it
        "purpose": "employment_screening", "citizen_id": people.new(), "reason": "应" * 501, "valid_days": "7"},
        page="/staff/institution/ask?purpose=employment_screening")
    assert wordy.status_code == 422
    assert 'id="reason-error"' in wordy.get_data(as_text=True)
    assert "请填写此项，最多 500 个字符" in wordy.get_data(as_text=True)


def test_an_agency_s_officer_files_a_record_from_the_catalogue_form_and_sees_field_errors(
        app: Flask, rt: Runtime, clock: FrozenClock, people: People) -> None:
    org = _org(rt, "provider", categories=["ADMINISTRATIVE_PENALTY_GENERAL"], agency="any_competent_authority",
               level="city")
    officer = _member(app, rt, clock, org)
    page = "/staff/agency/records/new?category=ADMINISTRATIVE_PENALTY_GENERAL"
    form = officer.client.get(page).get_data(as_text=True)
    assert 'name="payload.penalty_type"' in form
    assert 'name="payload.fine_amount"' in form
    body = penalty(people.new())
    data = {"category": body["category"], "citizen_id": body["citizen_id"], "decided_at": body["decided_at"],
            **{f"document.{k}": v for k, v in body["document"].items()},
            **{f"payload.{k}": v for k, v in body["payload"].items()}}
    wrong = officer.post("/staff/agency/records/new", {**data, "payload.fine_amount": "两千"}, page=page)
    assert wrong.status_code == 422
    assert 'id="payload-fine_amount-error"' in wrong.get_data(as_text=True)
    # In the reader's language, not the API's English sentence.
    assert "请用数字填写金额" in wrong.get_data(as_text=True)
    assert "decimal string" not in wrong.get_data(as_text=True)
    mistyped = officer.post("/staff/agency/records/new", {**data, "citizen_id": data["citizen_id"][:-1] + (
        "0" if data["citizen_id"][-1] != "0" else "1")}, page=page)
    assert mistyped.status_code == 422
    assert "校验码" in mistyped.get_data(as_text=True)
    assert "ISO 7064" not in mistyped.get_data(as_text=True)
    no_number = officer.post("/staff/agency/records/new", {**data, "document.number": ""}, page=page)
    assert no_number.status_code == 422
    assert "请填写此项，最多 200 个字符" in no_number.get_data(as_text=True)
    assert "Length must be" not in no_number.get_data(as_text=True)
    filed = officer.post("/staff/agency/records/new", data, page=page)
    assert filed.status_code == 302


def test_an_auditor_s_officer_searches_by_staff_exports_and_verifies(
        app: Flask, rt: Runtime, clock: FrozenClock) -> None:
    officer = _member(app, rt, clock, _org(rt, "auditor"))
    found = officer.post("/staff/auditor", {"staff": officer.staff_id})
    assert found.status_code == 200
    assert Tag.STAFF_LOGIN in found.get_data(as_text=True)
    exported = officer.post("/staff/auditor", {"staff": officer.staff_id, "format": "csv"}, page="/staff/auditor")
    assert exported.headers["Content-Disposition"].startswith("attachment")
    ledger.checkpoint(rt)
    checked = officer.post("/staff/auditor/tree", {"index": "0"})
    assert checked.status_code == 200
    for odd in ("²", "9" * 40):  # isdigit() but no int(), and beyond any index: said beside the field
        assert officer.post("/staff/auditor/tree", {"index": odd}).status_code == 422
    assert officer.post("/staff/auditor", {"staff": officer.staff_id, "before": "²"}).status_code == 200
    assert 'class="msg ok"' in checked.get_data(as_text=True)
    assert officer.client.get("/staff/auditor/anomalies").status_code == 200


def test_an_auditor_reads_late_filing_in_words_of_the_page_s_language(
        app: Flask, rt: Runtime, clock: FrozenClock, people: People) -> None:
    from datetime import date

    agency = _org(rt, "provider", categories=["ADMINISTRATIVE_PENALTY_GENERAL"], agency="any_competent_authority",
                  level="city")
    _filed(rt, agency, penalty(people.new(), date(2026, 10, 1)))  # weeks after its decision: late
    officer = _member(app, rt, clock, _org(rt, "auditor"))
    chinese = officer.client.get("/staff/auditor/anomalies").get_data(as_text=True)
    assert "在有公示期限的 1 条记录中，有 1 条逾期报送（100%）" in chinese
    assert "were filed after it" not in chinese
    assert "各机构查询量中位数：0。" in chinese  # a count, not "0.0"
    english = officer.client.get("/staff/auditor/anomalies", headers={"Accept-Language": "en"}).get_data(
        as_text=True)
    assert "1 of 1 record due within a publication deadline was filed after it (100%)" in english


def test_a_member_sees_only_their_kind_of_organisation_s_pages_and_a_viewer_cannot_act(
        app: Flask, rt: Runtime, clock: FrozenClock) -> None:
    viewer = _member(app, rt, clock, _org(rt, "auditor"), role="viewer")
    assert viewer.client.get("/staff/institution").status_code == 404
    assert viewer.post("/staff/auditor", {"staff": viewer.staff_id}).status_code == 403
    assert viewer.client.get("/staff/auditor/tree").status_code == 200


def test_logged_out_or_never_logged_in_readers_go_to_the_staff_login(app: Flask, rt: Runtime,
                                                                     clock: FrozenClock) -> None:
    officer = _member(app, rt, clock, _org(rt, "auditor"))
    assert officer.post("/staff/logout", {}, page="/staff/auditor").status_code == 302
    again = officer.client.get("/staff/auditor")
    assert again.status_code == 302
    assert again.headers["Location"].startswith("/staff/login")


@pytest.mark.parametrize("path", ["/staff/institution", "/staff/agency", "/staff/auditor"])
def test_a_person_logged_in_to_the_personal_portal_is_not_staff(person: Person, path: str) -> None:
    assert person.client.get(path).headers["Location"].startswith("/staff/login")


def _filed(rt: Runtime, org_id: str, body: dict[str, object]) -> str:
    """File a record for the agency through the records use case, as its staff form does."""
    from audit.tx import AccessContext
    from gateway.usecases import clients, records
    from gateway.usecases.records import record_shape

    done = records.submit(rt, clients.provider(rt, org_id), record_shape(body), None,
                          AccessContext(actor=org_id, role="provider"))
    return done.id


def _flash(response: TestResponse, follower: FlaskClient) -> str:
    assert response.status_code == 302
    return follower.get(response.headers["Location"]).get_data(as_text=True)


def test_an_agency_s_officer_proposes_a_listing_sees_its_clock_and_ends_it_with_refusals_in_words(
        app: Flask, rt: Runtime, clock: FrozenClock, people: People) -> None:
    from datetime import date

    org = _org(rt, "provider", categories=["ADMINISTRATIVE_PENALTY_SERIOUS"], agency="any_competent_authority",
               level="county")
    officer = _member(app, rt, clock, org)
    record_id = _filed(rt, org, penalty(people.new(), date(2025, 6, 1), category="ADMINISTRATIVE_PENALTY_SERIOUS"))
    desk = officer.client.get("/staff/agency").get_data(as_text=True)
    assert "严重失信主体名单" in desk
    assert 'value="restrict_flights"' in desk
    form = {"list": "black", "record_id": record_id, "reason": "拒不履行行政处罚决定", "basis": "国办发〔2020〕49号",
            "measures": ["restrict_flights", "closer_supervision"]}
    page = _flash(officer.post("/staff/agency/listings", form, page="/staff/agency"), officer.client)
    listing = re.search(r"(ls_[0-9A-Za-z]+)", page)
    assert listing is not None, page
    assert label_of("statuses", "proposed") in page
    again = _flash(officer.post("/staff/agency/listings", form, page="/staff/agency"), officer.client)
    assert label_of("refusals", "listing_open") in again
    unknown = _flash(officer.post("/staff/agency/listings", {**form, "record_id": "rec_nothing"},
                                  page="/staff/agency"), officer.client)
    assert label_of("refusals", "record_not_found") in unknown
    township = _member(app, rt, clock, _org(rt, "provider", categories=["ADMINISTRATIVE_PENALTY_SERIOUS"],
                                            agency="any_competent_authority", level="township"))
    low = _flash(township.post("/staff/agency/listings", form, page="/staff/agency"), township.client)
    assert label_of("refusals", "level_too_low") in low
    no_reason = _flash(officer.post(f"/staff/agency/listings/{listing.group(1)}/end", {"reason": " "},
                                    page="/staff/agency"), officer.client)
    assert "msg error" in no_reason
    ended = _flash(officer.post(f"/staff/agency/listings/{listing.group(1)}/end", {"reason": "认定撤销"},
                                page="/staff/agency"), officer.client)
    assert f"{listing.group(1)}" in ended
    assert "msg ok" in ended
    assert f"/staff/agency/listings/{listing.group(1)}/end" not in ended  # ended: out of the queue


def label_of(section: str, code: str) -> str:
    import json
    from pathlib import Path

    words = json.loads((Path(__file__).parents[2] / "gateway/data/labels.json").read_text(encoding="utf-8"))
    return str(words[section][code]["zh"])


def _agency_for(rt: Runtime, *categories: str) -> str:
    roles = rt.catalogue.roles_for(list(categories))
    agency = "any_competent_authority" if "any_competent_authority" in roles else roles[0]
    return _org(rt, "provider", categories=list(categories), agency=agency, level="city")


def test_an_agency_s_officer_opens_a_declaration_audited_and_finds_it_verified_once(
        app: Flask, rt: Runtime, clock: FrozenClock, person: Person) -> None:
    officer = _member(app, rt, clock, _agency_for(rt, "VOLUNTEER_SERVICE", "CREDIT_COMMITMENT_BREACH"))
    declared = person.post("/api/v1/me/declarations", {
        "category": "VOLUNTEER_SERVICE", "commitment": {"text": "本人承诺所申报信息真实", "accepted": True},
        "payload": {"organisation": "常州市青年志愿者协会", "service_area": "社区助老", "service_hours": "120",
                    "period_start": "2026-01-10", "period_end": "2026-09-30"}})
    assert declared.status_code == 201, declared.json
    declaration_id = declared.json["id"]  # type: ignore[index]
    desk = officer.client.get("/staff/agency").get_data(as_text=True)
    assert f"/staff/agency/declarations/{declaration_id}" in desk
    before = len(_actions(rt, "vault:declaration:released"))
    page = officer.client.get(f"/staff/agency/declarations/{declaration_id}").get_data(as_text=True)
    assert "常州市青年志愿者协会" in page
    assert len(_actions(rt, "vault:declaration:released")) == before + 1
    path = f"/staff/agency/declarations/{declaration_id}/verify"
    page_path = f"/staff/agency/declarations/{declaration_id}"
    empty = _flash(officer.post(path, {"outcome": "verified", "reason": ""}, page=page_path), officer.client)
    assert "msg error" in empty
    done = _flash(officer.post(path, {"outcome": "verified", "reason": "与志愿服务记录一致"}, page=page_path),
                  officer.client)
    assert "msg ok" in done
    [mine] = person.client.get("/api/v1/me/declarations").json["declarations"]  # type: ignore[index]
    assert (mine["status"], mine["agency_words"]) == ("verified", "与志愿服务记录一致")
    assert f"/staff/agency/declarations/{declaration_id}/verify" not in officer.client.get(page_path) \
        .get_data(as_text=True)  # decided: no form any more


@pytest.mark.parametrize("role", ["institution", "provider"])
def test_the_accepting_body_s_officer_records_a_commitment_kept_or_broken(
        app: Flask, rt: Runtime, clock: FrozenClock, person: Person, role: str) -> None:
    from datetime import timedelta

    from audit.clock import CST
    org = (_org(rt, "institution", kind="employer") if role == "institution"
           else _agency_for(rt, "ADMINISTRATIVE_LICENCE", "CREDIT_COMMITMENT_BREACH"))
    officer = _member(app, rt, clock, org)
    due = (clock.now().astimezone(CST).date() + timedelta(days=20)).isoformat()
    fields = ({"template": "onboarding", "details": "营业执照副本复印件"} if role == "institution" else
              {"template": "tolerated_acceptance", "details": "营业执照副本复印件", "due_date": due})
    signed = person.post("/api/v1/me/commitments", {**fields, "accepting_body": org, "accepted": True})
    assert signed.status_code == 201, signed.json
    commitment_id = signed.json["id"]  # type: ignore[index]
    area = "institution" if role == "institution" else "agency"
    listed = officer.client.get(f"/staff/{area}/commitments").get_data(as_text=True)
    assert f"/staff/{area}/commitments/{commitment_id}" in listed
    assert "营业执照副本复印件" not in listed  # the list holds no personal text
    page_path = f"/staff/{area}/commitments/{commitment_id}"
    assert "营业执照副本复印件" in officer.client.get(page_path).get_data(as_text=True)
    outcome = "fulfilled" if role == "institution" else "breached"
    done = _flash(officer.post(f"{page_path}/outcome", {"outcome": outcome, "reason": "逾期未补交"},
                               page=page_path), officer.client)
    assert "msg ok" in done
    [mine] = person.client.get("/api/v1/me/commitments").json["commitments"]  # type: ignore[index]
    assert (mine["status"], mine["body_words"]) == (outcome, "逾期未补交")
    assert (mine["record_id"] is not None) == (role == "provider")  # an agency's breach is its record (COM-3)
    again = _flash(officer.post(f"{page_path}/outcome", {"outcome": "fulfilled", "reason": "再次"},
                                page=f"/staff/{area}/commitments"), officer.client)
    assert label_of("refusals", "commitment_step_out_of_order") in again



def test_an_officer_recording_a_breach_on_a_withdrawn_template_is_told_why_in_chinese(
        app: Flask, rt: Runtime, clock: FrozenClock, person: Person, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace
    from datetime import timedelta

    from audit.clock import CST
    org = _agency_for(rt, "ADMINISTRATIVE_LICENCE", "CREDIT_COMMITMENT_BREACH")
    officer = _member(app, rt, clock, org)
    due = (clock.now().astimezone(CST).date() + timedelta(days=20)).isoformat()
    signed = person.post("/api/v1/me/commitments", {"template": "tolerated_acceptance", "details": "营业执照副本复印件",
                                                    "due_date": due, "accepting_body": org, "accepted": True})
    assert signed.status_code == 201, signed.json
    rules = rt.policy.commitments
    kept = {code: t for code, t in rules.templates.items() if code != "tolerated_acceptance"}
    monkeypatch.setattr(rt, "policy", replace(rt.policy, commitments=replace(rules, templates=kept)))
    page_path = f"/staff/agency/commitments/{signed.json['id']}"  # type: ignore[index]
    told = _flash(officer.post(f"{page_path}/outcome", {"outcome": "breached", "reason": "逾期未补交"},
                               page=page_path), officer.client)
    assert label_of("refusals", "commitment_template_withdrawn") in told
    [mine] = person.client.get("/api/v1/me/commitments").json["commitments"]  # type: ignore[index]
    assert mine["status"] == "pending"

def _actions(rt: Runtime, action: str) -> list[object]:
    from sqlalchemy import select

    from audit.entries import AuditEntry
    with rt.sessions() as session, session.begin():
        return list(session.scalars(select(AuditEntry.seq).where(AuditEntry.action == action)))


def test_an_agency_s_officer_refused_is_audited_under_the_officer_and_the_agency(
        app: Flask, rt: Runtime, clock: FrozenClock) -> None:
    from sqlalchemy import select

    from audit.entries import AuditEntry
    from audit.tags import Outcome

    org = _org(rt, "provider", categories=["ADMINISTRATIVE_PENALTY_GENERAL"], agency="any_competent_authority",
               level="city")
    officer = _member(app, rt, clock, org)
    steps = {Tag.LISTING_DENIED: ("/staff/agency/listings/nope/end", {"reason": "理由"}),
             Tag.OBJECTION_DENIED: ("/staff/agency/objections/nope/refuse", {"reason": "理由"}),
             Tag.REPAIR_DENIED: ("/staff/agency/repairs/nope/decide", {"outcome": "refused", "reason": "理由"}),
             Tag.DECLARATION_DENIED: ("/staff/agency/declarations/nope/verify", {"outcome": "false", "reason": "理由"}),
             Tag.COMMITMENT_DENIED: ("/staff/agency/commitments/nope/outcome", {"outcome": "fulfilled",
                                                                                "reason": "理由"})}
    for path, data in steps.values():
        assert officer.post(path, data, page="/staff/agency").status_code in (302, 404), path
    with rt.sessions() as session, session.begin():
        denied = list(session.scalars(select(AuditEntry).where(AuditEntry.outcome == Outcome.DENIED)))
    assert {e.action for e in denied} == set(steps)
    assert {(e.actor, e.detail["staff"]) for e in denied} == {(org, officer.staff_id)}


def test_an_enrolment_with_a_short_or_mistyped_password_is_refused_and_the_code_still_works(
        app: Flask, rt: Runtime) -> None:
    added = use.add_staff(rt, _org(rt, "auditor"), "王经办", None)
    member = Member(added.staff_id, "", "", app.test_client())
    form = {"staff_id": added.staff_id, "enrolment_code": added.enrolment_code}
    short = member.post("/staff/enrol", {**form, "password": "x" * 11, "password_again": "x" * 11})
    assert short.status_code == 422
    assert "密码至少需要 12 个字符。" in short.get_data(as_text=True)  # the portal's minimum, for staff too
    differ = member.post("/staff/enrol", {**form, "password": PASSWORD, "password_again": PASSWORD + "!"})
    assert differ.status_code == 422
    assert member.post("/staff/enrol", {**form, "password": PASSWORD, "password_again": PASSWORD}).status_code == 302
