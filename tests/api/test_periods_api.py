"""A record's own display period: by case, by its document, extended or ended by its agency (DP-1, DET-3)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from audit.clock import FrozenClock
from audit.entries import AuditEntry
from consent.display import starts
from gateway.runtime import Runtime
from tests.conftest import NOW, Auth, People, Person, Registered, penalty

REFUSES = "able_but_refuses_to_perform"  # ground 1 of 法释〔2017〕7号 Art. 1
OBSTRUCTS = "obstructs_enforcement"  # ground 2


def _court_default(citizen_id: str, decided: date, ground: str, **extra: Any) -> dict[str, Any]:
    return {
        "citizen_id": citizen_id, "category": "COURT_ENFORCEMENT_DEFAULT", "decided_at": decided.isoformat(),
        "document": {"type": "court_enforcement_ruling", "number": "(2024)苏0402执123号",
                     "authority": "常州市天宁区人民法院", "effective_at": decided.isoformat()},
        "payload": {"case_number": "(2024)苏0402执123号", "enforcement_court": "常州市天宁区人民法院",
                    "listing_ground": ground, "obligation": "支付货款人民币五万元", "performance": "not_performed",
                    "outstanding_amount": "50000.00"},
        **extra,
    }


def _decision(effective: date = date(2026, 11, 20), kind: str = "display_period_decision") -> dict[str, Any]:
    return {"type": kind, "number": "(2024)苏0402执123号之一", "authority": "常州市天宁区人民法院",
            "effective_at": effective.isoformat()}


def _submit(client: FlaskClient, provider: Registered, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/records", json=body, headers=provider.headers)
    assert response.status_code == 201, response.json
    return dict(response.json)


def _consent(client: FlaskClient, institution: Registered, person: Person, purpose: str) -> str:
    body = {"citizen_id": person.citizen_id, "purpose": purpose, "reason": "application under review",
            "valid_for": "P14D", "max_uses": 1}
    created = client.post("/api/v1/consent-requests", json=body, headers=institution.headers)
    assert created.status_code == 201, created.json
    return str(person.approve(created.json["id"])["id"])


def _released(client: FlaskClient, institution: Registered, person: Person, purpose: str) -> list[dict[str, Any]]:
    """A fresh consent and query now: the records the institution receives."""
    consent_id = _consent(client, institution, person, purpose)
    response = client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=institution.headers)
    assert response.status_code == 201, response.json
    return list(response.json["report"]["records"])


def _query(client: FlaskClient, institution: Registered, consent_id: str) -> list[dict[str, Any]]:
    response = client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=institution.headers)
    assert response.status_code == 201, response.json
    return list(response.json["report"]["records"])


def _at(clock: FrozenClock, auth: Auth, when: Any, *clients: Registered) -> None:
    """Move the clock; access tokens live an hour, so fetch fresh ones at the new time."""
    clock.set(when)
    for registered in clients:
        registered.token = auth.token(registered.client_id, registered.secret)


def _lender_consent(client: FlaskClient, lender: Registered, person: Person) -> str:
    body = {"citizen_id": person.citizen_id, "purpose": "lending", "reason": "loan application",
            "valid_for": "P30D", "max_uses": 3}
    created = client.post("/api/v1/consent-requests", json=body, headers=lender.headers)
    assert created.status_code == 201, created.json
    return str(person.approve(created.json["id"])["id"])


# --- by case: 法释〔2017〕7号 Art. 2 ------------------------------------------------------------------


def test_a_ground_1_default_stays_shown_past_two_years_until_the_court_ends_it(
    client: FlaskClient, auth: Auth, person: Person, rt: Runtime
) -> None:
    court = auth.provider()
    landlord = auth.register("institution", kind="landlord")
    listed = _submit(client, court, _court_default(person.citizen_id, date(2024, 3, 1), REFUSES))
    assert listed["display_until"] is None  # until performance
    # Two years and eight months on, past the tenancy purpose's two-year data range, it is still current.
    [shown] = _released(client, landlord, person, "tenancy")
    assert shown["category"] == "COURT_ENFORCEMENT_DEFAULT"
    assert shown["display_until"] is None
    assert "至提供单位终止" in person.client.get("/me").get_data(as_text=True)
    ended = client.post(f"/api/v1/records/{listed['id']}/end", json={"document": _decision()},
                        headers=court.headers)
    assert ended.status_code == 200, ended.json
    assert ended.json["display_until"] == "2026-11-22"
    assert ended.json["version"] == 2
    assert _released(client, landlord, person, "tenancy") == []
    [own] = person.client.get("/api/v1/me/report").json["records"]
    assert own["visible_to_third_parties"] is False
    assert own["version"] == 2
    [change] = own["period_changes"]
    assert change["change"] == "ended"
    assert change["previous_until"] is None
    assert change["document"]["number"] == "(2024)苏0402执123号之一"
    assert "已提前终止展示 2026年11月22日 · (2024)苏0402执123号之一" in person.client.get("/me").get_data(as_text=True)


def test_a_ground_2_default_disappears_after_two_years(
    client: FlaskClient, auth: Auth, person: Person, clock: FrozenClock
) -> None:
    court = auth.provider()
    lender = auth.register("institution", kind="lender")
    listed = _submit(client, court, _court_default(person.citizen_id, date(2024, 11, 25), OBSTRUCTS))
    assert listed["display_until"] == "2026-11-25"
    _submit(client, court, _court_default(person.citizen_id, date(2024, 11, 1), OBSTRUCTS))  # ended 2026-11-01
    consent_id = _lender_consent(client, lender, person)
    [shown] = _query(client, lender, consent_id)
    assert shown["display_until"] == "2026-11-25"
    _at(clock, auth, starts(date(2026, 11, 25)), lender)
    assert _query(client, lender, consent_id) == []


def test_an_extension_by_the_court_keeps_the_listing_shown(
    client: FlaskClient, auth: Auth, person: Person, clock: FrozenClock, rt: Runtime
) -> None:
    court = auth.provider()
    lender = auth.register("institution", kind="lender")
    listed = _submit(client, court, _court_default(person.citizen_id, date(2024, 12, 10), OBSTRUCTS))
    consent_id = _lender_consent(client, lender, person)
    extended = client.post(f"/api/v1/records/{listed['id']}/extend",
                           json={"document": _decision(), "display_until": "2027-12-10"}, headers=court.headers)
    assert extended.status_code == 200, extended.json
    assert extended.json["display_until"] == "2027-12-10"
    assert extended.json["version"] == 2
    _at(clock, auth, NOW + timedelta(days=28), lender)  # 2026-12-20: past the two years
    [shown] = _query(client, lender, consent_id)
    assert shown["display_until"] == "2027-12-10"
    with rt.sessions() as session, session.begin():
        entry = session.execute(
            select(AuditEntry).where(AuditEntry.action == "vault:record:period-changed")).scalar_one()
    assert entry.actor == court.client_id
    assert entry.record_ids == [listed["id"]]
    assert entry.detail["change"] == "extended"
    assert entry.detail["previous_until"] == "2026-12-10"


def test_an_extension_stays_within_one_to_three_years_of_the_first_end(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    court = auth.provider()
    listed = _submit(client, court, _court_default(people.new(), date(2024, 12, 10), OBSTRUCTS))
    path = f"/api/v1/records/{listed['id']}/extend"
    for until in ("2027-06-10", "2029-12-11"):  # half a year; three years and a day
        response = client.post(path, json={"document": _decision(), "display_until": until}, headers=court.headers)
        assert response.status_code == 422, response.json
        assert response.json["field"] == "display_until"
    assert client.post(path, json={"document": _decision(), "display_until": "2029-12-10"},
                       headers=court.headers).status_code == 200
    # The three years count from the end set on entry, however the extension is split.
    again = client.post(path, json={"document": _decision(), "display_until": "2030-12-10"}, headers=court.headers)
    assert again.status_code == 422
    assert again.json["field"] == "display_until"


def test_only_the_filing_agency_extends_or_ends_and_only_with_a_fitting_document(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    court, other = auth.provider(), auth.provider()
    listed = _submit(client, court, _court_default(people.new(), date(2024, 12, 10), OBSTRUCTS))
    for action, body in (("end", {"document": _decision()}),
                         ("extend", {"document": _decision(), "display_until": "2027-12-10"})):
        path = f"/api/v1/records/{listed['id']}/{action}"
        assert client.post(path, json=body, headers=other.headers).status_code == 404
        assert client.post(path, json={**body, "document": _decision(kind="tax_decision")},
                           headers=court.headers).json["field"] == "document.type"
        assert client.post(path, json={**body, "document": _decision(date(2026, 11, 23))},
                           headers=court.headers).json["field"] == "document.effective_at"
        assert client.post(path, json={k: v for k, v in body.items() if k != "document"},
                           headers=court.headers).status_code == 422
    assert client.post("/api/v1/records/rec_nope/end", json={"document": _decision()},
                       headers=court.headers).status_code == 404


def test_a_record_ended_or_revoked_cannot_be_changed_and_a_penalty_cannot_be_extended(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    provider = auth.provider()
    listed = _submit(client, provider, _court_default(people.new(), date(2024, 12, 10), OBSTRUCTS))
    end = f"/api/v1/records/{listed['id']}/end"
    assert client.post(end, json={"document": _decision()}, headers=provider.headers).status_code == 200
    assert client.post(end, json={"document": _decision()}, headers=provider.headers).status_code == 409
    extended = client.post(f"/api/v1/records/{listed['id']}/extend",
                           json={"document": _decision(), "display_until": "2027-12-10"}, headers=provider.headers)
    assert extended.status_code == 409
    fined = _submit(client, provider, penalty(people.new()))
    refused = client.post(f"/api/v1/records/{fined['id']}/extend",
                          json={"document": _decision(), "display_until": "2028-10-01"}, headers=provider.headers)
    assert refused.status_code == 422
    assert refused.json["field"] == "display_until"
    client.post(f"/api/v1/records/{fined['id']}/revoke", json={"reason": "annulled"}, headers=provider.headers)
    assert client.post(f"/api/v1/records/{fined['id']}/end", json={"document": _decision()},
                       headers=provider.headers).status_code == 409


# --- an end set by the document -----------------------------------------------------------------


def test_a_record_carries_the_end_its_document_sets_within_the_category_bounds(
    client: FlaskClient, auth: Auth, people: People
) -> None:
    provider = auth.provider()
    shorter = _submit(client, provider, penalty(people.new(), display_until="2027-04-01"))
    assert shorter["display_until"] == "2027-04-01"
    for until in ("2026-12-31", "2027-10-02"):  # under three months; over a year
        refused = client.post("/api/v1/records", json=penalty(people.new(), display_until=until),
                              headers=provider.headers)
        assert refused.status_code == 422, refused.json
        assert refused.json["field"] == "display_until"
    serious = penalty(people.new(), date(2025, 6, 1), category="ADMINISTRATIVE_PENALTY_SERIOUS",
                      display_until="2027-06-01")
    assert _submit(client, provider, serious)["display_until"] == "2027-06-01"
    court = client.post("/api/v1/records", headers=provider.headers, json=_court_default(
        people.new(), date(2024, 12, 10), OBSTRUCTS, display_until="2027-12-10"))
    assert court.status_code == 422
    assert court.json["field"] == "display_until"


def test_a_category_without_own_ends_refuses_one(client: FlaskClient, auth: Auth, people: People) -> None:
    provider = auth.provider()
    body = _tax_arrears(people.new(), date(2025, 1, 10))
    refused = client.post("/api/v1/records", json={**body, "display_until": "2026-01-10"}, headers=provider.headers)
    assert refused.status_code == 422
    assert refused.json["field"] == "display_until"


# --- measures in force and debts unpaid -----------------------------------------------------------


def _tax_arrears(citizen_id: str, decided: date) -> dict[str, Any]:
    return {
        "citizen_id": citizen_id, "category": "TAX_ARREARS", "decided_at": decided.isoformat(),
        "document": {"type": "tax_decision", "number": "常税通〔2025〕3号", "authority": "国家税务总局常州市税务局",
                     "effective_at": decided.isoformat()},
        "payload": {"tax_type": "individual_income_tax", "arrears_since": "2024-12-31", "arrears_amount": "8000.00",
                    "subject_role": "natural_person"},
    }


def test_unpaid_tax_arrears_stay_shown_past_a_year_until_the_tax_office_ends_them(
    client: FlaskClient, auth: Auth, person: Person
) -> None:
    tax = auth.provider()
    lender = auth.register("institution", kind="lender")
    arrears = _submit(client, tax, _tax_arrears(person.citizen_id, date(2025, 1, 10)))
    assert arrears["display_until"] is None
    [shown] = _released(client, lender, person, "lending")
    assert shown["category"] == "TAX_ARREARS"
    paid = {"type": "tax_decision", "number": "完税证明 No.2026-001", "authority": "国家税务总局常州市税务局",
            "effective_at": "2026-11-21"}
    assert client.post(f"/api/v1/records/{arrears['id']}/end", json={"document": paid},
                       headers=tax.headers).status_code == 200
    assert _released(client, lender, person, "lending") == []


def _misconduct(citizen_id: str, decided: date, sanction: str, until: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = {"occupational_group": "KG12", "misconduct": "出具虚假审计报告", "sanction": sanction}
    if until:
        payload["sanction_until"] = until
    return {
        "citizen_id": citizen_id, "category": "OCCUPATIONAL_MISCONDUCT", "decided_at": decided.isoformat(),
        "document": {"type": "professional_sanction_decision", "number": "苏财监〔2023〕5号",
                     "authority": "江苏省财政厅", "effective_at": decided.isoformat()},
        "payload": payload,
    }


def test_an_industry_ban_stays_in_employment_screening_while_in_force(
    client: FlaskClient, auth: Auth, person: Person, employer: Registered
) -> None:
    provider = auth.provider()
    # Decided three and a half years ago (past one year of display and the purpose's three-year data range),
    # banned until the end of May 2028.
    banned = _submit(client, provider,
                     _misconduct(person.citizen_id, date(2023, 6, 1), "industry_ban", "2028-05-31"))
    assert banned["display_until"] == "2028-06-01"
    for_life = _submit(client, provider, _misconduct(person.citizen_id, date(2023, 6, 1), "industry_ban", None))
    assert for_life["display_until"] is None
    short = _submit(client, provider, _misconduct(person.citizen_id, date(2025, 12, 1), "suspension_of_practice",
                                                  "2026-03-31"))
    assert short["display_until"] == "2026-12-01"  # the year after the decision outlasts the suspension
    restricted = penalty(person.citizen_id, date(2022, 1, 10), category="ADMINISTRATIVE_PENALTY_SERIOUS")
    restricted["payload"] |= {"penalty_type": "restriction_on_employment", "restriction_until": "2027-01-09",
                              "penalty_content": "五年内不得从事食品生产经营管理工作"}
    assert _submit(client, provider, restricted)["display_until"] == "2027-01-10"
    shown = _released(client, employer, person, "employment_screening")
    assert sorted((r["category"], r["display_until"] or "until ended") for r in shown) == [
        ("ADMINISTRATIVE_PENALTY_SERIOUS", "2027-01-10"),
        ("OCCUPATIONAL_MISCONDUCT", "2026-12-01"),
        ("OCCUPATIONAL_MISCONDUCT", "2028-06-01"),
        ("OCCUPATIONAL_MISCONDUCT", "until ended"),
    ]
    assert {r["fields"].get("restriction_until") for r in shown} >= {"2027-01-09"}


def test_the_public_catalogue_states_the_rules_and_keeps_internal_notes_out(client: FlaskClient) -> None:
    categories = {c["code"]: c for c in client.get("/api/v1/catalogue").json["categories"]}
    court = categories["COURT_ENFORCEMENT_DEFAULT"]
    assert [(rule["values"], rule["period"]) for rule in court["display_rules"]] == [
        ([REFUSES], None),
        (sorted(["obstructs_enforcement", "evades_enforcement", "breaches_property_reporting",
                 "breaches_consumption_restriction", "refuses_settlement_agreement"]), "P2Y")]
    assert court["display_extension"]["min"] == "P1Y"
    assert court["display_extension"]["max"] == "P3Y"
    assert categories["ADMINISTRATIVE_PENALTY_GENERAL"]["publication_deadline"]["working_days"] == 7
    text = str(court) + str(categories["ADMINISTRATIVE_LICENCE"])
    assert "verify" not in text
    assert "note" not in court["display_extension"]
