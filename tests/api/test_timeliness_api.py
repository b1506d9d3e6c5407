"""Publication timeliness (DISC-4): licences and penalties are due within 7 working days of the decision."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from audit.clock import CST, FrozenClock
from audit.entries import AuditEntry
from gateway.runtime import Runtime
from tests.conftest import Auth, People, Person, Registered, penalty


def _submit(client: FlaskClient, provider: Registered, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/records", json=body, headers=provider.headers)
    assert response.status_code == 201, response.json
    return dict(response.json)


def _late_filers(client: FlaskClient, auditor: Registered) -> list[dict[str, Any]]:
    response = client.get("/api/v1/audit/anomalies", headers=auditor.headers)
    assert response.status_code == 200, response.json
    return list(response.json["late_filers"])


def test_a_late_filing_is_accepted_flagged_and_listed_with_its_agencys_late_rate(
    client: FlaskClient, auth: Auth, people: People, clock: FrozenClock
) -> None:
    slow, prompt = auth.provider(), auth.provider()
    auditor = auth.register("auditor")
    # Today is Sunday 2026-11-22 in China. Decided Tuesday 10 November: due Thursday 19 November.
    late = _submit(client, slow, penalty(people.new(), date(2026, 11, 10)))
    assert late["filed_late"] is True
    # Decided Friday 13 November: due Tuesday 24 November.
    assert _submit(client, slow, penalty(people.new(), date(2026, 11, 13)))["filed_late"] is False
    assert _submit(client, prompt, penalty(people.new(), date(2026, 11, 13)))["filed_late"] is False
    # A category without a publication deadline is never late and does not count.
    court = penalty(people.new(), date(2024, 1, 10), category="COURT_ENFORCEMENT_DEFAULT",
                    document={"type": "court_enforcement_ruling", "number": "(2024)苏0402执1号",
                              "authority": "常州市天宁区人民法院", "effective_at": "2024-01-10"},
                    payload={"case_number": "(2024)苏0402执1号", "enforcement_court": "常州市天宁区人民法院",
                             "listing_ground": "evades_enforcement", "obligation": "支付货款",
                             "performance": "not_performed"})
    assert _submit(client, slow, court)["filed_late"] is False
    clock.advance(seconds=1)  # the window ends before the report's own moment
    [listed] = _late_filers(client, auditor)
    assert listed["provider"] == {"id": slow.client_id, "name": "test provider"}
    assert (listed["filed"], listed["late"], listed["late_rate"]) == (2, 1, 0.5)
    assert "1 of 2" in listed["reason"]


def test_third_parties_never_learn_that_a_record_was_filed_late(
    client: FlaskClient, auth: Auth, person: Person, employer: Registered
) -> None:
    provider = auth.provider()
    body = penalty(person.citizen_id, date(2026, 6, 1), category="ADMINISTRATIVE_PENALTY_SERIOUS")
    assert _submit(client, provider, body)["filed_late"] is True
    request = {"citizen_id": person.citizen_id, "purpose": "employment_screening", "reason": "applicant",
               "valid_for": "P7D"}
    created = client.post("/api/v1/consent-requests", json=request, headers=employer.headers)
    consent_id = person.approve(created.json["id"])["id"]
    report = client.post("/api/v1/queries", json={"consent_id": consent_id}, headers=employer.headers).json
    assert len(report["report"]["records"]) == 1
    assert "late" not in json.dumps(report)
    assert "publication_due" not in json.dumps(report)


def test_the_deadline_counts_working_days_in_china_time_around_national_day(
    client: FlaskClient, auth: Auth, people: People, clock: FrozenClock, rt: Runtime
) -> None:
    agency = auth.provider()
    auditor = auth.register("auditor")
    decided = date(2026, 9, 30)  # 1-7 October are holidays; Saturday 10 October is a working day
    clock.set(datetime(2026, 10, 15, 23, 30, tzinfo=CST))  # the 7th working day, late in the evening
    agency.token = auth.token(agency.client_id, agency.secret)
    assert _submit(client, agency, penalty(people.new(), decided))["filed_late"] is False
    clock.set(datetime(2026, 10, 16, 0, 30, tzinfo=CST))  # past midnight in China, still 15 October in UTC
    agency.token = auth.token(agency.client_id, agency.secret)
    assert _submit(client, agency, penalty(people.new(), decided))["filed_late"] is True
    with rt.sessions() as session, session.begin():
        entries = list(session.execute(select(AuditEntry).where(AuditEntry.action == "vault:record:ingested")
                                       .order_by(AuditEntry.seq)).scalars())
    assert [(e.detail["publication_due"], e.detail["filed_late"]) for e in entries] == [
        ("2026-10-15", False), ("2026-10-15", True)]
    clock.advance(seconds=1)
    auditor.token = auth.token(auditor.client_id, auditor.secret)
    [listed] = _late_filers(client, auditor)
    assert listed["late_rate"] == 0.5
